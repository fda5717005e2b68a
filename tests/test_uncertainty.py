"""Split-conformal prediction sets and the spread of views (petmtl.uncertainty)."""

import math
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict, cross_validate

from petmtl.uncertainty import (
    ConformalClassifier,
    conformal_quantile,
    nonconformity_scores,
    prediction_sets,
    summarize_views,
)


# ------------------------------------------------------------- hand-computed values
def test_quantile_is_the_ceil_n_plus_one_rank_by_hand():
    scores = [0.1, 0.4, 0.2, 0.3]
    assert conformal_quantile(scores, 0.25) == 0.4  # k = ceil(5 * 0.75) = 4
    assert conformal_quantile(scores, 0.5) == 0.3   # k = ceil(2.5) = 3
    assert conformal_quantile(scores, 0.2) == 0.4   # k = 4 exactly
    assert conformal_quantile(scores, 0.1) == math.inf  # k = ceil(4.5) = 5 > n
    assert conformal_quantile([0.5, 0.5, 0.5], 0.5) == 0.5  # ties: k = 2
    # (n + 1)(1 - alpha) = 30 * 0.8 = 24 exactly, though 30 * (1 - 0.2) is 24.000000000000004
    # in floating point: the 24th smallest, not the 25th
    assert conformal_quantile(np.arange(29) / 100, 0.2) == 0.23
    assert conformal_quantile(np.arange(9) / 10, 0.1) == 0.8  # n = 9: k = 9, the largest
    assert conformal_quantile(np.arange(8) / 10, 0.1) == math.inf  # n = 8: k = 9 > 8


def test_lac_scores_and_sets_by_hand():
    proba = [[0.7, 0.3], [0.4, 0.6], [0.55, 0.45]]
    np.testing.assert_allclose(nonconformity_scores(proba, [0, 0, 1]), [0.3, 0.6, 0.55])
    np.testing.assert_array_equal(prediction_sets(proba, 0.5),
                                  [[True, False], [False, True], [True, False]])
    # a strict threshold leaves sets empty where no class reaches 1 - 0.35 = 0.65
    np.testing.assert_array_equal(prediction_sets(proba, 0.35),
                                  [[True, False], [False, False], [False, False]])
    np.testing.assert_array_equal(prediction_sets(proba, 0.65),
                                  [[True, False], [True, True], [True, True]])
    np.testing.assert_array_equal(prediction_sets(proba, math.inf), np.ones((3, 2), bool))


