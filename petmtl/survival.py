"""Survival-analysis building blocks: targets, step functions, Breslow, Kaplan-Meier, log-rank.

Everything here is plain numpy/scipy. Survival targets follow scikit-survival's
layout (a structured array with a boolean event field and a float time field,
see :func:`make_survival_y`) so that scikit-survival users can pass their own
``y``; scikit-survival itself is never imported.

Conventions:

* A *risk score* (or log-risk) is higher for an earlier event.
* Step functions are right-continuous: a jump at time ``t`` is included at ``t``.
* Unlabelled samples (unknown outcome) have ``time = NaN`` and ``event = False``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._survival_y import SURVIVAL_DTYPE, check_event_time, check_survival_y, make_survival_y

__all__ = [
    "SURVIVAL_DTYPE",
    "BreslowEstimator",
    "StepFunction",
    "check_survival_y",
    "kaplan_meier",
    "logrank_test",
    "make_survival_y",
]


class StepFunction:
    """A right-continuous step function of time.

    ``f(t) = initial`` for ``t < x[0]``, ``f(t) = y[i]`` for
    ``x[i] <= t < x[i + 1]`` and ``f(t) = y[-1]`` for ``t >= x[-1]``.

    Parameters
    ----------
    x : array-like of shape (n_points,)
        Strictly increasing, finite jump times.
    y : array-like of shape (n_points,)
        Value of the function from each jump time on.
    initial : float, default=0.0
        Value before the first jump: 1 for a survival function, 0 for a
        cumulative hazard.

    Attributes
    ----------
    x, y : ndarray of float64
    initial : float

    Examples
    --------
    >>> f = StepFunction([1.0, 3.0], [0.8, 0.5], initial=1.0)
    >>> f([0.0, 1.0, 2.0, 3.0, 10.0])
    array([1. , 0.8, 0.8, 0.5, 0.5])
    """

    def __init__(self, x, y, *, initial: float = 0.0):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 1 or y.shape != x.shape:
            raise ValueError(f"x and y must be 1-D of the same length; got shapes {x.shape} "
                             f"and {y.shape}")
        if not np.isfinite(x).all() or (np.diff(x) <= 0).any():
            raise ValueError("x must hold finite, strictly increasing jump times")
        self.x = x
        self.y = y
        self.initial = float(initial)

    def __call__(self, t):
        """Evaluate the function.

        Parameters
        ----------
        t : float or array-like
            Times, not NaN.

        Returns
        -------
        float or ndarray
            A float for a scalar ``t``, else an array of the shape of ``t``.
        """
        t_arr = np.asarray(t, dtype=np.float64)
        if np.isnan(t_arr).any():
            raise ValueError("t must not contain NaN")
        idx = np.searchsorted(self.x, t_arr, side="right") - 1
        values = np.where(idx >= 0, self.y[np.maximum(idx, 0)] if len(self.y) else self.initial,
                          self.initial)
        return float(values) if values.ndim == 0 else values

    def __repr__(self) -> str:
        return f"StepFunction(x={self.x!r}, y={self.y!r}, initial={self.initial!r})"


def _as_log_risk(log_risk, n_samples: int | None = None) -> np.ndarray:
    values = np.asarray(log_risk, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"log_risk must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("log_risk must be finite")
    if n_samples is not None and len(values) != n_samples:
        raise ValueError(f"log_risk has {len(values)} samples, time and event have {n_samples}")
    return values


class BreslowEstimator:
    r"""Breslow estimator of the cumulative baseline hazard of a Cox model.

    Given fitted log-risks :math:`\eta_j` (the linear predictor, used *as
    given*: nothing is centred), :meth:`fit` computes at each unique event
    time :math:`t_k`, with :math:`d_k` events tied at :math:`t_k`,

    .. math::
        H_0(t) = \sum_{t_k \le t} \frac{d_k}{\sum_{j: t_j \ge t_k} e^{\eta_j}},

    and predictions are :math:`H(t|x) = H_0(t)\,e^{\eta(x)}`,
    :math:`S(t|x) = \exp(-H(t|x))`, the scikit-survival convention. Shifting
    every :math:`\eta` by a constant rescales :math:`H_0` and leaves the
    predictions unchanged, as long as fit and predict use the same scores.

    Attributes
    ----------
    unique_times_ : ndarray of shape (n_unique_times,)
        Unique event times (censoring-only times are not jump points).
    cumulative_baseline_hazard_ : StepFunction
        :math:`H_0`, 0 before the first event time.
    baseline_survival_ : StepFunction
        :math:`\exp(-H_0)`, 1 before the first event time.
    """

    def fit(self, log_risk, time, event) -> BreslowEstimator:
        """Compute the cumulative baseline hazard.

        Parameters
        ----------
        log_risk : array-like of shape (n_samples,)
            Log-risk (linear predictor) of the training samples.
        time : array-like of shape (n_samples,)
            Event or censoring times.
        event : array-like of shape (n_samples,)
            Event indicators (booleans or 0/1); at least one event.

        Returns
        -------
        self : BreslowEstimator
        """
        event, time = check_event_time(event, time)
        eta = _as_log_risk(log_risk, len(time))
        if not event.any():
            raise ValueError("event: no event observed; the baseline hazard is undefined")
        order = np.argsort(time, kind="stable")
        sorted_time = time[order]
        at_risk = np.cumsum(np.exp(eta[order])[::-1])[::-1]  # sum over t_j >= sorted_time[i]
        uniq, n_events = np.unique(time[event], return_counts=True)
        first = np.searchsorted(sorted_time, uniq, side="left")
        hazard = np.cumsum(n_events / at_risk[first])
        self.unique_times_ = uniq
        self.cumulative_baseline_hazard_ = StepFunction(uniq, hazard, initial=0.0)
        self.baseline_survival_ = StepFunction(uniq, np.exp(-hazard), initial=1.0)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "unique_times_"):
            raise AttributeError("This BreslowEstimator is not fitted yet; call fit first")

    def get_cumulative_hazard_function(self, log_risk, return_array: bool = False):
        """Cumulative hazard ``H0(t) * exp(log_risk)`` of each sample.

        Parameters
        ----------
        log_risk : array-like of shape (n_samples,)
            Log-risk of the samples, on the scale used in :meth:`fit`.
        return_array : bool, default=False
            Return values at :attr:`unique_times_` instead of functions.

        Returns
        -------
        ndarray
            Object array of :class:`StepFunction` of shape (n_samples,), or a
            float array of shape (n_samples, n_unique_times).
        """
        self._check_fitted()
        values = np.outer(np.exp(_as_log_risk(log_risk)), self.cumulative_baseline_hazard_.y)
        return values if return_array else self._to_functions(values, 0.0)

    def get_survival_function(self, log_risk, return_array: bool = False):
        """Survival ``exp(-H0(t) * exp(log_risk))`` of each sample.

        Arguments and the forms returned are those of
        :meth:`get_cumulative_hazard_function`; survival functions start at 1.
        """
        values = np.exp(-self.get_cumulative_hazard_function(log_risk, return_array=True))
        return values if return_array else self._to_functions(values, 1.0)

    def _to_functions(self, values: np.ndarray, initial: float) -> np.ndarray:
        funcs = np.empty(len(values), dtype=object)
        for i, row in enumerate(values):
            funcs[i] = StepFunction(self.unique_times_, row, initial=initial)
        return funcs


def _counts_at(time: np.ndarray, event: np.ndarray, at: np.ndarray):
    """Number at risk (``time >= at``) and number of events (``time == at``) at each time."""
    sorted_time = np.sort(time)
    n_at_risk = len(time) - np.searchsorted(sorted_time, at, side="left")
    event_times = np.sort(time[event])
    n_events = (np.searchsorted(event_times, at, side="right")
                - np.searchsorted(event_times, at, side="left"))
    return n_at_risk, n_events


def kaplan_meier(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the survival function.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Event or censoring times (all known).
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).

    Returns
    -------
    unique_times : ndarray
        Every distinct observed time, event or censoring (as scikit-survival's
        ``kaplan_meier_estimator``).
    survival : ndarray
        ``S(t) = prod_{t_k <= t} (1 - d_k / n_k)`` at each of them, with
        ``d_k`` events among the ``n_k`` samples still at risk.
    """
    event, time = check_event_time(event, time)
    if len(time) == 0:
        raise ValueError("time is empty; the Kaplan-Meier estimate needs at least one sample")
    uniq = np.unique(time)
    n_at_risk, n_events = _counts_at(time, event, uniq)
    return uniq, np.cumprod(1.0 - n_events / n_at_risk)


def logrank_test(time, event, groups) -> tuple[float, float]:
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
    time : array-like of shape (n_samples,)
        Event or censoring times.
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).
    groups : array-like of shape (n_samples,)
        Group label of each sample; at least two distinct labels.

    Returns
    -------
    statistic : float
        Chi-square statistic.
    p_value : float
        Its upper-tail p-value.
    """
    event, time = check_event_time(event, time)
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
