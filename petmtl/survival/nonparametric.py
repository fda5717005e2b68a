"""Non-parametric survival estimates: Kaplan-Meier and the log-rank test.

As scikit-survival's ``sksurv.nonparametric`` and ``sksurv.compare``: ``event`` before
``time``, right-censored data, plain numpy/scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .target import check_event_time, event_time_order

__all__ = ["kaplan_meier", "logrank_test"]


def _counts_at(time: np.ndarray, event: np.ndarray, at: np.ndarray):
    """Number at risk (``time >= at``) and number of events (``time == at``) at each time."""
    sorted_time = np.sort(time)
    n_at_risk = len(time) - np.searchsorted(sorted_time, at, side="left")
    event_times = np.sort(time[event])
    n_events = (np.searchsorted(event_times, at, side="right")
                - np.searchsorted(event_times, at, side="left"))
    return n_at_risk, n_events


def kaplan_meier(event, time) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the survival function.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).
    time : array-like of shape (n_samples,)
        Event or censoring times (all known).

    Returns
    -------
    unique_times : ndarray
        Every distinct observed time, event or censoring (as scikit-survival's
        ``kaplan_meier_estimator``).
    survival : ndarray
        ``S(t) = prod_{t_k <= t} (1 - d_k / n_k)`` at each of them, with
        ``d_k`` events among the ``n_k`` samples still at risk.

    Examples
    --------
    >>> from petmtl.survival import kaplan_meier
    >>> kaplan_meier([True, False, True], [1.0, 2.0, 3.0])
    (array([1., 2., 3.]), array([0.66666667, 0.66666667, 0.        ]))
    """
    event, time = check_event_time(*event_time_order(event, time, where="kaplan_meier"))
    if len(time) == 0:
        raise ValueError("time is empty; the Kaplan-Meier estimate needs at least one sample")
    uniq = np.unique(time)
    n_at_risk, n_events = _counts_at(time, event, uniq)
    return uniq, np.cumprod(1.0 - n_events / n_at_risk)


def logrank_test(event, time, groups) -> tuple[float, float]:
    """Log-rank test that two or more groups share one survival function.

    At each distinct event time ``t_k`` with ``n_k`` samples at risk,
    ``n_gk`` of them in group ``g``, and ``d_k`` events, the expected number
    of events of group ``g`` is ``d_k n_gk / n_k``; the hypergeometric
    covariance is ``d_k (n_k - d_k) / (n_k - 1) * (n_gk / n_k) * (delta_gh -
    n_hk / n_k)``. The statistic is ``z' V^+ z`` over the first ``G - 1``
    groups (``z`` = observed - expected, ``V^+`` a pseudo-inverse), referred
    to a chi-square with ``G - 1`` degrees of freedom.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).
    time : array-like of shape (n_samples,)
        Event or censoring times.
    groups : array-like of shape (n_samples,)
        Group label of each sample; at least two distinct labels.

    Returns
    -------
    statistic : float
        Chi-square statistic.
    p_value : float
        Its upper-tail p-value.
    """
    event, time = check_event_time(*event_time_order(event, time, where="logrank_test"))
    groups = np.asarray(groups)
    if groups.shape != time.shape:
        raise ValueError(f"groups must be 1-D of the length of time ({len(time)}); got shape "
                         f"{groups.shape}")
    labels, member = np.unique(groups, return_inverse=True)
    if len(labels) < 2:
        raise ValueError(f"groups must hold at least two distinct labels; got {labels.tolist()}")
    if not event.any():
        raise ValueError("event: no event observed; the log-rank test is undefined")
    uniq = np.unique(time[event])
    n_at_risk, n_events = _counts_at(time, event, uniq)
    n_group = np.empty((len(uniq), len(labels)))
    d_group = np.empty_like(n_group)
    for g in range(len(labels)):
        n_group[:, g], d_group[:, g] = _counts_at(time[member == g], event[member == g], uniq)
    share = n_group / n_at_risk[:, None]
    z = (d_group - n_events[:, None] * share).sum(0)
    scale = np.divide(n_events * (n_at_risk - n_events), n_at_risk - 1.0,
                      out=np.zeros(len(uniq)), where=n_at_risk > 1)
    cov = (np.einsum("k,kg->g", scale, share) * np.eye(len(labels))
           - np.einsum("k,kg,kh->gh", scale, share, share))
    statistic = float(z[:-1] @ np.linalg.pinv(cov[:-1, :-1]) @ z[:-1])
    return statistic, float(stats.chi2.sf(statistic, len(labels) - 1))