def test_aps_scores_and_sets_by_hand():
    proba = [[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.2, 0.6]]
    # ranked: (c0 .6, c1 .3, c2 .1), (c1 .5, c2 .4, c0 .1), (c2 .6, c0 .2, c1 .2: tie, c0 first)
    np.testing.assert_allclose(nonconformity_scores(proba, [1, 0, 1], method="aps"),
                               [0.9, 1.0, 1.0])
    np.testing.assert_allclose(nonconformity_scores(proba, [0, 1, 0], method="aps"),
                               [0.6, 0.5, 0.8])
    # up to and including the class whose running total reaches the threshold
    np.testing.assert_array_equal(prediction_sets(proba, 0.7, method="aps"),
                                  [[True, True, False], [False, True, True],
                                   [True, False, True]])
    np.testing.assert_array_equal(prediction_sets(proba, 0.5, method="aps"),
                                  [[True, False, False], [False, True, False],
                                   [False, False, True]])
    # randomised: u times the true class's probability; sets keep the classes whose
    # randomised score with the sample's own u is within the threshold
    np.testing.assert_allclose(nonconformity_scores(proba, [1, 0, 1], method="aps",
                                                    u=[0.5, 0.0, 1.0]), [0.75, 0.9, 1.0])
    np.testing.assert_array_equal(prediction_sets(proba, 0.7, method="aps", u=[0.5, 0.5, 0.0]),
                                  [[True, False, False], [False, True, True],
                                   [True, False, True]])  # .3; .5 + .2 = .7; .6 + 0 <= .7
    np.testing.assert_array_equal(prediction_sets(proba, 0.25, method="aps",
                                                  u=[0.5, 0.5, 0.5]),
                                  [[False] * 3, [False, True, False], [False] * 3])
    # non-randomised: a class of probability 0 whose score (1.0) is within the threshold
    assert nonconformity_scores([[1.0, 0.0]], [1], method="aps")[0] == 1.0
    np.testing.assert_array_equal(prediction_sets([[1.0, 0.0]], 1.0, method="aps"),
                                  [[True, True]])


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="alpha must be in"):
        conformal_quantile([0.1], 1.0)
    with pytest.raises(ValueError, match="scores must be a non-empty 1-D"):
        conformal_quantile([], 0.1)
    with pytest.raises(ValueError, match="each row of proba must sum to 1"):
        nonconformity_scores([[0.5, 0.6]], [0])
    with pytest.raises(ValueError, match=r"labels must be 1 class indices in \[0, 2\)"):
        nonconformity_scores([[0.5, 0.5]], [2])
    with pytest.raises(ValueError, match="method must be one of"):
        prediction_sets([[0.5, 0.5]], 0.5, method="raps")
    with pytest.raises(ValueError, match="proba must be of shape"):
        prediction_sets([0.5, 0.5], 0.5)
    with pytest.raises(ValueError, match=r"u must be 1 numbers in \[0, 1\]"):
        prediction_sets([[0.5, 0.5]], 0.5, method="aps", u=[1.5])


