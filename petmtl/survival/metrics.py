"""Survival metrics: Harrell's and Uno's concordance, time-dependent AUC, Brier scores.

The definitions are scikit-survival's (``sksurv.metrics``), reimplemented with
numpy; risk scores are higher for an earlier event. Inverse probability of
censoring weights (IPCW) use a Kaplan-Meier estimate ``G`` of the censoring
distribution fitted on ``survival_train``.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid

from .functions import StepFunction
from .nonparametric import kaplan_meier
from .target import check_event_time, check_survival_y

__all__ = [
    "brier_score",
    "concordance_index_censored",
    "concordance_index_ipcw",
    "cumulative_dynamic_auc",
    "integrated_brier_score",
]

_CHUNK = 1 << 20  # pair-matrix entries evaluated at once


def _check_estimate(estimate, n_samples: int, ndim: tuple[int, ...] = (1,)) -> np.ndarray:
    values = np.asarray(estimate, dtype=np.float64)
    if values.ndim not in ndim:
        raise ValueError(f"estimate must be {' or '.join(f'{d}-D' for d in ndim)}; got shape "
                         f"{values.shape}")
    if len(values) != n_samples:
        raise ValueError(f"estimate has {len(values)} samples, the survival data {n_samples}")
    if not np.isfinite(values).all():
        raise ValueError("estimate must be finite (no NaN or infinity)")
    return values


def _censoring_survival(survival_train) -> StepFunction:
    """Kaplan-Meier estimate ``G(t) = P(C > t)`` of the censoring distribution.

    Events are not at risk of censoring at their own time (scikit-survival's
    ``reverse=True``): ``G = prod (1 - c_k / (n_k - d_k))``.
    """
    event, time, _ = check_survival_y(survival_train, name="survival_train",
                                      allow_unknown=False)
    uniq = np.unique(time)
    n_at_risk = len(time) - np.searchsorted(np.sort(time), uniq, side="left")
    n_events = np.bincount(np.searchsorted(uniq, time[event]), minlength=len(uniq))
    n_cens = np.bincount(np.searchsorted(uniq, time[~event]), minlength=len(uniq))
    ratio = np.divide(n_cens, n_at_risk - n_events, out=np.zeros(len(uniq)),
                      where=n_cens > 0)
    return StepFunction(uniq, np.cumprod(1.0 - ratio), initial=1.0)


def _censoring_at(cens: StepFunction, t: np.ndarray) -> np.ndarray:
    """``G`` at ``t``; beyond the last training time only where ``G`` reached 0."""
    if cens.y[-1] > 0 and (t > cens.x[-1]).any():
        raise ValueError(f"survival_test: times must not exceed the largest time of "
                         f"survival_train ({cens.x[-1]}) where the censoring distribution is "
                         f"unknown; got {float(t.max())} (lower tau or times)")
    return np.asarray(cens(t), dtype=np.float64)


def _concordance(event, time, estimate, weights, tied_tol):
    """Weighted Harrell counts over comparable pairs (earlier time is an event).

    A pair (i, j) is comparable when ``event[i]`` and ``time[j] > time[i]``,
    or ``time[j] == time[i]`` with ``j`` censored (counted in ``tied_time``).
    """
    cases = np.flatnonzero(event)
    rows = max(1, _CHUNK // max(len(time), 1))
    num = den = 0.0
    concordant = discordant = tied_risk = tied_time = n_pairs = 0
    for start in range(0, len(cases), rows):
        i = cases[start:start + rows]
        same = time[None, :] == time[i, None]
        tied_t = same & ~event[None, :]
        comparable = (time[None, :] > time[i, None]) | tied_t
        diff = estimate[None, :] - estimate[i, None]
        tie = comparable & (np.abs(diff) <= tied_tol)
        conc = comparable & (diff < 0) & ~tie
        n_comp, n_conc, n_tie = comparable.sum(1), conc.sum(1), tie.sum(1)
        num += float(weights[i] @ (n_conc + 0.5 * n_tie))
        den += float(weights[i] @ n_comp)
        concordant += int(n_conc.sum())
        tied_risk += int(n_tie.sum())
        discordant += int((n_comp - n_conc - n_tie).sum())
        tied_time += int(tied_t.sum())
        n_pairs += int(n_comp.sum())
    if n_pairs == 0 or den == 0:
        raise ValueError("the data have no comparable pair (an event before another time, "
                         "with positive weight); the concordance index is undefined")
    return num / den, concordant, discordant, tied_risk, tied_time


def concordance_index_censored(event, time, estimate, tied_tol: float = 1e-8):
    """Harrell's concordance index of risk scores on right-censored data.

    A pair is comparable when the sample with the smaller time had an event;
    two events at the same time are not comparable, an event and a censoring
    at the same time are (the censored sample is taken to live longer). A
    comparable pair is concordant when the earlier event has the higher risk;
    risks within ``tied_tol`` count 0.5.

    Parameters
    ----------
    event : array-like of bool, shape (n_samples,)
        Event indicators (boolean dtype).
    time : array-like of shape (n_samples,)
        Event or censoring times.
    estimate : array-like of shape (n_samples,)
        Risk scores, higher for an earlier event.
    tied_tol : float, default=1e-8
        Absolute tolerance under which two risks are tied.

    Returns
    -------
    cindex : float
    concordant : int
        Number of concordant pairs.
    discordant : int
        Number of discordant pairs.
    tied_risk : int
        Comparable pairs with tied risks.
    tied_time : int
        Comparable pairs with tied times (an event and a censoring).
    """
    event, time = check_event_time(event, time, strict_bool=True)
    if len(time) < 2:
        raise ValueError(f"time: need at least two samples, got {len(time)}")
    if not event.any():
        raise ValueError("event: all samples are censored; the concordance index is undefined")
    estimate = _check_estimate(estimate, len(time))
    return _concordance(event, time, estimate, np.ones(len(time)), tied_tol)


def harrell_score(y, estimate) -> float:
    """Harrell's C of ``estimate`` on the samples of ``y`` whose outcome is known.

    The ``score`` of survival estimators: ``y`` a structured (event, time) array, samples
    with an unknown outcome (NaN time) left out.
    """
    event, time, labelled = check_survival_y(y, name="y")
    estimate = _check_estimate(estimate, len(time))
    return float(concordance_index_censored(event[labelled], time[labelled],
                                            estimate[labelled])[0])


def concordance_index_ipcw(survival_train, survival_test, estimate, tau: float | None = None,
                           tied_tol: float = 1e-8):
    """Uno's concordance index, with inverse probability of censoring weights.

    Harrell's pair counts where each comparable pair whose earlier sample
    ``i`` had an event at ``time_i < tau`` is weighted by ``G(time_i)^-2``
    (``G``: Kaplan-Meier censoring survival from ``survival_train``), and
    pairs with ``time_i >= tau`` get weight 0 (they still appear in the
    unweighted counts, as in scikit-survival).

    Parameters
    ----------
    survival_train : structured ndarray
        Training outcomes (see :func:`petmtl.survival.make_survival_y`), for ``G``.
    survival_test : structured ndarray of shape (n_samples,)
        Test outcomes.
    estimate : array-like of shape (n_samples,)
        Risk scores of the test samples.
    tau : float, optional
        Truncation time; ``G`` must be positive before it. None: no truncation.
    tied_tol : float, default=1e-8
        Tolerance for tied risks.

    Returns
    -------
    cindex, concordant, discordant, tied_risk, tied_time
        As :func:`concordance_index_censored`.
    """
    event, time, _ = check_survival_y(survival_test, name="survival_test", allow_unknown=False)
    estimate = _check_estimate(estimate, len(time))
    use = event & (time < tau) if tau is not None else event.copy()
    if not use.any():
        raise ValueError(f"survival_test: no event before tau={tau}")
    cens = _censoring_survival(survival_train)
    g = _censoring_at(cens, time[use])
    if (g == 0).any():
        raise ValueError("the censoring survival function of survival_train is 0 at a test "
                         "event time; lower tau")
    weights = np.zeros(len(time))
    weights[use] = 1.0 / g**2
    return _concordance(event, time, estimate, weights, tied_tol)


def _check_times(times, test_time: np.ndarray, sort: bool) -> np.ndarray:
    values = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        raise ValueError(f"times must be a non-empty 1-D array of finite times; got {times!r}")
    if sort:
        values = np.unique(values)
    elif (np.diff(values) <= 0).any():
        raise ValueError("times must be strictly increasing (one estimate column per time)")
    if values.max() >= test_time.max() or values.min() < test_time.min():
        raise ValueError(f"times must lie within the follow-up of survival_test, "
                         f"[{test_time.min()}; {test_time.max()}[; got [{values.min()}; "
                         f"{values.max()}]")
    return values


def _auc_at(estimate, case_weight, control, tied_tol) -> float:
    """Weighted Mann-Whitney AUC; chains of risks within ``tied_tol`` form one threshold."""
    order = np.argsort(-estimate, kind="stable")
    s = estimate[order]
    group = np.cumsum(np.r_[True, np.abs(np.diff(s)) > tied_tol]) - 1
    w = np.bincount(group, weights=case_weight[order])
    c = np.bincount(group, weights=control[order].astype(np.float64))
    total_w, total_c = w.sum(), c.sum()
    if total_w == 0 or total_c == 0:
        return float("nan")
    above = np.cumsum(w) - w
    return float(c @ (above + 0.5 * w) / (total_w * total_c))


def cumulative_dynamic_auc(survival_train, survival_test, estimate, times,
                           tied_tol: float = 1e-8):
    """Cumulative/dynamic time-dependent AUC of risk scores.

    At time ``t``, cases are the test events with ``time <= t`` (weighted by
    ``1 / G(time)``), controls the samples with ``time > t``; the AUC is the
    weighted probability that a case has a higher risk than a control, ties
    counting 0.5. ``mean_auc`` integrates ``AUC(t)`` against the
    Kaplan-Meier survival ``S`` of ``survival_test``:
    ``sum_j AUC(t_j) (S(t_{j-1}) - S(t_j)) / (1 - S(t_last))`` with
    ``S(t_0) = 1``; with one time it is that AUC.

    Parameters
    ----------
    survival_train, survival_test : structured ndarray
        Training outcomes (for ``G``) and test outcomes.
    estimate : array-like of shape (n_samples,) or (n_samples, n_times)
        Risk scores, or one column of risk per time of ``times``.
    times : array-like of shape (n_times,)
        Times within ``[min, max[`` of the test times; strictly increasing
        when ``estimate`` is 2-D, otherwise sorted and de-duplicated.
    tied_tol : float, default=1e-8
        Tolerance for tied risks.

    Returns
    -------
    auc : ndarray of shape (n_times,)
        NaN at a time before the first test event (no case).
    mean_auc : float
    """
    event, time, _ = check_survival_y(survival_test, name="survival_test", allow_unknown=False)
    estimate = _check_estimate(estimate, len(time), ndim=(1, 2))
    times = _check_times(times, time, sort=estimate.ndim == 1)
    if estimate.ndim == 2 and estimate.shape[1] != len(times):
        raise ValueError(f"estimate has {estimate.shape[1]} columns, times {len(times)}")
    cases = event & (time <= times[-1])  # events later than every time are never cases
    g = _censoring_at(_censoring_survival(survival_train), time[cases])
    if (g == 0).any():
        raise ValueError("the censoring survival function of survival_train is 0 at a test "
                         "event time; lower times")
    ipcw = np.zeros(len(time))
    ipcw[cases] = 1.0 / g
    scores = np.array([
        _auc_at(estimate if estimate.ndim == 1 else estimate[:, j],
                np.where(cases & (time <= t), ipcw, 0.0), time > t, tied_tol)
        for j, t in enumerate(times)])
    if len(times) == 1:
        return scores, float(scores[0])
    uniq, surv = kaplan_meier(event, time)
    s_times = StepFunction(uniq, surv, initial=1.0)(times)
    drop = -np.diff(np.r_[1.0, s_times])
    return scores, float(scores @ drop / (1.0 - s_times[-1]))


def brier_score(survival_train, survival_test, estimate, times):
    """Time-dependent Brier score with inverse probability of censoring weights.

    ``BS(t) = mean_i [ pi_i(t)^2 I(time_i <= t, event_i) / G(time_i)
    + (1 - pi_i(t))^2 I(time_i > t) / G(t) ]`` with ``pi_i(t)`` the predicted
    survival probability; a weight whose ``G`` is 0 is 0.

    Parameters
    ----------
    survival_train, survival_test : structured ndarray
        Training outcomes (for ``G``) and test outcomes.
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times`` (1-D allowed for one time).
    times : array-like of shape (n_times,)
        Strictly increasing times within ``[min, max[`` of the test times.

    Returns
    -------
    times : ndarray of shape (n_times,)
    scores : ndarray of shape (n_times,)
    """
    event, time, _ = check_survival_y(survival_test, name="survival_test", allow_unknown=False)
    estimate = _check_estimate(estimate, len(time), ndim=(1, 2))
    times = _check_times(times, time, sort=False)
    if estimate.ndim == 1:
        estimate = estimate[:, None]
    if estimate.shape[1] != len(times):
        raise ValueError(f"estimate has {estimate.shape[1]} columns, times {len(times)}")
    cens = _censoring_survival(survival_train)
    cases = event & (time <= times[-1])
    inv_g_t = _inverse(_censoring_at(cens, times))
    inv_g_y = np.zeros(len(time))
    inv_g_y[cases] = _inverse(_censoring_at(cens, time[cases]))
    is_case = cases[:, None] & (time[:, None] <= times[None, :])
    is_control = time[:, None] > times[None, :]
    terms = (estimate**2 * is_case * inv_g_y[:, None]
             + (1.0 - estimate) ** 2 * is_control * inv_g_t[None, :])
    return times, terms.mean(0)


def _inverse(g: np.ndarray) -> np.ndarray:
    return np.divide(1.0, g, out=np.zeros_like(g), where=g > 0)


def integrated_brier_score(survival_train, survival_test, estimate, times) -> float:
    """Integrated Brier score: trapezoidal integral of :func:`brier_score` over ``times``.

    ``IBS = trapz(BS(t), t) / (times[-1] - times[0])``.

    Parameters
    ----------
    survival_train, survival_test : structured ndarray
        Training outcomes (for ``G``) and test outcomes.
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times``.
    times : array-like of shape (n_times,)
        At least two strictly increasing times.

    Returns
    -------
    float
    """
    times, scores = brier_score(survival_train, survival_test, estimate, times)
    if len(times) < 2:
        raise ValueError("times: at least two time points are needed to integrate")
    return float(trapezoid(scores, times) / (times[-1] - times[0]))
