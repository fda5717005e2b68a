"""Keep the weights of the epoch with the best validation score, and restore them."""

from __future__ import annotations

import copy
import math

from .base import Callback


class BestWeights(Callback):
    """Track the best value of a validation record and keep that epoch's weights.

    After each epoch whose record holds ``monitor``, an improvement sets
    ``loop.state.best_score`` (in the record's own units) and ``best_epoch`` and copies
    the network's state dict; when the run ends, for whatever reason, the network gets
    those weights back (the last weights stay when no epoch was validated).

    Parameters
    ----------
    monitor : str
        A history key, e.g. ``"valid_loss"`` or ``"valid_auc"``.
    lower_is_better : bool
        True for losses, False for scores such as the AUC or the C-index.
    """

    def __init__(self, monitor: str, *, lower_is_better: bool = True):
        self.monitor = monitor
        self.lower_is_better = lower_is_better

    def improves(self, score: float, best: float | None) -> bool:
        """Whether ``score`` beats ``best`` (None: nothing to beat)."""
        if math.isnan(score):
            return False
        if best is None:
            return True
        return score < best if self.lower_is_better else score > best

    def on_epoch_end(self, loop) -> None:
        state = loop.state
        score = state.history[-1].get(self.monitor)
        if score is not None and self.improves(score, state.best_score):
            state.best_score, state.best_epoch = float(score), state.epoch
            state.best_state = copy.deepcopy(loop.module.state_dict())

    def on_train_end(self, loop) -> None:
        if loop.state.best_state is not None:
            loop.module.load_state_dict(loop.state.best_state)
