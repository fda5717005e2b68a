"""Torch datasets that feed the training loop and prediction."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from ._runtime import release_heap
from .io import prepare_volume


class PathVolumes:
    """A lazy stand-in for an ``(n, *shape)`` volume array over NIfTI files.

    Holds only paths and settings (it pickles cheaply into DataLoader workers);
    :meth:`load` reads one PET (and mask) with :func:`petmtl.io.prepare_volume`:
    canonical RAS+ orientation, trilinear resampling to ``spacing`` (nearest
    neighbour for masks) and a window of ``shape`` voxels centred by ``center``.

    Parameters
    ----------
    paths : ndarray of object (str), shape (n,)
    spacing : float or tuple of 3 float
    shape : tuple of 3 int
    center : str or sequence of 3 float
    num_workers : int
        DataLoader worker processes used to read these files.
    """

    def __init__(self, paths, *, spacing, shape, center, num_workers=0):
        self.paths = paths
        self.spacing = spacing
        self.volume_shape = tuple(int(s) for s in shape)
        self.center = center
        self.num_workers = int(num_workers)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.volume_shape)

    def load(self, i: int, mask_path=None, *, shape="default"):
        """Prepared ``(image, mask or None, record)`` of file ``i``; errors name the file."""
        path = self.paths[i]
        try:
            return prepare_volume(path, mask_path, spacing=self.spacing,
                                  shape=self.volume_shape if shape == "default" else shape,
                                  center=self.center)
        except Exception as exc:
            names = [os.fspath(p) for p in (path, mask_path) if p is not None]
            if any(n in str(exc) for n in names) or not isinstance(
                    exc, (ValueError, TypeError, OSError)):
                raise
            raise type(exc)(f"{path}: {exc}") from exc
        finally:
            release_heap()


class VolumeDataset(Dataset):
    """In-memory volumes with their (possibly missing) task labels.

    Each item is a dict of tensors: ``"image"`` (1, D, H, W) float32, and for
    training ``"mask"`` (1, D, H, W), ``"mask_known"``, ``"pathology"``,
    ``"pathology_known"``, ``"outcome"``, ``"outcome_known"``. Unknown labels
    are stored as 0 with their ``*_known`` flag False.

    Parameters
    ----------
    X : ndarray of shape (n, D, H, W) or PathVolumes
        float32 volumes (not copied), or files read when an item is requested.
    indices : array-like of int, optional
        Subset of the samples to serve.
    masks : ndarray of shape (n, D, H, W), optional
        With :class:`PathVolumes`, an object array of mask paths (None = none).
    mask_known, pathology, outcome : ndarray of shape (n,), optional
        ``pathology`` and ``outcome`` are class indices with -1 for unknown.
    """

    def __init__(self, X, indices=None, masks=None, mask_known=None, pathology=None,
                 outcome=None):
        self.X = X
        self.indices = np.arange(len(X)) if indices is None else np.asarray(indices)
        self.masks = masks
        self.mask_known = mask_known
        self.pathology = pathology
        self.outcome = outcome

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        i = int(self.indices[item])
        known = self.masks is not None and bool(self.mask_known[i])
        if isinstance(self.X, PathVolumes):  # read lazily; masks holds paths
            image, mask, _ = self.X.load(i, self.masks[i] if known else None)
        else:
            image, mask = self.X[i], self.masks[i] if known else None
        sample = {"image": torch.from_numpy(np.ascontiguousarray(image))[None]}
        if self.outcome is None:
            return sample
        if known:
            sample["mask"] = torch.from_numpy(mask.astype(np.float32))[None]
            sample["mask_known"] = torch.tensor(True)
        else:
            sample["mask"] = torch.zeros_like(sample["image"])
            sample["mask_known"] = torch.tensor(False)
        for name, labels in (("pathology", self.pathology), ("outcome", self.outcome)):
            label = -1 if labels is None else int(labels[i])
            sample[name] = torch.tensor(max(label, 0))
            sample[f"{name}_known"] = torch.tensor(label >= 0)
        return sample
