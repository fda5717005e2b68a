"""The callback protocol of :class:`~petmtl.training.loop.TrainingLoop`."""

from __future__ import annotations


class Callback:
    """Base class of the training callbacks; every hook does nothing by default.

    The loop calls the hooks of its callbacks in their order, each with the loop itself:
    ``loop.state`` (epochs, history, best score, ``stop``), ``loop.module`` (the network,
    unwrapped from data-parallel wrappers), ``loop.optimizer`` and ``loop.setup``.

    A callback whose state must survive a checkpoint (to resume bit-identically) gives
    itself a ``name`` and implements :meth:`state_dict` and :meth:`load_state_dict`.
    """

    name: str | None = None

    def on_train_begin(self, loop) -> None:
        """Before the first epoch of this call (also when resuming)."""

    def on_epoch_begin(self, loop) -> None:
        """Before an epoch's first training batch."""

    def on_grad_computed(self, loop) -> None:
        """After a batch's backward pass, before the optimizer step."""

    def on_batch_end(self, loop) -> None:
        """After a training batch's optimizer step."""

    def on_train_epoch_end(self, loop) -> None:
        """After an epoch's training batches, before its validation."""

    def on_epoch_end(self, loop) -> None:
        """After an epoch's record (training and validation) joined ``loop.state.history``."""

    def on_train_end(self, loop) -> None:
        """When the run ends: finished, stopped early, interrupted or failed."""

    def state_dict(self) -> dict:
        """What a checkpoint keeps of this callback (tensors, numbers, lists, dicts)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` when a run is resumed."""
