"""Loss terms of the four tasks and their weighted sum (paper section 3.1.7).

Every term takes a boolean ``labelled`` vector marking the samples of the batch
that carry a label for that task (partly annotated cohorts are the norm); a
task with no labelled sample in the batch contributes an exact zero (with a
gradient graph attached), never NaN.

The outcome (T4) is an :class:`OutcomeTask`: its loss, what it remembers between
batches and how a whole validation set is scored. :class:`BinaryOutcome` is the
paper's binary outcome; the survival tasks are in :mod:`petmtl.survival.losses`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

TASKS = ("reconstruction", "segmentation", "pathology", "outcome")
AUXILIARY_TASKS = TASKS[:3]


def task_weights(lam: float, enabled: tuple[str, ...]) -> dict[str, float]:
    """Weights of the multi-task loss as a function of lambda.

    The paper sets ``alpha = beta`` and ``omega = 1 - (lambda + 2 * alpha)``,
    which leaves one degree of freedom; petmtl resolves it by sharing the
    remaining ``1 - lambda`` *equally* among the enabled auxiliary tasks. With
    all four tasks, ``alpha = beta = omega = (1 - lambda) / 3`` (0.2333 each for
    the default ``lambda = 0.3``); with T2 alone beside T4, ``beta = 1 - lambda``;
    with no auxiliary task the outcome weight is 1. Disabled tasks get 0.

    Parameters
    ----------
    lam : float
        Weight of the outcome-prediction loss, in [0, 1].
    enabled : tuple of str
        Enabled auxiliary tasks, among ``"reconstruction"``, ``"segmentation"``,
        ``"pathology"``.

    Returns
    -------
    dict
        Weight of each of the four tasks; the weights sum to 1.
    """
    aux = [t for t in AUXILIARY_TASKS if t in enabled]
    weights = dict.fromkeys(TASKS, 0.0)
    if not aux:
        weights["outcome"] = 1.0
        return weights
    weights["outcome"] = float(lam)
    for task in aux:
        weights[task] = (1.0 - lam) / len(aux)
    return weights


def _zero(reference: torch.Tensor) -> torch.Tensor:
    return reference.sum() * 0.0


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the reconstruction and the input (equation 1)."""
    return F.mse_loss(prediction.float(), target.float())


def soft_dice(probability: torch.Tensor, target: torch.Tensor,
              smooth: float = 1.0) -> torch.Tensor:
    """Per-sample soft Dice coefficient (equation 2).

    Parameters
    ----------
    probability, target : torch.Tensor of shape (n, ...)
        Predicted probabilities and binary masks.
    smooth : float
        The smoothing epsilon; two empty masks score exactly 1.

    Returns
    -------
    torch.Tensor of shape (n,)
    """
    p = probability.float().flatten(1)
    t = target.float().flatten(1)
    return (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor, labelled: torch.Tensor,
                      smooth: float = 1.0, bce_weight: float = 0.0) -> torch.Tensor:
    """Soft Dice loss ``1 - dice`` over the labelled samples (equation 3).

    The paper minimises ``-dice``; ``1 - dice`` has the same gradient and stays
    in [0, 1], on the scale of the other terms. ``bce_weight > 0`` adds a
    voxel-wise binary cross-entropy, which gives useful gradients early in
    training when the predicted tumour is still empty.
    """
    if not labelled.any():
        return _zero(logits)
    logits, masks = logits[labelled], masks[labelled]
    loss = (1.0 - soft_dice(torch.sigmoid(logits.float()), masks, smooth)).mean()
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits.float(),
                                                                      masks.float())
    return loss


def classification_loss(logits: torch.Tensor, labels: torch.Tensor,
                        labelled: torch.Tensor, *, class_weights=None) -> torch.Tensor:
    """Cross-entropy over the labelled samples (equations 5-7).

    ``logits`` of shape (n,) or (n, 1) use binary cross-entropy (the paper's
    setting); (n, k) with ``k > 1`` the multinomial cross-entropy. ``class_weights``
    (one weight per class, e.g. scikit-learn's "balanced" ``n / (k * n_class)``, whose
    average over the training samples is 1) weighs each sample's term; the mean is
    taken over the labelled samples, so the mean of equal-sized shares of a batch is
    the batch's loss. Computed in float32 for half-precision logits, in float64 for
    float64 logits.
    """
    if not labelled.any():
        return _zero(logits)
    logits, labels = logits[labelled], labels[labelled]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if logits.ndim == 1 or logits.shape[1] == 1:
        losses = F.binary_cross_entropy_with_logits(logits.reshape(-1), labels.to(logits.dtype),
                                                    reduction="none")
    else:
        losses = F.cross_entropy(logits, labels.long(), reduction="none")
    if class_weights is not None:
        losses = losses * torch.as_tensor(class_weights, dtype=losses.dtype,
                                          device=losses.device)[labels.long()]
    return losses.mean()


