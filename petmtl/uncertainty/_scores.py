"""Split-conformal building blocks: non-conformity scores, their quantile, prediction sets.

Pure functions of predicted probabilities, so that they can be checked by hand and used
with any model (Vovk et al., *Algorithmic Learning in a Random World*, 2005; Angelopoulos
and Bates, *A Gentle Introduction to Conformal Prediction and Distribution-Free
Uncertainty Quantification*, 2021).
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Real

import numpy as np

from .._constraints import Interval, Options, check_param

METHODS = ("lac", "aps")
_ALPHA = Interval(Real, 0, 1, closed="neither")


def conformal_quantile(scores, alpha: float) -> float:
    """The split-conformal threshold of calibration scores.

    With ``n`` calibration scores this is the ``k``-th smallest, ``k = ceil((n + 1)
    (1 - alpha))``, i.e. the empirical quantile at level ``k / n`` (rounding up). If the
    test point is exchangeable with the calibration points, its score is at most this
    threshold with probability at least ``1 - alpha`` (and less than
    ``1 - alpha + 1 / (n + 1)`` when the scores have no ties).

    Parameters
    ----------
    scores : array-like of shape (n,)
        Non-conformity scores of the calibration samples (finite).
    alpha : float in (0, 1)
        Miscoverage level. It is read as the decimal it prints as (0.1 is 1/10), so
        that ``k`` is exact: ``(n + 1) (1 - alpha)`` is an integer whenever it should be.

    Returns
    -------
    float
        The threshold; ``inf`` when ``k > n`` (fewer than ``1 / alpha - 1`` calibration
        samples): then every prediction set holds every class.

    Raises
    ------
    ValueError
        If ``scores`` is empty, not 1-D or not finite, or ``alpha`` is not in (0, 1).

    Examples
    --------
    >>> conformal_quantile([0.1, 0.4, 0.2, 0.3], alpha=0.25)  # k = ceil(3.75) = 4
    0.4
    >>> conformal_quantile([0.1, 0.4, 0.2, 0.3], alpha=0.1)  # k = 5 > n
    inf
    """
    check_param("alpha", alpha, _ALPHA)
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError(f"scores must be a non-empty 1-D array of finite numbers, got shape "
                         f"{values.shape}" + ("" if values.ndim != 1 or not len(values)
                                              else " with a non-finite value"))
    n = len(values)
    k = max(math.ceil((n + 1) * (1 - Fraction(repr(float(alpha))))), 1)
    if k > n:
        return math.inf
    return float(np.sort(values)[k - 1])


def _check_proba(proba) -> np.ndarray:
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"proba must be of shape (n_samples, n_classes) with at least 2 "
                         f"classes, got shape {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        raise ValueError("proba must hold probabilities in [0, 1]")
    if len(values) and not np.allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        worst = float(np.abs(values.sum(axis=1) - 1).max())
        raise ValueError(f"each row of proba must sum to 1 (within 1e-6); a row is off by "
                         f"{worst:.3g}")
    return values


def _ranked_cumulative(proba: np.ndarray):
    """Classes by decreasing probability (ties: lower class index first) and the running
    sums of their probabilities, including and excluding each class."""
    order = np.argsort(-proba, axis=1, kind="stable")
    ranked = np.take_along_axis(proba, order, axis=1)
    inclusive = np.cumsum(ranked, axis=1)
    exclusive = np.concatenate([np.zeros((len(proba), 1)), inclusive[:, :-1]], axis=1)
    return order, inclusive, exclusive


def _check_uniform(u, n: int) -> np.ndarray | None:
    if u is None:
        return None
    values = np.asarray(u, dtype=np.float64)
    if values.shape != (n,) or not ((values >= 0) & (values <= 1)).all():
        raise ValueError(f"u must be {n} numbers in [0, 1] (one uniform draw per sample), "
                         f"got shape {values.shape}")
    return values


def nonconformity_scores(proba, labels, *, method: str = "lac", u=None) -> np.ndarray:
    """How badly each sample's true class conforms to its predicted probabilities.

    Parameters
    ----------
    proba : array-like of shape (n, n_classes)
        Predicted probabilities (rows summing to 1).
    labels : array-like of int, shape (n,)
        Index of each sample's true class (a column of ``proba``).
    method : {"lac", "aps"}, default="lac"
        ``"lac"`` (least ambiguous set-valued classifier, Sadinle et al. 2019):
        ``1 - p_true``. ``"aps"`` (adaptive prediction sets, Romano et al. 2020): rank
        the classes by decreasing probability (ties: lower class index first); the
        score is the total probability of the classes ranked above the true class plus
        ``u`` times the true class's probability.
    u : array-like of shape (n,) in [0, 1], optional
        ``"aps"`` only: one uniform draw per sample (randomised APS). None counts the
        whole probability of the true class (``u = 1``, non-randomised APS), which
        makes the scores of confident correct predictions close to 1 and the sets
        conservative, often holding every class.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    ValueError
        If ``proba`` is not a table of probabilities, ``labels`` or ``u`` does not match
        it, or ``method`` is unknown.

    Examples
    --------
    >>> nonconformity_scores([[0.7, 0.2, 0.1]], [1], method="lac")
    array([0.8])
    >>> nonconformity_scores([[0.7, 0.2, 0.1]], [1], method="aps")  # 0.7 + 0.2
    array([0.9])
    >>> nonconformity_scores([[0.7, 0.2, 0.1]], [1], method="aps", u=[0.5])  # 0.7 + 0.1
    array([0.8])
    """
    check_param("method", method, Options(*METHODS))
    proba = _check_proba(proba)
    labels = np.asarray(labels)
    if labels.shape != (len(proba),) or labels.dtype.kind not in "iu" or (
            len(labels) and (labels.min() < 0 or labels.max() >= proba.shape[1])):
        raise ValueError(f"labels must be {len(proba)} class indices in [0, "
                         f"{proba.shape[1]}), got shape {labels.shape} and dtype "
                         f"{labels.dtype}")
    rows = np.arange(len(proba))
    if method == "lac":
        return 1.0 - proba[rows, labels]
    u = _check_uniform(u, len(proba))
    order, inclusive, exclusive = _ranked_cumulative(proba)
    rank = np.argmax(order == labels[:, None], axis=1)
    if u is None:
        return inclusive[rows, rank]
    return exclusive[rows, rank] + u * proba[rows, labels]


def prediction_sets(proba, threshold: float, *, method: str = "lac", u=None) -> np.ndarray:
    """The classes whose score is within a conformal threshold.

    Parameters
    ----------
    proba : array-like of shape (n, n_classes)
        Predicted probabilities (rows summing to 1).
    threshold : float
        The conformal quantile (:func:`conformal_quantile`) of scores computed the same
        way (the same ``method``, randomised or not); ``inf`` gives every class.
    method : {"lac", "aps"}, default="lac"
        As in :func:`nonconformity_scores`. ``"lac"``: the classes with ``1 - p <=
        threshold``; a set is empty when every probability is below ``1 - threshold``
        (a sample unlike the calibration samples), and holds both classes of a binary
        outcome when both are at least ``1 - threshold``. ``"aps"``: a prefix of the
        classes ranked by decreasing probability. Randomised (``u`` given): the classes
        whose randomised score with this sample's ``u`` is within the threshold, which
        may be none. Not randomised: the classes until their total reaches the
        threshold, the class that reaches it included (Angelopoulos and Bates, 2021),
        plus any class whose score is within the threshold; never empty.
    u : array-like of shape (n,) in [0, 1], optional
        ``"aps"`` only: one uniform draw per sample, drawn independently of the
        calibration draws.

    Returns
    -------
    ndarray of bool, shape (n, n_classes)
        True where the class (column of ``proba``) is in the set.

    Raises
    ------
    ValueError
        If ``proba`` is not a table of probabilities, ``u`` does not match it,
        ``threshold`` is NaN, or ``method`` is unknown.

    Examples
    --------
    >>> prediction_sets([[0.7, 0.2, 0.1], [0.5, 0.45, 0.05]], 0.75, method="aps")
    array([[ True,  True, False],
           [ True,  True, False]])
    >>> prediction_sets([[0.7, 0.2, 0.1], [0.5, 0.45, 0.05]], 0.75, method="aps",
    ...                 u=[0.1, 0.9])  # 0.7 + 0.1 * 0.2 <= 0.75; 0.5 + 0.9 * 0.45 > 0.75
    array([[ True,  True, False],
           [ True, False, False]])
    """
    check_param("method", method, Options(*METHODS))
    proba = _check_proba(proba)
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold must be a number or inf, got nan")
    if method == "lac":
        return 1.0 - proba <= threshold
    u = _check_uniform(u, len(proba))
    order, inclusive, exclusive = _ranked_cumulative(proba)
    if u is None:
        ranked = (exclusive < threshold) | (inclusive <= threshold)
    else:
        ranked = exclusive + u[:, None] * np.take_along_axis(proba, order, axis=1) \
            <= threshold
    sets = np.zeros_like(ranked)
    np.put_along_axis(sets, order, ranked, axis=1)
    return sets
