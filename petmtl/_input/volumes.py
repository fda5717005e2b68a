"""PET volumes given as arrays or as NIfTI file paths, checked and made indexable.

Arrays become float32 ``(n, x, y, z)``; paths become a :class:`PathVolumes`, a lazy
stand-in for such an array whose files are read (reoriented, resampled and cropped by
:class:`petmtl.io.NiftiVolumeDataset`) only when a batch needs them.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils import check_array

from ..io import NiftiVolumeDataset

PATH_TYPES = (str, os.PathLike)


def check_volumes(X, volume_shape=None, *, name: str = "X") -> np.ndarray:
    """Validate PET volumes and return them as float32 of shape (n, x, y, z).

    Accepted forms: (n, x, y, z); (n, 1, x, y, z); or 2-D (n, n_features)
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
            raise ValueError(f"{name} with 5 dimensions must have shape (n, 1, x, y, z) "
                             f"(one channel), got shape {array.shape}")
        array = array[:, 0]
    elif array.ndim == 2:
        array = array.reshape(len(array), *_flat_shape(array.shape[1], volume_shape, name))
    elif array.ndim != 4:
        raise ValueError(f"{name} must have shape (n, x, y, z), (n, 1, x, y, z) or "
                         f"(n, n_voxels); got an array with {array.ndim} dimension(s), "
                         f"shape {array.shape}")
    if min(array.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty spatial dimension: shape {array.shape}")
    return np.asarray(array, dtype=np.float32)


def _flat_shape(n_features: int, volume_shape, name: str) -> tuple[int, ...]:
    if volume_shape is None:
        return (1, 1, n_features)
    shape = tuple(int(s) for s in volume_shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(f"{name} is 2-D with {n_features} features per row, which cannot "
                         f"be reshaped to volume_shape={tuple(volume_shape)} "
                         f"({int(np.prod(shape))} voxels)")
    return shape


def is_path_input(X) -> bool:
    """True when X is a non-empty list/tuple/1-D array whose first entry is a path."""
    if isinstance(X, PATH_TYPES):
        raise TypeError(f"X must be a sequence of PET file paths or an array of volumes, got "
                        f"a single path {os.fspath(X)!r}; wrap it in a list")
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and isinstance(X[0], PATH_TYPES)
    if isinstance(X, np.ndarray) and X.dtype.kind in "UO" and X.ndim == 1 and X.size > 0:
        return isinstance(X[0], PATH_TYPES)
    return False


def check_paths(X, name: str = "X") -> np.ndarray:
    """Object array of existing file paths (str); errors name the entry."""
    out = np.empty(len(X), dtype=object)
    for i, p in enumerate(X):
        if not isinstance(p, PATH_TYPES) or not os.fspath(p):
            raise TypeError(f"{name}[{i}] must be a PET file path (str or os.PathLike) like "
                            f"the other entries, got {p!r}")
        p = os.fspath(p)
        if not (os.path.isfile(p) or os.path.isdir(p)):  # a folder: a DICOM series
            raise FileNotFoundError(f"{name}[{i}]: PET file not found: {p}")
        out[i] = p
    return out


class PathVolumes:
    """A lazy stand-in for an ``(n, *shape)`` volume array over NIfTI files.

    Holds only paths and settings, so it pickles cheaply into DataLoader workers.
    :meth:`reader` returns the :class:`petmtl.io.NiftiVolumeDataset` that reads the
    files: canonical RAS+ orientation, resampling to ``spacing`` (``interpolation``
    for PET, nearest neighbour for masks) and a window of ``shape`` voxels centred by
    ``center``.

    Parameters
    ----------
    paths : ndarray of object (str), shape (n,)
    spacing : float or tuple of 3 float
    shape : tuple of 3 int
    center : str
    interpolation : {"linear", "nearest"}
    num_workers : int
        DataLoader worker processes used to read these files.
    cache : str, path-like or None
        Folder of a :class:`petmtl.io.PreprocessedCache` that keeps the prepared
        windows, so that each file is resampled once (not every epoch).
    """

    def __init__(self, paths, *, spacing, shape, center, interpolation="linear",
                 num_workers=0, cache=None):
        self.paths = paths
        self.spacing = spacing
        self.volume_shape = tuple(int(s) for s in shape)
        self.center = center
        self.interpolation = interpolation
        self.num_workers = int(num_workers)
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.volume_shape)

    def prepare_options(self) -> dict:
        """The :func:`petmtl.io.prepare_volume` settings shared by every read."""
        return {"spacing": self.spacing, "center": self.center,
                "interpolation": self.interpolation}

    def reader(self, mask_paths=None) -> NiftiVolumeDataset:
        """The dataset reading the network windows of these files (and of ``mask_paths``,
        None where absent)."""
        return NiftiVolumeDataset(list(self.paths), mask_paths, shape=self.volume_shape,
                                  cache=self.cache or False, **self.prepare_options())


def take(volumes, indices):
    """The samples ``indices`` of an array of volumes or of :class:`PathVolumes`."""
    if isinstance(volumes, PathVolumes):
        return PathVolumes(volumes.paths[indices], spacing=volumes.spacing,
                           shape=volumes.volume_shape, center=volumes.center,
                           interpolation=volumes.interpolation, num_workers=volumes.num_workers,
                           cache=volumes.cache)
    return volumes[indices]


def as_volumes(X, *, volume_shape=None, spacing=2.0, input_shape=(64, 64, 64),
               crop_center="body", interpolation="linear", num_workers=0, cache=None):
    """Arrays -> float32 (n, x, y, z); a sequence of paths -> :class:`PathVolumes`.

    Parameters
    ----------
    X : array-like or sequence of path-like
        The estimator's X.
    volume_shape : tuple of 3 int or None
        Shape of flattened 2-D array input.
    spacing, input_shape, crop_center, interpolation, num_workers, cache
        How files are read (the estimator's parameters of the same names; ``cache`` is
        ``cache_dir``).

    Returns
    -------
    ndarray or PathVolumes
    """
    if not is_path_input(X):
        return check_volumes(X, volume_shape)
    return PathVolumes(check_paths(X), spacing=spacing, shape=input_shape,
                       center=crop_center, interpolation=interpolation,
                       num_workers=num_workers, cache=cache)
