"""Segmentation and survival metrics, scikit-learn scorers and bootstrap intervals.

Outcome and pathology performance use scikit-learn's own metrics
(``roc_auc_score``, ``accuracy_score`` and the ``"roc_auc"``/``"accuracy"``
scorers); this module adds what sklearn lacks: the Dice coefficient, and a
scorer that receives the test fold's masks through metadata routing, and
percentile bootstrap confidence intervals (:func:`bootstrap_interval`,
:func:`paired_bootstrap_difference`) for reporting any of them over patients.

Survival: Harrell's C (:func:`concordance_index_censored`), Uno's IPCW C
(:func:`concordance_index_ipcw`), the cumulative/dynamic time-dependent AUC
(:func:`cumulative_dynamic_auc`), the Brier score and its integral, with the conventions
of scikit-survival (which petmtl never imports), and their scorers for model selection.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.metadata_routing import MetadataRequest

from ._bootstrap import BootstrapResult, bootstrap_interval, paired_bootstrap_difference
from ._input import check_array_masks
from .survival.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from .survival.scorers import (
    ConcordanceIndexScorer,
    ConcordanceIPCWScorer,
    CumulativeAUCScorer,
    IntegratedBrierScorer,
    concordance_index_scorer,
)

__all__ = [
    "BootstrapResult", "ConcordanceIPCWScorer", "ConcordanceIndexScorer", "CumulativeAUCScorer",
    "DiceScorer", "IntegratedBrierScorer", "bootstrap_interval", "brier_score",
    "concordance_index_censored", "concordance_index_ipcw", "concordance_index_scorer",
    "cumulative_dynamic_auc", "dice_score", "dice_scorer", "integrated_brier_score",
    "paired_bootstrap_difference",
]


def dice_score(masks_true, masks_pred, *, per_sample: bool = False,
               empty_score: float = 1.0):
    """Dice coefficient ``2|A and B| / (|A| + |B|)`` between binary masks.

    Parameters
    ----------
    masks_true : array-like of shape (n, x, y, z) or sequence
        Reference masks; a sequence may hold None for samples without a mask,
        which are left out.
    masks_pred : array-like of shape (n, x, y, z)
        Predicted binary masks (0/1 or bool). Probability maps are refused:
        threshold them first, e.g. ``proba >= 0.5`` or ``estimator.segment(X)``.
    per_sample : bool, default=False
        Return the score of every sample (NaN where the reference is missing)
        instead of the mean over annotated samples.
    empty_score : float, default=1.0
        Score when both masks are empty (the Dice formula is 0/0 there).

    Returns
    -------
    float or ndarray of shape (n,)

    Raises
    ------
    ValueError
        If ``masks_pred`` holds values other than 0 and 1 (e.g. probabilities), or
        the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 4, 4, 4)); a[0, :2] = 1
    >>> float(dice_score(a, a))
    1.0
    """
    pred = np.asarray(masks_pred)
    if pred.ndim == 3:
        pred = pred[None]
    if pred.ndim != 4:
        raise ValueError(f"masks_pred must have shape (n, x, y, z), got {pred.shape}")
    if pred.dtype != bool and not np.isin(pred, (0, 1)).all():
        values = np.unique(pred[~np.isin(pred, (0, 1))])[:3].tolist()
        raise ValueError(f"masks_pred must be binary (0/1 or bool), got other values such as "
                         f"{values}; threshold probability maps first (proba >= 0.5, or "
                         "estimator.segment(X))")
    single = isinstance(masks_true, np.ndarray) and masks_true.ndim == 3
    truth, known = check_array_masks([masks_true] if single else masks_true, len(pred),
                                     pred.shape[1:])
    pred = pred.astype(bool).reshape(len(pred), -1)
    truth = truth.astype(bool).reshape(len(truth), -1)
    overlap = np.count_nonzero(pred & truth, axis=1)
    total = np.count_nonzero(pred, axis=1) + np.count_nonzero(truth, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(total == 0, empty_score, 2.0 * overlap / np.maximum(total, 1))
    scores = np.where(known, scores, np.nan)
    if per_sample:
        return scores
    if not known.any():
        raise ValueError("masks_true has no annotated sample (all None); Dice is undefined")
    return float(np.nanmean(scores))


_ROUTING_HINT = (
    "dice_scorer needs the test fold's masks. Enable metadata routing with "
    "sklearn.set_config(enable_metadata_routing=True), request them on the estimator "
    "with est.set_fit_request(masks=True) and pass masks=... to "
    "cross_validate(params=...) or GridSearchCV.fit(...)")


class DiceScorer:
    """Scorer of an estimator's segmentation, for ``cross_validate``/``GridSearchCV``.

    Calls ``estimator.segment(X)`` and scores it with :func:`dice_score`
    against the ``masks`` routed to the scorer (samples whose mask is None are
    left out). The scorer requests ``masks`` through scikit-learn's metadata
    routing, so routing must be enabled with
    ``sklearn.set_config(enable_metadata_routing=True)``; without it the scorer
    receives no masks and raises a ValueError that says so.

    Parameters
    ----------
    threshold : float, default=0.5
        Probability threshold passed to ``estimator.segment``.
    """

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def __call__(self, estimator, X, y_true=None, masks=None, **kwargs) -> float:
        """Mean Dice of ``estimator.segment(X)`` against ``masks``."""
        if masks is None:
            raise ValueError(_ROUTING_HINT)
        return dice_score(masks, estimator.segment(X, threshold=self.threshold))

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's metadata request: ``masks`` for ``score``."""
        request = MetadataRequest(owner=self)
        request.score.add_request(param="masks", alias=True)
        return request

    def __repr__(self) -> str:
        return f"DiceScorer(threshold={self.threshold})"


dice_scorer = DiceScorer()
"""Ready-made :class:`DiceScorer` with threshold 0.5."""