# --------------------------------------------------------------- synthetic patients
def logistic_patients(n, seed):
    """Five covariates, outcome drawn from a logistic model (AUC about 0.8)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    p = 1 / (1 + np.exp(-(X @ [1.2, -0.8, 0.5, 0.3, 0.0] - 0.4)))
    return X, (rng.random(n) < p).astype(int)


def coverage(sets, y, classes):
    return sets[np.arange(len(y)), np.searchsorted(classes, y)].mean()


@pytest.mark.parametrize("method", ["lac", "aps"])
@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_coverage_on_held_out_patients_is_the_target(alpha, method):
    """4000 patients to fit (3000) and calibrate (1000), 20000 held out, 5 seeds.

    The coverage given one calibration set varies around 1 - alpha with an SD of about
    sqrt(alpha (1 - alpha) / n_cal) = 0.95 (alpha 0.1) to 1.3 (alpha 0.2) points, and
    the held-out binomial noise adds 0.2-0.3 points: each seed must be within +-5
    points (about 4 SD), and the mean of the 5 seeds, whose expectation is between
    1 - alpha and 1 - alpha + 1 / 1001, within +-1.5 points (about 2.6 SD).
    """
    covered = []
    for seed in range(5):
        X, y = logistic_patients(24000, seed)
        model = ConformalClassifier(LogisticRegression(), alpha=alpha, method=method,
                                    random_state=seed)
        model.fit(X[:4000], y[:4000])
        assert model.n_calibration_ == 1000
        covered.append(coverage(model.predict_set(X[4000:]), y[4000:], model.classes_))
    assert np.abs(np.array(covered) - (1 - alpha)).max() < 0.05
    assert abs(np.mean(covered) - (1 - alpha)) < 0.015


def test_a_perfectly_confident_model_gives_singletons_and_empty_lac_sets_are_possible():
    X, y = logistic_patients(3000, 0)
    model = ConformalClassifier(LogisticRegression(), alpha=0.3, random_state=0).fit(X, y)
    sets = model.predict_set(X)
    # with alpha 0.3 the threshold is below 0.5: uncertain patients get no outcome
    assert model.quantile_ < 0.5 and (sets.sum(axis=1) == 0).any()
    assert not (sets.sum(axis=1) == 2).any()
    wide = model.predict_set(X, alpha=0.05)
    assert model.quantile_ == conformal_quantile(model.conformity_scores_, 0.3)
    assert (wide.sum(axis=1) >= sets.sum(axis=1)).all() and (wide.sum(axis=1) == 2).any()


def test_randomised_aps_covers_the_target_on_three_classes():
    """2000 calibration and 8000 held-out samples of 3 classes: coverage SD about 0.75
    points. (Non-randomised APS covered 100 % here, with 2.7 of 3 classes per set.)"""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12000, 3))
    p = np.exp(3 * X) / np.exp(3 * X).sum(1, keepdims=True)
    y = (rng.random((12000, 1)) > p.cumsum(axis=1)).sum(axis=1)
    model = ConformalClassifier(LogisticRegression(), method="aps", alpha=0.1,
                                calibration_size=0.5, random_state=0).fit(X[:4000], y[:4000])
    sets = model.predict_set(X[4000:])
    assert abs(coverage(sets, y[4000:], model.classes_) - 0.9) < 0.025
    assert 1.2 < sets.sum(axis=1).mean() < 1.7
    np.testing.assert_array_equal(model.predict_set(X[4000:]), sets)  # int seed: repeatable
    fresh = ConformalClassifier(LogisticRegression(), method="aps", random_state=None)
    fresh.fit(X[:4000], y[:4000])
    assert not np.array_equal(fresh.predict_set(X[4000:]), fresh.predict_set(X[4000:]))


def test_prefit_calibrates_a_fitted_model_without_refitting_it():
    X, y = logistic_patients(3000, 3)
    inner = LogisticRegression().fit(X[:1000], y[:1000])
    coef = inner.coef_.copy()
    model = ConformalClassifier(inner, calibration="prefit").fit(X[1000:2000], y[1000:2000])
    assert model.estimator_ is inner
    np.testing.assert_array_equal(inner.coef_, coef)
    np.testing.assert_array_equal(model.calibration_index_, np.arange(1000))
    np.testing.assert_allclose(np.sort(model.conformity_scores_), np.sort(
        1 - inner.predict_proba(X[1000:2000])[np.arange(1000), y[1000:2000]]))
    with pytest.raises(ValueError, match=r"fit parameters \['sample_weight'\] would not"):
        model.fit(X[1000:2000], y[1000:2000], sample_weight=np.ones(1000))
    with pytest.raises(NotFittedError, match="needs a fitted estimator"):
        ConformalClassifier(LogisticRegression(), calibration="prefit").fit(X, y)


def test_lac_sets_match_mapie():
    mapie = pytest.importorskip("mapie.classification")
    X, y = logistic_patients(3000, 4)
    inner = LogisticRegression().fit(X[:1000], y[:1000])
    for alpha in (0.1, 0.2):
        ours = ConformalClassifier(inner, alpha=alpha, calibration="prefit")
        ours.fit(X[1000:1300], y[1000:1300])  # 301 * (1 - alpha) is not near an integer
        reference = mapie.SplitConformalClassifier(
            inner, confidence_level=1 - alpha, conformity_score="lac", prefit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference.conformalize(X[1000:1300], y[1000:1300])
            _, sets = reference.predict_set(X[1300:])
        np.testing.assert_array_equal(ours.predict_set(X[1300:]), sets[:, :, 0])


def test_too_few_calibration_samples_warn_and_give_full_sets():
    X, y = logistic_patients(40, 5)
    model = ConformalClassifier(LogisticRegression(), alpha=0.1, calibration_size=6,
                                random_state=0)
    with pytest.warns(UserWarning, match=r"6 calibration samples are too few for alpha=0.1 "
                                         r"\(at least 9"):
        model.fit(X, y)
    assert model.predict_set(X).all()


# ------------------------------------------------------- out-of-fold calibration
class FoldEnsemble(ClassifierMixin, BaseEstimator):
    """k logistic regressions on k folds, averaged; out-of-fold probabilities of the
    training samples, as a petmtl k-fold ensemble exposes them."""

    def __init__(self, n_folds=5, expose=True):
        self.n_folds = n_folds
        self.expose = expose

    def fit(self, X, y):
        folds = KFold(self.n_folds, shuffle=True, random_state=0)
        self.members_ = [LogisticRegression().fit(X[t], y[t]) for t, _ in folds.split(X)]
        self.classes_ = self.members_[0].classes_
        if self.expose:
            self.oof_proba_ = cross_val_predict(LogisticRegression(), X, y, cv=folds,
                                                method="predict_proba")[::-1]
            self.oof_index_ = np.arange(len(y))[::-1]  # any order, with its index
        return self

    def predict_proba(self, X):
        return np.mean([m.predict_proba(X) for m in self.members_], axis=0)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def test_out_of_fold_calibration_uses_every_sample_and_covers():
    X, y = logistic_patients(22000, 6)
    model = ConformalClassifier(FoldEnsemble(), calibration="oof", alpha=0.1).fit(
        X[:2000], y[:2000])
    assert model.n_calibration_ == 2000
    assert sorted(model.calibration_index_) == list(range(2000))
    assert abs(coverage(model.predict_set(X[2000:]), y[2000:], model.classes_) - 0.9) < 0.05
    with pytest.raises(ValueError, match="needs a classifier that exposes oof_proba_ and "
                                         "oof_index_.*FoldEnsemble has neither"):
        ConformalClassifier(FoldEnsemble(expose=False), calibration="oof").fit(X[:100], y[:100])


# ------------------------------------------------------------ scikit-learn's API
class NeedsMasks(ClassifierMixin, BaseEstimator):
    """A classifier whose fit needs per-sample masks that match its rows."""

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, masks=None):
        if masks is None or not np.array_equal(np.asarray(masks), 2 * X[:, 0]):
            raise AssertionError("masks missing or not split with the rows")
        self.inner_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)

    def predict(self, X):
        return self.inner_.predict(X)


def test_clone_pickle_cross_validate_and_grid_search():
    X, y = logistic_patients(400, 7)
    masks = 2 * X[:, 0]
    model = ConformalClassifier(NeedsMasks(), alpha=0.2, random_state=0)
    assert clone(model).get_params()["estimator__C"] == 1.0
    model.fit(X, y, masks=masks)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_set(X), model.predict_set(X))
    np.testing.assert_array_equal(model.predict_proba(X), model.estimator_.predict_proba(X))
    result = cross_validate(model, X, y, cv=3, params={"masks": masks})
    assert len(result["test_score"]) == 3
    search = GridSearchCV(model, {"estimator__C": [0.01, 1.0]}, cv=3).fit(X, y, masks=masks)
    assert search.best_estimator_.estimator_.C in (0.01, 1.0)
    assert search.best_estimator_.predict_set(X).shape == (400, 2)


def test_metadata_routing_sends_requested_fit_params_to_the_estimator():
    X, y = logistic_patients(400, 8)
    masks = 2 * X[:, 0]
    with sklearn.config_context(enable_metadata_routing=True):
        unrequested = ConformalClassifier(NeedsMasks(), random_state=0)
        with pytest.raises(sklearn.exceptions.UnsetMetadataPassedError, match="masks"):
            unrequested.fit(X, y, masks=masks)
        model = ConformalClassifier(NeedsMasks().set_fit_request(masks=True), random_state=0)
        model.fit(X, y, masks=masks)
        search = GridSearchCV(model, {"estimator__C": [0.01, 1.0]}, cv=3)
        search.fit(X, y, masks=masks)
        result = cross_validate(model, X, y, cv=3, params={"masks": masks})
    assert model.n_calibration_ == 100 and len(result["test_score"]) == 3


def test_passes_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(ConformalClassifier(LogisticRegression(), calibration_size=0.5,
                                            random_state=0))


def test_invalid_parameters_and_unstratifiable_splits():
    X, y = logistic_patients(40, 9)
    with pytest.raises(ValueError, match="alpha must be in"):
        ConformalClassifier(LogisticRegression(), alpha=0).fit(X, y)
    with pytest.raises(ValueError, match="calibration must be one of"):
        ConformalClassifier(LogisticRegression(), calibration="cv").fit(X, y)
    y_rare = np.zeros(40, int)
    y_rare[0] = 1
    with pytest.raises(ValueError, match=r"calibration_size=0.25 cannot split the 40 "
                                         r"samples stratified by y \(counts"):
        ConformalClassifier(LogisticRegression()).fit(X, y_rare)
    with pytest.raises(ValueError, match="got a continuous target"):
        ConformalClassifier(LogisticRegression()).fit(X, X[:, 0])


# ------------------------------------------------------------------- the spread
def test_summarize_views_by_hand():
    views = np.array([[0.2, 0.9], [0.4, 0.9], [0.3, 0.9]])  # 3 views of 2 patients
    summary = summarize_views(views, interval=0.5)
    np.testing.assert_allclose(summary.mean, [0.3, 0.9])
    np.testing.assert_allclose(summary.std, [math.sqrt(0.02 / 3), 0.0], atol=1e-15)
    np.testing.assert_allclose(summarize_views(views, ddof=1).std, [0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(summary.lower, [0.25, 0.9])  # quartiles of 0.2, 0.3, 0.4
    np.testing.assert_allclose(summary.upper, [0.35, 0.9])
    assert summary.n_views == 3
    proba = summarize_views(np.stack([np.column_stack([1 - v, v]) for v in views]))
    assert proba.mean.shape == (2, 2)
    with pytest.raises(ValueError, match="ddof=1 needs more than 1 views"):
        summarize_views(views[:1], ddof=1)
    with pytest.raises(ValueError, match=r"views must be of shape \(n_views, n_samples"):
        summarize_views([0.1, 0.2])
    with pytest.raises(ValueError, match="views must be finite"):
        summarize_views([[np.nan]])


# ---------------------------------------------------------- a petmtl estimator
@pytest.mark.slow
def test_coverage_with_a_tiny_petmtl_estimator():
    """A 2-wide, 2-deep network trained 1 epoch on 200 synthetic patients (16^3) with
    10 % unknown outcomes, calibrated on 800 others (about 720 labelled), checked on the
    about 1800 labelled of 2000 held out. The coverage given the calibration set has an
    SD of about 1.1 (alpha 0.1) to 1.5 (alpha 0.2) points, the held-out patients add 0.7
    to 0.9: +-5 points is about 3-4 SD. Masks and pathology reach the network through
    metadata routing. Measured: 0.904 and 0.807 (AUC 0.66); about 20 s on one thread."""
    import torch

    from petmtl import MultiTaskPETEstimator
    from petmtl.datasets import make_pet_cohort

    torch.set_num_threads(1)
    cohort = make_pet_cohort(3000, shape=(16, 16, 16), spacing=8.0, missing_outcome=0.1,
                             random_state=0)
    train, test = slice(0, 1000), slice(1000, None)
    network = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, batch_size=16,
                                    random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        model = ConformalClassifier(network.set_fit_request(masks=True, pathology=True),
                                    alpha=0.1, calibration_size=0.8, random_state=0)
        model.fit(cohort.X[train], cohort.y[train], masks=cohort.masks[train],
                  pathology=cohort.pathology[train])
    assert (cohort.y[train][model.calibration_index_] != -1).all()
    assert 650 < model.n_calibration_ < 800
    proba = model.predict_proba(cohort.X[test])
    known = cohort.y[test] != -1
    for alpha in (0.1, 0.2):
        sets = prediction_sets(proba, conformal_quantile(model.conformity_scores_, alpha))
        assert abs(coverage(sets[known], cohort.y[test][known], model.classes_)
                   - (1 - alpha)) < 0.05
    np.testing.assert_array_equal(model.predict_set(cohort.X[test][:50]),
                                  prediction_sets(proba[:50], model.quantile_))
