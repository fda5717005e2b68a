"""Checkpoints, resuming, warm starts and the fault handling around the training loop.

Checkpoints are :mod:`petmtl.serialization` model files (tensors plus JSON
metadata, read with ``torch.load(weights_only=True)``, so loading one never runs
code) written with :func:`petmtl.serialization.save_checkpoint`'s layout:

``state_dict``
    The best weights so far (the last ones without validation), so
    ``MultiTaskPETEstimator.load(checkpoint)`` gives a usable model; its
    metadata holds the parameters, fitted attributes and ``history_``.
``optimizer_state``
    The optimizer's state dict (AdamW moments and step counts).
``training_state``
    ``kind`` (``"petmtl-run"``) and ``version``; ``epoch`` (completed epochs),
    ``best_epoch``, ``best_loss``, ``history``; ``last_model`` (the weights of
    the last completed epoch); ``rng``: ``torch`` (global CPU generator),
    ``generator`` (shuffling, augmentation) and on CUDA ``cuda``; ``split``:
    ``train`` and ``valid`` sample indices.

Files are replaced atomically (temporary file in the same folder, then
``os.replace``), so a crash while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings

import numpy as np
import torch

from . import serialization
from .exceptions import (
    CheckpointError,
    DeviceOutOfMemoryError,
    TrainingDivergedError,
    TrainingInterruptedWarning,
)
from .training import LoopState, fit_loop

RUN_KIND = "petmtl-run"
RUN_VERSION = 1
ARCHITECTURE = ("base_width", "depth", "tasks", "norm", "outcome_features")
FITTED = ("module_", "history_", "best_epoch_", "_warm_state")


def _cpu(tree):
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: _cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu(v) for v in tree)
    return tree


def training_state(estimator, state: LoopState, generator, split, *,
                   last_model=None) -> dict:
    """The ``training_state`` entry of a checkpoint (see the module docstring)."""
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if estimator.device_.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(estimator.device_)
    train_idx, valid_idx = split
    return {
        "kind": RUN_KIND, "version": RUN_VERSION, "epoch": state.epoch,
        "best_epoch": state.best_epoch, "best_loss": float(state.best_loss),
        "history": json.dumps(state.history), "rng": rng,
        "split": {"train": torch.as_tensor(np.asarray(train_idx, dtype=np.int64)),
                  "valid": torch.as_tensor(np.asarray(
                      [] if valid_idx is None else valid_idx, dtype=np.int64))},
        "last_model": last_model,
        "best_model": None if state.best_state is None else _cpu(state.best_state),
    }


def write_checkpoint(path, estimator, module, optimizer, state: LoopState, generator,
                     split) -> None:
    """Write the run to ``path`` atomically as a :mod:`petmtl.serialization` checkpoint."""
    paths = {name: getattr(estimator, name) for name in ("checkpoint_path", "resume")}
    try:  # the model format stores path parameters as strings
        for name, value in paths.items():
            setattr(estimator, name, None if value is None else os.fspath(value))
        with warnings.catch_warnings():  # e.g. a RandomState random_state stored as None
            warnings.simplefilter("ignore", UserWarning)
            payload = serialization.estimator_state(estimator)
    finally:
        for name, value in paths.items():
            setattr(estimator, name, value)
    meta = json.loads(payload["metadata"])
    meta["attributes"]["history_"] = state.history
    meta["attributes"]["best_epoch_"] = state.best_epoch or state.epoch
    payload["metadata"] = json.dumps(meta, allow_nan=True)
    last = _cpu(module.state_dict())
    run = training_state(estimator, state, generator, split, last_model=last)
    payload["state_dict"] = run.pop("best_model") or last
    payload["optimizer_state"] = _cpu(optimizer.state_dict())
    payload["training_state"] = run
    serialization._atomic_torch_save(payload, path)


# ------------------------------------------------------------ resume / warm
class Start:
    """Where a fit continues from: a checkpoint file or the estimator's own state."""

    def __init__(self, saved, optimizer_state, run: dict, best_model, source: str):
        self.saved = saved  # an estimator holding the saved params and fitted attributes
        self.optimizer_state = optimizer_state
        self.run = run
        self.best_model = best_model
        self.source = source

    def split(self):
        valid = self.run["split"]["valid"].numpy()
        return self.run["split"]["train"].numpy(), (valid if len(valid) else None)

    def restore(self, estimator, module, optimizer, generator) -> LoopState:
        run = self.run
        module.load_state_dict(run["last_model"])
        optimizer.load_state_dict(self.optimizer_state)
        for group in optimizer.param_groups:  # a changed learning rate applies
            group["lr"] = estimator.learning_rate
            group["weight_decay"] = estimator.weight_decay
        torch.set_rng_state(run["rng"]["torch"])
        generator.set_state(run["rng"]["generator"])
        if "cuda" in run["rng"] and estimator.device_.type == "cuda":
            torch.cuda.set_rng_state(run["rng"]["cuda"], estimator.device_)
        best_state = None
        if run["best_epoch"] > 0 and self.best_model is not None:
            best_state = {k: v.to(estimator.device_) for k, v in self.best_model.items()}
        return LoopState(epoch=run["epoch"], history=json.loads(run["history"]),
                         best_loss=float(run["best_loss"]), best_epoch=run["best_epoch"],
                         best_state=best_state)


