"""The parts of a fit that the estimator's parameters choose: network, loaders, callbacks.

Each function takes the estimator's parameters (``params``, ``get_params()``) and what the
fit has learnt so far, and returns a part; :class:`~petmtl._base.MultiTaskPETBase` puts
them together and keeps the result.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import training
from .._input import FitData, OutcomeData, TaskDataset, take, training_loaders
from ..losses import TASKS, OutcomeTask, task_weights
from ..network import MultiTaskWNet


def resolve_task_weights(params: dict) -> dict[str, float]:
    """The loss weight of each task: from ``lam``, or the explicit ``task_weights``."""
    tasks = tuple(params["tasks"])
    if params["task_weights"] is None:
        return task_weights(params["lam"], tasks)
    enabled = (*tasks, "outcome")
    return {t: float(params["task_weights"].get(t, 0.0)) if t in enabled else 0.0
            for t in TASKS}


def flip_axes(augment) -> tuple[int, ...]:
    """Axes flipped at random while training: True is the left-right axis (0) of RAS+
    volumes, the one mirror that keeps anatomy (and locations such as lung vs oesophagus)
    plausible; a tuple names the axes."""
    if augment is True:
        return (0,)
    return tuple(sorted(augment)) if augment else ()


def tta_axes(tta) -> tuple[int, ...]:
    """Axes mirrored at prediction: True is the left-right axis (0), as ``augment``."""
    return flip_axes(tta)


def build_network(params: dict, *, n_pathology_classes: int | None, n_outcome_outputs: int,
                  input_shift: float, input_scale: float,
                  n_clinical: int = 0) -> MultiTaskWNet:
    """The W-Net the parameters describe (:class:`~petmtl.network.MultiTaskWNet`).

    Parameters
    ----------
    params : dict
        The estimator's parameters.
    n_pathology_classes : int or None
        Pathology classes (None without the pathology task).
    n_outcome_outputs : int
        T4's outputs per sample.
    input_shift, input_scale : float
        The input scaling learnt in fit (the PET descriptors read SUV back from it).
    n_clinical : int, default=0
        Length of the preprocessed clinical covariates T4 reads.
    """
    tasks = tuple(params["tasks"])
    n_pathology = 0
    if "pathology" in tasks:
        n_pathology = 1 if n_pathology_classes == 2 else int(n_pathology_classes)
    return MultiTaskWNet(
        params["base_width"], params["depth"], reconstruction="reconstruction" in tasks,
        segmentation="segmentation" in tasks, n_pathology_outputs=n_pathology,
        outcome_features=params["outcome_features"], norm=params["norm"],
        dropout=params["dropout"], segmentation_prior=params["segmentation_prior"],
        descriptors=params["outcome_descriptors"],
        voxel_size=np.broadcast_to(np.asarray(params["spacing"], dtype=float), (3,)),
        input_shift=input_shift, input_scale=input_scale,
        pathology_grid=params["pathology_grid"], n_outcome_outputs=n_outcome_outputs,
        refit_outcome=params["refit_outcome"], global_pooling=params["global_pooling"],
        peritumoral_mm=params["peritumoral_mm"], n_clinical=n_clinical,
        clinical_fusion=params["clinical_fusion"], lesion_burden=params["lesion_burden"])


def for_training(module: nn.Module, device: torch.device, memory_format,
                 group: training.ProcessGroup) -> nn.Module:
    """The network on its device, wrapped for data-parallel training when there is a group.

    On GPUs batch norm becomes ``SyncBatchNorm`` (PyTorch synchronises batch statistics
    on GPUs only); the loop averages the running statistics after every epoch.
    """
    if group.world_size > 1 and device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    module = module.to(device, memory_format=memory_format)
    if group.world_size > 1:
        module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None)
    return module


def make_loaders(data: FitData, split, *, batch_size: int, seed: int,
                 group: training.ProcessGroup, pin_memory: bool):
    """Training and validation loaders over the split (the validation one None without)."""
    train_set, valid_set = [
        None if idx is None else TaskDataset(data.volumes, idx, masks=data.masks,
                                             mask_known=data.mask_known, targets=data.targets,
                                             clinical=data.clinical)
        for idx in split]
    return training_loaders(train_set, valid_set, batch_size=batch_size, seed=seed,
                            rank=group.rank, world_size=group.world_size,
                            pin_memory=pin_memory)


def monitor_of(score: str, outcome: OutcomeTask) -> tuple[str, bool]:
    """The history key that ``early_stopping_score`` watches, and whether lower is better."""
    if score in ("loss", "outcome"):
        return f"valid_{score}", True
    return f"valid_{outcome.score_name}", False


def make_callbacks(params: dict, *, outcome: OutcomeTask, validated: bool, is_main: bool,
                   checkpoint=None) -> list[training.Callback]:
    """The training callbacks that the parameters ask for, in the order they must run.

    Ctrl-C first (it decides whether an epoch is the last), the weight average (it gives
    the network the weights that are validated and kept), then best weights and early
    stopping (with validation), the learning-rate schedule, gradient clipping, the
    checkpoint writer (``checkpoint``: a ready :class:`~petmtl.training.Checkpointing`,
    first process only) and the progress bar.
    """
    monitor, lower_is_better = monitor_of(params["early_stopping_score"], outcome)
    callbacks: list[training.Callback] = [training.DeferredInterrupt()]
    if params["weight_averaging"] == "ema":
        callbacks.append(training.WeightAveraging())
    if validated:
        callbacks += [training.BestWeights(monitor, lower_is_better=lower_is_better),
                      training.EarlyStopping(params["n_iter_no_change"])]
    if params["lr_schedule"] is not None:
        callbacks.append(training.LRSchedule(
            params["lr_schedule"], max_epochs=params["max_epochs"],
            monitor=monitor if validated else "train_loss",
            lower_is_better=lower_is_better or not validated))
    if params["grad_clip"] is not None:
        callbacks.append(training.GradientClipping(params["grad_clip"]))
    if checkpoint is not None:
        callbacks.append(checkpoint)
    callbacks.append(training.ProgressBar(params["max_epochs"],
                                          enabled=bool(params["verbose"]) and is_main))
    return callbacks


def refit_outcome(forward, data: FitData, outcome: OutcomeData, *, group: training.ProcessGroup,
                  seed: int, batch_size: int, n_outputs: int,
                  samples: np.ndarray | None = None) -> training.LinearRefit:
    """T4 refitted as a penalised linear model of the frozen network's features.

    Each process computes the features of its share of the samples; the refit, on the
    labelled ones among ``samples`` (default: all), is the same in every process (see
    :mod:`petmtl.training.refit`).
    """
    _, labelled = data.targets["outcome"]
    samples = np.arange(len(data.volumes)) if samples is None else np.asarray(samples)
    samples = samples[labelled[samples]]  # the features of unlabelled samples are unused
    shard = group.shard(samples)
    clinical = None if data.clinical is None else data.clinical[shard]
    features = forward.predict(take(data.volumes, shard), ("features",),
                               batch_size=batch_size, clinical=clinical)["features"]
    features = group.gather(torch.from_numpy(features).to(forward.device)).cpu().numpy()
    targets = {name: torch.as_tensor(np.asarray(v)[samples])
               for name, (v, _) in data.targets.items()}
    targets["outcome_known"] = torch.ones(len(samples), dtype=torch.bool)
    task = outcome.make_task(samples)
    return training.refit_linear(features, targets, task.whole_set_loss,
                                 n_outputs=n_outputs, strata=outcome.strata[samples],
                                 random_state=seed % (2**31), score_fn=task.validate)
