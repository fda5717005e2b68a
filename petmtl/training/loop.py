"""The training loop: epochs, validation metrics, early stopping and history."""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .._forward import Forward
from .._outcomes import BinaryOutcome, OutcomeTask
from ..exceptions import TrainingDivergedError
from ..losses import multitask_loss, soft_dice
from .distributed import ProcessGroup, unwrap


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
    augment : tuple of int
        Spatial axes (0, 1, 2) flipped at random during training, each with probability
        1/2 and independently per sample; () for none.
    dice_smooth, seg_bce_weight : float
        See :func:`petmtl.losses.segmentation_loss`.
    verbose : int
        >0 shows a progress bar with the live losses.
    generator : torch.Generator
        Source of augmentation randomness.
    volume_shape : tuple of int or None
        Spatial shape of the training volumes, and ``memory_settings`` the
        hyper-parameters that set the memory use: both quoted in an out-of-memory error.
    monitor : str
        The validation record that early stopping and best-weight restoring watch:
        ``"valid_loss"`` (weighted total), ``"valid_outcome"`` (outcome loss) or
        ``"valid_auc"``; ``monitor_sign`` is 1 where lower is better, -1 where higher is.
    outcome : OutcomeTask
        The outcome's loss, memory between batches and validation scores
        (:mod:`petmtl._outcomes`; default: the binary outcome, unweighted).
    group : ProcessGroup
        The processes of a data-parallel fit (default: this one alone): validation
        results are gathered from all of them, and only the first shows progress.
    """

    weights: Mapping[str, float]
    max_epochs: int
    n_iter_no_change: int
    augment: tuple = ()
    dice_smooth: float = 1.0
    seg_bce_weight: float = 0.0
    verbose: int = 0
    generator: torch.Generator = field(default_factory=torch.Generator)
    volume_shape: tuple | None = None
    memory_settings: str = ""
    monitor: str = "valid_loss"
    monitor_sign: float = 1.0
    outcome: OutcomeTask = field(default_factory=BinaryOutcome)
    group: ProcessGroup = field(default_factory=ProcessGroup)


def _augment(batch: dict, generator: torch.Generator, axes: tuple) -> dict:
    flips = torch.rand(len(batch["image"]), 3, generator=generator) < 0.5
    for i, sample_flips in enumerate(flips):
        dims = [1 + axis for axis in axes if sample_flips[axis]]
        if dims:
            for name in ("image", "mask"):
                if name in batch:
                    batch[name][i] = batch[name][i].flip(dims)
    return batch


def check_finite_loss(loss: float, terms: Mapping[str, float], *, epoch: int,
                      phase: str = "training") -> None:
    """Raise :class:`~petmtl.exceptions.TrainingDivergedError` naming the task
    whose loss is NaN or infinite (``"total"`` if only the weighted sum is)."""
    if math.isfinite(loss):
        return
    bad = [name for name, value in terms.items() if not math.isfinite(value)]
    task = bad[0] if bad else "total"
    raise TrainingDivergedError(
        f"training diverged: the {task!r} loss became {loss if not bad else terms[task]!r} "
        f"during the {phase} of epoch {epoch}"
        + (f" (non-finite tasks: {bad})" if len(bad) > 1 else "")
        + "; try a smaller learning_rate, intensity_scale='auto', or amp=False",
        task=task, epoch=epoch, phase=phase)


class _Means:
    """Running sample-weighted means of the loss terms of an epoch."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: Mapping[str, float], n: int) -> None:
        self.count += n
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value * n

    def result(self, group: ProcessGroup | None = None) -> dict[str, float]:
        """The means (over every process of ``group``, weighted by their samples)."""
        sums = {**self.sums, "__count__": self.count}
        if group is not None:
            sums = group.sum(sums)
        count = sums.pop("__count__")
        return {name: value / count for name, value in sums.items()}


def _loss(forward: Forward, batch: dict, setup: TrainingSetup, *, epoch: int, phase: str):
    """Outputs, weighted loss and its terms for one prepared batch; refuse a NaN/Inf loss."""
    outputs = forward(batch["image"])
    loss, terms = multitask_loss(outputs, batch, setup.weights,
                                 dice_smooth=setup.dice_smooth,
                                 seg_bce_weight=setup.seg_bce_weight,
                                 outcome_loss=setup.outcome.loss)
    value = float(loss.detach())
    check_finite_loss(value, terms, epoch=epoch, phase=phase)
    return outputs, loss, {"loss": value, **terms}


