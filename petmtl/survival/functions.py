"""Functions of time: step functions and Breslow's baseline hazard of a Cox model.

As scikit-survival's ``sksurv.functions`` and ``BreslowEstimator``: a *risk score*
(log-risk) is higher for an earlier event, and step functions are right-continuous (a
jump at time ``t`` is included at ``t``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._json import register_type
from .target import check_event_time, event_time_order

__all__ = ["BreslowEstimator", "StepFunction", "step_functions"]


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


register_type(StepFunction, "petmtl.StepFunction",
              lambda f: {"x": f.x, "y": f.y, "initial": f.initial},
              lambda d: StepFunction(d["x"], d["y"], initial=d["initial"]))


def step_functions(times, values, *, initial: float) -> np.ndarray:
    """One :class:`StepFunction` per row of ``values``, all jumping at ``times``.

    Parameters
    ----------
    times : array-like of shape (n_times,)
        Strictly increasing jump times, shared by every function.
    values : array-like of shape (n_functions, n_times)
        Each function's value from each jump time on.
    initial : float
        Value before the first jump (1 for survival, 0 for a cumulative hazard).

    Returns
    -------
    ndarray of object, shape (n_functions,)
    """
    out = np.empty(len(values), dtype=object)
    out[:] = [StepFunction(times, row, initial=initial) for row in values]
    return out


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
    cum_baseline_hazard_ : StepFunction
        :math:`H_0`, 0 before the first event time.
    baseline_survival_ : StepFunction
        :math:`\exp(-H_0)`, 1 before the first event time.
    """

    def fit(self, log_risk, event, time) -> BreslowEstimator:
        """Compute the cumulative baseline hazard.

        Parameters
        ----------
        log_risk : array-like of shape (n_samples,)
            Log-risk (linear predictor) of the training samples.
        event : array-like of shape (n_samples,)
            Event indicators (booleans or 0/1); at least one event.
        time : array-like of shape (n_samples,)
            Event or censoring times.

        Returns
        -------
        self : BreslowEstimator
        """
        event, time = check_event_time(*event_time_order(event, time,
                                                         where="BreslowEstimator.fit"))
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
        self.cum_baseline_hazard_ = StepFunction(uniq, hazard, initial=0.0)
        self.baseline_survival_ = StepFunction(uniq, np.exp(-hazard), initial=1.0)
        return self

    @property
    def cumulative_baseline_hazard_(self) -> StepFunction:
        """Deprecated name of :attr:`cum_baseline_hazard_` (scikit-survival's name)."""
        warnings.warn("BreslowEstimator.cumulative_baseline_hazard_ is now "
                      "cum_baseline_hazard_ (scikit-survival's name); the old name goes in "
                      "petmtl 0.3", FutureWarning, stacklevel=2)
        return self.cum_baseline_hazard_

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
        values = np.outer(np.exp(_as_log_risk(log_risk)), self.cum_baseline_hazard_.y)
        return values if return_array else step_functions(self.unique_times_, values,
                                                          initial=0.0)

    def get_survival_function(self, log_risk, return_array: bool = False):
        """Survival ``exp(-H0(t) * exp(log_risk))`` of each sample.

        Arguments and the forms returned are those of
        :meth:`get_cumulative_hazard_function`; survival functions start at 1.
        """
        values = np.exp(-self.get_cumulative_hazard_function(log_risk, return_array=True))
        return values if return_array else step_functions(self.unique_times_, values,
                                                          initial=1.0)
