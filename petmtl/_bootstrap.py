"""Percentile bootstrap confidence intervals over samples (patients).

:func:`bootstrap_interval` gives ``(estimate, low, high)`` for any metric of one or more
arrays whose rows are resampled together; :func:`paired_bootstrap_difference` compares two
models scored on the same patients with the same resamples. Both are re-exported from
:mod:`petmtl.metrics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils import check_random_state

__all__ = ["BootstrapResult", "bootstrap_interval", "paired_bootstrap_difference"]


class BootstrapResult(tuple):
    """A tuple of bootstrap figures with the resample counts as attributes.

    Unpacks like a plain tuple, e.g. ``estimate, low, high = bootstrap_interval(...)``.

    Attributes
    ----------
    n_resamples : int
        Resamples whose metric was defined and finite (those the interval is made of).
    n_skipped : int
        Resamples skipped because the metric raised a ValueError or was not finite
        (e.g. a resample holding a single class).
    """

    n_resamples: int
    n_skipped: int

    def __new__(cls, values, n_resamples: int, n_skipped: int):
        self = super().__new__(cls, tuple(float(v) for v in values))
        self.n_resamples = int(n_resamples)
        self.n_skipped = int(n_skipped)
        return self


def _check_options(metric, n_resamples, confidence) -> None:
    if not callable(metric):
        raise TypeError(f"metric must be a callable metric(*arrays) -> float, got "
                        f"{type(metric).__name__}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, Integral):
        raise TypeError(f"n_resamples must be an int >= 1, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be an int >= 1, got {n_resamples!r}")
    if (isinstance(confidence, bool) or not isinstance(confidence, Real)
            or not 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")


def _check_arrays(arrays, names) -> list[np.ndarray]:
    if not arrays:
        raise TypeError("bootstrap needs at least one array to resample after metric")
    out = []
    for name, a in zip(names, arrays, strict=True):
        a = np.asarray(a)
        if a.ndim == 0:
            raise ValueError(f"{name} must be an array with one row per sample, got a scalar")
        out.append(a)
    n = len(out[0])
    for name, a in zip(names, out, strict=True):
        if len(a) != n:
            raise ValueError(f"{name} has {len(a)} rows but {names[0]} has {n}; every array "
                             "must have one row per sample")
    if n < 1:
        raise ValueError(f"{names[0]} has no rows; the bootstrap needs at least one sample")
    return out


def _strata(stratify, n: int) -> list[np.ndarray]:
    if stratify is None:
        return [np.arange(n)]
    labels = np.asarray(stratify)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"stratify must be a 1-D label array with one entry per sample "
                         f"({n}), got shape {labels.shape}")
    lookup: dict = {}
    codes = np.array([lookup.setdefault(v, len(lookup)) for v in labels.tolist()])
    return [np.flatnonzero(codes == k) for k in range(len(lookup))]


def _resample_indices(strata, n_resamples: int, rng) -> np.ndarray:
    """Row indices of shape (n_resamples, n): each stratum resampled within itself."""
    parts = [s[rng.randint(0, len(s), size=(n_resamples, len(s)))] for s in strata]
    return np.concatenate(parts, axis=1)


def _score(metric, arrays, rows=None) -> float:
    values = arrays if rows is None else [a[rows] for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value = float(metric(*values))
    if not np.isfinite(value):
        raise ValueError(f"metric is not finite ({value})")
    return value


def _distribution(metric, arrays, indices) -> tuple[np.ndarray, int]:
    values = []
    for rows in indices:
        try:
            values.append(_score(metric, arrays, rows))
        except ValueError:
            continue
    return np.asarray(values, dtype=np.float64), len(indices) - len(values)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _bootstrap(metric, arrays, stratify, n_resamples: int, random_state):
    """Metric on the samples, its finite values over the resamples, the count skipped."""
    strata = _strata(stratify, len(arrays[0]))
    try:
        estimate = _score(metric, arrays)
    except ValueError as exc:
        raise ValueError(f"metric is undefined on the original samples: {exc}") from exc
    indices = _resample_indices(strata, n_resamples, check_random_state(random_state))
    values, skipped = _distribution(metric, arrays, indices)
    if len(values) == 0:
        raise ValueError(f"the metric was undefined (ValueError or not finite) on all "
                         f"{n_resamples} resamples; pass stratify= (e.g. the labels) so every "
                         "resample keeps each class")
    if skipped:
        warnings.warn(f"{skipped} of {n_resamples} bootstrap resamples were skipped because "
                      "the metric was undefined on them (e.g. a single class); pass "
                      "stratify= to avoid this", RuntimeWarning, stacklevel=3)
    return estimate, values, skipped


def bootstrap_interval(
    metric: Callable[..., float],
    *arrays,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    stratify=None,
    random_state: int | np.random.RandomState | None = None,
) -> BootstrapResult:
    """Metric estimate with a percentile bootstrap confidence interval over samples.

    The rows of every array are resampled together (with replacement, the same row
    indices for all arrays) ``n_resamples`` times; the interval holds the central
    ``confidence`` fraction of the metric over the resamples.

    Parameters
    ----------
    metric : callable
        ``metric(*arrays) -> float``, e.g. :func:`sklearn.metrics.roc_auc_score`.
    *arrays : array-like
        One or more arrays with one row per sample (first axis), e.g. ``y_true`` and
        ``y_score``.
    n_resamples : int, default=2000
        Number of bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).
    stratify : array-like of shape (n_samples,), optional
        Labels to resample within: each resample keeps every stratum's size, so e.g. with
        ``stratify=y_true`` every resample holds both classes.
    random_state : int, RandomState instance or None, default=None
        Seed of the resampling; the same seed gives the same interval.

    Returns
    -------
    result : BootstrapResult
        The tuple ``(estimate, low, high)``: the metric on the original samples and the
        interval bounds. ``result.n_resamples`` counts the resamples used and
        ``result.n_skipped`` those skipped because ``metric`` raised a ValueError or
        returned a non-finite value there (e.g. a resample with one class; a
        RuntimeWarning says how many).

    Raises
    ------
    TypeError
        If ``metric`` is not callable, no array is given or ``n_resamples`` is not an int.
    ValueError
        If an argument is out of range, the arrays differ in length, the metric fails on
        the original samples or on every resample.

    See Also
    --------
    paired_bootstrap_difference : Compare two models on the same samples.

    Notes
    -----
    This is the percentile bootstrap (Efron & Tibshirani, 1993, ch. 13): simple and
    transformation-respecting, with a coverage that is only approximate for small samples
    or metrics near their bounds (an AUC of 1 gives the degenerate interval [1, 1]).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> from petmtl.metrics import bootstrap_interval
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> score = y + rng.normal(0.0, 1.0, 100)
    >>> auc, low, high = bootstrap_interval(roc_auc_score, y, score, stratify=y,
    ...                                     random_state=0)
    >>> bool(low < auc < high)
    True
    """
    _check_options(metric, n_resamples, confidence)
    names = [f"arrays[{i}]" for i in range(len(arrays))]
    estimate, values, skipped = _bootstrap(metric, _check_arrays(arrays, names), stratify,
                                           n_resamples, random_state)
    return BootstrapResult((estimate, *_interval(values, confidence)), len(values), skipped)


def paired_bootstrap_difference(
    metric: Callable[..., float],
    y_true,
    score_a,
    score_b,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    stratify=None,
    random_state: int | np.random.RandomState | None = None,
) -> BootstrapResult:
    """Difference ``metric(y, score_a) - metric(y, score_b)`` with a paired bootstrap.

    Both models are scored on the same resampled samples, so the interval reflects the
    uncertainty of the difference, which is much smaller than the two single intervals
    suggest when the models' errors are correlated.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, score) -> float``, e.g. :func:`sklearn.metrics.roc_auc_score`.
    y_true : array-like of shape (n_samples,) or (n_samples, ...)
        Reference labels.
    score_a, score_b : array-like of shape (n_samples,) or (n_samples, ...)
        Scores of model A and model B for the same samples, in the same order.
    n_resamples : int, default=2000
        Number of bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).
    stratify : array-like of shape (n_samples,), optional
        Labels to resample within (e.g. ``y_true``); see :func:`bootstrap_interval`.
    random_state : int, RandomState instance or None, default=None
        Seed of the resampling.

    Returns
    -------
    result : BootstrapResult
        The tuple ``(difference, low, high, p_value)``. ``p_value`` is the one-sided
        bootstrap p-value of "A is not better than B", ``(1 + #{d* <= 0}) / (1 + B)``
        over the ``B`` used resamples' differences ``d*``: small when A beats B in
        nearly every resample, 1 for a model compared with itself.
        ``n_resamples``/``n_skipped`` as in :func:`bootstrap_interval`.

    Raises
    ------
    TypeError, ValueError
        As :func:`bootstrap_interval`; messages name ``y_true``, ``score_a`` or
        ``score_b``.

    See Also
    --------
    bootstrap_interval : Interval of one metric.

    Examples
    --------
    A sharp score against a noisy one, on the same 100 patients:

    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> from petmtl.metrics import paired_bootstrap_difference
    >>> y = np.repeat([0, 1], 50)
    >>> noise = np.random.default_rng(0).normal(size=(2, 100))
    >>> diff, low, high, p = paired_bootstrap_difference(
    ...     roc_auc_score, y, y + 0.5 * noise[0], y + 2 * noise[1], stratify=y, random_state=0)
    >>> bool(low > 0 and p < 0.05)
    True
    """
    _check_options(metric, n_resamples, confidence)
    arrays = _check_arrays((y_true, score_a, score_b), ["y_true", "score_a", "score_b"])

    def difference(y, a, b):
        return metric(y, a) - metric(y, b)

    estimate, values, skipped = _bootstrap(difference, arrays, stratify, n_resamples,
                                           random_state)
    p_value = (1.0 + np.count_nonzero(values <= 0.0)) / (1.0 + len(values))
    return BootstrapResult((estimate, *_interval(values, confidence), p_value), len(values),
                           skipped)
