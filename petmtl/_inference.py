"""Batched data loading and prediction under ``torch.inference_mode``."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from ._data import VolumeDataset
from ._runtime import resolve_memory_format
from .training import autocast_dtype


def make_loaders(datasets, batch_size: int, generator: torch.Generator, *,
                 pin_memory: bool = False):
    """Shuffled training loader and ordered validation loader (None without data)."""
    train, valid = datasets
    # path input (PathVolumes) is read by worker processes; arrays in the main process
    workers = getattr(train.X, "num_workers", 0)
    extra = {"num_workers": workers, "persistent_workers": workers > 0}
    # A last batch of a single volume cannot be batch-normalised in training mode.
    lone_last_batch = len(train) > batch_size and len(train) % batch_size == 1
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator,
                              pin_memory=pin_memory, drop_last=lone_last_batch, **extra)
    valid_loader = None
    if valid is not None and len(valid) > 0:
        valid_loader = DataLoader(valid, batch_size=2 * batch_size, shuffle=False,
                                  pin_memory=pin_memory, **extra)
    return train_loader, valid_loader


@torch.inference_mode()
def predict_outputs(estimator, volumes: np.ndarray, output: str) -> np.ndarray:
    """Run the fitted network over ``volumes`` in batches, returning one output.

    ``volumes`` is an (n, D, H, W) array or a :class:`~petmtl._data.PathVolumes`,
    whose files are read by ``num_workers`` DataLoader workers batch by batch.

    Each batch's output is moved to the CPU as soon as it is computed, so memory
    on the device does not grow with the number of volumes.
    """
    module = estimator.module_
    module.eval()
    memory_format = resolve_memory_format(getattr(estimator, "memory_format", "auto"),
                                          estimator.device_)
    device = estimator.device_
    loader = DataLoader(VolumeDataset(volumes), batch_size=2 * estimator.batch_size,
                        num_workers=getattr(volumes, "num_workers", 0))
    dtype = autocast_dtype(estimator.amp, device)
    results = []
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        image = (image - estimator.intensity_shift_) / estimator.intensity_scale_
        image = image.contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            out = module(image)[output]
        out = out.float()
        if output == "segmentation":
            out = torch.sigmoid(out)
        if output in ("segmentation", "reconstruction"):
            out = out[:, 0]
        results.append(out.cpu().numpy())
    return np.concatenate(results)
