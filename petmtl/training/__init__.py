"""Training: the loop and its callbacks, checkpoints, resuming, data parallelism, refit.

:func:`train` is the entry point. It takes the network (as a
:class:`~petmtl._forward.Forward`), the optimizer, the loaders, a :class:`TrainingSetup`
and the callbacks the estimator's parameters ask for, runs a :class:`TrainingLoop`
(continuing a saved run when given one) with fault handling, and returns a
:class:`TrainingResult`; the estimator turns that into its fitted attributes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from .._runtime import memory_guard
from ..exceptions import DeviceOutOfMemoryError, TrainingDivergedError, TrainingInterruptedWarning
from .callbacks import (
    BestWeights,
    Callback,
    Checkpointing,
    DeferredInterrupt,
    EarlyStopping,
    GradientClipping,
    LRSchedule,
    ProgressBar,
    WeightAveraging,
)
from .checkpoint import Continuation, RunState, cpu_copy, read_run, write_checkpoint
from .distributed import ProcessGroup, launched_by_torchrun, process_group, unwrap
from .loop import LoopState, TrainingLoop, TrainingSetup
from .refit import LinearRefit, refit_linear
from .split import stratified_folds, validation_split

__all__ = [
    "BestWeights", "Callback", "Checkpointing", "Continuation", "DeferredInterrupt",
    "EarlyStopping", "GradientClipping", "LRSchedule", "LinearRefit", "LoopState",
    "ProcessGroup", "ProgressBar", "RunState", "TrainingLoop", "TrainingResult",
    "TrainingSetup", "WeightAveraging", "cpu_copy", "launched_by_torchrun", "process_group",
    "read_run", "refit_linear", "stratified_folds", "train", "unwrap", "validation_split",
    "write_checkpoint",
]


@dataclass
class TrainingResult:
    """What a training run leaves behind.

    Attributes
    ----------
    history : list of dict
        One record per epoch (see :meth:`TrainingLoop.run_epoch`).
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


def train(forward, optimizer, loaders, setup: TrainingSetup, *, split,
          callbacks: Sequence[Callback] = (), start: RunState | None = None,
          keep_run: bool = False, memory_settings: str = "",
          volume_shape: tuple | None = None) -> TrainingResult:
    """Train ``forward.module`` with the given callbacks and fault handling.

    Parameters
    ----------
    forward : Forward
        The network and how to feed it.
    optimizer : torch.optim.Optimizer
    loaders : tuple of (DataLoader, DataLoader or None)
        Training and validation loaders.
    setup : TrainingSetup
    split : tuple of (ndarray, ndarray or None)
        Training and validation indices (kept with a resumable run).
    callbacks : sequence of Callback
        In the order they are told of events (see :mod:`petmtl.training.callbacks`).
    start : RunState, optional
        Run to continue (resume / warm start).
    keep_run : bool, default=False
        Return the resumable :class:`RunState` (for warm starts).
    memory_settings : str, default=""
        The hyper-parameters that set the memory use, and ``volume_shape`` the training
        volumes' shape: both quoted in an out-of-memory error.

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
    loop = TrainingLoop(forward, optimizer, *loaders, setup, callbacks=callbacks)
    if start is not None:
        loop.state = start.restore(loop.module, optimizer, setup.generator, forward.device,
                                   learning_rate=optimizer.defaults["lr"],
                                   weight_decay=optimizer.defaults["weight_decay"])
        setup.outcome.load_state_dict(start.outcome_state)
        loop.load_callback_states(start.callback_states)
    state = loop.state
    try:
        with memory_guard("fit", device=forward.device, settings=memory_settings,
                          shape=volume_shape), warnings.catch_warnings():
            # channels-last weights under DistributedDataParallel: a note about speed only
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket")
            loop.run()
    except TrainingDivergedError as exc:
        raise _diverged(exc, state) from None
    except DeviceOutOfMemoryError as exc:
        exc.result = None if state.best_state is None and not state.history else (
            TrainingResult(state.history, state.best_epoch or state.epoch))
        raise
    best_epoch = state.best_epoch if state.best_state is not None else state.epoch
    run = None
    if keep_run or state.interrupted:
        run = RunState.capture(loop, split)
    if state.interrupted:
        _warn_interrupted(state, setup.max_epochs, callbacks)
    return TrainingResult(state.history, best_epoch, state.interrupted, run)


def _diverged(exc: TrainingDivergedError, state: LoopState) -> TrainingDivergedError:
    if state.best_state is None:
        kept, result = "no finite weights were saved, so the estimator is left unfitted", None
    else:
        kept = (f"the weights of epoch {state.best_epoch} (best validation score) were "
                "restored and the estimator keeps them")
        result = TrainingResult(state.history, state.best_epoch)
    error = TrainingDivergedError(f"{exc}; {kept}", task=exc.task, epoch=exc.epoch,
                                  phase=exc.phase)
    error.result = result
    return error


def _warn_interrupted(state: LoopState, max_epochs: int, callbacks) -> None:
    kept = (f"the weights of epoch {state.best_epoch} (best validation score)"
            if state.best_state is not None else "the current weights")
    how = "refit with warm_start=True"
    paths = [cb.path for cb in callbacks if isinstance(cb, Checkpointing)]
    if paths:
        how += f" or resume={os.fspath(paths[0])!r}"
    warnings.warn(TrainingInterruptedWarning(
        f"fit was interrupted (KeyboardInterrupt) after {state.epoch} completed "
        f"epoch(s) of max_epochs={max_epochs}; the estimator is fitted with "
        f"{kept}. To continue the run, {how}."), stacklevel=4)
