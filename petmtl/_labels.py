"""Labels with missing entries: the one sentinel and the one test for "unknown".

Every task label of petmtl (outcome, pathology, and the mask and label columns of a
manifest) may be missing. Missing is spelled ``None``, ``NaN``, ``""`` or :data:`MISSING`
(-1, scikit-learn's semi-supervised convention), and :func:`is_missing` is the only
place that decides it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning

MISSING = -1
"""Code of an unknown label (and the value a manifest gives an empty outcome cell)."""


def is_missing(value) -> bool:
    """Whether a label (or an optional file path) is unknown.

    Parameters
    ----------
    value : object
        A label, a path or None.

    Returns
    -------
    bool
        True for None, ``""``, NaN and -1 (:data:`MISSING`); False for anything else,
        including ``False`` and ``0``.
    """
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return bool(np.isnan(value)) or value == MISSING
    return False


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def check_labels(labels, n_samples: int, name: str, *, binary: bool):
    """Encode labels with missing entries (None, NaN, "" or -1).

    Returns
    -------
    classes : ndarray
        Sorted distinct known labels.
    encoded : ndarray of int64
        Class index, -1 where missing.
    """
    if labels is None:
        raise ValueError(f"{name} is None; this estimator requires y to be passed, but the "
                         "target y is None")
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array-like of labels, got {_describe(labels)}")
    array = labels if isinstance(labels, np.ndarray) else np.asarray(labels, dtype=object)
    if array.ndim == 0:
        raise TypeError(f"{name} must be a 1-D array-like of labels, got a scalar {labels!r}")
    if array.ndim == 2 and array.shape[1] == 1:
        warnings.warn(f"A column-vector {name} was passed when a 1d array was expected; "
                      "it is ravelled to shape (n,)", DataConversionWarning, stacklevel=3)
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if len(array) != n_samples:
        raise ValueError(f"{name} has {len(array)} entries but X has {n_samples} samples; "
                         "they must match")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must not be complex, got dtype {array.dtype}")
    missing = np.array([is_missing(v) for v in array.tolist()], dtype=bool)
    known = array[~missing]
    if known.dtype == object:
        kinds = {type(v) for v in known.tolist()}
        if len(kinds) > 1 and not all(issubclass(k, numbers.Number) for k in kinds):
            raise TypeError(f"{name} mixes label types {sorted(k.__name__ for k in kinds)}; "
                            "use one type (all strings or all numbers)")
        if any(isinstance(v, complex) for v in known.tolist()):
            raise TypeError(f"{name} must not hold complex numbers")
        if all(isinstance(v, numbers.Number) for v in known.tolist()):
            known = known.astype(np.float64 if any(isinstance(v, float) for v in known.tolist())
                                 else np.int64)
    if known.dtype.kind == "f" and np.all(known == np.round(known)):
        pass
    elif known.dtype.kind == "f":
        raise ValueError(f"{name} must hold class labels; got continuous values such as "
                         f"{known[~(known == np.round(known))][0]!r}")
    classes, indices = np.unique(known, return_inverse=True)
    if binary and len(classes) > 2:
        raise ValueError(f"Only binary classification is supported: {name} must be a binary "
                         f"outcome (two labels, -1 for unknown); got {len(classes)} labels: "
                         f"{classes.tolist()[:10]}")
    encoded = np.full(n_samples, MISSING, dtype=np.int64)
    encoded[~missing] = indices
    return classes, encoded