def train_epoch(forward: Forward, loader, optimizer: torch.optim.Optimizer,
                setup: TrainingSetup, *, epoch: int = 0,
                stop_requested: Callable[[], bool] | None = None) -> dict[str, float]:
    """Run one epoch of training; return the mean loss and mean of each term.

    A non-finite loss raises :class:`~petmtl.exceptions.TrainingDivergedError`
    before the optimizer step; ``stop_requested()`` true after a batch raises
    KeyboardInterrupt (a deferred Ctrl-C).
    """
    forward.module.train()
    if hasattr(loader.sampler, "set_epoch"):  # the epoch's shuffle (same in every process)
        loader.sampler.set_epoch(epoch)
    means = _Means()
    for batch in loader:
        batch = forward.prepare_batch(batch)
        if setup.augment:
            batch = _augment(batch, setup.generator, setup.augment)
        outputs, loss, terms = _loss(forward, batch, setup, epoch=epoch, phase="training")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        setup.outcome.after_step(outputs["outcome"].detach(), batch)
        means.add(terms, len(batch["image"]))
        if stop_requested is not None and stop_requested():
            raise KeyboardInterrupt
    return means.result(setup.group)


@torch.inference_mode()
def evaluate(forward: Forward, loader, setup: TrainingSetup, *,
             epoch: int = 0) -> dict[str, float]:
    """Validation losses and metrics: Dice, pathology accuracy and the outcome's own.

    The auxiliary terms are averaged over the batches; the outcome term and its metrics
    (AUC and accuracy, or the C-index) are computed once over the whole validation set
    (a Cox likelihood does not average over batches), and the total is recombined.
    """
    forward.module.eval()
    means = _Means()
    outcome, targets, dice, pathology_hits = [], [], [], []
    for batch in loader:
        batch = forward.prepare_batch(batch)
        outputs, _, terms = _loss(forward, batch, setup, epoch=epoch, phase="validation")
        means.add(terms, len(batch["image"]))
        outcome.append(outputs["outcome"].float())
        targets.append({k: v for k, v in batch.items() if k not in ("image", "mask")})
        if "segmentation" in outputs and batch["mask_known"].any():
            k = batch["mask_known"]
            predicted = (outputs["segmentation"][k] > 0).float()
            dice.append(soft_dice(predicted, batch["mask"][k], smooth=1e-6))
        if "pathology" in outputs and batch["pathology_known"].any():
            k = batch["pathology_known"]
            logits = outputs["pathology"][k].float()
            pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
            pathology_hits.append((pred == batch["pathology"][k]).float())
    # each process evaluated its share of the validation samples: gather them all
    shared = getattr(loader.dataset, "shared_by_processes", False)
    group = setup.group if shared else ProcessGroup()
    metrics = means.result(group)
    whole = {k: group.gather(torch.cat([t[k] for t in targets])) for k in targets[0]}
    metrics.update(setup.outcome.validate(group.gather(torch.cat(outcome)), whole))
    device = whole["outcome_known"].device
    dice = group.gather(torch.cat(dice) if dice else torch.zeros(0, device=device))
    pathology_hits = group.gather(torch.cat(pathology_hits) if pathology_hits
                                  else torch.zeros(0, device=device))
    check_finite_loss(metrics["outcome"], {"outcome": metrics["outcome"]}, epoch=epoch,
                      phase="validation")
    metrics["loss"] = sum(setup.weights.get(name, 0.0) * metrics[name]
                          for name in ("reconstruction", "segmentation", "pathology", "outcome")
                          if name in metrics)
    if len(dice):
        metrics["dice"] = float(dice.mean())
    if len(pathology_hits):
        metrics["pathology_accuracy"] = float(pathology_hits.mean())
    return metrics


