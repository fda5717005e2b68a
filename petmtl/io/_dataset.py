"""A lazy, picklable torch Dataset over NIfTI PET files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ._cache import PreprocessedCache
from ._geometry import GeometryRecord, prepare_volume
from ._manifest import Manifest
from ._volume import PathLike


class NiftiVolumeDataset(Dataset):
    """PET volumes (and masks) read from NIfTI files on demand and brought to the network grid.

    Each item is prepared with :func:`prepare_volume` when it is requested, so memory grows
    with the batch, not the cohort (unless ``cache=True``). The dataset holds only paths and
    settings, so it pickles cheaply into DataLoader worker processes. With an on-disk
    ``cache`` each file is prepared once, by whichever process needs it first, and later
    epochs (in any worker or training process) read the stored arrays back.

    Parameters
    ----------
    pet_paths : sequence of path-like
        PET NIfTI files (SUV) or DICOM series folders (read in SUVbw).
    mask_paths : sequence of path-like or None, optional
        Matching tumour masks (NIfTI, or DICOM RTSTRUCT/SEG files); ``None`` entries (or
        no sequence) mean no mask.
    spacing : float or sequence of 3 float, default=2.0
        Network-grid voxel size in mm.
    shape : sequence of 3 int or None, default=(64, 64, 64)
        Network input shape. ``None`` keeps the whole resampled grid of each volume (e.g. for
        :func:`sliding_window_predict`); shapes then differ between items, so batch them one
        at a time.
    center : str or sequence of 3 float, default='auto'
        Window centre, see :func:`prepare_volume`.
    cache : bool, str, path-like or PreprocessedCache, default=False
        ``False``: prepare every item on each access. ``True``: keep prepared items in
        memory (per process) after the first access. A folder (created if missing) or a
        :class:`PreprocessedCache`: store prepared items on disk, shared by DataLoader
        workers and training processes and kept between runs; items are then ordinary
        writable copies of the stored arrays.
    **prepare_kwargs
        Further keyword arguments of :func:`prepare_volume` (``interpolation``, ``label``,
        ``binarize``, ``body_threshold``, ``atol``).

    Notes
    -----
    ``__getitem__`` returns ``(pet, mask, record)``: ``pet`` float32 ``shape``, ``mask``
    float32 0/1 ``shape`` or ``None`` when the item has no mask, ``record`` a
    :class:`GeometryRecord`. Use :func:`collate_volumes` as the DataLoader ``collate_fn``.
    """

    def __init__(
        self,
        pet_paths: Sequence[PathLike],
        mask_paths: Sequence[PathLike | None] | None = None,
        *,
        spacing: float | Sequence[float] = 2.0,
        shape: Sequence[int] | None = (64, 64, 64),
        center: str | Sequence[float] = "auto",
        cache: bool | PathLike | PreprocessedCache = False,
        **prepare_kwargs,
    ) -> None:
        if isinstance(pet_paths, (str, os.PathLike)):
            raise TypeError("pet_paths must be a sequence of paths, got a single path")
        self.pet_paths = [os.fspath(p) for p in pet_paths]
        if mask_paths is None:
            self.mask_paths: list[str | None] = [None] * len(self.pet_paths)
        else:
            if isinstance(mask_paths, (str, os.PathLike)):
                raise TypeError("mask_paths must be a sequence of paths, got a single path")
            self.mask_paths = [None if m is None else os.fspath(m) for m in mask_paths]
        if len(self.mask_paths) != len(self.pet_paths):
            raise ValueError(
                f"mask_paths has {len(self.mask_paths)} entries but pet_paths has "
                f"{len(self.pet_paths)}"
            )
        for p in self.pet_paths:  # a PET may be a DICOM series folder
            if not (os.path.isfile(p) or os.path.isdir(p)):
                raise FileNotFoundError(f"NIfTI file not found: {p}")
        for p in self.mask_paths:
            if p is not None and not os.path.isfile(p):
                raise FileNotFoundError(f"NIfTI file not found: {p}")
        allowed = {"interpolation", "label", "binarize", "body_threshold", "atol"}
        unknown = sorted(set(prepare_kwargs) - allowed)
        if unknown:
            raise TypeError(f"Unknown keyword argument(s) {unknown}; allowed: {sorted(allowed)}")
        self.spacing = spacing
        self.shape = None if shape is None else tuple(int(s) for s in shape)
        self.center = center
        self.cache = _as_cache(cache)
        self.prepare_kwargs = dict(prepare_kwargs)
        self._cache: dict[int, tuple] = {}

    @classmethod
    def from_manifest(cls, manifest: Manifest, **kwargs) -> NiftiVolumeDataset:
        """Build the dataset from a :class:`Manifest` (its ``X`` and ``masks``).

        Parameters
        ----------
        manifest : Manifest
        **kwargs
            Passed to the constructor.

        Returns
        -------
        NiftiVolumeDataset
        """
        return cls(list(manifest.X), list(manifest.masks), **kwargs)

    def __len__(self) -> int:
        return len(self.pet_paths)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray | None, GeometryRecord]:
        n = len(self)
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"index must be an int, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} volumes")
        i = int(i) % n
        if i in self._cache:
            return self._cache[i]
        kwargs = dict(spacing=self.spacing, shape=self.shape, center=self.center,
                      **self.prepare_kwargs)
        if isinstance(self.cache, PreprocessedCache):
            pet, mask, record = self.cache.get(self.pet_paths[i], self.mask_paths[i], **kwargs)
            return np.array(pet), None if mask is None else np.array(mask), record
        item = prepare_volume(self.pet_paths[i], self.mask_paths[i], **kwargs)
        if self.cache is True:
            self._cache[i] = item
        return item

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = {}  # workers rebuild their own cache
        return state


def _as_cache(cache) -> bool | PreprocessedCache:
    if isinstance(cache, (str, os.PathLike)):
        return PreprocessedCache(cache)
    if isinstance(cache, PreprocessedCache):
        return cache
    if cache is None or isinstance(cache, (bool, int, np.bool_)):
        return bool(cache)
    raise TypeError(
        "cache must be a bool, a folder path or a PreprocessedCache, got "
        f"{type(cache).__name__}"
    )


def collate_volumes(batch):
    """DataLoader ``collate_fn`` for :class:`NiftiVolumeDataset` items.

    Parameters
    ----------
    batch : list of (pet, mask or None, GeometryRecord)

    Returns
    -------
    pet : torch.Tensor of shape (b, 1, x, y, z)
    mask : torch.Tensor of shape (b, 1, x, y, z) or None
        None if no item has a mask; otherwise items without a mask are filled with -1 so a
        loss can ignore them (``mask >= 0``).
    records : list of GeometryRecord
    """
    pets = torch.from_numpy(np.stack([b[0] for b in batch]))[:, None]
    if all(b[1] is None for b in batch):
        masks = None
    else:
        masks = torch.from_numpy(
            np.stack([np.full_like(b[0], -1.0) if b[1] is None else b[1] for b in batch])
        )[:, None]
    return pets, masks, [b[2] for b in batch]
