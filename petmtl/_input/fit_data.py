"""The training data of a fit, checked: volumes, masks and every task's targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._labels import check_labels
from .masks import check_masks


@dataclass(frozen=True)
class OutcomeData:
    """What an estimator reads from its ``y``: the one thing a concrete estimator adds.

    Attributes
    ----------
    targets : dict of str to (values, known)
        Per-sample arrays that the outcome task reads from each batch (``"outcome"``,
        and e.g. ``"event"``, ``"time_bin"``), unknown entries 0, with their flags.
    strata : ndarray of int
        Per-sample class (-1 unknown) that the validation split and the refit's folds
        keep balanced: the outcome class, or the event indicator.
    make_task : callable
        ``make_task(train_index)`` -> the :class:`~petmtl.losses.OutcomeTask` trained on
        those samples (class weights are counted on them).
    attributes : dict
        Fitted attributes learnt from ``y`` (``classes_``, ``survival_train_``, ...),
        including ``n_outcome_outputs_``, T4's outputs per sample.
    """

    targets: dict
    strata: np.ndarray
    make_task: Callable
    attributes: dict = field(default_factory=dict)


@dataclass
class FitData:
    """Checked training data.

    Attributes
    ----------
    volumes : ndarray of shape (n, x, y, z) or PathVolumes
    masks : ndarray or None
        uint8 masks (arrays) or mask paths (files), None without the segmentation task.
    mask_known : ndarray of bool or None
    targets : dict of str to (values, known)
        Per-task label arrays for the loss (unknown entries 0) and their flags.
    strata : dict of str to ndarray
        Class codes (-1 unknown) that a validation split may preserve.
    attributes : dict
        Fitted attributes derived from the labels (the outcome's and
        ``pathology_classes_``).
    clinical : ndarray of shape (n, k) or None
        Preprocessed clinical covariates.
    """

    volumes: object
    masks: np.ndarray | None
    mask_known: np.ndarray | None
    targets: dict
    strata: dict
    attributes: dict
    clinical: np.ndarray | None = None


def check_fit_data(volumes, outcome: OutcomeData, *, masks, pathology,
                   tasks: tuple[str, ...], clinical: np.ndarray | None = None) -> FitData:
    """Check the auxiliary labels of the enabled ``tasks`` beside a checked outcome.

    Parameters
    ----------
    volumes : ndarray or PathVolumes
        Checked volumes.
    outcome : OutcomeData
        The estimator's reading of ``y``.
    masks, pathology
        As passed to ``fit``; required when their task is enabled.
    tasks : tuple of str
        Enabled auxiliary tasks.
    clinical : ndarray of shape (n, k), optional
        Preprocessed clinical covariates (one row per volume).

    Returns
    -------
    FitData
    """
    attributes = {**outcome.attributes, "pathology_classes_": None}
    targets, strata = dict(outcome.targets), {"outcome": outcome.strata}
    mask_array = mask_known = None
    if "segmentation" in tasks:
        if masks is None:
            raise ValueError("masks=None but the 'segmentation' task is enabled; pass "
                             "masks (None entries for unannotated samples) or remove "
                             "'segmentation' from tasks")
        mask_array, mask_known = check_masks(volumes, masks)
    if "pathology" in tasks:
        if pathology is None:
            raise ValueError("pathology=None but the 'pathology' task is enabled; pass "
                             "pathology labels (None/-1 for unknown) or remove "
                             "'pathology' from tasks")
        classes, codes = check_labels(pathology, len(volumes), "pathology", binary=False)
        if len(classes) < 2:
            raise ValueError("pathology must contain at least two known classes; got "
                             f"{classes.tolist()}")
        attributes["pathology_classes_"] = classes
        targets["pathology"] = (np.maximum(codes, 0), codes >= 0)
        strata["pathology"] = codes
    return FitData(volumes, mask_array, mask_known, targets, strata, attributes, clinical)
