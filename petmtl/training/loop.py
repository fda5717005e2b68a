"""The training loop: epochs of small steps, with callbacks for everything else.

:class:`TrainingLoop` runs epochs of :meth:`~TrainingLoop.train_step` over the training
batches and one :meth:`~TrainingLoop.validate` over the validation set, appends a record
per epoch to the history and tells its callbacks (:mod:`petmtl.training.callbacks`) when
runs, epochs and batches begin and end. Early stopping, best-weight keeping, checkpoints,
the progress bar, Ctrl-C, learning-rate schedules and gradient clipping are callbacks:
a new training feature is a callback, not an edit of the loop. A subclass may override a
step (e.g. :meth:`~TrainingLoop.compute_loss`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .._forward import Forward
from ..exceptions import TrainingDivergedError
from ..losses import BinaryOutcome, OutcomeTask, multitask_loss, soft_dice
from .distributed import ProcessGroup, unwrap


@dataclass
class TrainingSetup:
    """What the steps of the loop need besides the network and the data.

    Attributes
    ----------
    weights : dict
        Loss weight per task (see :func:`petmtl.losses.task_weights`).
    max_epochs : int
        The run ends after this many epochs (counted over resumed runs too).
    outcome : OutcomeTask
        The outcome's loss, memory between batches and validation scores.
    augment : tuple of int
        Spatial axes (0, 1, 2) flipped at random during training, each with probability
        1/2 and independently per sample; () for none.
    dice_smooth, seg_bce_weight : float
        See :func:`petmtl.losses.segmentation_loss`.
    generator : torch.Generator
        Source of augmentation randomness.
    group : ProcessGroup
        The processes of a data-parallel fit (default: this one alone): validation
        results are gathered from all of them, and batch-norm statistics averaged.
    """

    weights: Mapping[str, float]
    max_epochs: int
    outcome: OutcomeTask = field(default_factory=BinaryOutcome)
    augment: tuple = ()
    dice_smooth: float = 1.0
    seg_bce_weight: float = 0.0
    generator: torch.Generator = field(default_factory=torch.Generator)
    group: ProcessGroup = field(default_factory=ProcessGroup)


@dataclass
class LoopState:
    """Progress of a training run: what checkpoints save and resuming restores.

    Attributes
    ----------
    epoch : int
        Completed epochs.
    history : list of dict
        One record per completed epoch (see :meth:`TrainingLoop.run_epoch`).
    best_score : float or None
        Best value so far of the monitored validation record, in its own units (a loss
        or a score such as the AUC); None before any validation.
    best_epoch : int
        Epoch of ``best_score`` (0 when none).
    best_state : dict or None
        A copy of the network's state dict at ``best_epoch``.
    stop : bool
        Set by a callback to end the run after the current epoch.
    interrupted : bool
        The run ended on Ctrl-C.
    """

    epoch: int = 0
    history: list = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    best_state: dict | None = None
    stop: bool = False
    interrupted: bool = False


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


def flip_batch(batch: dict, generator: torch.Generator, axes: tuple) -> dict:
    """Flip each sample's image (and mask) along each of ``axes`` with probability 1/2."""
    flips = torch.rand(len(batch["image"]), 3, generator=generator) < 0.5
    for i, sample_flips in enumerate(flips):
        dims = [1 + axis for axis in axes if sample_flips[axis]]
        if dims:
            for name in ("image", "mask"):
                if name in batch:
                    batch[name][i] = batch[name][i].flip(dims)
    return batch