def _read_run(path) -> Start:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"resume must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    source = f"resume={os.fspath(path)!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source}: checkpoint file not found")
    try:
        ckpt = serialization.read_checkpoint(path, device="cpu")
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    run = ckpt.training_state
    if (not isinstance(run, dict) or run.get("kind") != RUN_KIND
            or run.get("version") != RUN_VERSION or ckpt.optimizer_state is None):
        raise CheckpointError(f"{source} is a model file without a petmtl training state "
                              "(written by save(), not by checkpoint_path); it cannot be "
                              "resumed. Use warm_start=True on the loaded estimator instead")
    try:
        best = ckpt.estimator.module_.state_dict() if run["best_epoch"] > 0 else None
        for key in ("epoch", "history", "rng", "split", "last_model", "best_loss"):
            run[key]  # noqa: B018 - presence check
    except (KeyError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"{source}: incomplete training state ({exc!r})") from None
    return Start(ckpt.estimator, ckpt.optimizer_state, run, best, source)


def starting_point(estimator, n_samples: int, spatial) -> Start | None:
    """The state a fit continues from (``resume`` file, else warm start), or None.

    Sets the fitted intensity scaling from it and checks that the network,
    the labels and the data are those of the saved run.
    """
    if estimator.resume is not None:
        start = _read_run(estimator.resume)
    elif (estimator.warm_start and hasattr(estimator, "module_")
          and getattr(estimator, "_warm_state", None) is not None):
        warm = estimator._warm_state
        run = dict(warm["run"], last_model=_cpu(estimator.module_.state_dict()))
        start = Start(warm["saved"], warm["optimizer"], run, warm["best_model"],
                      "warm_start=True")
    else:
        return None
    saved, params = start.saved, estimator.get_params(deep=False)
    saved_params = saved.get_params(deep=False)
    problems = [f"{key}={saved_params[key]!r} (now {params[key]!r})" for key in ARCHITECTURE
                if _normal(saved_params[key]) != _normal(params[key])]
    for attr in ("classes_", "pathology_classes_"):
        before, now = getattr(saved, attr, None), getattr(estimator, attr, None)
        before = None if before is None else np.asarray(before).tolist()
        now = None if now is None else np.asarray(now).tolist()
        if before != now:
            problems.append(f"{attr}={before} (now {now})")
    if tuple(saved.volume_shape_) != tuple(spatial):
        problems.append(f"volume shape {tuple(saved.volume_shape_)} (now {tuple(spatial)})")
    train, valid = start.split()
    saved_n = len(train) + (0 if valid is None else len(valid))
    if saved_n != n_samples:
        problems.append(f"{saved_n} samples (now {n_samples})")
    if problems:
        raise CheckpointError(f"cannot continue from {start.source}: the saved run differs "
                              f"from this fit in " + "; ".join(problems))
    estimator.intensity_shift_ = saved.intensity_shift_
    estimator.intensity_scale_ = saved.intensity_scale_
    return start


def _normal(value):
    return list(value) if isinstance(value, (tuple, list)) else value


