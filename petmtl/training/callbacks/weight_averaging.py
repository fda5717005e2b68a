"""Weight averaging along the run: the ``weight_averaging`` parameter."""

from __future__ import annotations

import copy

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .base import Callback

EMA_DECAY = 0.99
"""Decay per optimizer step: an average over about the last 100 steps (4 epochs of 96
patients in batches of 4)."""


class WeightAveraging(Callback):
    """An exponential moving average (EMA) of the weights, validated and kept.

    After every optimizer step the average (``torch.optim.swa_utils.AveragedModel`` with
    an EMA of decay ``decay``, batch-norm statistics included) moves towards the trained
    weights. At the end of each epoch's training the network takes the averaged weights
    for validation, best-weight keeping, checkpoints and the end of the run; the trained
    ("fast") weights come back before the next epoch trains. No extra fit is needed.

    Parameters
    ----------
    decay : float, default=EMA_DECAY
        Weight of the average against the new weights at each step.
    """

    name = "weight_averaging"

    def __init__(self, decay: float = EMA_DECAY):
        self.decay = float(decay)
        self.average = None
        self.fast = None
        self._saved = None

    def on_train_begin(self, loop) -> None:
        self.average = AveragedModel(loop.module, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                                     use_buffers=True)
        if self._saved is not None:  # a resumed run: its average and its trained weights
            self.average.load_state_dict(self._saved["average"])
            self.fast = self._saved["fast"]
            self._saved = None

    def on_epoch_begin(self, loop) -> None:
        if self.fast is not None:
            loop.module.load_state_dict(self.fast)
            self.fast = None

    def on_batch_end(self, loop) -> None:
        self.average.update_parameters(loop.module)

    def on_train_epoch_end(self, loop) -> None:
        self.fast = copy.deepcopy(loop.module.state_dict())
        loop.module.load_state_dict(self.average.module.state_dict())

    def on_train_end(self, loop) -> None:
        if self.fast is None and self.average is not None and self.average.n_averaged > 0:
            # interrupted inside an epoch's training: end with the average, as an epoch does
            loop.module.load_state_dict(self.average.module.state_dict())

    def state_dict(self) -> dict:
        return {"average": self.average.state_dict(), "fast": self.fast}

    def load_state_dict(self, state: dict) -> None:
        self._saved = {"average": state["average"],
                       "fast": {k: v.clone() for k, v in state["fast"].items()}
                       if state.get("fast") is not None else None}