class TrainingLoop:
    """One training run of the W-Net: epochs of steps, a validation pass, callbacks.

    Parameters
    ----------
    forward : Forward
        The network (possibly wrapped for data-parallel training) and how to feed it.
    optimizer : torch.optim.Optimizer
    train_loader : DataLoader
    valid_loader : DataLoader or None
        Without one every epoch runs without validation records.
    setup : TrainingSetup
    callbacks : sequence of Callback, optional
        Told of every event, in this order.
    state : LoopState, optional
        Progress to continue from (resume / warm start); updated in place.

    Attributes
    ----------
    module : torch.nn.Module
        The network without a data-parallel wrapper (its state dict has no prefix).
    state : LoopState
    """

    def __init__(self, forward: Forward, optimizer: torch.optim.Optimizer, train_loader,
                 valid_loader, setup: TrainingSetup, *, callbacks: Sequence = (),
                 state: LoopState | None = None):
        self.forward, self.optimizer, self.setup = forward, optimizer, setup
        self.train_loader, self.valid_loader = train_loader, valid_loader
        self.callbacks = list(callbacks)
        self.module = unwrap(forward.module)
        self.state = LoopState() if state is None else state

    # ------------------------------------------------------------------ the run
    def run(self) -> LoopState:
        """Train until ``max_epochs`` or a callback's stop; return the final state.

        A KeyboardInterrupt ends the run with ``state.interrupted`` set; any other
        error propagates after the callbacks' ``on_train_end`` (which restores the best
        weights).
        """
        self.state.stop = self.state.interrupted = False
        self._notify("on_train_begin")
        try:
            while not self.will_stop():
                self.run_epoch()
        except KeyboardInterrupt:
            self.state.interrupted = True
        finally:
            self._notify("on_train_end")
        return self.state

    def will_stop(self) -> bool:
        """Whether the run ends after the epoch just completed."""
        return self.state.stop or self.state.epoch >= self.setup.max_epochs

    def run_epoch(self) -> dict:
        """Train one epoch, validate, append and return the epoch's record.

        The record holds ``epoch``, ``lr`` (the learning rate of the epoch's steps),
        ``train_loss`` and ``train_<task>``; with validation ``valid_loss``,
        ``valid_<task>``, the outcome's scores (``valid_auc`` and ``valid_accuracy``, or
        ``valid_cindex``), ``valid_dice`` and ``valid_pathology_accuracy``; and
        ``duration`` in seconds.
        """
        epoch = self.state.epoch + 1
        start = time.perf_counter()
        self._notify("on_epoch_begin")
        record = {"epoch": epoch, "lr": float(self.optimizer.param_groups[0]["lr"])}
        record.update({f"train_{k}": v for k, v in self.train_epoch(epoch).items()})
        # every process ends the epoch with the same network, batch statistics included
        self.setup.group.average_buffers(self.module)
        self._notify("on_train_epoch_end")
        if self.valid_loader is not None:
            record.update({f"valid_{k}": v for k, v in self.validate(epoch).items()})
        group = self.setup.group  # the same record in every process: the mean duration
        record["duration"] = group.sum({"d": time.perf_counter() - start})["d"] / \
            group.world_size
        self.state.history.append(record)
        self.state.epoch = epoch
        self._notify("on_epoch_end")
        return record

    # --------------------------------------------------------------- the steps
    def compute_loss(self, batch: dict, *, epoch: int, phase: str):
        """Outputs, weighted loss and its terms for a prepared batch; refuse NaN/Inf."""
        setup = self.setup
        outputs = self.forward(batch["image"], clinical=batch.get("clinical"))
        loss, terms = multitask_loss(outputs, batch, setup.weights,
                                     dice_smooth=setup.dice_smooth,
                                     seg_bce_weight=setup.seg_bce_weight,
                                     outcome_loss=setup.outcome.loss)
        value = float(loss.detach())
        check_finite_loss(value, terms, epoch=epoch, phase=phase)
        return outputs, loss, {"loss": value, **terms}

    def train_step(self, batch: dict, *, epoch: int) -> dict[str, float]:
        """One optimizer step on a loader batch; return its loss terms."""
        batch = self.forward.prepare_batch(batch)
        if self.setup.augment:
            batch = flip_batch(batch, self.setup.generator, self.setup.augment)
        outputs, loss, terms = self.compute_loss(batch, epoch=epoch, phase="training")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._notify("on_grad_computed")
        self.optimizer.step()
        self.setup.outcome.after_step(outputs["outcome"].detach(), batch)
        return terms

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch of :meth:`train_step`; the mean of each loss term over its samples."""
        self.forward.module.train()
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):  # the epoch's shuffle (same in every process)
            sampler.set_epoch(epoch)
        means = _Means()
        for batch in self.train_loader:
            means.add(self.train_step(batch, epoch=epoch), len(batch["image"]))
            self._notify("on_batch_end")
        return means.result(self.setup.group)

    @torch.inference_mode()
    def validate(self, epoch: int) -> dict[str, float]:
        """Validation losses and metrics: Dice, pathology accuracy and the outcome's own.

        The auxiliary terms are averaged over the batches; the outcome term and its
        scores are computed once over the whole validation set (a Cox likelihood does
        not average over batches), and the total is recombined.
        """
        self.forward.module.eval()
        means, collected = _Means(), _Collected()
        for batch in self.valid_loader:
            batch = self.forward.prepare_batch(batch)
            outputs, _, terms = self.compute_loss(batch, epoch=epoch, phase="validation")
            means.add(terms, len(batch["image"]))
            collected.add(outputs, batch)
        # each process validated its share of the samples: gather them all
        shared = getattr(self.valid_loader.dataset, "shared_by_processes", False)
        group = self.setup.group if shared else ProcessGroup()
        metrics = means.result(group)
        outcome, targets = collected.outcome(group)
        metrics.update(self.setup.outcome.validate(outcome, targets))
        check_finite_loss(metrics["outcome"], {"outcome": metrics["outcome"]}, epoch=epoch,
                          phase="validation")
        metrics["loss"] = sum(self.setup.weights.get(name, 0.0) * metrics[name]
                              for name in ("reconstruction", "segmentation", "pathology",
                                           "outcome") if name in metrics)
        metrics.update(collected.auxiliary_scores(group))
        return metrics

    # ---------------------------------------------------------------- callbacks
    def _notify(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self)

    def callback_states(self) -> dict[str, dict]:
        """The state of every named callback, for checkpoints."""
        return {cb.name: cb.state_dict() for cb in self.callbacks if cb.name is not None}

    def load_callback_states(self, states: Mapping[str, dict]) -> None:
        """Give named callbacks their saved state back (before :meth:`run`)."""
        for callback in self.callbacks:
            if callback.name is not None and callback.name in states:
                callback.load_state_dict(states[callback.name])


class _Collected:
    """What a validation pass keeps of each batch: T4's outputs, targets, Dice, hits."""

    def __init__(self):
        self.outcomes, self.targets, self.dice, self.hits = [], [], [], []

    def add(self, outputs: dict, batch: dict) -> None:
        self.outcomes.append(outputs["outcome"].float())
        self.targets.append({k: v for k, v in batch.items() if k not in ("image", "mask")})
        if "segmentation" in outputs and batch["mask_known"].any():
            k = batch["mask_known"]
            predicted = (outputs["segmentation"][k] > 0).float()
            self.dice.append(soft_dice(predicted, batch["mask"][k], smooth=1e-6))
        if "pathology" in outputs and batch["pathology_known"].any():
            k = batch["pathology_known"]
            logits = outputs["pathology"][k].float()
            pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
            self.hits.append((pred == batch["pathology"][k]).float())

    def outcome(self, group: ProcessGroup) -> tuple[torch.Tensor, dict]:
        """T4's outputs and the targets of the whole validation set (every process)."""
        targets = {k: group.gather(torch.cat([t[k] for t in self.targets]))
                   for k in self.targets[0]}
        return group.gather(torch.cat(self.outcomes)), targets

    def auxiliary_scores(self, group: ProcessGroup) -> dict[str, float]:
        device = self.outcomes[0].device
        scores = {}
        for name, parts in (("dice", self.dice), ("pathology_accuracy", self.hits)):
            values = group.gather(torch.cat(parts) if parts else torch.zeros(0, device=device))
            if len(values):
                scores[name] = float(values.mean())
        return scores
