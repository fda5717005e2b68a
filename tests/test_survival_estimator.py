"""MultiTaskPETSurvival: survival outcomes through the multi-task W-Net."""

import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from petmtl import MultiTaskPETSurvival
from petmtl.metrics import concordance_index_censored, concordance_index_scorer
from petmtl.survival import StepFunction, kaplan_meier, make_survival_y

from .conftest import TINY, make_blob_volumes


def blob_survival(n=16, seed=0, unknown=()):
    """Blob volumes whose bright tumours die early: time = 5 (bright) or 20 (dim) + noise."""
    X, y, masks, pathology = make_blob_volumes(n_samples=n, size=16, seed=seed)
    rng = np.random.default_rng(seed)
    time = np.where(y == 1, 5.0, 20.0) + rng.uniform(0, 3, n)
    event = rng.random(n) < 0.75
    event[:2] = True
    time[list(unknown)] = np.nan
    return X, make_survival_y(event, time), masks, pathology


@pytest.fixture(scope="module")
def data():
    return blob_survival(unknown=(3,))


@pytest.fixture(scope="module", params=["cox", "logistic_hazard"])
def fitted(request, data):
    X, y, masks, pathology = data
    est = MultiTaskPETSurvival(**{**TINY, "max_epochs": 3}, loss=request.param,
                               n_time_bins=4)
    return est.fit(X, y, masks=masks, pathology=pathology)


def test_methods_return_the_documented_forms(fitted, data):
    X, y, _, _ = data
    risk = fitted.predict(X)
    assert risk.shape == (len(X),) and np.isfinite(risk).all()
    survival = fitted.predict_survival_function(X[:3], return_array=True)
    assert survival.shape == (3, len(fitted.unique_times_))
    assert np.all(np.diff(survival, axis=1) <= 1e-12) and np.all((0 <= survival) & (survival <= 1))
    functions = fitted.predict_survival_function(X[:3])
    np.testing.assert_allclose(functions[0](fitted.unique_times_), survival[0])
    assert functions[0](0.0) == 1.0
    hazard = fitted.predict_cumulative_hazard_function(X[:3], return_array=True)
    assert hazard.shape == survival.shape and np.all(np.diff(hazard, axis=1) >= -1e-12)
    assert fitted.score(X, y) == pytest.approx(concordance_index_censored(
        y["event"][~np.isnan(y["time"])], y["time"][~np.isnan(y["time"])],
        risk[~np.isnan(y["time"])])[0])
    assert len(fitted.survival_train_) == len(X) - 1  # the unknown outcome is left out
    assert fitted.segment(X[:2]).shape == X[:2].shape
    assert fitted.predict_pathology(X[:2]).shape == (2,)
    assert fitted.transform(X[:2]).ndim == 2


def test_mean_predicted_survival_follows_kaplan_meier_on_the_training_cohort(fitted, data):
    """Calibration in the large: Breslow's baseline (Cox) or the fitted hazards (logistic
    hazard) make the cohort's mean predicted survival follow its Kaplan-Meier curve."""
    X, y, _, _ = data
    known = ~np.isnan(y["time"])
    km = StepFunction(*kaplan_meier(y["event"][known], y["time"][known]), initial=1.0)
    times = fitted.unique_times_  # event times (Cox), the ends of the time bins (hazard)
    mean = np.mean([f(times) for f in fitted.predict_survival_function(X[known])], axis=0)
    # 0.15 catches a swapped event/time or a baseline fitted on other risks (0.4 and more)
    assert np.max(np.abs(mean - km(times))) < 0.15, np.c_[times, km(times), mean]


def test_fitted_attributes_have_scikit_survival_names(fitted, data, tmp_path):
    X, y, _, _ = data
    events = np.unique(y["time"][y["event"]])
    np.testing.assert_array_equal(fitted.event_times_, events)
    if fitted.loss == "cox":
        np.testing.assert_array_equal(fitted.unique_times_, events)
        baseline = fitted.cum_baseline_hazard_
        assert isinstance(baseline, StepFunction) and baseline.initial == 0.0
        np.testing.assert_allclose(fitted.baseline_survival_(events), np.exp(-baseline(events)))
        with pytest.warns(FutureWarning, match="cum_baseline_hazard_"):
            np.testing.assert_array_equal(fitted.baseline_cumulative_hazard_, baseline.y)
        loaded = MultiTaskPETSurvival.load(fitted.save(tmp_path / "cox.pt"))
        assert isinstance(loaded.cum_baseline_hazard_, StepFunction)
        np.testing.assert_array_equal(loaded.cum_baseline_hazard_.y, baseline.y)
    else:
        assert fitted.cum_baseline_hazard_ is None
        np.testing.assert_array_equal(fitted.unique_times_, fitted.time_bins_[1:])


def test_unknown_outcomes_train_without_nan(fitted):
    for record in fitted.history_:
        assert all(np.isfinite(v) for v in record.values())