def multitask_loss(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor],
                   weights: Mapping[str, float], *, dice_smooth: float = 1.0,
                   seg_bce_weight: float = 0.0,
                   outcome_loss: Callable[[torch.Tensor, Mapping], torch.Tensor] | None = None,
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """``alpha*Lrecon + beta*Lseg + omega*Lclass + lambda*Lpredict`` (equation 8).

    Parameters
    ----------
    outputs : mapping
        The network's outputs (see :class:`petmtl.network.MultiTaskWNet`).
    batch : mapping
        ``"image"`` (n, 1, x, y, z); ``"mask"``, ``"mask_known"``,
        ``"pathology"``, ``"pathology_known"``, ``"outcome"``, ``"outcome_known"``.
    weights : mapping
        Weight of each task (see :func:`task_weights`); a task absent from
        ``outputs`` or with weight 0 contributes nothing.
    dice_smooth, seg_bce_weight : float
        See :func:`segmentation_loss`.
    outcome_loss : callable, optional
        ``outcome_loss(outputs["outcome"], batch)`` replaces the binary cross-entropy of
        the outcome (e.g. a class-weighted or a survival loss).

    Returns
    -------
    total : torch.Tensor
        The weighted sum, a scalar with a gradient.
    terms : dict of str to float
        Each unweighted term, for logging.
    """
    terms: dict[str, torch.Tensor] = {}
    if "reconstruction" in outputs:
        terms["reconstruction"] = reconstruction_loss(outputs["reconstruction"], batch["image"])
    if "segmentation" in outputs:
        terms["segmentation"] = segmentation_loss(
            outputs["segmentation"], batch["mask"], batch["mask_known"], dice_smooth,
            seg_bce_weight)
    if "pathology" in outputs:
        terms["pathology"] = classification_loss(
            outputs["pathology"], batch["pathology"], batch["pathology_known"])
    if outcome_loss is None:
        terms["outcome"] = classification_loss(outputs["outcome"], batch["outcome"],
                                               batch["outcome_known"])
    else:
        terms["outcome"] = outcome_loss(outputs["outcome"], batch)
    total = sum(weights.get(name, 0.0) * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}


class OutcomeTask:
    """What T4 predicts and how it is trained and scored (the base of the outcome tasks).

    The training loop turns T4's output and a batch's targets into the outcome loss
    (:meth:`loss`), lets the task remember what later batches need (:meth:`after_step`,
    e.g. the Cox risk-set memory) and scores a whole validation set at once
    (:meth:`validate`). Every batch carries ``"outcome"`` (the class index, or the time
    for survival) and ``"outcome_known"`` (labelled samples).

    Attributes
    ----------
    n_outputs : int
        T4's outputs per sample.
    score_name : str
        The validation score (higher is better) that :meth:`validate` returns beside the
        loss, and that ``early_stopping_score`` may name.
    """

    n_outputs = 1
    score_name = "auc"

    def loss(self, output: torch.Tensor, batch: Mapping) -> torch.Tensor:
        """The outcome loss of a training batch."""
        raise NotImplementedError

    def after_step(self, output: torch.Tensor, batch: Mapping) -> None:
        """Remember what later batches need (called after each optimizer step)."""

    def validate(self, output: torch.Tensor, batch: Mapping) -> dict[str, float]:
        """Loss (``"outcome"``) and scores over a whole validation set (concatenated)."""
        raise NotImplementedError

    def whole_set_loss(self, output: torch.Tensor, batch: Mapping) -> torch.Tensor:
        """The outcome loss of a whole set at once (no memory of earlier batches)."""
        return self.loss(output, batch)

    def state_dict(self) -> dict:
        """What a checkpoint must keep to resume bit-identically (plain tensors)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class BinaryOutcome(OutcomeTask):
    """Binary outcome: cross-entropy of a logit; AUC and accuracy for validation.

    Parameters
    ----------
    class_weights : pair of float, optional
        Weight of class 0 and class 1 (see :func:`classification_loss`).
    """

    def __init__(self, class_weights=None):
        self.class_weights = class_weights

    def loss(self, output, batch) -> torch.Tensor:
        return classification_loss(output, batch["outcome"], batch["outcome_known"],
                                   class_weights=self.class_weights)

    def validate(self, output, batch) -> dict[str, float]:
        metrics = {"outcome": float(self.loss(output, batch))}
        known = batch["outcome_known"]
        p = torch.sigmoid(output.float())[known].cpu().numpy().reshape(-1)
        y = batch["outcome"][known].cpu().numpy()
        if len(np.unique(y)) == 2:
            metrics["auc"] = float(roc_auc_score(y, p))
        if len(y):
            metrics["accuracy"] = float(np.mean((p > 0.5) == y))
        return metrics
