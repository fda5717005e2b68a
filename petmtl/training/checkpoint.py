"""The state of a training run as plain tensors: checkpoints, resuming and warm starts.

A checkpoint is a :mod:`petmtl.serialization` model file (tensors plus JSON metadata,
read with ``torch.load(weights_only=True)``, so loading one never runs code):

``state_dict``
    The best weights so far (the last ones without validation), so
    ``MultiTaskPETEstimator.load(checkpoint)`` gives a usable model; its metadata
    holds the parameters, the fitted attributes and ``history_``.
``optimizer_state``
    The optimizer's state dict (AdamW moments and step counts).
``training_state``
    ``kind`` (``"petmtl-run"``) and ``version``; ``epoch`` (completed epochs),
    ``best_epoch``, ``best_score`` (the best value of the monitored validation record,
    in its own units; files of petmtl 0.1 hold ``best_loss`` instead), ``history``
    (JSON); ``last_model`` (the weights of the last completed epoch); ``rng``: ``torch``
    (global CPU generator), ``generator`` (shuffling, augmentation) and on CUDA
    ``cuda``; ``split``: ``train`` and ``valid`` sample indices; ``outcome``: what the
    outcome task keeps between batches (the Cox risk-set memory); ``callbacks``: the
    state of the callbacks that have one (the learning-rate schedule).

Files are replaced atomically, so a crash while writing leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from .. import serialization
from ..exceptions import CheckpointError
from ..serialization import ModelRecord
from .loop import LoopState, TrainingLoop

RUN_KIND = "petmtl-run"
RUN_VERSION = 1
# named in the message when they differ; any other difference of the network is found by
# comparing the saved weights with the network the parameters build (check_network)
ARCHITECTURE = ("base_width", "depth", "tasks", "norm", "outcome_features",
                "outcome_descriptors", "pathology_grid", "refit_outcome", "global_pooling",
                "peritumoral_mm", "lesion_burden", "clinical_fusion")


def cpu_copy(tree):
    """Detached CPU copies of the tensors in a nested dict/list/tuple."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: cpu_copy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(cpu_copy(v) for v in tree)
    return tree


@dataclass
class RunState:
    """A training run that can be continued (what checkpoints hold and warm starts keep).

    Attributes
    ----------
    epoch, best_epoch : int
        Completed epochs and the epoch of the best validation score (0: none).
    best_score : float or None
        The best value of the monitored validation record.
    history : list of dict
    rng : dict
        ``torch``, ``generator`` and on CUDA ``cuda`` random states.
    split : tuple of (ndarray, ndarray or None)
        Training and validation sample indices.
    last_model, best_model : dict of tensors (best_model None without one)
    optimizer_state : dict
    outcome_state : dict
        What the outcome task keeps between batches (e.g. the Cox risk-set memory).
    callback_states : dict
        The state of each named callback (e.g. the learning-rate schedule).
    """

    epoch: int
    best_epoch: int
    best_score: float | None
    history: list
    rng: dict
    split: tuple
    last_model: dict
    best_model: dict | None
    optimizer_state: dict
    outcome_state: dict = dataclasses.field(default_factory=dict)
    callback_states: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def capture(cls, loop: TrainingLoop, split) -> RunState:
        """Copy a loop's run to the CPU, with the network's current weights as last."""
        state, device = loop.state, loop.forward.device
        rng = {"torch": torch.get_rng_state(), "generator": loop.setup.generator.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        return cls(epoch=state.epoch, best_epoch=state.best_epoch,
                   best_score=state.best_score, history=list(state.history), rng=rng,
                   split=split, last_model=cpu_copy(loop.module.state_dict()),
                   best_model=None if state.best_state is None else cpu_copy(state.best_state),
                   optimizer_state=cpu_copy(loop.optimizer.state_dict()),
                   outcome_state=cpu_copy(loop.setup.outcome.state_dict()),
                   callback_states=cpu_copy(loop.callback_states()))

    def training_state(self) -> dict:
        """The checkpoint's ``training_state`` entry (see the module docstring)."""
        train_idx, valid_idx = self.split
        return {
            "kind": RUN_KIND, "version": RUN_VERSION, "epoch": self.epoch,
            "best_epoch": self.best_epoch, "best_score": self.best_score,
            "history": json.dumps(self.history), "rng": self.rng,
            "split": {"train": torch.as_tensor(np.asarray(train_idx, dtype=np.int64)),
                      "valid": torch.as_tensor(np.asarray(
                          [] if valid_idx is None else valid_idx, dtype=np.int64))},
            "last_model": self.last_model, "outcome": self.outcome_state,
            "callbacks": self.callback_states,
        }

    def restore(self, module, optimizer, generator, device, *, learning_rate: float,
                weight_decay: float) -> LoopState:
        """Load the run into a fresh module, optimizer and generator; return its progress.

        A changed ``learning_rate`` or ``weight_decay`` applies from the next step on (a
        learning-rate schedule then sets the rates it had reached).
        """
        module.load_state_dict(self.last_model)
        optimizer.load_state_dict(self.optimizer_state)
        for group in optimizer.param_groups:
            group["lr"], group["weight_decay"] = learning_rate, weight_decay
        torch.set_rng_state(self.rng["torch"])
        generator.set_state(self.rng["generator"])
        if "cuda" in self.rng and device.type == "cuda":
            torch.cuda.set_rng_state(self.rng["cuda"], device)
        best_state = None
        if self.best_epoch > 0 and self.best_model is not None:
            best_state = {k: v.to(device) for k, v in self.best_model.items()}
        return LoopState(epoch=self.epoch, history=list(self.history),
                         best_score=self.best_score, best_epoch=self.best_epoch,
                         best_state=best_state)


@dataclass
class Continuation:
    """A saved run to continue: the estimator it belonged to, its state and where from."""

    record: ModelRecord
    run: RunState
    source: str

    def check(self, *, params: dict, attributes: dict, n_samples: int) -> None:
        """Raise :class:`CheckpointError` unless this fit continues the saved run.

        The architecture parameters, the classes, the volume shape and the number of
        samples must be those of the saved run.
        """
        saved = self.record
        problems = [f"{key}={saved.params.get(key)!r} (now {params[key]!r})"
                    for key in ARCHITECTURE
                    if key in params and _normal(saved.params.get(key)) != _normal(params[key])]
        for attr in ("classes_", "pathology_classes_", "n_clinical_features_"):
            before, now = saved.attributes.get(attr), attributes.get(attr)
            before = None if before is None else np.asarray(before).tolist()
            now = None if now is None else np.asarray(now).tolist()
            if before != now:
                problems.append(f"{attr}={before} (now {now})")
        before, now = tuple(saved.attributes["volume_shape_"]), attributes["volume_shape_"]
        if before != tuple(now):
            problems.append(f"volume shape {before} (now {tuple(now)})")
        train, valid = self.run.split
        saved_n = len(train) + (0 if valid is None else len(valid))
        if saved_n != n_samples:
            problems.append(f"{saved_n} samples (now {n_samples})")
        if problems:
            raise CheckpointError(f"cannot continue from {self.source}: the saved run differs "
                                  f"from this fit in " + "; ".join(problems))

    def check_network(self, module: torch.nn.Module) -> None:
        """Raise :class:`CheckpointError` unless the saved weights fit ``module`` (the
        network this fit builds): the same tensors, of the same shapes."""
        saved = self.run.last_model
        built = module.state_dict()
        problems = [f"{key} missing" for key in built if key not in saved]
        problems += [f"{key} not in this network" for key in saved if key not in built]
        problems += [f"{key} of shape {tuple(saved[key].shape)} (now {tuple(value.shape)})"
                     for key, value in built.items()
                     if key in saved and saved[key].shape != value.shape]
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                               if len(problems) > 5 else "")
            raise CheckpointError(f"cannot continue from {self.source}: its network differs "
                                  f"from the one these parameters build: {shown}")


