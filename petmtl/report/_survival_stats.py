"""Survival curves, risk groups, calibration at a horizon and time-dependent AUC."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..metrics import cumulative_dynamic_auc
from ..survival import kaplan_meier, logrank_test, make_survival_y


def _event_time(event, time) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    if t.ndim != 1 or e.shape != t.shape or not len(t):
        raise ValueError(f"event and time must be non-empty 1-D arrays of one length; got "
                         f"shapes {e.shape} and {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError("time must hold finite times >= 0")
    return t, e


def numbers_at_risk(time, at) -> np.ndarray:
    """Patients still at risk at each time: those whose time is at least ``at``.

    Parameters
    ----------
    time : array-like of shape (n,)
        Event or censoring times.
    at : array-like of float

    Returns
    -------
    ndarray of int
    """
    t = np.sort(np.asarray(time, dtype=np.float64))
    return len(t) - np.searchsorted(t, np.asarray(at, dtype=np.float64), side="left")


def kaplan_meier_curve(event, time, *, confidence: float = 0.95) -> dict:
    """Kaplan-Meier survival with Greenwood's log-log confidence interval.

    ``S(t) = prod_{t_k <= t} (1 - d_k / n_k)``; the interval is ``S^exp(+-z se)`` with
    ``se^2 = sum_{t_k <= t} d_k / (n_k (n_k - d_k)) / log(S)^2`` (the "exponential
    Greenwood" interval, which stays within [0, 1]).

    Parameters
    ----------
    event : array-like of shape (n,)
        1/True for an event, 0/False for a censored time.
    time : array-like of shape (n,)
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``time`` (0 then every distinct time), ``survival``, ``low``, ``high`` (1 where
        the interval is undefined: before the first event), ``n_at_risk`` and
        ``n_events`` at each time.

    References
    ----------
    Kaplan, E. L., & Meier, P. (1958). Nonparametric estimation from incomplete
    observations. Journal of the American Statistical Association, 53(282), 457-481.

    Kalbfleisch, J. D., & Prentice, R. L. (2002). The Statistical Analysis of Failure
    Time Data (2nd ed.), section 1.4. Wiley.
    """
    t, e = _event_time(event, time)
    times, survival = kaplan_meier(time=t, event=e)
    at_risk = numbers_at_risk(t, times)
    deaths = np.array([np.count_nonzero(e & (t == u)) for u in times])
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)),
                                       0.0))
        se = np.sqrt(greenwood) / np.abs(np.log(survival))
        z = stats.norm.ppf(0.5 + confidence / 2.0)
        low = np.where(np.isfinite(se) & (survival > 0), survival ** np.exp(z * se), np.nan)
        high = np.where(np.isfinite(se) & (survival > 0), survival ** np.exp(-z * se), np.nan)
    undefined = ~np.isfinite(low)
    low = np.where(undefined & (survival >= 1), 1.0, low)
    high = np.where(undefined & (survival >= 1), 1.0, high)
    low = np.where(survival <= 0, 0.0, low)
    high = np.where(survival <= 0, 0.0, high)
    return {"time": [0.0, *times.tolist()], "survival": [1.0, *survival.tolist()],
            "low": [1.0, *low.tolist()], "high": [1.0, *high.tolist()],
            "n_at_risk": [len(t), *at_risk.tolist()], "n_events": [0, *deaths.tolist()]}


def survival_at(curve: dict, horizon: float) -> tuple[float, float, float]:
    """A :func:`kaplan_meier_curve` (survival, low, high) at ``horizon`` (right-continuous)."""
    k = int(np.searchsorted(np.asarray(curve["time"]), horizon, side="right")) - 1
    return curve["survival"][k], curve["low"][k], curve["high"][k]


def risk_groups(risk, n_groups: int) -> np.ndarray:
    """Group of each patient by quantiles of the predicted risk: 0 lowest, n_groups-1 highest.

    Cut points are ``np.quantile(risk, k / n_groups)``, ``k = 1 .. n_groups - 1``; a risk
    equal to a cut point goes to the lower group.

    Parameters
    ----------
    risk : array-like of shape (n,)
    n_groups : int
        2 for halves, 3 for tertiles...

    Returns
    -------
    ndarray of int
    """
    r = np.asarray(risk, dtype=np.float64)
    if n_groups < 2 or len(r) < n_groups:
        raise ValueError(f"n_groups must be in [2, {len(r)}], got {n_groups}")
    cuts = np.quantile(r, np.arange(1, n_groups) / n_groups)
    return np.searchsorted(cuts, r, side="left")


def _ticks(end: float, n: int = 5) -> np.ndarray:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) up to ``end``."""
    if end <= 0:
        return np.array([0.0])
    raw = end / n
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    return np.arange(0.0, end + 1e-9 * end, step)


def risk_group_curves(event, time, risk, n_groups: int, *, at=None) -> dict:
    """Kaplan-Meier curves of risk groups, numbers at risk and the log-rank test.

    Parameters
    ----------
    event, time : array-like of shape (n,)
    risk : array-like of shape (n,)
        Predicted risk (higher: earlier event).
    n_groups : int
        2 (halves) or 3 (tertiles)...
    at : array-like, optional
        Times of the numbers-at-risk table; default 0 and round steps (about five) up to
        the largest time.

    Returns
    -------
    dict
        ``groups`` (one :func:`kaplan_meier_curve` per group, lowest risk first, each
        with ``n`` and ``n_at_risk_table``), ``at``, ``logrank_statistic`` and
        ``logrank_p`` (:func:`petmtl.survival.logrank_test`).

    References
    ----------
    Mantel, N. (1966). Evaluation of survival data and two new rank order statistics
    arising in its consideration. Cancer Chemotherapy Reports, 50(3), 163-170.
    """
    t, e = _event_time(event, time)
    labels = risk_groups(risk, n_groups)
    at = _ticks(t.max()) if at is None else np.asarray(at, dtype=np.float64)
    groups = []
    for g in range(n_groups):
        rows = labels == g
        curve = kaplan_meier_curve(e[rows], t[rows])
        curve["n"] = int(rows.sum())
        curve["n_at_risk_table"] = numbers_at_risk(t[rows], at).tolist()
        groups.append(curve)
    statistic, p = logrank_test(time=t, event=e, groups=labels)
    return {"groups": groups, "at": at.tolist(), "logrank_statistic": statistic,
            "logrank_p": p}


def survival_calibration(event, time, predicted_survival, horizon: float, *,
                         n_groups: int = 3, confidence: float = 0.95) -> dict:
    """Mean predicted survival against Kaplan-Meier observed survival at a horizon, by group.

    Patients are grouped by quantiles of their predicted survival at ``horizon`` (group
    0: the lowest predicted survival); in each group the mean predicted ``S(horizon)`` is
    set against the Kaplan-Meier estimate of the group at ``horizon`` with its
    :func:`kaplan_meier_curve` interval.

    Parameters
    ----------
    event, time : array-like of shape (n,)
    predicted_survival : array-like of shape (n,)
        Predicted ``S(horizon | x)``.
    horizon : float
    n_groups : int, default=3
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``horizon``, ``predicted``, ``observed``, ``low``, ``high`` and ``count``, one
        entry per group.

    References
    ----------
    Royston, P., & Altman, D. G. (2013). External validation of a Cox prognostic model:
    principles and methods. BMC Medical Research Methodology, 13, 33.
    """
    t, e = _event_time(event, time)
    s = np.asarray(predicted_survival, dtype=np.float64)
    labels = risk_groups(-s, n_groups)  # n_groups - 1: the lowest predicted survival
    out = {"horizon": float(horizon), "predicted": [], "observed": [], "low": [], "high": [],
           "count": []}
    for g in range(n_groups - 1, -1, -1):  # lowest predicted survival first
        rows = labels == g
        observed, low, high = survival_at(kaplan_meier_curve(e[rows], t[rows],
                                                             confidence=confidence), horizon)
        for key, value in (("predicted", float(s[rows].mean())), ("observed", observed),
                           ("low", low), ("high", high), ("count", int(rows.sum()))):
            out[key].append(value)
    return out


def survival_net_benefit(event, time, risk_at_horizon, horizon: float,
                         thresholds=None) -> dict:
    """Decision curve at a horizon for censored outcomes.

    Patients whose predicted risk of an event by ``horizon`` (``1 - S(horizon | x)``)
    reaches the threshold ``pt`` are treated; with ``x`` the fraction treated and ``S_x``
    the Kaplan-Meier survival at ``horizon`` among them,
    ``NB(pt) = x (1 - S_x) - x S_x pt / (1 - pt)``; treating everyone uses the whole
    cohort's Kaplan-Meier survival.

    Parameters
    ----------
    event, time : array-like of shape (n,)
    risk_at_horizon : array-like of shape (n,)
        Predicted probability of an event by ``horizon``.
    horizon : float
    thresholds : array-like, optional
        Default 0.01, ..., 0.99.

    Returns
    -------
    dict
        ``horizon``, ``thresholds``, ``model``, ``treat_all``, ``treat_none``.

    References
    ----------
    Vickers, A. J., Cronin, A. M., Elkin, E. B., & Gonen, M. (2008). Extensions to
    decision curve analysis, a novel method for evaluating diagnostic tests, prediction
    models and molecular markers. BMC Medical Informatics and Decision Making, 8, 53.
    """
    t, e = _event_time(event, time)
    risk = np.asarray(risk_at_horizon, dtype=np.float64)
    pt = np.arange(1, 100) / 100.0 if thresholds is None else np.asarray(thresholds, float)
    odds = pt / (1.0 - pt)

    def benefit(rows, odds):
        if not rows.any():
            return 0.0 * odds
        share = rows.mean()
        s = survival_at(kaplan_meier_curve(e[rows], t[rows]), horizon)[0]
        return share * (1.0 - s) - share * s * odds

    model = [float(benefit(risk >= p, o)) for p, o in zip(pt, odds, strict=True)]
    return {"horizon": float(horizon), "thresholds": pt.tolist(), "model": model,
            "treat_all": benefit(np.ones(len(t), bool), odds).tolist(),
            "treat_none": [0.0] * len(pt)}


def time_dependent_auc(event, time, risk, times) -> dict:
    """Cumulative/dynamic AUC of the risk at each time, censoring weighted by the cohort.

    At time ``t`` the cases are the patients with an event by ``t`` (weighted by the
    inverse of the Kaplan-Meier censoring survival at their time) and the controls those
    still event-free after ``t`` (:func:`petmtl.metrics.cumulative_dynamic_auc` with the
    cohort as its own censoring reference).

    Parameters
    ----------
    event, time, risk : array-like of shape (n,)
    times : array-like
        Times within the follow-up.

    Returns
    -------
    dict
        ``times``, ``auc`` (NaN before the first event) and ``mean_auc``.

    References
    ----------
    Uno, H., Cai, T., Tian, L., & Wei, L. J. (2007). Evaluating prediction rules for
    t-year survivors with censored regression models. JASA, 102(478), 527-537.

    Heagerty, P. J., Lumley, T., & Pepe, M. S. (2000). Time-dependent ROC curves for
    censored survival data and a diagnostic marker. Biometrics, 56(2), 337-344.
    """
    t, e = _event_time(event, time)
    y = make_survival_y(event=e, time=t)
    auc, mean = cumulative_dynamic_auc(y, y, np.asarray(risk, dtype=np.float64), times)
    return {"times": np.asarray(times, dtype=np.float64).tolist(), "auc": auc.tolist(),
            "mean_auc": float(mean)}
