"""Ensembles by a parameter: k-fold members, weight averaging, test-time flips, spread."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from petmtl import MultiTaskPETEstimator, MultiTaskPETSurvival
from petmtl.survival import make_survival_y

from .conftest import make_blob_volumes

SMALL = dict(base_width=2, depth=2, batch_size=4, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_blob_volumes(n_samples=18, size=12, seed=2)


def fit(data, cls=MultiTaskPETEstimator, y=None, **params):
    X, labels, masks, pathology = data
    return cls(**{**SMALL, **params}).fit(X, labels if y is None else y, masks=masks,
                                         pathology=pathology)


@pytest.fixture(scope="module")
def ensemble(data):
    return fit(data, n_members=3)


def test_members_train_on_the_other_folds_and_predict_their_own(data, ensemble):
    X, y, _, _ = data
    assert len(ensemble.members_) == 3 and ensemble.module_ is ensemble.members_[0]
    assert len(ensemble.member_histories_) == 3
    # every labelled patient is predicted once, by the member that held it out
    np.testing.assert_array_equal(ensemble.oof_index_, np.arange(len(X)))
    assert ensemble.oof_proba_.shape == (len(X), 2)
    single = [fit(data)]
    assert ensemble.transform(X).shape[1] == 3 * single[0].transform(X).shape[1]
    # the ensemble's probability is the mean of its members' probabilities
    members = []
    for member in ensemble.members_:
        alone = pickle.loads(pickle.dumps(ensemble))
        alone.members_, alone.module_, alone.n_members = [member], member, 1
        members.append(alone.predict_proba(X)[:, 1])
    np.testing.assert_allclose(ensemble.predict_proba(X)[:, 1], np.mean(members, axis=0),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_an_ensemble_is_one_estimator(data, ensemble, tmp_path):
    X = data[0]
    expected = ensemble.predict_proba(X)
    loaded = MultiTaskPETEstimator.load(ensemble.save(tmp_path / "ensemble.pt"))
    assert len(loaded.members_) == 3
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    from petmtl import serialization  # the module-level writer stores every member too

    again = serialization.load(serialization.save(ensemble, tmp_path / "module-level.pt"))
    np.testing.assert_array_equal(again.predict_proba(X), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ensemble)).predict_proba(X),
                                  expected)
    assert clone(ensemble).get_params()["n_members"] == 3
    np.testing.assert_array_equal(fit(data, n_members=3).predict_proba(X), expected)


def test_a_member_that_disagrees_shows_in_the_spread(data, ensemble):
    X = data[0]
    _, before = ensemble.predict_proba(X, return_std=True)
    perturbed = pickle.loads(pickle.dumps(ensemble))
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in perturbed.members_[1].parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
        weight = perturbed.members_[1].outcome.linear_weight
        weight.add_(torch.randn_like(weight) * 2.0)
    _, after = perturbed.predict_proba(X, return_std=True)
    assert after.mean() > before.mean() + 0.05, (before.mean(), after.mean())
    single_std = fit(data).predict_proba(X, return_std=True)[1]
    assert np.all(single_std == 0.0)  # one network, no flips: nothing to disagree


def test_test_time_flips_average_the_mirrored_predictions(data):
    X = data[0]
    plain = fit(data)
    flipped = pickle.loads(pickle.dumps(plain)).set_params(tta=True)
    mirrored = plain.predict_proba(X[:, ::-1].copy())[:, 1]
    expected = (plain.predict_proba(X)[:, 1] + mirrored) / 2
    proba, std = flipped.predict_proba(X, return_std=True)
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(std, np.abs(plain.predict_proba(X)[:, 1] - mirrored) / 2,
                               rtol=1e-5, atol=1e-9)
    seg = flipped.segment_proba(X)
    np.testing.assert_allclose(
        seg, (plain.segment_proba(X) + plain.segment_proba(X[:, ::-1].copy())[:, ::-1]) / 2,
        rtol=1e-5, atol=1e-6)
    path = (plain.predict_pathology_proba(X) +
            plain.predict_pathology_proba(X[:, ::-1].copy())) / 2
    np.testing.assert_allclose(flipped.predict_pathology_proba(X), path, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_weight_averaging_keeps_the_average_and_resumes_bit_identically(data, tmp_path,
                                                                        monkeypatch):
    from petmtl.exceptions import TrainingInterruptedWarning
    from petmtl.network import MultiTaskWNet

    params = dict(max_epochs=4, early_stopping=False)
    plain = fit(data, **params)
    averaged = fit(data, **params, weight_averaging="ema")
    differs = [not torch.equal(a, b) for a, b in zip(
        plain.module_.state_dict().values(), averaged.module_.state_dict().values(),
        strict=True) if a.is_floating_point()]
    assert any(differs)
    original, calls = MultiTaskWNet.forward, {"n": 0}

    def interrupt_in_epoch_3(self, x, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == 2 * 5 + 2:  # 18 patients: 5 batches per epoch
                raise KeyboardInterrupt
        return original(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", interrupt_in_epoch_3)
    path = tmp_path / "ema.ckpt"
    with pytest.warns(TrainingInterruptedWarning):
        fit(data, **params, weight_averaging="ema", checkpoint_path=path)
    monkeypatch.undo()
    resumed = fit(data, **params, weight_averaging="ema", resume=path)
    for (name, a), b in zip(averaged.module_.state_dict().items(),
                            resumed.module_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("loss", ["cox", "logistic_hazard"])
@pytest.mark.slow
def test_survival_ensembles_and_flips(data, loss):
    X, y, _, _ = data
    rng = np.random.default_rng(0)
    surv = make_survival_y(rng.random(len(y)) < 0.8, np.where(y == 1, 5.0, 20.0)
                           + rng.random(len(y)))
    est = fit(data, MultiTaskPETSurvival, y=surv, n_members=2, tta=True, loss=loss,
              n_time_bins=3)
    risk, std = est.predict(X, return_std=True)
    assert risk.shape == std.shape == (len(X),) and np.all(std > 0)
    assert est.oof_risk_.shape == (len(X),)
    survival = est.predict_survival_function(X, return_array=True)
    assert np.all(np.diff(survival, axis=1) <= 1e-12)
    np.testing.assert_allclose(est.predict(X), risk)


@pytest.mark.parametrize(("params", "match"), [
    (dict(n_members=3, checkpoint_path="c.pt"), "cannot be combined"),
    (dict(n_members=0), "n_members"),
    (dict(tta=(3,)), "tta"),
    (dict(weight_averaging="swa"), "weight_averaging"),
    (dict(n_members=10), "n_members=10 is more than the"),
])
def test_ensemble_parameters_are_checked(data, params, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=match):
        fit(data, **params)


def test_a_refit_keeps_nothing_of_the_previous_ensemble(data, ensemble):
    again = pickle.loads(pickle.dumps(ensemble)).set_params(n_members=1, refit_outcome=False,
                                                             max_epochs=1)
    again.fit(data[0], data[1], masks=data[2], pathology=data[3])
    assert len(again.members_) == 1
    for stale in ("oof_proba_", "oof_index_", "member_histories_", "outcome_refit_"):
        assert not hasattr(again, stale), stale


@pytest.mark.slow
def test_a_few_unknown_outcomes_are_spread_over_the_members_folds(data):
    y = data[1].copy()
    y[[0, 5]] = -1  # two patients without an outcome, fewer than the members
    est = fit(data, y=y, n_members=3, max_epochs=1)
    assert len(est.members_) == 3
    np.testing.assert_array_equal(est.oof_index_, np.setdiff1d(np.arange(len(y)), [0, 5]))


def test_the_spread_leaves_confident_probabilities_as_they_are(data, ensemble):
    confident = pickle.loads(pickle.dumps(ensemble))
    confident.members_ = confident.members_[:1]  # one network: one view
    confident.n_members = 1
    with torch.no_grad():  # logits beyond 27.6, where the probability rounds to 1 - 1e-12
        confident.module_.outcome.linear_bias.fill_(40.0)
    proba = confident.predict_proba(data[0])
    np.testing.assert_array_equal(confident.predict_proba(data[0], return_std=True)[0], proba)
