"""Torch datasets that feed the training loop and prediction."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class VolumeDataset(Dataset):
    """In-memory volumes with their (possibly missing) task labels.

    Each item is a dict of tensors: ``"image"`` (1, D, H, W) float32, and for
    training ``"mask"`` (1, D, H, W), ``"mask_known"``, ``"pathology"``,
    ``"pathology_known"``, ``"outcome"``, ``"outcome_known"``. Unknown labels
    are stored as 0 with their ``*_known`` flag False.

    Parameters
    ----------
    X : ndarray of shape (n, D, H, W)
        float32 volumes (not copied).
    indices : array-like of int, optional
        Subset of the samples to serve.
    masks : ndarray of shape (n, D, H, W), optional
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
        sample = {"image": torch.from_numpy(np.ascontiguousarray(self.X[i]))[None]}
        if self.outcome is None:
            return sample
        if self.masks is not None and self.mask_known[i]:
            sample["mask"] = torch.from_numpy(self.masks[i].astype(np.float32))[None]
            sample["mask_known"] = torch.tensor(True)
        else:
            sample["mask"] = torch.zeros_like(sample["image"])
            sample["mask_known"] = torch.tensor(False)
        for name, labels in (("pathology", self.pathology), ("outcome", self.outcome)):
            label = -1 if labels is None else int(labels[i])
            sample[name] = torch.tensor(max(label, 0))
            sample[f"{name}_known"] = torch.tensor(label >= 0)
        return sample
