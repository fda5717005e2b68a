"""The training loop: epochs, validation metrics, early stopping and history."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from .losses import multitask_loss, soft_dice


@dataclass
class TrainingSetup:
    """Everything the loop needs besides the network and the data.

    Attributes
    ----------
    weights : dict
        Loss weight per task (see :func:`petmtl.losses.task_weights`).
    max_epochs : int
    n_iter_no_change : int
        Patience of early stopping, in epochs without a better validation loss.
    device : torch.device
    autocast_dtype : torch.dtype or None
        Mixed-precision dtype, or None for full precision.
    intensity_shift, intensity_scale : float
        Inputs are fed as ``(x - shift) / scale``.
    augment : bool
        Random flips along the three axes during training.
    dice_smooth, seg_bce_weight : float
        See :func:`petmtl.losses.segmentation_loss`.
    verbose : int
        >0 shows a progress bar with the live losses.
    generator : torch.Generator
        Source of augmentation randomness.
    """

    weights: Mapping[str, float]
    max_epochs: int
    n_iter_no_change: int
    device: torch.device
    autocast_dtype: torch.dtype | None = None
    intensity_shift: float = 0.0
    intensity_scale: float = 1.0
    augment: bool = False
    dice_smooth: float = 1.0
    seg_bce_weight: float = 0.0
    verbose: int = 0
    generator: torch.Generator = field(default_factory=torch.Generator)


def autocast_dtype(amp, device: torch.device) -> torch.dtype | None:
    """bf16 when ``amp`` is True, or when it is "auto" and the device is CUDA."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if amp else None


def to_device(batch: Mapping[str, torch.Tensor], setup: TrainingSetup) -> dict:
    """Move a batch to the device and scale its intensities."""
    moved = {k: v.to(setup.device, non_blocking=True) for k, v in batch.items()}
    moved["image"] = (moved["image"] - setup.intensity_shift) / setup.intensity_scale
    return moved


def _augment(batch: dict, generator: torch.Generator) -> dict:
    flips = torch.rand(len(batch["image"]), 3, generator=generator) < 0.5
    for i, sample_flips in enumerate(flips):
        dims = [d for d, flip in zip((1, 2, 3), sample_flips.tolist(), strict=True) if flip]
        if dims:
            batch["image"][i] = batch["image"][i].flip(dims)
            batch["mask"][i] = batch["mask"][i].flip(dims)
    return batch


def _autocast(setup: TrainingSetup):
    return torch.autocast(setup.device.type, dtype=setup.autocast_dtype or torch.float32,
                          enabled=setup.autocast_dtype is not None)


def train_epoch(module: nn.Module, loader, optimizer: torch.optim.Optimizer,
                setup: TrainingSetup) -> dict[str, float]:
    """Run one epoch of training; return the mean loss and mean of each term."""
    module.train()
    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        batch = to_device(batch, setup)
        if setup.augment:
            batch = _augment(batch, setup.generator)
        with _autocast(setup):
            outputs = module(batch["image"])
        loss, terms = multitask_loss(outputs, batch, setup.weights,
                                     dice_smooth=setup.dice_smooth,
                                     seg_bce_weight=setup.seg_bce_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = len(batch["image"])
        count += n
        for name, value in {"loss": float(loss.detach()), **terms}.items():
            sums[name] = sums.get(name, 0.0) + value * n
    return {name: value / count for name, value in sums.items()}


@torch.inference_mode()
def evaluate(module: nn.Module, loader, setup: TrainingSetup) -> dict[str, float]:
    """Validation losses and metrics: outcome AUC and accuracy, Dice, pathology accuracy."""
    module.eval()
    sums: dict[str, float] = {}
    count = 0
    outcome_p, outcome_y, dice, pathology_hits = [], [], [], []
    for batch in loader:
        batch = to_device(batch, setup)
        with _autocast(setup):
            outputs = module(batch["image"])
        loss, terms = multitask_loss(outputs, batch, setup.weights,
                                     dice_smooth=setup.dice_smooth,
                                     seg_bce_weight=setup.seg_bce_weight)
        n = len(batch["image"])
        count += n
        for name, value in {"loss": float(loss), **terms}.items():
            sums[name] = sums.get(name, 0.0) + value * n
        known = batch["outcome_known"]
        outcome_p.append(torch.sigmoid(outputs["outcome"].float())[known].cpu())
        outcome_y.append(batch["outcome"][known].cpu())
        if "segmentation" in outputs and batch["mask_known"].any():
            k = batch["mask_known"]
            predicted = (outputs["segmentation"][k] > 0).float()
            dice.append(soft_dice(predicted, batch["mask"][k], smooth=1e-6).cpu())
        if "pathology" in outputs and batch["pathology_known"].any():
            k = batch["pathology_known"]
            logits = outputs["pathology"][k].float()
            pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
            pathology_hits.append((pred == batch["pathology"][k]).cpu())
    metrics = {name: value / count for name, value in sums.items()}
    p, y = torch.cat(outcome_p).numpy(), torch.cat(outcome_y).numpy()
    if len(np.unique(y)) == 2:
        metrics["auc"] = float(roc_auc_score(y, p))
    if len(y):
        metrics["accuracy"] = float(np.mean((p > 0.5) == y))
    if dice:
        metrics["dice"] = float(torch.cat(dice).mean())
    if pathology_hits:
        metrics["pathology_accuracy"] = float(torch.cat(pathology_hits).float().mean())
    return metrics


def fit_loop(module: nn.Module, optimizer: torch.optim.Optimizer, train_loader,
             valid_loader, setup: TrainingSetup) -> tuple[list[dict], int]:
    """Train with early stopping on the validation loss; restore the best weights.

    Without a validation loader every one of ``max_epochs`` epochs runs and the
    last weights are kept.

    Returns
    -------
    history : list of dict
        One record per epoch: ``epoch``, ``train_loss``, ``train_<task>``, and
        with validation ``valid_loss``, ``valid_<task>``, ``valid_auc``,
        ``valid_accuracy``, ``valid_dice``, ``valid_pathology_accuracy``, plus
        ``duration`` in seconds.
    best_epoch : int
        Epoch (1-based) whose weights the module holds.
    """
    history: list[dict] = []
    best_loss, best_epoch, best_state = np.inf, 0, None
    bar = tqdm(range(1, setup.max_epochs + 1), disable=not setup.verbose, unit="epoch",
               desc="petmtl fit", leave=True)
    for epoch in bar:
        start = time.perf_counter()
        record = {"epoch": epoch}
        record.update({f"train_{k}": v for k, v in train_epoch(module, train_loader, optimizer,
                                                                 setup).items()})
        if valid_loader is not None:
            record.update({f"valid_{k}": v for k, v in evaluate(module, valid_loader,
                                                                 setup).items()})
        record["duration"] = time.perf_counter() - start
        history.append(record)
        monitored = record.get("valid_loss")
        if monitored is not None and monitored < best_loss:
            best_loss, best_epoch = monitored, epoch
            best_state = copy.deepcopy(module.state_dict())
        bar.set_postfix({k.replace("train_", ""): f"{v:.3f}" for k, v in record.items()
                         if k.startswith(("train_", "valid_loss", "valid_auc", "valid_dice"))})
        if monitored is not None and epoch - best_epoch >= setup.n_iter_no_change:
            break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    return history, best_epoch
