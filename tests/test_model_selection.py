import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from petmtl import MultiTaskPETEstimator
from petmtl.metrics import dice_scorer

from .conftest import TINY

SCORING = {"auc": "roc_auc", "acc": "accuracy", "dice": dice_scorer}


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.mark.slow
def test_grid_search_over_lambda_with_auc_accuracy_and_dice(blobs, routing):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY).set_fit_request(masks=True, pathology=True)
    search = GridSearchCV(est, {"lam": [0.1, 0.5, 0.9]}, scoring=SCORING, refit="auc",
                          cv=StratifiedKFold(2), error_score="raise")
    search.fit(X, y, masks=masks, pathology=pathology)
    for name in SCORING:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (3,) and np.isfinite(scores).all()
        assert ((0 <= scores) & (scores <= 1)).all()
    assert search.best_params_["lam"] in (0.1, 0.5, 0.9)
    best = search.best_estimator_
    assert best.segment(X).shape == X.shape
    assert best.predict_pathology(X).shape == (len(X),)


def test_dice_scorer_scores_the_test_fold_masks(blobs, routing):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY).set_fit_request(masks=True, pathology=True)
    est.fit(X, y, masks=masks, pathology=pathology)
    from petmtl.metrics import dice_score
    assert dice_scorer(est, X, y, masks=masks) == pytest.approx(
        dice_score(masks, est.segment(X)))


@pytest.mark.slow
def test_cross_validate_with_routing_and_partial_masks(blobs, routing):
    X, y, masks, pathology = blobs
    partial = np.array([m if i % 2 else None for i, m in enumerate(masks)], dtype=object)
    est = MultiTaskPETEstimator(**TINY).set_fit_request(masks=True, pathology=True)
    result = cross_validate(est, X, y, params={"masks": partial, "pathology": pathology},
                            scoring=SCORING, cv=StratifiedKFold(2), error_score="raise")
    assert np.isfinite(result["test_dice"]).all()
    assert np.isfinite(result["test_auc"]).all()


@pytest.mark.slow
def test_cross_validate_without_routing_slices_fit_params(blobs):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY)
    result = cross_validate(est, X, y, params={"masks": masks, "pathology": pathology},
                            scoring={"auc": "roc_auc", "acc": "accuracy"}, cv=2,
                            error_score="raise")
    assert np.isfinite(result["test_auc"]).all()


def test_dice_scorer_explains_that_it_needs_routing(blobs):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        cross_validate(est, X, y, params={"masks": masks, "pathology": pathology},
                       scoring={"dice": dice_scorer}, cv=2, error_score="raise")
