"""Survival targets, step functions, Breslow, Kaplan-Meier and log-rank."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from petmtl.survival import (
    BreslowEstimator,
    StepFunction,
    check_survival_y,
    kaplan_meier,
    logrank_test,
    make_survival_y,
)


def _cohort(n=40, seed=0):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 9, n).astype(float)  # many ties
    event = rng.random(n) < 0.6
    event[0] = True
    return time, event, rng.normal(size=n), rng.integers(0, 3, n)


# --- make_survival_y / check_survival_y -------------------------------------------------------

def test_make_survival_y_has_the_scikit_survival_layout():
    y = make_survival_y([True, 0, 1], [5, 3.5, 2])
    assert y.dtype == np.dtype([("event", "?"), ("time", "<f8")])
    assert y["event"].tolist() == [True, False, True]
    assert y["time"].tolist() == [5.0, 3.5, 2.0]


def test_make_survival_y_matches_sksurv_surv_from_arrays():
    util = pytest.importorskip("sksurv.util")
    event, time = [True, False, True, True], [5.0, 3.0, 2.0, 7.5]
    theirs = util.Surv.from_arrays(event, time)
    ours = make_survival_y(event, time)
    assert ours.dtype == theirs.dtype
    assert ours.tobytes() == theirs.tobytes()


def test_unknown_entries_become_unlabelled():
    y = make_survival_y(np.array([True, None, np.nan, -1, 1, 0], dtype=object),
                        np.array([1.0, 2.0, 3.0, 4.0, None, np.nan], dtype=object))
    assert y["event"].tolist() == [True, False, False, False, False, False]
    assert not np.isnan(y["time"][0]) and np.isnan(y["time"][1:]).all()
    event, time, labelled = check_survival_y(y)
    assert labelled.tolist() == [True] + [False] * 5
    with pytest.raises(ValueError, match=r"y must not contain unknown.*index 1"):
        check_survival_y(y, allow_unknown=False)


@pytest.mark.parametrize("event, time, match", [
    ([1, 0, 2], [1, 2, 3], r"event must hold booleans or 0/1.*got 2 at index 2"),
    ([1, 0.5], [1, 2], r"event must hold.*0\.5 at index 1"),
    (["yes", "no"], [1, 2], r"event must hold.*'yes' at index 0"),
    ([1, 0], [1, -2], r"time must hold finite non-negative.*-2\.0 at index 1"),
    ([1, 0], [np.inf, 2], r"time must hold.*inf at index 0"),
    ([1, 0, 1], [1, 2], r"event and time must have the same length; got 3 events and 2"),
    ([[1, 0]], [[1, 2]], r"event must be 1-D.*\(1, 2\)"),
    ([0, 0, None], [1, 2, 3], r"event: no event among the 2 labelled"),
    ([None, 1], [1, None], r"event: no labelled sample"),
])
def test_make_survival_y_errors_name_the_argument(event, time, match):
    with pytest.raises(ValueError, match=match):
        make_survival_y(event, time)


def test_make_survival_y_rejects_non_numeric_time():
    with pytest.raises(TypeError, match=r"time must hold.*dtype <U"):
        make_survival_y([1, 0], ["a", "b"])


def test_check_survival_y_accepts_free_field_names_and_record_arrays():
    y = np.array([(True, 3.0), (False, 1.0)], dtype=[("status", "?"), ("days", "<f4")])
    event, time, labelled = check_survival_y(y, n_samples=2)
    assert event.tolist() == [True, False] and time.dtype == np.float64
    assert labelled.all()
    rec = np.rec.fromarrays([[True, False], [3.0, 1.0]], names="e,t")
    assert check_survival_y(rec)[1].tolist() == [3.0, 1.0]


@pytest.mark.parametrize("y, kwargs, match", [
    (np.array([1.0, 2.0]), {}, r"y must be a structured array with a boolean event field and "
                               r"a float time field, as petmtl.survival.make_survival_y"
                               r"\(event, time\) builds it; got a plain array"),
    ([(True, 1.0)], {}, r"y must be a structured array.*got list"),
    (np.zeros(2, dtype=[("a", "?"), ("b", "f8"), ("c", "f8")]), {}, r"3 fields"),
    (np.array([(1, 2.0)], dtype=[("e", "i4"), ("t", "f8")]), {},
     r"first field 'e' must be the boolean event indicator; got dtype int32"),
    (np.array([(True, -1.0)], dtype=[("e", "?"), ("t", "f8")]), {}, r"y \(field 't'\).*-1\.0"),
    (np.array([(True, np.inf)], dtype=[("e", "?"), ("t", "f8")]), {}, r"y \(field 't'\).*inf"),
    (make_survival_y([1, 0], [1, 2]), {"n_samples": 3}, r"y has 2 samples, expected 3"),
    (np.array([(False, 1.0)], dtype=[("e", "?"), ("t", "f8")]), {}, r"y: no event"),
    (make_survival_y([1, 0], [1, 2]), {"name": "survival_test", "n_samples": 1},
     r"survival_test has 2 samples"),
])
def test_check_survival_y_errors(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_survival_y(y, **kwargs)


# --- StepFunction -----------------------------------------------------------------------------

def test_step_function_is_right_continuous_with_initial_value():
    f = StepFunction([1.0, 3.0], [0.8, 0.5], initial=1.0)
    assert f(0.5) == 1.0 and isinstance(f(0.5), float)
    np.testing.assert_array_equal(f([0.0, 1.0, 2.999, 3.0, 100.0]), [1.0, 0.8, 0.8, 0.5, 0.5])
    assert f(np.ones((2, 2))).shape == (2, 2)
    assert "StepFunction(x=" in repr(f) and "initial=1.0" in repr(f)
    with pytest.raises(ValueError, match="t must not contain NaN"):
        f([np.nan])
    with pytest.raises(ValueError, match="strictly increasing"):
        StepFunction([2.0, 1.0], [0.0, 1.0])


# --- Breslow ----------------------------------------------------------------------------------

def test_breslow_hand_computed_with_ties():
    time = np.array([2.0, 1.0, 4.0, 3.0, 2.0])
    event = np.array([1, 1, 1, 0, 1])
    log_risk = np.log([2.0, 1.0, 1.0, 3.0, 1.0])
    # t=1: all at risk, exp sum 1+2+1+3+1 = 8, one event;
    # t=2: {2, 2, 3, 4} sum 2+1+3+1 = 7, two events; t=3 censoring only; t=4: {4} sum 1.
    h0 = np.array([1 / 8, 1 / 8 + 2 / 7, 1 / 8 + 2 / 7 + 1.0])
    est = BreslowEstimator().fit(log_risk, event, time)
    np.testing.assert_array_equal(est.unique_times_, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(est.cum_baseline_hazard_([0.5, 1, 2, 3, 4, 9]),
                               [0.0, h0[0], h0[1], h0[1], h0[2], h0[2]], rtol=1e-12)
    np.testing.assert_allclose(est.baseline_survival_([0.5, 3.0]), [1.0, math.exp(-h0[1])])
    hazard = est.get_cumulative_hazard_function([0.0, math.log(3.0)], return_array=True)
    np.testing.assert_allclose(hazard, [h0, 3 * h0], rtol=1e-12)
    surv = est.get_survival_function([math.log(3.0)])
    assert surv.dtype == object and len(surv) == 1
    np.testing.assert_allclose(surv[0]([0.0, 2.5]), [1.0, math.exp(-3 * h0[1])], rtol=1e-12)
    np.testing.assert_allclose(est.get_survival_function([0.0], return_array=True)[0],
                               np.exp(-h0), rtol=1e-12)


def test_breslow_errors():
    with pytest.raises(AttributeError, match="not fitted"):
        BreslowEstimator().get_survival_function([0.0])
    with pytest.raises(ValueError, match="log_risk has 1 samples"):
        BreslowEstimator().fit([0.0], [1, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="event: no event"):
        BreslowEstimator().fit([0.0, 0.0], [0, 0], [1.0, 2.0])


def test_breslow_matches_sksurv():
    coxph = pytest.importorskip("sksurv.linear_model.coxph")
    time, event, log_risk, _ = _cohort()
    ours = BreslowEstimator().fit(log_risk, event, time)
    theirs = coxph.BreslowEstimator().fit(log_risk, event, time)
    # sksurv's step functions clamp times before the first jump; compare from there on
    grid = np.linspace(time[event].min(), time.max(), 57)
    np.testing.assert_allclose(ours.cum_baseline_hazard_(grid),
                               theirs.cum_baseline_hazard_(grid), rtol=0, atol=1e-9)
    ours_s = ours.get_survival_function(log_risk[:5])
    theirs_s = theirs.get_survival_function(log_risk[:5])
    for a, b in zip(ours_s, theirs_s, strict=True):
        np.testing.assert_allclose(a(grid), b(grid), rtol=0, atol=1e-9)


# --- Kaplan-Meier and log-rank ----------------------------------------------------------------

def test_kaplan_meier_hand_computed():
    times, surv = kaplan_meier([1, 1, 0, 0, 1, 0], [1, 2, 2, 3, 4, 5])
    # 6 at risk at t=1 (1 event), 5 at t=2 (1 event, 1 censored), 2 at t=4 (1 event)
    np.testing.assert_array_equal(times, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(surv, [5 / 6, 2 / 3, 2 / 3, 1 / 3, 1 / 3], rtol=1e-12)
    assert (np.diff(surv) <= 0).all()


def test_kaplan_meier_matches_lifelines_and_sksurv():
    lifelines = pytest.importorskip("lifelines")
    time, event, _, _ = _cohort(seed=3)
    times, surv = kaplan_meier(event, time)
    km = lifelines.KaplanMeierFitter().fit(time, event)
    expected = km.survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(surv, expected, rtol=0, atol=1e-9)
    nonparametric = pytest.importorskip("sksurv.nonparametric")
    t2, s2 = nonparametric.kaplan_meier_estimator(event, time)
    np.testing.assert_array_equal(times, t2)
    np.testing.assert_allclose(surv, s2, rtol=0, atol=1e-9)


def test_logrank_identical_groups_gives_zero():
    time = np.array([1.0, 3.0, 4.0, 6.0])
    event = np.array([1, 0, 1, 1])
    stat, p = logrank_test(np.r_[event, event], np.r_[time, time], ["a"] * 4 + ["b"] * 4)
    assert abs(stat) < 1e-12 and abs(p - 1.0) < 1e-9


def test_logrank_matches_lifelines_two_and_three_groups():
    lifelines_stats = pytest.importorskip("lifelines.statistics")
    time, event, _, groups = _cohort(n=60, seed=5)
    g2 = groups % 2
    stat, p = logrank_test(event, time, g2)
    ref = lifelines_stats.logrank_test(time[g2 == 0], time[g2 == 1], event[g2 == 0],
                                       event[g2 == 1])
    assert abs(stat - ref.test_statistic) < 1e-9 and abs(p - ref.p_value) < 1e-9
    stat, p = logrank_test(event, time, groups)
    ref = lifelines_stats.multivariate_logrank_test(time, groups, event)
    assert abs(stat - ref.test_statistic) < 1e-9 and abs(p - ref.p_value) < 1e-9


def test_logrank_errors():
    with pytest.raises(ValueError, match="groups must hold at least two distinct labels"):
        logrank_test([1, 1], [1, 2], [0, 0])
    with pytest.raises(ValueError, match="groups must be 1-D of the length of time"):
        logrank_test([1, 1], [1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match="time must not contain unknown"):
        logrank_test([1, 1], [1, np.nan], [0, 1])


# --- the order of petmtl 0.1 ------------------------------------------------------------------

def test_time_before_event_still_works_with_a_future_warning():
    time, event, log_risk, groups = _cohort(seed=7)
    with pytest.warns(FutureWarning, match="kaplan_meier now takes event before time"):
        old = kaplan_meier(time, event)
    new = kaplan_meier(event, time)
    np.testing.assert_array_equal(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])
    with pytest.warns(FutureWarning, match="logrank_test now takes event before time"):
        assert logrank_test(time, event.astype(int), groups) == logrank_test(event, time, groups)
    with pytest.warns(FutureWarning, match="BreslowEstimator.fit now takes event"):
        old = BreslowEstimator().fit(log_risk, time, event)
    new = BreslowEstimator().fit(log_risk, event, time)
    np.testing.assert_array_equal(old.cum_baseline_hazard_.y, new.cum_baseline_hazard_.y)
    with pytest.warns(FutureWarning, match="cum_baseline_hazard_"):
        np.testing.assert_array_equal(old.cumulative_baseline_hazard_.y,
                                      old.cum_baseline_hazard_.y)


def test_times_of_only_zero_and_one_are_read_in_the_new_order():
    # ambiguous input is never swapped: times of 0 and 1 with boolean events
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        times, surv = kaplan_meier(np.array([True, False, True]), np.array([1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(times, [0.0, 1.0])
    np.testing.assert_allclose(surv, [1.0, 0.0])
