"""Stop when the best validation score is ``patience`` epochs old."""

from __future__ import annotations

from .base import Callback


class EarlyStopping(Callback):
    """Ask the loop to stop once ``patience`` epochs passed without a new best score.

    The best epoch is the one :class:`~petmtl.training.callbacks.BestWeights` (placed
    before this callback) last recorded; epochs without validation never stop the run.

    Parameters
    ----------
    patience : int
        Epochs without improvement that end the run (``n_iter_no_change``).
    """

    def __init__(self, patience: int):
        self.patience = patience

    def _patience_spent(self, state) -> bool:
        validated = bool(state.history) and any(k.startswith("valid_") for k in state.history[-1])
        return validated and state.epoch - state.best_epoch >= self.patience

    def on_train_begin(self, loop) -> None:
        # a continued run (warm start, resume) whose patience was already spent
        loop.state.stop = loop.state.stop or self._patience_spent(loop.state)

    def on_epoch_end(self, loop) -> None:
        if self._patience_spent(loop.state):
            loop.state.stop = True