# -------------------------------------------------------------- the fit run
@contextlib.contextmanager
def memory_guard(estimator, action: str, shape=None):
    """Turn an out-of-memory error into a :class:`DeviceOutOfMemoryError` with advice."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not (isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower()
                or "can't allocate memory" in text):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        device = getattr(estimator, "device_", estimator.device)
        where = f" on volumes of shape {tuple(shape)}" if shape is not None else ""
        raise DeviceOutOfMemoryError(
            f"out of memory on device {str(device)!r} during {action}{where} with "
            f"batch_size={estimator.batch_size}, base_width={estimator.base_width}, "
            f"depth={estimator.depth}. Use a smaller batch_size (prediction uses "
            f"2 x batch_size), a smaller base_width or depth, or crop/resample the "
            f"volumes to a smaller shape (petmtl.io.prepare_volume); amp=True also "
            f"halves activation memory on CUDA. ({text.splitlines()[0][:160]})") from None


def train(estimator, optimizer, loaders, setup, start: Start | None, split):
    """Run :func:`petmtl.training.fit_loop` for ``estimator`` with checkpoints and faults.

    Sets ``history_`` and ``best_epoch_``; warns on interruption; on divergence
    keeps the best weights (or leaves the estimator unfitted when there are
    none) and raises :class:`TrainingDivergedError`.
    """
    module, generator = estimator.module_, setup.generator
    state = start.restore(estimator, module, optimizer, generator) if start else LoopState()
    on_epoch_end = None
    if estimator.checkpoint_path is not None:
        every = estimator.checkpoint_every

        def on_epoch_end(loop_state: LoopState, last: bool) -> None:
            if last or loop_state.epoch % every == 0:
                write_checkpoint(estimator.checkpoint_path, estimator, module, optimizer,
                                 loop_state, generator, split)
    try:
        with memory_guard(estimator, "fit", estimator.volume_shape_):
            estimator.history_, estimator.best_epoch_ = fit_loop(
                module, optimizer, *loaders, setup, state=state, on_epoch_end=on_epoch_end)
    except TrainingDivergedError as exc:
        if state.best_state is None:
            for attr in FITTED:
                estimator.__dict__.pop(attr, None)
            kept = "no finite weights were saved, so the estimator is left unfitted"
        else:
            estimator.history_, estimator.best_epoch_ = state.history, state.best_epoch
            kept = (f"the weights of epoch {state.best_epoch} (best validation loss) were "
                    "restored and the estimator keeps them")
        raise TrainingDivergedError(f"{exc}; {kept}", task=exc.task, epoch=exc.epoch,
                                    phase=exc.phase) from None
    except DeviceOutOfMemoryError:
        if state.best_state is None and not state.history:
            for attr in FITTED:
                estimator.__dict__.pop(attr, None)
        else:
            estimator.history_ = state.history
            estimator.best_epoch_ = state.best_epoch or state.epoch
        raise
    run = training_state(estimator, state, generator, split)
    estimator._warm_state = {"saved": _Saved(estimator), "optimizer": _cpu(
        optimizer.state_dict()), "run": run, "best_model": run.pop("best_model")}
    if state.interrupted:
        kept = (f"the weights of epoch {estimator.best_epoch_} (best validation loss)"
                if state.best_state is not None else "the current weights")
        how = "refit with warm_start=True"
        if estimator.checkpoint_path is not None:
            how += f" or resume={os.fspath(estimator.checkpoint_path)!r}"
        warnings.warn(TrainingInterruptedWarning(
            f"fit was interrupted (KeyboardInterrupt) after {state.epoch} completed "
            f"epoch(s) of max_epochs={setup.max_epochs}; the estimator is fitted with "
            f"{kept}. To continue the run, {how}."), stacklevel=3)
    return estimator


class _Saved:
    """The parameters and fitted attributes a warm start compares against."""

    def __init__(self, estimator):
        self._params = dict(estimator.get_params(deep=False))
        for attr in ("classes_", "pathology_classes_", "volume_shape_", "intensity_shift_",
                     "intensity_scale_"):
            setattr(self, attr, getattr(estimator, attr))

    def get_params(self, deep=False):
        return self._params
