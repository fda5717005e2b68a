"""Per-patient spread of predictions over ensemble members and test-time flips."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from .._constraints import Interval, NoneOr, check_param


@dataclass(frozen=True)
class ViewSummary:
    """What :func:`summarize_views` returns; every array has the shape of one view.

    Attributes
    ----------
    mean : ndarray
        Mean over the views (for probabilities, the ensemble's averaged probability).
    std : ndarray
        Standard deviation over the views (0 when they agree).
    lower, upper : ndarray or None
        Empirical quantiles of the views at ``(1 - interval) / 2`` and
        ``(1 + interval) / 2``; None without ``interval``.
    n_views : int
        Number of views summarised.
    """

    mean: np.ndarray
    std: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    n_views: int


def summarize_views(views, *, ddof: int = 0, interval: float | None = None) -> ViewSummary:
    """Mean and spread of predictions made by several views of one model.

    A *view* is one prediction of every sample: by one member of an ensemble (e.g. the
    k fold models of a k-fold ensemble), under one test-time flip, or one member under
    one flip. The spread over views is the model's disagreement with itself for each
    patient: 0 when the views agree, large when the prediction hinges on which member or
    which mirror image is asked. It is not a confidence interval for the true outcome
    and not a calibrated probability of error; the conformal sets of
    :class:`ConformalClassifier` are the calibrated statement.

    Parameters
    ----------
    views : array-like of shape (n_views, n_samples, ...)
        Predictions, view by view: probabilities of shape (n_views, n_samples,
        n_classes), decision values, risks or survival curves of any trailing shape.
    ddof : int, default=0
        Delta degrees of freedom of the standard deviation: 0 describes the views at hand
        (e.g. the 8 flips of a volume, a fixed set), 1 estimates the spread of a member
        drawn from the same training procedure from k members.
    interval : float in (0, 1) or None, default=None
        Also return the central ``interval`` range of the views (empirical quantiles,
        linear interpolation); with few views it is close to their minimum and maximum.

    Returns
    -------
    ViewSummary
        ``mean``, ``std`` (over axis 0, NumPy's definitions), ``lower``, ``upper`` and
        ``n_views``.

    Raises
    ------
    ValueError
        If ``views`` has fewer than 2 dimensions, no view, a non-finite value, or
        ``ddof`` is not smaller than the number of views.

    Examples
    --------
    >>> s = summarize_views([[0.2, 0.9], [0.4, 0.9]])  # 2 members, 2 patients
    >>> s.mean, s.std
    (array([0.3, 0.9]), array([0.1, 0. ]))
    """
    check_param("ddof", ddof, Interval(Integral, 0, None))
    check_param("interval", interval, NoneOr(Interval(Real, 0, 1, closed="neither")))
    values = np.asarray(views, dtype=np.float64)
    if values.ndim < 2 or values.shape[0] == 0:
        raise ValueError(f"views must be of shape (n_views, n_samples, ...) with at least one "
                         f"view, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("views must be finite")
    n_views = values.shape[0]
    if ddof >= n_views:
        raise ValueError(f"ddof={ddof} needs more than {ddof} views, got {n_views}")
    lower = upper = None
    if interval is not None:
        lower, upper = np.quantile(values, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    return ViewSummary(values.mean(axis=0), values.std(axis=0, ddof=ddof), lower, upper,
                       n_views)
