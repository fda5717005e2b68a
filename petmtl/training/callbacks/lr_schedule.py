"""Learning-rate schedules: the ``lr_schedule`` parameter."""

from __future__ import annotations

import math

import torch

from .base import Callback

LR_SCHEDULES = ("cosine", "plateau")


class LRSchedule(Callback):
    """Change the learning rate after every epoch, with PyTorch's schedulers.

    ``"cosine"``: cosine annealing from the initial rate to 0 over ``max_epochs``, the
    rate after epoch ``e`` being ``lr * (1 + cos(pi * e / max_epochs)) / 2`` (in closed
    form: a run resumed with a larger ``max_epochs`` takes the longer curve's rate at the
    epoch it stands at, and anneals to 0 at its new end). ``"plateau"``: the rate is
    divided by 10 when ``monitor`` has not improved for ``patience`` epochs
    (:class:`torch.optim.lr_scheduler.ReduceLROnPlateau`); with no validation record the
    training loss is watched instead. The scheduler's state and the current rates are
    saved in checkpoints, so a resumed run follows the same schedule.

    Parameters
    ----------
    kind : {"cosine", "plateau"}
    max_epochs : int
        Length of the cosine schedule.
    monitor : str, default="valid_loss"
        The history record that "plateau" watches.
    lower_is_better : bool, default=True
    patience : int, default=5
        Epochs without improvement before "plateau" lowers the rate.
    """

    name = "lr_schedule"

    def __init__(self, kind: str, *, max_epochs: int, monitor: str = "valid_loss",
                 lower_is_better: bool = True, patience: int = 5):
        if kind not in LR_SCHEDULES:
            raise ValueError(f"kind must be one of {LR_SCHEDULES}, got {kind!r}")
        self.kind, self.max_epochs, self.monitor = kind, max_epochs, monitor
        self.lower_is_better, self.patience = lower_is_better, patience
        self.scheduler = None
        self._saved = None

    def on_train_begin(self, loop) -> None:
        optimizer = loop.optimizer
        if self.kind == "cosine":
            length = self.max_epochs
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda epoch: (1.0 + math.cos(math.pi * min(epoch, length) /
                                                         length)) / 2.0)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min" if self.lower_is_better else "max", factor=0.1,
                patience=self.patience)
        if self._saved is not None:  # a resumed run: the rates it had reached
            self.scheduler.load_state_dict(self._saved["scheduler"])
            rates = self._saved["lr"]
            if self.kind == "cosine":  # on the curve of this run's max_epochs
                rates = [base * lr_lambda(self.scheduler.last_epoch) for base, lr_lambda in
                         zip(self.scheduler.base_lrs, self.scheduler.lr_lambdas, strict=True)]
            for group, lr in zip(optimizer.param_groups, rates, strict=True):
                group["lr"] = lr

    def on_epoch_end(self, loop) -> None:
        if self.kind == "cosine":
            self.scheduler.step()
            return
        record = loop.state.history[-1]
        value = record.get(self.monitor, record.get("train_loss"))
        if value is not None:
            self.scheduler.step(value)

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(),
                "lr": [float(g["lr"]) for g in self.scheduler.optimizer.param_groups]}

    def load_state_dict(self, state: dict) -> None:
        self._saved = state
