"""Callbacks of the training loop: each training feature in one file.

A callback is told when a run, an epoch or a batch begins or ends (see
:class:`~petmtl.training.callbacks.base.Callback`); it reads and changes the run through
the :class:`~petmtl.training.loop.TrainingLoop` it is given. The estimator picks the
callbacks its parameters ask for (``early_stopping``, ``checkpoint_path``, ``verbose``,
``lr_schedule``, ``grad_clip``, ...).
"""

from .base import Callback
from .best_weights import BestWeights
from .checkpointing import Checkpointing
from .early_stopping import EarlyStopping
from .grad_clip import GradientClipping
from .interrupt import DeferredInterrupt
from .lr_schedule import LR_SCHEDULES, LRSchedule
from .progress import ProgressBar
from .weight_averaging import WeightAveraging

__all__ = ["LR_SCHEDULES", "BestWeights", "Callback", "Checkpointing", "DeferredInterrupt",
           "EarlyStopping", "GradientClipping", "LRSchedule", "ProgressBar", "WeightAveraging"]