def _normal(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def write_checkpoint(path, record: ModelRecord, run: RunState) -> None:
    """Write ``run`` with the estimator ``record`` to ``path`` (see the module docstring).

    ``record`` holds the parameters and the fitted attributes set before training;
    ``history_`` and ``best_epoch_`` are added from the run.
    """
    attributes = {**record.attributes, "history_": run.history,
                  "best_epoch_": run.best_epoch or run.epoch}
    file_record = dataclasses.replace(
        record, attributes=attributes, state_dict=run.best_model or run.last_model,
        optimizer_state=run.optimizer_state, training_state=run.training_state())
    serialization.write_record(path, file_record)


def read_run(path) -> Continuation:
    """Read the run saved in checkpoint ``path`` (the ``resume`` parameter)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"resume must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    source = f"resume={os.fspath(path)!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source}: checkpoint file not found")
    try:
        record = serialization.read_record(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    ts = record.training_state
    if (not isinstance(ts, dict) or ts.get("kind") != RUN_KIND
            or ts.get("version") != RUN_VERSION or record.optimizer_state is None):
        raise CheckpointError(f"{source} is a model file without a petmtl training state "
                              "(written by save(), not by checkpoint_path); it cannot be "
                              "resumed. Use warm_start=True on the loaded estimator instead")
    try:
        valid = ts["split"]["valid"].numpy()
        run = RunState(
            epoch=int(ts["epoch"]), best_epoch=int(ts["best_epoch"]),
            best_score=_best_score(ts, record.params), history=json.loads(ts["history"]),
            rng=ts["rng"], split=(ts["split"]["train"].numpy(), valid if len(valid) else None),
            last_model=ts["last_model"],
            best_model=record.state_dict if int(ts["best_epoch"]) > 0 else None,
            optimizer_state=record.optimizer_state, outcome_state=ts.get("outcome", {}),
            callback_states=ts.get("callbacks", {}))
        for key in ("volume_shape_", "intensity_shift_", "intensity_scale_"):
            record.attributes[key]  # noqa: B018 - presence check
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: incomplete training state ({exc!r})") from None
    return Continuation(record, run, source)


def _best_score(training_state: dict, params: dict) -> float | None:
    """The best monitored value; petmtl 0.1 stored ``best_loss``, the negated score."""
    if "best_score" in training_state:
        value = training_state["best_score"]
        return None if value is None else float(value)
    if int(training_state["best_epoch"]) == 0:
        return None
    sign = -1.0 if params.get("early_stopping_score") in ("auc", "cindex") else 1.0
    return sign * float(training_state["best_loss"])
