"""The training data of a fit, checked: volumes, masks and every task's targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._labels import check_labels
from .masks import check_masks


@dataclass
class FitData:
    """Checked training data.

    Attributes
    ----------
    volumes : ndarray of shape (n, D, H, W) or PathVolumes
    masks : ndarray or None
        uint8 masks (arrays) or mask paths (files), None without the segmentation task.
    mask_known : ndarray of bool or None
    targets : dict of str to (values, known)
        Per-task label arrays for the loss (unknown entries 0) and their flags.
    strata : dict of str to ndarray
        Class codes (-1 unknown) that a validation split may preserve.
    attributes : dict
        Fitted attributes derived from the labels (``classes_``, ``pathology_classes_``).
    """

    volumes: object
    masks: np.ndarray | None
    mask_known: np.ndarray | None
    targets: dict
    strata: dict
    attributes: dict


def check_fit_data(volumes, outcome: tuple[dict, dict, dict], *, masks, pathology,
                   tasks: tuple[str, ...]) -> FitData:
    """Check the auxiliary labels of the enabled ``tasks`` beside a checked outcome.

    Parameters
    ----------
    volumes : ndarray or PathVolumes
        Checked volumes.
    outcome : tuple of (attributes, targets, strata)
        The estimator's reading of ``y``.
    masks, pathology
        As passed to ``fit``; required when their task is enabled.
    tasks : tuple of str
        Enabled auxiliary tasks.

    Returns
    -------
    FitData
    """
    outcome_attributes, targets, strata = outcome
    attributes = {**outcome_attributes, "pathology_classes_": None}
    targets, strata = dict(targets), dict(strata)
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
    return FitData(volumes, mask_array, mask_known, targets, strata, attributes)
