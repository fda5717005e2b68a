"""Training: the loop, early stopping, checkpoints, resuming and fault handling.

:func:`train` is the entry point. It takes the network (as a
:class:`~petmtl._forward.Forward`), the optimizer, the loaders and a
:class:`TrainingSetup`, runs :func:`~petmtl.training.loop.fit_loop` with
checkpoints and fault handling, and returns a :class:`TrainingResult`; the estimator
turns that into its fitted attributes.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from .._runtime import memory_guard
from ..exceptions import DeviceOutOfMemoryError, TrainingDivergedError, TrainingInterruptedWarning
from ..serialization import ModelRecord
from .checkpoint import Continuation, RunState, cpu_copy, read_run, write_checkpoint
from .distributed import ProcessGroup, launched_by_torchrun, process_group, unwrap
from .loop import LoopState, TrainingSetup, evaluate, fit_loop, train_epoch
from .refit import LinearRefit, refit_linear
from .split import validation_split

__all__ = [
    "CheckpointPlan", "Continuation", "LinearRefit", "LoopState", "ProcessGroup", "RunState",
    "TrainingResult", "launched_by_torchrun", "process_group", "unwrap",
    "TrainingSetup", "cpu_copy", "evaluate", "fit_loop", "read_run", "refit_linear", "train",
    "train_epoch", "validation_split",
]


@dataclass
class TrainingResult:
    """What a training run leaves behind.

    Attributes
    ----------
    history : list of dict
        One record per epoch (see :func:`~petmtl.training.loop.fit_loop`).
    best_epoch : int
        Epoch whose weights the network holds.
    interrupted : bool
        The run ended on Ctrl-C.
    run : RunState or None
        The resumable state, when it was asked for (warm starts) or the run was
        interrupted; None otherwise.
    """

    history: list
    best_epoch: int
    interrupted: bool = False
    run: RunState | None = None


@dataclass
class CheckpointPlan:
    """Where and how often :func:`train` writes checkpoints.

    Attributes
    ----------
    path : str or os.PathLike
    every : int
        Write after every ``every``-th epoch, and after the last one.
    record : ModelRecord
        The estimator's parameters and fitted attributes, stored beside the run.
    """

    path: str | os.PathLike
    every: int
    record: ModelRecord


def train(forward, optimizer, loaders, setup: TrainingSetup, *, split,
          start: RunState | None = None, checkpoint: CheckpointPlan | None = None,
          keep_run: bool = False) -> TrainingResult:
    """Train ``forward.module`` with checkpoints and fault handling.

    Parameters
    ----------
    forward : Forward
        The network and how to feed it.
    optimizer : torch.optim.Optimizer
    loaders : tuple of (DataLoader, DataLoader or None)
        Training and validation loaders.
    setup : TrainingSetup
    split : tuple of (ndarray, ndarray or None)
        Training and validation indices (stored in checkpoints).
    start : RunState, optional
        Run to continue (resume / warm start).
    checkpoint : CheckpointPlan, optional
    keep_run : bool, default=False
        Return the resumable :class:`RunState` (for warm starts).

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingDivergedError
        A loss became NaN or infinite. Its ``result`` attribute is the
        :class:`TrainingResult` up to the best epoch, whose weights the network then
        holds, or None when no finite weights were saved.
    DeviceOutOfMemoryError
        Also with a ``result`` attribute (None before the first completed epoch).

    Warns
    -----
    TrainingInterruptedWarning
        On Ctrl-C: the network keeps the best (or current) weights.
    """
    module, generator = unwrap(forward.module), setup.generator
    state = LoopState()
    if start is not None:
        state = start.restore(module, optimizer, generator, forward.device,
                              learning_rate=optimizer.defaults["lr"],
                              weight_decay=optimizer.defaults["weight_decay"])
        setup.outcome.load_state_dict(start.outcome_state)
    on_epoch_end = None
    if checkpoint is not None:
        def on_epoch_end(loop_state: LoopState, last: bool) -> None:
            if last or loop_state.epoch % checkpoint.every == 0:
                run = RunState.capture(loop_state, module, optimizer, generator,
                                       forward.device, split,
                                       outcome_state=setup.outcome.state_dict())
                write_checkpoint(checkpoint.path, checkpoint.record, run)
    try:
        with memory_guard("fit", device=forward.device, settings=setup.memory_settings,
                          shape=setup.volume_shape), warnings.catch_warnings():
            # channels-last weights under DistributedDataParallel: a note about speed only
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket")
            history, best_epoch = fit_loop(forward, optimizer, *loaders, setup, state=state,
                                           on_epoch_end=on_epoch_end)
    except TrainingDivergedError as exc:
        raise _diverged(exc, state) from None
    except DeviceOutOfMemoryError as exc:
        exc.result = None if state.best_state is None and not state.history else (
            TrainingResult(state.history, state.best_epoch or state.epoch))
        raise
    run = None
    if keep_run or state.interrupted:
        run = RunState.capture(state, module, optimizer, generator, forward.device, split,
                               outcome_state=setup.outcome.state_dict())
    if state.interrupted:
        _warn_interrupted(state, best_epoch, setup.max_epochs, checkpoint)
    return TrainingResult(history, best_epoch, state.interrupted, run)


def _diverged(exc: TrainingDivergedError, state: LoopState) -> TrainingDivergedError:
    if state.best_state is None:
        kept, result = "no finite weights were saved, so the estimator is left unfitted", None
    else:
        kept = (f"the weights of epoch {state.best_epoch} (best validation loss) were "
                "restored and the estimator keeps them")
        result = TrainingResult(state.history, state.best_epoch)
    error = TrainingDivergedError(f"{exc}; {kept}", task=exc.task, epoch=exc.epoch,
                                  phase=exc.phase)
    error.result = result
    return error


def _warn_interrupted(state: LoopState, best_epoch: int, max_epochs: int,
                      checkpoint: CheckpointPlan | None) -> None:
    kept = (f"the weights of epoch {best_epoch} (best validation loss)"
            if state.best_state is not None else "the current weights")
    how = "refit with warm_start=True"
    if checkpoint is not None:
        how += f" or resume={os.fspath(checkpoint.path)!r}"
    warnings.warn(TrainingInterruptedWarning(
        f"fit was interrupted (KeyboardInterrupt) after {state.epoch} completed "
        f"epoch(s) of max_epochs={max_epochs}; the estimator is fitted with "
        f"{kept}. To continue the run, {how}."), stacklevel=4)