@dataclass
class LoopState:
    """Progress of a training run: what checkpoints save and resuming restores.

    Attributes
    ----------
    epoch : int
        Completed epochs.
    history : list of dict
        One record per completed epoch (see :func:`fit_loop`).
    best_loss : float
        Best monitored validation value so far, as ``monitor_sign * value`` (lower is
        better; inf without validation).
    best_epoch : int
        Epoch of ``best_loss`` (0 when none).
    best_state : dict or None
        A copy of the module's state dict at ``best_epoch``.
    interrupted : bool
        Set when the last :func:`fit_loop` call ended on a KeyboardInterrupt.
    """

    epoch: int = 0
    history: list = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict | None = None
    interrupted: bool = False

    def finished(self, setup: TrainingSetup) -> bool:
        """True once ``max_epochs`` ran or early stopping's patience is spent."""
        if self.epoch >= setup.max_epochs:
            return True
        validated = bool(self.history) and "valid_loss" in self.history[-1]
        return validated and self.epoch - self.best_epoch >= setup.n_iter_no_change


class DeferredInterrupt:
    """Context manager turning the first Ctrl-C into a flag checked between batches.

    A second Ctrl-C interrupts at once. Only installed in the main thread and
    when SIGINT has Python's default handler (a user's own handler is kept).
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> DeferredInterrupt:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __call__(self) -> bool:
        return self.requested

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def restore_best(module: nn.Module, state: LoopState) -> int:
    """Load the best weights into ``module`` (if any) and return the epoch they are from."""
    if state.best_state is not None:
        module.load_state_dict(state.best_state)
        return state.best_epoch
    return state.epoch


def fit_loop(forward: Forward, optimizer: torch.optim.Optimizer, train_loader,
             valid_loader, setup: TrainingSetup, *, state: LoopState | None = None,
             on_epoch_end: Callable[[LoopState, bool], None] | None = None,
             ) -> tuple[list[dict], int]:
    """Train with early stopping on a validation score; restore the best weights.

    Without a validation loader every one of ``max_epochs`` epochs runs and the
    last weights are kept.

    Faults: a KeyboardInterrupt (the first Ctrl-C is deferred to the end of the
    current batch) ends the loop early with ``state.interrupted`` set and the
    best weights restored; a non-finite loss restores the best weights and
    raises :class:`~petmtl.exceptions.TrainingDivergedError`; any other error
    also restores the best weights before propagating.

    Parameters
    ----------
    state : LoopState, optional
        Progress to continue from (resume / warm start); updated in place.
    on_epoch_end : callable, optional
        ``on_epoch_end(state, last)`` after every completed epoch, with the
        module still holding that epoch's weights (for checkpoints); ``last``
        is True on the final epoch of the run.

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
    module = unwrap(forward.module)  # state dicts without a data-parallel wrapper's prefix
    state = LoopState() if state is None else state
    state.interrupted = False
    bar = tqdm(total=setup.max_epochs, initial=min(state.epoch, setup.max_epochs),
               disable=not (setup.verbose and setup.group.is_main), unit="epoch",
               desc="petmtl fit", leave=True)
    try:
        with DeferredInterrupt() as interrupt:
            while not state.finished(setup):
                epoch = state.epoch + 1
                start = time.perf_counter()
                record = {"epoch": epoch}
                record.update({f"train_{k}": v for k, v in train_epoch(
                    forward, train_loader, optimizer, setup, epoch=epoch,
                    stop_requested=interrupt).items()})
                if valid_loader is not None:
                    record.update({f"valid_{k}": v for k, v in evaluate(
                        forward, valid_loader, setup, epoch=epoch).items()})
                # the same record in every process: the mean duration over them
                elapsed = {"duration": time.perf_counter() - start}
                record["duration"] = setup.group.sum(elapsed)["duration"] / setup.group.world_size
                state.history.append(record)
                state.epoch = epoch
                monitored = record.get(setup.monitor)
                if monitored is not None and setup.monitor_sign * monitored < state.best_loss:
                    state.best_loss, state.best_epoch = setup.monitor_sign * monitored, epoch
                    state.best_state = copy.deepcopy(module.state_dict())
                bar.update(1)
                bar.set_postfix({k.replace("train_", ""): f"{v:.3f}" for k, v in record.items()
                                 if k.startswith(("train_", "valid_loss", "valid_auc",
                                                  "valid_dice"))})
                if on_epoch_end is not None:
                    on_epoch_end(state, state.finished(setup) or interrupt.requested)
                if interrupt.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        state.interrupted = True
    except BaseException:
        restore_best(module, state)
        raise
    finally:
        bar.close()
    return state.history, restore_best(module, state)
