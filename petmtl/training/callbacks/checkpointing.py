"""Checkpoints written during a fit: the ``checkpoint_path`` parameter."""

from __future__ import annotations

import os

from ...serialization import ModelRecord
from ..checkpoint import RunState, write_checkpoint
from .base import Callback


class Checkpointing(Callback):
    """Write the run to ``path`` after every ``every``-th epoch and after the last one.

    The file (see :mod:`petmtl.training.checkpoint`) holds the estimator's ``record``, the
    best weights so far and everything needed to resume the run bit-identically; it is
    replaced atomically. The last epoch is the one after which the run stops (finished,
    stopped early or interrupted by Ctrl-C), so place this callback after those that
    decide it.

    Parameters
    ----------
    path : str or os.PathLike
    every : int
    record : ModelRecord
        The estimator's parameters and the fitted attributes set before training.
    split : tuple of (ndarray, ndarray or None)
        Training and validation indices, stored for resuming.
    """

    def __init__(self, path: str | os.PathLike, every: int, record: ModelRecord, split):
        self.path, self.every, self.record, self.split = path, every, record, split

    def on_epoch_end(self, loop) -> None:
        if loop.will_stop() or loop.state.epoch % self.every == 0:
            write_checkpoint(self.path, self.record, RunState.capture(loop, self.split))
