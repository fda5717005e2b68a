"""Discrimination, calibration and clinical usefulness of predicted probabilities."""

from __future__ import annotations

import numpy as np
from scipy import special, stats
from sklearn.metrics import roc_curve
from sklearn.utils import check_random_state

_EPS = 1e-12


def _binary(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y_true and y_prob must be 1-D of the same length; got shapes "
                         f"{y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 (or booleans), got values "
                         f"{np.unique(y)[:5].tolist()}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("y_prob must hold probabilities in [0, 1]")
    return y.astype(np.float64), p


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _newton_logistic(design: np.ndarray, y: np.ndarray, offset: np.ndarray):
    """Unpenalised logistic regression by Newton-Raphson: coefficients, covariance."""
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        mu = special.expit(design @ beta + offset)
        w = mu * (1.0 - mu)
        information = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(information, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.abs(beta).max() > 1e4:
            break
        if np.abs(step).max() < 1e-10:
            return beta, np.linalg.inv(information)
    raise ValueError("the calibration model did not converge (the predictions separate the "
                     "outcomes perfectly)")


def calibration_slope_intercept(y_true, y_prob, *, confidence: float = 0.95) -> dict:
    """Calibration slope and intercept (calibration-in-the-large) of predicted probabilities.

    With ``lp = logit(p)``, the slope ``b`` is the coefficient of ``lp`` in the logistic
    regression ``logit P(y=1) = a + b lp`` and the intercept ``a0`` is the only
    coefficient of ``logit P(y=1) = a0 + lp`` (``lp`` as an offset, slope fixed to 1),
    both by unpenalised maximum likelihood. A well-calibrated model has slope 1 and
    intercept 0; a slope below 1 marks predictions that are too extreme (overfitting),
    an intercept below 0 predictions that are too high on average. Intervals are Wald
    intervals from the observed information.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probabilities of 1 (clipped to ``[1e-12, 1 - 1e-12]`` before the logit).
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``slope``, ``slope_low``, ``slope_high``, ``intercept``, ``intercept_low``,
        ``intercept_high`` and ``n``.

    Raises
    ------
    ValueError
        If the inputs are invalid, or the model is singular or does not converge (the
        predictions separate the outcomes perfectly).

    References
    ----------
    Cox, D. R. (1958). Two further applications of a model for binary regression.
    Biometrika, 45(3/4), 562-565.

    Van Calster, B., McLernon, D. J., van Smeden, M., Wynants, L., & Steyerberg, E. W.
    (2019). Calibration: the Achilles heel of predictive analytics. BMC Medicine, 17, 230.
    """
    y, p = _binary(y_true, y_prob)
    z = _z(confidence)
    lp = _logit(p)
    if len(np.unique(y)) < 2:
        raise ValueError("y_true holds a single class; calibration is undefined")
    if np.ptp(lp) == 0:
        raise ValueError("y_prob is constant; the calibration slope is undefined")
    (a, b), cov = _newton_logistic(np.column_stack([np.ones_like(lp), lp]), y,
                                   np.zeros_like(lp))
    (a0,), cov0 = _newton_logistic(np.ones((len(y), 1)), y, lp)
    se_b, se_a0 = float(np.sqrt(cov[1, 1])), float(np.sqrt(cov0[0, 0]))
    return {"slope": float(b), "slope_low": float(b - z * se_b),
            "slope_high": float(b + z * se_b), "intercept": float(a0),
            "intercept_low": float(a0 - z * se_a0), "intercept_high": float(a0 + z * se_a0),
            "n": len(y)}


def wilson_interval(successes, trials, *, confidence: float = 0.95):
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes, trials : array-like of int
    confidence : float, default=0.95

    Returns
    -------
    low, high : ndarray

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. Journal of the American Statistical Association, 22(158), 209-212.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = _z(confidence)
    phat = k / n
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    # At 0 or n successes, rounding can leave a bound ~1e-17 on the wrong side of phat.
    low = np.clip(np.minimum(centre - half, phat), 0.0, 1.0)
    high = np.clip(np.maximum(centre + half, phat), 0.0, 1.0)
    return low, high


def reliability_curve(y_true, y_prob, *, n_bins: int = 5, strategy: str = "quantile",
                      confidence: float = 0.95) -> dict:
    """Observed frequency against mean predicted probability in bins, with intervals.

    The bins are those of :func:`sklearn.calibration.calibration_curve`: ``n_bins``
    equal-width bins of [0, 1] (``"uniform"``) or bins at the quantiles of ``y_prob``
    (``"quantile"``), each bin closed on the right; empty bins are dropped.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probabilities.
    n_bins : int, default=5
    strategy : {"quantile", "uniform"}, default="quantile"
    confidence : float, default=0.95
        Coverage of the Wilson interval of each bin's observed frequency.

    Returns
    -------
    dict
        ``predicted`` (mean predicted probability per bin), ``observed`` (fraction of
        1s), ``low`` and ``high`` (Wilson interval of ``observed``) and ``count``.

    References
    ----------
    Steyerberg, E. W. (2019). Clinical Prediction Models (2nd ed.), ch. 15. Springer.
    """
    y, p = _binary(y_true, y_prob)
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    ids = np.searchsorted(edges[1:-1], p)
    count = np.bincount(ids, minlength=n_bins)
    keep = count > 0
    positives = np.bincount(ids, weights=y, minlength=n_bins)[keep]
    low, high = wilson_interval(positives, count[keep], confidence=confidence)
    return {"predicted": (np.bincount(ids, weights=p, minlength=n_bins)[keep]
                          / count[keep]).tolist(),
            "observed": (positives / count[keep]).tolist(), "low": low.tolist(),
            "high": high.tolist(), "count": count[keep].tolist()}


def net_benefit(y_true, y_prob, thresholds) -> np.ndarray:
    """Net benefit of treating the patients whose predicted risk reaches each threshold.

    ``NB(pt) = TP / n - FP / n * pt / (1 - pt)`` where the patients with
    ``y_prob >= pt`` are treated: true positives are weighed against false positives
    by the odds of the threshold probability.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1 (1: the event the treatment addresses).
    y_prob : array-like of shape (n,)
        Predicted probabilities of 1.
    thresholds : array-like of float in [0, 1)

    Returns
    -------
    ndarray of shape (n_thresholds,)

    References
    ----------
    Vickers, A. J., & Elkin, E. B. (2006). Decision curve analysis: a novel method for
    evaluating prediction models. Medical Decision Making, 26(6), 565-574.
    """
    y, p = _binary(y_true, y_prob)
    pt = _thresholds(thresholds)
    treated = p[:, None] >= pt[None, :]
    tp = (treated & (y[:, None] == 1)).sum(0)
    fp = (treated & (y[:, None] == 0)).sum(0)
    return tp / len(y) - fp / len(y) * pt / (1.0 - pt)


def _thresholds(thresholds) -> np.ndarray:
    pt = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if pt.ndim != 1 or (pt < 0).any() or (pt >= 1).any():
        raise ValueError("thresholds must be a 1-D array of probabilities in [0, 1)")
    return pt


def decision_curve(y_true, y_prob, thresholds=None) -> dict:
    """Net benefit of the model, of treating everyone and of treating no one.

    Parameters
    ----------
    y_true, y_prob : array-like of shape (n,)
        As :func:`net_benefit`.
    thresholds : array-like, optional
        Default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    dict
        ``thresholds``, ``model``, ``treat_all`` (``prevalence - (1 - prevalence) * pt /
        (1 - pt)``) and ``treat_none`` (0).

    References
    ----------
    Vickers, A. J., & Elkin, E. B. (2006). Decision curve analysis. Medical Decision
    Making, 26(6), 565-574.
    """
    pt = _thresholds(np.arange(1, 100) / 100.0 if thresholds is None else thresholds)
    y, _ = _binary(y_true, y_prob)
    return {"thresholds": pt.tolist(), "model": net_benefit(y_true, y_prob, pt).tolist(),
            "treat_all": net_benefit(y, np.ones_like(y), pt).tolist(),
            "treat_none": [0.0] * len(pt)}


def roc_band(y_true, y_score, *, n_resamples: int = 1000, confidence: float = 0.95,
             random_state=0, n_points: int = 101) -> dict:
    """ROC curve with a pointwise percentile bootstrap band of the true positive rate.

    The curve is averaged vertically: the true positive rate is read at fixed false
    positive rates, on the patients and on ``n_resamples`` resamples drawn within each
    class (so that every resample holds both).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1.
    y_score : array-like of shape (n,)
        Scores, higher for 1.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    random_state : int, RandomState or None, default=0
    n_points : int, default=101
        False positive rates ``linspace(0, 1, n_points)``.

    Returns
    -------
    dict
        ``fpr``, ``tpr`` (the ROC curve of the patients on that grid), ``low``, ``high``.

    References
    ----------
    Fawcett, T. (2006). An introduction to ROC analysis. Pattern Recognition Letters,
    27(8), 861-874 (vertical averaging).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, n_points)

    def curve(rows):
        fpr, tpr, _ = roc_curve(y[rows], s[rows])
        out = np.interp(grid, fpr, tpr)
        out[0] = 0.0
        return out

    rng = check_random_state(random_state)
    strata = [np.flatnonzero(y == c) for c in (0, 1)]
    if min(len(g) for g in strata) == 0:
        raise ValueError("y_true must hold both classes for a ROC curve")
    curves = np.array([curve(np.concatenate([g[rng.randint(0, len(g), len(g))]
                                             for g in strata]))
                       for _ in range(n_resamples)])
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(curves, [tail, 100.0 - tail], axis=0)
    return {"fpr": grid.tolist(), "tpr": curve(np.arange(len(y))).tolist(),
            "low": low.tolist(), "high": high.tolist()}
