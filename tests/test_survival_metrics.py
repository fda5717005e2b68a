"""Survival metrics: hand-computed values, lifelines/scikit-survival agreement, scorers."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.metadata_routing import MetadataRequest

from petmtl.metrics import (
    ConcordanceIPCWScorer,
    CumulativeAUCScorer,
    IntegratedBrierScorer,
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    concordance_index_scorer,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from petmtl.survival import BreslowEstimator, check_survival_y, cox_ph_loss, make_survival_y

NO_CENSORING = make_survival_y([True] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])  # G(t) = 1 throughout


def _cohort(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    risk = X @ np.array([1.0, -0.5])
    event_time = rng.exponential(np.exp(-risk))
    censor_time = rng.exponential(1.5, n)
    time = np.round(np.minimum(event_time, censor_time), 1) + 0.1  # rounding makes ties
    return X, make_survival_y(event_time <= censor_time, time), risk


# --- hand-computed values ---------------------------------------------------------------------

def test_harrell_hand_computed_with_ties_in_time_and_risk():
    time = np.array([1.0, 2.0, 2.0, 3.0, 3.0, 4.0])
    event = np.array([True, True, False, True, True, False])
    risk = np.array([0.9, 0.5, 0.5, 0.2, 0.7, 0.1])
    # event@1 (0.9) beats all 5 later samples; event@2 (0.5) vs censored@2 (0.5): tied risk,
    # tied time; vs 0.2, 0.1: concordant; vs 0.7: discordant. The two events @3 are not
    # comparable with each other; each beats the censored@4 (0.1). 5 + 4 + 1 + 1 pairs.
    cindex, conc, disc, tied_risk, tied_time = concordance_index_censored(event, time, risk)
    assert (conc, disc, tied_risk, tied_time) == (9, 1, 1, 1)
    assert abs(cindex - 9.5 / 11) < 1e-12


def test_uno_hand_computed():
    train = make_survival_y([1, 0, 1, 1], [1.0, 2.0, 3.0, 4.0])  # G = 1 before 2, 2/3 from 2
    test = make_survival_y([1, 1, 0, 1], [1.0, 2.5, 3.0, 3.5])
    risk = [0.9, 0.2, 0.5, 0.1]
    # event@1 (weight 1/G(1)^2 = 1): 3 concordant pairs; event@2.5 (weight 9/4): one
    # discordant (0.5), one concordant (0.1)
    cindex, *counts = concordance_index_ipcw(train, test, risk)
    assert abs(cindex - (3 + 9 / 4) / (3 + 2 * 9 / 4)) < 1e-12 and counts == [4, 1, 0, 0]
    cindex, *counts = concordance_index_ipcw(train, test, risk, tau=2.0)
    assert cindex == 1.0 and counts == [4, 1, 0, 0]  # only the event before tau is weighted


def test_uno_without_censoring_in_train_equals_harrell():
    _, y, risk = _cohort(seed=2)
    train = make_survival_y(np.ones(len(y), bool), y["time"] + 1.0)
    assert abs(concordance_index_ipcw(train, y, risk)[0]
               - concordance_index_censored(y["event"], y["time"], risk)[0]) < 1e-12


def test_cumulative_dynamic_auc_hand_computed():
    test = make_survival_y([True] * 4, [1.0, 2.0, 3.0, 4.0])
    auc, mean = cumulative_dynamic_auc(NO_CENSORING, test, [1.0, 3.0, 4.0, 2.0], [1.0, 2.0])
    # t=1: case risk 1 vs controls 3, 4, 2: 0/3; t=2: cases 1, 3 vs controls 4, 2: 1/4.
    # Kaplan-Meier of the test set: S(1) = 0.75, S(2) = 0.5.
    np.testing.assert_allclose(auc, [0.0, 0.25])
    assert abs(mean - (0.0 * 0.25 + 0.25 * 0.25) / 0.5) < 1e-12
    auc, mean = cumulative_dynamic_auc(NO_CENSORING, test, [1.0, 3.0, 3.0, 2.0], [2.0])
    assert abs(auc[0] - 1.5 / 4) < 1e-12 and mean == auc[0]  # tied risks count 0.5
    two_d = np.column_stack([[1.0, 3.0, 4.0, 2.0], [4.0, 3.0, 1.0, 2.0]])
    np.testing.assert_allclose(cumulative_dynamic_auc(NO_CENSORING, test, two_d, [1, 2])[0],
                               [0.0, 1.0])


def test_brier_and_integrated_brier_hand_computed():
    test = make_survival_y([1, 0, 1], [1.0, 2.0, 3.0])
    survival = np.array([[0.3, 0.1], [0.8, 0.7], [0.6, 0.4]])
    times, scores = brier_score(NO_CENSORING, test, survival, [1.5, 2.5])
    # t=1.5: event@1 is a case (0.3^2), the others controls ((1-0.8)^2, (1-0.6)^2);
    # t=2.5: the sample censored at 2 drops out: 0.1^2 + 0 + (1-0.4)^2
    np.testing.assert_allclose(scores, [0.29 / 3, 0.37 / 3])
    np.testing.assert_array_equal(times, [1.5, 2.5])
    ibs = integrated_brier_score(NO_CENSORING, test, survival, [1.5, 2.5])
    assert abs(ibs - (0.29 + 0.37) / 6) < 1e-12


# --- agreement with lifelines and scikit-survival ---------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_harrell_matches_lifelines(seed):
    utils = pytest.importorskip("lifelines.utils")
    _, y, risk = _cohort(seed=seed)
    risk = np.round(risk, 1)  # ties in risk
    ours = concordance_index_censored(y["event"], y["time"], risk)[0]
    # lifelines expects predicted survival times: pass minus the risk
    assert abs(ours - utils.concordance_index(y["time"], -risk, y["event"])) < 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_match_sksurv(seed):
    metrics = pytest.importorskip("sksurv.metrics")
    X, y, _ = _cohort(n=80, seed=seed)
    train, test = y[:50], y[50:]
    risk = np.round(X[50:] @ [0.8, -0.3], 1)
    ours, theirs = (concordance_index_censored(test["event"], test["time"], risk),
                    metrics.concordance_index_censored(test["event"], test["time"], risk))
    assert abs(ours[0] - theirs[0]) < 1e-9 and ours[1:] == tuple(theirs[1:])
    tau = float(np.quantile(train["time"], 0.8))
    for kw in ({}, {"tau": tau}):
        ours = concordance_index_ipcw(train, test, risk, **kw)
        theirs = metrics.concordance_index_ipcw(train, test, risk, **kw)
        assert abs(ours[0] - theirs[0]) < 1e-9 and ours[1:] == tuple(theirs[1:])
    times = np.quantile(test["time"], [0.2, 0.4, 0.6])
    breslow = BreslowEstimator().fit(X[:50] @ [0.8, -0.3], train["event"], train["time"])
    survival = np.stack([f(times) for f in breslow.get_survival_function(risk)])
    for estimate in (risk, -np.log(survival)):
        auc, mean = cumulative_dynamic_auc(train, test, estimate, times)
        auc_ref, mean_ref = metrics.cumulative_dynamic_auc(train, test, estimate, times)
        assert np.abs(auc - auc_ref).max() < 1e-9 and abs(mean - mean_ref) < 1e-9
    scores = brier_score(train, test, survival, times)[1]
    assert np.abs(scores - metrics.brier_score(train, test, survival, times)[1]).max() < 1e-9
    assert abs(integrated_brier_score(train, test, survival, times)
               - metrics.integrated_brier_score(train, test, survival, times)) < 1e-9


# --- input validation -------------------------------------------------------------------------

def test_metric_errors_name_the_argument():
    y = make_survival_y([1, 0, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="event must be a boolean array"):
        concordance_index_censored([1, 0, 1], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="time must not contain unknown"):
        concordance_index_censored(np.array([True, False]), [1.0, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="estimate must be finite"):
        concordance_index_censored(y["event"], y["time"], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="survival_test must not contain unknown"):
        concordance_index_ipcw(y, make_survival_y([1, None], [1.0, 2.0]), [0.1, 0.2])
    with pytest.raises(ValueError, match="survival_train must be a structured array"):
        brier_score(np.ones(3), y, np.ones((3, 1)), [1.5])
    with pytest.raises(ValueError, match="times must lie within the follow-up"):
        cumulative_dynamic_auc(y, y, [0.1, 0.2, 0.3], [3.0])
    with pytest.raises(ValueError, match="largest time of survival_train"):
        brier_score(make_survival_y([0, 1], [1.0, 1.5]), y, np.ones((3, 1)), [2.0])
    with pytest.raises(ValueError, match="times must be strictly increasing"):
        brier_score(y, y, np.ones((3, 2)), [2.0, 1.5])


# --- scorers in model selection ---------------------------------------------------------------

class LinearCox(BaseEstimator):
    """A ridge-penalised linear Cox model fitted with L-BFGS on cox_ph_loss."""

    def __init__(self, alpha=0.1):
        self.alpha = alpha

    def fit(self, X, y):
        event, time, _ = check_survival_y(y, len(X))
        X = np.asarray(X, dtype=np.float64)

        def objective(w):
            w = torch.tensor(w, requires_grad=True)
            loss = cox_ph_loss(torch.from_numpy(X) @ w, event, time) + self.alpha * w @ w
            loss.backward()
            return loss.item(), w.grad.numpy()

        self.coef_ = minimize(objective, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
        self.breslow_ = BreslowEstimator().fit(X @ self.coef_, event, time)
        self.survival_train_ = y
        return self

    def predict(self, X):
        return np.asarray(X, dtype=np.float64) @ self.coef_

    def predict_survival_function(self, X):
        return self.breslow_.get_survival_function(self.predict(X))


def _scorers(y):
    times = np.quantile(y["time"], [0.3, 0.5, 0.7])
    return {"harrell": concordance_index_scorer, "uno": ConcordanceIPCWScorer(tau=times[-1]),
            "auc": CumulativeAUCScorer(times), "ibs": IntegratedBrierScorer(times)}


@pytest.mark.parametrize("routing", [False, True])
def test_scorers_in_grid_search(routing):
    X, y, _ = _cohort(n=60, seed=4)
    scoring = _scorers(y)
    for scorer in scoring.values():
        request = scorer.get_metadata_routing()
        assert isinstance(request, MetadataRequest) and not request.score.requests
    with sklearn.config_context(enable_metadata_routing=routing):
        search = GridSearchCV(LinearCox(), {"alpha": [0.01, 10.0]}, scoring=scoring,
                              refit="harrell", cv=KFold(3, shuffle=True, random_state=0))
        search.fit(X, y)
    res = search.cv_results_
    for name in ("harrell", "uno", "auc"):
        assert np.all((res[f"mean_test_{name}"] > 0.5) & (res[f"mean_test_{name}"] <= 1.0))
    assert np.all(res["mean_test_ibs"] < 0)  # negative IBS: greater is better
    assert search.best_params_ == {"alpha": 0.01}  # strong shrinkage loses concordance


def test_scorers_equal_the_metrics_and_skip_unlabelled_samples():
    X, y, _ = _cohort(n=60, seed=5)
    model = LinearCox().fit(X[:40], y[:40])
    X_test, y_test = X[40:], y[40:].copy()
    scoring = _scorers(y)
    risk = model.predict(X_test)
    assert scoring["harrell"](model, X_test, y_test) == concordance_index_censored(
        y_test["event"], y_test["time"], risk)[0]
    assert scoring["uno"](model, X_test, y_test) == concordance_index_ipcw(
        model.survival_train_, y_test, risk, tau=scoring["uno"].tau)[0]
    survival = np.stack([f(scoring["ibs"].times) for f in model.predict_survival_function(X_test)])
    assert scoring["ibs"](model, X_test, y_test) == -integrated_brier_score(
        model.survival_train_, y_test, survival, scoring["ibs"].times)
    partly = y_test.copy()
    partly["time"][0], partly["event"][0] = np.nan, False
    for scorer in scoring.values():
        assert scorer(model, X_test, partly) == scorer(model, X_test[1:], y_test[1:])


def test_ipcw_scorer_falls_back_to_the_test_outcomes():
    X, y, _ = _cohort(n=30, seed=6)

    class RiskOnly:
        def predict(self, X):
            return X[:, 0]

    scorer = ConcordanceIPCWScorer()
    assert scorer(RiskOnly(), X, y) == concordance_index_ipcw(y, y, X[:, 0])[0]
    assert "ConcordanceIPCWScorer(tau=None)" == repr(scorer)
