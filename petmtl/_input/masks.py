"""Tumour masks beside the volumes: binary arrays, or NIfTI paths, with missing entries."""

from __future__ import annotations

import os

import numpy as np

from .._labels import is_missing
from .volumes import PATH_TYPES, PathVolumes, is_path_input


def as_numeric_array(value, name: str) -> np.ndarray:
    """``value`` as a real numeric ndarray; errors name ``name``."""
    if value is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None")
    if not (hasattr(value, "__array__") or isinstance(value, (list, tuple))):
        raise TypeError(f"{name} must be an array-like of numbers, got "
                        f"{type(value).__name__}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a regular (non-ragged) array-like of numbers; "
                         f"numpy could not convert it: {exc}") from None
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


def check_masks(volumes, masks) -> tuple[np.ndarray, np.ndarray]:
    """Masks matching ``volumes``: arrays for arrays, file paths for :class:`PathVolumes`.

    Returns
    -------
    masks : ndarray
        uint8 (n, x, y, z) with zeros where unknown, or an object array of mask paths
        (None where unknown) for file input.
    known : ndarray of bool, shape (n,)
    """
    if isinstance(volumes, PathVolumes):
        return check_mask_paths(masks, volumes.paths)
    as_list = list(masks) if isinstance(masks, tuple) else masks
    if masks is not None and is_path_input(as_list):
        raise TypeError("masks are file paths but X holds arrays; pass X as PET file "
                        "paths too, or masks as arrays")
    return check_array_masks(masks, len(volumes), volumes.shape[1:])


def check_array_masks(masks, n_samples: int, spatial: tuple[int, ...]):
    """Validate binary mask arrays; a sequence may hold None for unannotated samples.

    Returns
    -------
    masks : ndarray of uint8, shape (n, x, y, z)
        Zeros where unknown.
    known : ndarray of bool, shape (n,)
    """
    name = "masks"
    out = np.zeros((n_samples, *spatial), dtype=np.uint8)
    known = np.ones(n_samples, dtype=bool)
    if isinstance(masks, (list, tuple)) or (isinstance(masks, np.ndarray)
                                             and masks.dtype == object and masks.ndim == 1):
        items = list(masks)
        _check_length(len(items), n_samples, "samples")
        for i, item in enumerate(items):
            if item is None:
                known[i] = False
            else:
                out[i] = _check_one_mask(item, spatial, f"{name}[{i}]")
        return out, known
    array = as_numeric_array(masks, name)
    if array.ndim == 5 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[0] == n_samples and array.shape[1] == np.prod(spatial):
        array = array.reshape(n_samples, *spatial)
    if array.shape != (n_samples, *spatial):
        raise ValueError(f"{name} must have X's shape (n, x, y, z) = {(n_samples, *spatial)}, "
                         f"got shape {array.shape}")
    for i in range(n_samples):
        out[i] = _check_one_mask(array[i], spatial, f"{name}[{i}]")
    return out, known


def _check_length(n_masks: int, n_samples: int, what: str) -> None:
    if n_masks != n_samples:
        raise ValueError(f"masks has {n_masks} entries but X has {n_samples} {what}; "
                         "they must match")


def _check_one_mask(mask, spatial, name) -> np.ndarray:
    array = as_numeric_array(mask, name)
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


def check_mask_paths(masks, pet_paths) -> tuple[np.ndarray, np.ndarray]:
    """Mask file paths matching ``pet_paths``; None, "" or NaN mark a missing mask."""
    if isinstance(masks, PATH_TYPES) or not hasattr(masks, "__len__"):
        raise TypeError(f"masks must be a sequence of mask file paths (None or '' where "
                        f"missing) matching X, got {type(masks).__name__}")
    _check_length(len(masks), len(pet_paths), "files")
    paths = np.empty(len(pet_paths), dtype=object)
    known = np.zeros(len(pet_paths), dtype=bool)
    for i, m in enumerate(masks):
        if is_missing(m):
            continue
        if not isinstance(m, PATH_TYPES):
            raise TypeError(f"masks[{i}] must be a mask file path, None or '' since X holds "
                            f"file paths, got {type(m).__name__}")
        if not os.path.isfile(m):
            raise FileNotFoundError(f"masks[{i}]: mask file not found: {os.fspath(m)} "
                                    f"(for {pet_paths[i]})")
        paths[i], known[i] = os.fspath(m), True
    return paths, known
