"""What T4 predicts and how it is scored: the binary outcome and time-to-event outcomes.

An outcome task tells the training loop how to turn T4's output and a batch's targets
into the outcome loss (:meth:`loss`), what to remember between batches
(:meth:`after_step`, e.g. the Cox risk-set memory) and how to score a whole validation
set (:meth:`validate`). Every batch carries ``"outcome"`` (the class index, or the time
for survival) and ``"outcome_known"`` (labelled samples); survival batches also carry
``"event"`` and, for the discrete-time loss, ``"time_bin"``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ._survival_losses import (
    RiskSetMemory,
    cox_ph_loss,
    logistic_hazard_loss,
    logistic_hazard_risk,
)
from ._survival_metrics import concordance_index_censored
from .losses import classification_loss


class OutcomeTask:
    """Base of the outcome tasks (a binary outcome with unweighted cross-entropy)."""

    n_outputs = 1

    def loss(self, output: torch.Tensor, batch: dict) -> torch.Tensor:
        """The outcome loss of a training batch."""
        raise NotImplementedError

    def after_step(self, output: torch.Tensor, batch: dict) -> None:
        """Remember what later batches need (called after each optimizer step)."""

    def validate(self, output: torch.Tensor, batch: dict) -> dict[str, float]:
        """Loss and ranking metrics over a whole validation set (concatenated batches)."""
        raise NotImplementedError

    def whole_set_loss(self, output: torch.Tensor, batch: dict) -> torch.Tensor:
        """The outcome loss of a whole set at once (no memory of earlier batches)."""
        return self.loss(output, batch)

    def state_dict(self) -> dict:
        """What a checkpoint must keep to resume bit-identically (plain tensors)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class BinaryOutcome(OutcomeTask):
    """Binary outcome: cross-entropy of a logit, AUC and accuracy for validation.

    Parameters
    ----------
    class_weights : pair of float, optional
        Weight of class 0 and class 1 (see :func:`petmtl.losses.classification_loss`).
    """

    def __init__(self, class_weights=None):
        self.class_weights = class_weights

    def loss(self, output, batch) -> torch.Tensor:
        return classification_loss(output, batch["outcome"], batch["outcome_known"],
                                   class_weights=self.class_weights)

    def validate(self, output, batch) -> dict[str, float]:
        metrics = {"outcome": float(self.loss(output, batch))}
        known = batch["outcome_known"]
        p = torch.sigmoid(output.float())[known].cpu().numpy()
        y = batch["outcome"][known].cpu().numpy()
        if len(np.unique(y)) == 2:
            metrics["auc"] = float(roc_auc_score(y, p))
        if len(y):
            metrics["accuracy"] = float(np.mean((p > 0.5) == y))
        return metrics


def _cindex(risk: torch.Tensor, batch: dict) -> dict[str, float]:
    known = batch["outcome_known"].cpu().numpy()
    event = batch["event"].cpu().numpy().astype(bool)[known]
    if not event.any() or known.sum() < 2:
        return {}
    try:
        value = concordance_index_censored(event, batch["outcome"].cpu().numpy()[known],
                                           risk.detach().float().cpu().numpy()[known])[0]
    except ValueError:  # no comparable pair
        return {}
    return {"cindex": float(value)}


class CoxOutcome(OutcomeTask):
    """Cox proportional hazards: T4 outputs a log-risk.

    The negative partial log-likelihood (Efron or Breslow ties) of each training batch
    is computed over risk sets enlarged by a memory of the last ``memory`` detached
    risk scores (see :func:`petmtl._survival_losses.cox_ph_loss`): a batch of 2-4
    volumes alone gives too few comparisons (one volume gives none). Validation uses
    the whole validation set as one risk set, and Harrell's C-index.

    Parameters
    ----------
    ties : {"efron", "breslow"}
    memory : int
        Capacity of the risk-set memory (0: the batch alone).
    """

    def __init__(self, ties: str = "efron", memory: int = 64):
        self.ties = ties
        self.memory = RiskSetMemory(memory) if memory else None

    def _loss(self, output, batch, memory):
        return cox_ph_loss(output, batch["outcome"], batch["event"], ties=self.ties,
                           memory=memory, labelled=batch["outcome_known"])

    def loss(self, output, batch) -> torch.Tensor:
        return self._loss(output, batch, self.memory)

    def whole_set_loss(self, output, batch) -> torch.Tensor:
        return self._loss(output, batch, None)

    def after_step(self, output, batch) -> None:
        if self.memory is not None:
            self.memory.push(output, batch["outcome"], batch["event"],
                             labelled=batch["outcome_known"])

    def validate(self, output, batch) -> dict[str, float]:
        return {"outcome": float(self._loss(output, batch, None)), **_cindex(output, batch)}

    def state_dict(self) -> dict:
        return {} if self.memory is None else {"memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.memory is not None and "memory" in state:
            self.memory.load_state_dict(state["memory"])


class DiscreteTimeOutcome(OutcomeTask):
    """Logistic hazard over time bins: T4 outputs one hazard logit per bin.

    Works at any batch size (each sample's likelihood stands alone). The risk used for
    the C-index is minus the expected number of bins survived.

    Parameters
    ----------
    n_bins : int
        Number of time bins (T4 outputs).
    """

    def __init__(self, n_bins: int):
        self.n_outputs = int(n_bins)

    def loss(self, output, batch) -> torch.Tensor:
        return logistic_hazard_loss(output, batch["time_bin"], batch["event"],
                                    labelled=batch["outcome_known"])

    def validate(self, output, batch) -> dict[str, float]:
        return {"outcome": float(self.loss(output, batch)),
                **_cindex(logistic_hazard_risk(output.float()), batch)}
