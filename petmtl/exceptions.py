"""Exceptions and warnings raised by petmtl's training and model files.

Every class derives from a built-in exception, so ``except ValueError`` /
``except MemoryError`` / ``except FloatingPointError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DeviceOutOfMemoryError",
    "TrainingDivergedError",
    "TrainingInterruptedWarning",
]


class TrainingInterruptedWarning(UserWarning):
    """``fit`` was interrupted (Ctrl-C); the estimator is fitted with the best
    weights seen so far. ``history_`` holds the completed epochs."""


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN or infinite during ``fit``.

    Attributes
    ----------
    task : str
        The task whose loss was non-finite (``"total"`` when only the weighted
        sum overflowed).
    epoch : int
        The 1-based epoch in which it happened.
    phase : {"training", "validation"}
    """

    def __init__(self, message: str, *, task: str, epoch: int, phase: str = "training"):
        super().__init__(message)
        self.task = task
        self.epoch = epoch
        self.phase = phase


class DeviceOutOfMemoryError(MemoryError):
    """The accelerator (or the host) ran out of memory during ``fit`` or prediction."""


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, unsafe (pickled objects), of another
    format version, or does not match the estimator and data it is resumed with."""
