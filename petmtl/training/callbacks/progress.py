"""The progress bar of a fit (``verbose=1``)."""

from __future__ import annotations

from tqdm.auto import tqdm

from .base import Callback

# history key -> what the bar calls it (the outcome score is that of T4's trained head)
SHOWN = {"train_loss": "loss", "valid_loss": "val_loss", "valid_dice": "val_dice",
         "valid_auc": "val_auc(T4)", "valid_cindex": "val_C(T4)"}


class ProgressBar(Callback):
    """A tqdm bar over the epochs with the latest losses and validation scores.

    The bar counts epochs up to ``max_epochs`` (an early stop leaves it short). Its
    outcome score is that of T4's dense head as trained so far: with
    ``refit_outcome=True`` the final outcome model is the linear refit that follows
    training, whose cross-validated score the estimator reports when the fit ends.

    Parameters
    ----------
    max_epochs : int
    enabled : bool, default=True
        False shows nothing (other processes of a data-parallel fit, ``verbose=0``).
    """

    def __init__(self, max_epochs: int, *, enabled: bool = True):
        self.max_epochs, self.enabled = max_epochs, enabled
        self.bar = None

    def on_train_begin(self, loop) -> None:
        self.bar = tqdm(total=self.max_epochs, initial=min(loop.state.epoch, self.max_epochs),
                        disable=not self.enabled, unit="epoch", desc="petmtl fit", leave=True)

    def on_epoch_end(self, loop) -> None:
        record = loop.state.history[-1]
        self.bar.update(1)
        self.bar.set_postfix({label: f"{record[key]:.3f}" for key, label in SHOWN.items()
                              if key in record})

    def on_train_end(self, loop) -> None:
        if self.bar is not None:
            self.bar.close()
