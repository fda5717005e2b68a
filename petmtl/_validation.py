"""Input validation for the estimator: volumes, outcome, masks and pathology labels.

Every error names the argument, the expected form and what was received.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_array

MISSING_LABEL = -1


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def _as_numeric_array(value, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None")
    if hasattr(value, "__array__") or isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a regular (non-ragged) array-like of numbers; "
                             f"numpy could not convert it: {exc}") from None
    else:
        raise TypeError(f"{name} must be an array-like of numbers, got {_describe(value)}")
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (ValueError, TypeError):
            raise TypeError(f"{name} must contain numbers, got an object array whose "
                            "elements are not all numeric") from None
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real-valued, got complex dtype {array.dtype}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must contain numbers, got dtype {array.dtype}")
    return array


def check_volumes(X, volume_shape=None, *, name: str = "X") -> np.ndarray:
    """Validate PET volumes and return them as float32 of shape (n, D, H, W).

    Accepted forms: (n, D, H, W); (n, 1, D, H, W); or 2-D (n, n_features)
    flattened volumes, reshaped to ``volume_shape`` when given, otherwise read
    as 1 x 1 x n_features lines (which is what lets scikit-learn's generic
    estimator checks run on this estimator). Sparse, complex, non-numeric,
    empty and non-finite input is refused with scikit-learn's messages.
    """
    if X is None:
        raise TypeError(f"{name} must be an array-like of PET volumes, got None")
    if isinstance(X, np.ndarray) and np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    try:
        array = check_array(X, accept_sparse=False, dtype=(np.float32, np.float64),
                            allow_nd=True, ensure_all_finite=True, ensure_min_samples=1,
                            input_name=name)
    except (ValueError, TypeError) as exc:
        if name in str(exc):
            raise
        # e.g. "Expected 2D array, got scalar array": say which argument it was
        raise type(exc)(f"{name}: {exc}") from None
    if array.ndim == 5:
        if array.shape[1] != 1:
            raise ValueError(f"{name} with 5 dimensions must have shape (n, 1, D, H, W) "
                             f"(one channel), got shape {array.shape}")
        array = array[:, 0]
    elif array.ndim == 2:
        n, n_features = array.shape
        if volume_shape is None:
            shape = (1, 1, n_features)
        else:
            shape = tuple(int(s) for s in volume_shape)
            if int(np.prod(shape)) != n_features:
                raise ValueError(f"{name} is 2-D with {n_features} features per row, which "
                                 f"cannot be reshaped to volume_shape={tuple(volume_shape)} "
                                 f"({int(np.prod(shape))} voxels)")
        array = array.reshape(n, *shape)
    elif array.ndim != 4:
        raise ValueError(f"{name} must have shape (n, D, H, W), (n, 1, D, H, W) or "
                         f"(n, n_voxels); got an array with {array.ndim} dimension(s), "
                         f"shape {array.shape}")
    if min(array.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty spatial dimension: shape {array.shape}")
    return np.asarray(array, dtype=np.float32)


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, numbers.Real):
        return bool(np.isnan(value)) or value == MISSING_LABEL
    return False


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
    missing = np.array([_is_missing(v) for v in array.tolist()], dtype=bool)
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
    encoded = np.full(n_samples, MISSING_LABEL, dtype=np.int64)
    encoded[~missing] = indices
    return classes, encoded


def check_masks(masks, n_samples: int, spatial: tuple[int, ...]):
    """Validate tumour masks; entries may be None for unannotated samples.

    Returns
    -------
    masks : ndarray of uint8, shape (n, D, H, W)
        Zeros where unknown.
    known : ndarray of bool, shape (n,)
    """
    name = "masks"
    out = np.zeros((n_samples, *spatial), dtype=np.uint8)
    known = np.ones(n_samples, dtype=bool)
    if isinstance(masks, (list, tuple)) or (isinstance(masks, np.ndarray)
                                             and masks.dtype == object and masks.ndim == 1):
        items = list(masks)
        if len(items) != n_samples:
            raise ValueError(f"{name} has {len(items)} entries but X has {n_samples} "
                             "samples; they must match")
        for i, item in enumerate(items):
            if item is None:
                known[i] = False
            else:
                out[i] = _check_one_mask(item, spatial, f"{name}[{i}]")
        return out, known
    array = _as_numeric_array(masks, name)
    if array.ndim == 5 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[0] == n_samples and array.shape[1] == np.prod(spatial):
        array = array.reshape(n_samples, *spatial)
    if array.shape != (n_samples, *spatial):
        raise ValueError(f"{name} must have X's shape (n, D, H, W) = {(n_samples, *spatial)}, "
                         f"got shape {array.shape}")
    for i in range(n_samples):
        out[i] = _check_one_mask(array[i], spatial, f"{name}[{i}]")
    return out, known


def _check_one_mask(mask, spatial, name) -> np.ndarray:
    array = _as_numeric_array(mask, name)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.shape != tuple(spatial):
        raise ValueError(f"{name} must have the volume's shape {tuple(spatial)}, "
                         f"got {array.shape}")
    if not np.isfinite(array).all() or not np.isin(array, (0, 1)).all():
        values = np.unique(array[np.isfinite(array)])[:5] if np.isfinite(array).any() else []
        raise ValueError(f"{name} must be binary (0/1); found other values such as "
                         f"{[float(v) for v in values if v not in (0, 1)][:3] or 'NaN/Inf'}")
    return array.astype(np.uint8)
