"""petmtl.report.statistics against hand-computed values, scikit-learn, scipy and lifelines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from petmtl.report import statistics as st

lifelines = pytest.importorskip("lifelines", reason="lifelines (test extra) is not installed")

TIME = np.array([1, 2, 2, 3, 4, 5, 5, 6.0])
EVENT = np.array([1, 1, 0, 1, 0, 1, 1, 0])


def _binary_sample(n=200, seed=0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < special.expit(0.3 + 0.6 * lp)).astype(int)
    return y, special.expit(lp)


def test_calibration_slope_matches_sklearn_logistic_regression():
    y, p = _binary_sample()
    result = st.calibration_slope_intercept(y, p)
    lp = special.logit(p)[:, None]
    reference = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(lp, y)
    assert result["slope"] == pytest.approx(reference.coef_[0, 0], abs=1e-6)
    assert result["slope_low"] < result["slope"] < result["slope_high"]
    assert result["slope"] == pytest.approx(0.6, abs=0.25)  # the simulated slope


def test_calibration_intercept_solves_the_offset_score_equation():
    # constant predictions: no slope can be fitted
    with pytest.raises(ValueError, match="y_prob is constant"):
        st.calibration_slope_intercept([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5])
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.2, 0.4, 0.6, 0.8, 0.3, 0.7])
    intercept = st.calibration_slope_intercept(y, p)["intercept"]
    lp = special.logit(p)
    root = optimize.brentq(lambda a: y.sum() - special.expit(a + lp).sum(), -10, 10,
                           xtol=1e-14)
    assert intercept == pytest.approx(root, abs=1e-10)
    y, p = _binary_sample()
    result = st.calibration_slope_intercept(y, p)
    root = optimize.brentq(lambda a: y.sum() - special.expit(a + special.logit(p)).sum(),
                           -10, 10, xtol=1e-14)
    assert result["intercept"] == pytest.approx(root, abs=1e-10)
    assert result["intercept_low"] < root < result["intercept_high"]


def test_calibration_of_perfect_separation_is_refused():
    with pytest.raises(ValueError, match="separate"):
        st.calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_reliability_curve_matches_sklearn_and_wilson(strategy):
    y, p = _binary_sample(seed=1)
    curve = st.reliability_curve(y, p, n_bins=5, strategy=strategy)
    observed, predicted = calibration_curve(y, p, n_bins=5, strategy=strategy)
    np.testing.assert_allclose(curve["observed"], observed, rtol=1e-12)
    np.testing.assert_allclose(curve["predicted"], predicted, rtol=1e-12)
    assert sum(curve["count"]) == len(y)
    for k, n, low, high in zip(np.round(np.asarray(curve["observed"]) * curve["count"]),
                               curve["count"], curve["low"], curve["high"], strict=True):
        ci = stats.binomtest(int(k), int(n)).proportion_ci(method="wilson")
        assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_net_benefit_and_decision_curve_by_hand():
    y = [1, 1, 0, 0, 1]
    p = [0.9, 0.4, 0.6, 0.2, 0.3]
    # pt 0.5: treated 0.9 (event) and 0.6 (none): 1/5 - 1/5 * 1; pt 0.25: 3 TP, 1 FP
    np.testing.assert_allclose(st.net_benefit(y, p, [0.5, 0.25]),
                               [0.0, 3 / 5 - 1 / 5 * (0.25 / 0.75)])
    curve = st.decision_curve(y, p, [0.25])
    assert curve["treat_all"] == pytest.approx([0.6 - 0.4 / 3])
    assert curve["treat_none"] == [0.0]


def test_brier_score_of_the_report_equals_sklearn():
    y, p = _binary_sample(seed=2)
    assert float(np.mean((p - y) ** 2)) == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_kaplan_meier_by_hand_and_against_lifelines():
    curve = st.kaplan_meier_curve(EVENT, TIME)
    # 7/8, then 6/7 of it, 4/5 of that, then two events among 3 at risk
    expected = [1.0, 0.875, 0.75, 0.6, 0.6, 0.2, 0.2]
    np.testing.assert_allclose(curve["survival"], expected)
    assert curve["n_at_risk"] == [8, 8, 7, 5, 4, 3, 1]
    fitter = lifelines.KaplanMeierFitter().fit(TIME, EVENT)
    np.testing.assert_allclose(curve["survival"], fitter.survival_function_.values[:, 0])
    ci = fitter.confidence_interval_.values
    np.testing.assert_allclose(curve["low"], ci[:, 0], atol=1e-10)
    np.testing.assert_allclose(curve["high"], ci[:, 1], atol=1e-10)
    np.testing.assert_array_equal(curve["n_at_risk"][1:],
                                  fitter.event_table["at_risk"].values[1:])


def test_numbers_at_risk_by_hand():
    np.testing.assert_array_equal(st.numbers_at_risk(TIME, [0, 2, 2.5, 5, 5.5, 7]),
                                  [8, 7, 5, 3, 1, 0])


def test_risk_groups_and_logrank_against_lifelines():
    assert st.risk_groups([1, 2, 3, 4, 5, 6], 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert st.risk_groups([5, 1, 4, 2], 2).tolist() == [1, 0, 1, 0]
    rng = np.random.default_rng(3)
    risk = rng.normal(size=60)
    time = rng.exponential(np.exp(-risk))
    event = rng.random(60) < 0.8
    result = st.risk_group_curves(event, time, risk, 3, at=[0.0, 0.5, 1.0])
    groups = st.risk_groups(risk, 3)
    reference = lifelines.statistics.multivariate_logrank_test(time, groups, event)
    assert result["logrank_statistic"] == pytest.approx(reference.test_statistic, rel=1e-9)
    assert result["logrank_p"] == pytest.approx(reference.p_value, rel=1e-9)
    for g, curve in enumerate(result["groups"]):
        rows = groups == g
        assert curve["n"] == rows.sum()
        assert curve["n_at_risk_table"] == [int((time[rows] >= t).sum()) for t in (0, .5, 1)]


def test_time_dependent_auc_by_hand():
    time = np.array([1.0, 2.0, 2.5, 3.0, 4.0])
    event = np.array([1, 1, 0, 1, 1])
    risk = np.array([4.0, 1.0, 0.0, 3.0, 2.0])
    result = st.time_dependent_auc(event, time, risk, [1.0, 2.0, 3.0])
    # censoring survival G drops to 2/3 after the censored time 2.5 (3 at risk)
    # t=1: case 0 (risk 4) above all 4 controls; t=2: cases 0, 1 vs controls 2.5, 3, 4
    # (risks 0, 3, 2): 3 + 1 of 6; t=3: cases 0, 1 (weight 1) and 3 (weight 3/2) against
    # the control at 4 (risk 2): (1 + 0 + 3/2) / (1 + 1 + 3/2)
    np.testing.assert_allclose(result["auc"], [1.0, 4 / 6, 2.5 / 3.5])


def test_survival_calibration_and_net_benefit_by_hand():
    time = np.array([10.0, 10.0, 1.0, 10.0, 1.0, 1.0])
    event = np.ones(6, bool)
    predicted = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    result = st.survival_calibration(event, time, predicted, 5.0, n_groups=2)
    np.testing.assert_allclose(result["predicted"], [0.2, 0.8])
    np.testing.assert_allclose(result["observed"], [1 / 3, 2 / 3])
    assert result["count"] == [3, 3]
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    risk = np.array([0.9, 0.8, 0.1, 0.6, 0.2])
    nb = st.survival_net_benefit(np.ones(5, bool), time, risk, 2.5, [0.5])
    # treated: times 1, 2, 4; two events by 2.5: 3/5 * 2/3 - 3/5 * 1/3 * 1
    assert nb["model"] == pytest.approx([0.2])
    assert nb["treat_all"] == pytest.approx([2 / 5 - 3 / 5])


def test_bland_altman_by_hand():
    result = st.bland_altman([1.0, 2.0, 3.0], [2.0, 2.0, 5.0])
    assert result["bias"] == pytest.approx(1.0) and result["sd"] == pytest.approx(1.0)
    assert result["upper"] == pytest.approx(1.0 + 1.959963984540054)
    assert result["difference"] == [1.0, 0.0, 2.0]


def test_centre_outcome_association_flags_confounding():
    confounded = st.centre_outcome_association(["a"] * 10 + ["b"] * 10,
                                               outcome=[1] * 10 + [0] * 10)
    assert confounded["test"] == "Fisher's exact test" and confounded["confounded"]
    assert sorted(confounded["single_class_centres"]) == ["a", "b"]
    balanced = st.centre_outcome_association(["a", "b", "c"] * 10, outcome=[0, 1] * 15)
    assert balanced["test"] == "chi-square test of independence"
    assert not balanced["confounded"]
    rng = np.random.default_rng(4)
    centre = np.repeat(["a", "b"], 30)
    time = rng.exponential(np.where(centre == "a", 1.0, 4.0))
    event = rng.random(60) < 0.9
    result = st.centre_outcome_association(centre, time=time, event=event)
    reference = lifelines.statistics.logrank_test(time[centre == "a"], time[centre == "b"],
                                                  event[centre == "a"], event[centre == "b"])
    assert result["p_value"] == pytest.approx(reference.p_value, rel=1e-9)
    assert result["confounded"]


def test_roc_band_holds_the_curve():
    y, p = _binary_sample(seed=5)
    band = st.roc_band(y, p, n_resamples=200, random_state=0)
    tpr, low, high = (np.asarray(band[k]) for k in ("tpr", "low", "high"))
    assert tpr[0] == 0.0 and tpr[-1] == 1.0
    assert np.all(low <= high) and np.mean((low <= tpr) & (tpr <= high)) > 0.95
    perfect = st.roc_band([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_resamples=20)
    assert perfect["low"][1:] == [1.0] * 100


@pytest.mark.parametrize("trials", [3, 10, 13, 25, 35])
def test_wilson_interval_holds_a_proportion_of_zero_or_one(trials):
    # Bug: at 0 or n successes rounding put the bound ~1e-17 past the proportion, and the
    # reliability figure's error bars then failed with "yerr must not contain negative values".
    low, high = st.wilson_interval([0, trials], [trials, trials])
    assert low[0] == 0.0 and high[1] == 1.0
    assert 0.0 < high[0] < 1.0 and 0.0 < low[1] < 1.0


def test_reliability_figure_of_bins_with_no_or_only_events():
    from petmtl.report import _figures

    y = np.array([0] * 10 + [1] * 10)
    prob = np.r_[np.linspace(0.01, 0.1, 10), np.linspace(0.9, 0.99, 10)]
    section = {"reliability": st.reliability_curve(y, prob, n_bins=2)}
    fig = _figures.reliability(section)
    assert len(fig.axes[0].lines) >= 2