@pytest.mark.slow
def test_a_visible_risk_is_learnt(data):
    X, y, masks, _ = blob_survival(n=24, seed=1)
    est = MultiTaskPETSurvival(tasks=("segmentation",), outcome_features="global",
                               base_width=4, depth=2, max_epochs=15, learning_rate=1e-2,
                               early_stopping=False, random_state=0)
    est.fit(X, y, masks=masks)
    X_test, y_test, _, _ = blob_survival(n=24, seed=2)
    bright = make_blob_volumes(n_samples=24, size=16, seed=2)[1] == 1  # the early deaths
    risk = est.predict(X_test)
    assert risk[bright].min() > risk[~bright].max()  # every early death ranked first
    # within a group the times are noise, so about 0.76 is the best C-index possible
    assert est.score(X_test, y_test) > 0.7


@pytest.mark.parametrize(("y", "error", "match"), [
    (np.arange(16.0), ValueError, "y must be a structured array"),
    (None, ValueError, "requires y to be passed"),
    (np.array([(False, 1.0)] * 16, dtype=[("event", "?"), ("time", "<f8")]), ValueError,
     "no event"),
])
def test_bad_targets_are_named(data, y, error, match):
    X, _, masks, pathology = data
    with pytest.raises(error, match=match):
        MultiTaskPETSurvival(**TINY).fit(X, y, masks=masks, pathology=pathology)


def test_negative_times_are_refused():
    with pytest.raises(ValueError, match="time"):
        make_survival_y([True, False], [1.0, -2.0])


def test_a_batch_of_one_learns_only_with_the_risk_set_memory(data):
    """Regression guard for the small-batch Cox problem: a batch of 1 has no risk set."""
    X, y, _, _ = data
    losses = {}
    for memory in (0, 8):
        est = MultiTaskPETSurvival(tasks=(), outcome_features="global", base_width=2, depth=2,
                                   norm="instance", batch_size=1, max_epochs=1,
                                   risk_set_memory=memory, early_stopping=False,
                                   refit_outcome=False, random_state=0)
        losses[memory] = est.fit(X, y).history_[0]["train_outcome"]
    assert losses[0] == 0.0 and losses[8] > 0.0


def test_model_files_pickles_and_clones_predict_identically(fitted, data, tmp_path):
    X = data[0]
    expected = fitted.predict_survival_function(X, return_array=True)
    loaded = MultiTaskPETSurvival.load(fitted.save(tmp_path / "s.pt"))
    np.testing.assert_array_equal(loaded.predict_survival_function(X, return_array=True),
                                  expected)
    np.testing.assert_array_equal(loaded.survival_train_, fitted.survival_train_)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    assert clone(fitted).get_params() == fitted.get_params()


@pytest.mark.slow
def test_resumed_cox_run_is_bit_identical(data, tmp_path, monkeypatch):
    from petmtl.exceptions import TrainingInterruptedWarning
    from petmtl.network import MultiTaskWNet

    X, y, masks, pathology = data
    params = dict(TINY, max_epochs=4, early_stopping=False)
    reference = MultiTaskPETSurvival(**params).fit(X, y, masks=masks, pathology=pathology)
    original, calls = MultiTaskWNet.forward, {"n": 0}

    def interrupt_in_epoch_3(self, x, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == 2 * 4 + 2:  # 16 samples, batches of 4
                raise KeyboardInterrupt
        return original(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", interrupt_in_epoch_3)
    path = tmp_path / "run.ckpt"
    with pytest.warns(TrainingInterruptedWarning):
        MultiTaskPETSurvival(**params, checkpoint_path=path).fit(X, y, masks=masks,
                                                                  pathology=pathology)
    monkeypatch.undo()
    resumed = MultiTaskPETSurvival(**params, resume=path).fit(X, y, masks=masks,
                                                              pathology=pathology)
    for (name, a), b in zip(reference.module_.state_dict().items(),
                            resumed.module_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))


@pytest.mark.slow
def test_grid_search_over_lambda_and_loss_with_routed_masks(data):
    X, y, masks, pathology = data
    est = MultiTaskPETSurvival(**{**TINY, "max_epochs": 1}, n_time_bins=3)
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_fit_request(masks=True, pathology=True)
        search = GridSearchCV(est, {"lam": [0.3, 0.7], "loss": ["cox", "logistic_hazard"]},
                              scoring=concordance_index_scorer, cv=KFold(2, shuffle=True,
                                                                         random_state=0))
        search.fit(X, y, masks=masks, pathology=pathology)
    assert set(search.best_params_) == {"lam", "loss"}
    scores = cross_val_score(MultiTaskPETSurvival(**{**TINY, "max_epochs": 1}, tasks=(),
                                                  outcome_features="global"), X, y,
                             cv=KFold(2, shuffle=True, random_state=0))
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))


def test_path_input(data, tmp_path):
    from .test_path_input import PATHS, write_cohort

    X, y, masks, pathology = data
    pets, mask_paths = write_cohort(tmp_path, X, masks)
    est = MultiTaskPETSurvival(**PATHS).fit(pets, y, masks=mask_paths, pathology=pathology)
    assert est.predict(pets).shape == (len(pets),)
    assert len(est.predict_survival_function(pets[:2])) == 2
