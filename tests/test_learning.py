"""The estimator learns: held-out AUC and Dice on a problem where both are visible."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from petmtl import MultiTaskPETEstimator
from petmtl.metrics import dice_score

from .conftest import make_blob_volumes

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes


def test_learns_outcome_and_segmentation_on_held_out_volumes():
    X, y, masks, pathology = make_blob_volumes(n_samples=72, size=16, seed=1)
    train, test = slice(0, 48), slice(48, None)
    est = MultiTaskPETEstimator(base_width=4, depth=3, max_epochs=25, random_state=0)
    est.fit(X[train], y[train], masks=masks[train], pathology=pathology[train])
    auc = roc_auc_score(y[test], est.predict_proba(X[test])[:, 1])
    dice = dice_score(masks[test], est.segment(X[test]))
    assert auc >= 0.9, auc
    assert dice >= 0.7, dice
    assert np.mean(est.predict(X[test]) == y[test]) >= 0.8


@pytest.mark.parametrize("axis", [2, 1], ids=["inferior-superior", "posterior-anterior"])
def test_pathology_defined_by_location_is_learnt(axis):
    """Regression: flips along every axis made "upper" and "lower" the same picture.

    The blob's half decides the pathology along axis 2 (inferior-superior) or axis 1
    (posterior-anterior) of RAS+ volumes, the documented orientation of array input; the
    default augmentation only mirrors left and right (axis 0). Measured with 14 epochs:
    held-out accuracy 0.96-1.0 for random_state 0, 1 and 2 on both axes.
    """
    X, y, masks, pathology = make_blob_volumes(n_samples=72, size=16, seed=2, axis=axis)
    train, test = slice(0, 48), slice(48, None)
    est = MultiTaskPETEstimator(base_width=4, depth=3, max_epochs=14, random_state=0)
    est.fit(X[train], y[train], masks=masks[train], pathology=pathology[train])
    assert np.mean(est.predict_pathology(X[test]) == pathology[test]) >= 0.9
