"""Percentile bootstrap intervals and paired differences (petmtl.metrics)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from petmtl.metrics import BootstrapResult, bootstrap_interval, paired_bootstrap_difference


def _auc_strict(y, s):
    if len(np.unique(y)) < 2:
        raise ValueError("one class")
    return roc_auc_score(y, s)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [30, 20])
    return y, y + rng.normal(0.0, 1.0, len(y))


def test_perfect_score_has_degenerate_interval(scored):
    y, _ = scored
    result = bootstrap_interval(roc_auc_score, y, y.astype(float), stratify=y,
                                n_resamples=300, random_state=0)
    assert isinstance(result, BootstrapResult)
    assert tuple(result) == (1.0, 1.0, 1.0)
    assert result.n_resamples == 300 and result.n_skipped == 0


def test_interval_contains_estimate_and_is_ordered(scored):
    y, s = scored
    auc, low, high = bootstrap_interval(roc_auc_score, y, s, stratify=y, n_resamples=500,
                                        random_state=1)
    assert auc == pytest.approx(roc_auc_score(y, s))
    assert 0.0 <= low < auc < high <= 1.0


def test_coverage_of_a_known_mean():
    """About 95 % of 95 % intervals of a sample mean cover the true mean."""
    rng = np.random.default_rng(42)
    n_trials, covered = 200, 0
    for trial in range(n_trials):
        x = rng.normal(3.0, 2.0, 60)
        _, low, high = bootstrap_interval(np.mean, x, n_resamples=400, random_state=trial)
        covered += low <= 3.0 <= high
    # Percentile intervals under-cover slightly at n=60; 200 trials give a +-3 % s.e.
    assert 0.85 <= covered / n_trials <= 0.99


def test_interval_width_matches_normal_theory():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, 400)
    _, low, high = bootstrap_interval(np.mean, x, n_resamples=2000, random_state=0)
    assert high - low == pytest.approx(2 * 1.96 * x.std() / np.sqrt(len(x)), rel=0.1)


def test_stratification_keeps_both_classes_and_class_sizes():
    y = np.array([0] * 18 + [1] * 2)
    seen = []

    def metric(labels):
        seen.append(np.bincount(labels, minlength=2))
        return float(labels.mean())

    result = bootstrap_interval(metric, y, stratify=y, n_resamples=200, random_state=0)
    assert result.n_skipped == 0
    counts = np.array(seen[1:])  # the first call is the estimate on the original samples
    assert len(counts) == 200 and (counts == [18, 2]).all()


def test_unstratified_single_class_resamples_are_skipped_and_counted():
    y = np.array([0] * 18 + [1] * 2)
    s = np.linspace(0, 1, 20)
    with pytest.warns(RuntimeWarning, match="skipped"):
        result = bootstrap_interval(_auc_strict, y, s, n_resamples=300, random_state=0)
    # P(no positive among 20 draws) = 0.9**20 = 12 %
    assert 10 < result.n_skipped < 70
    assert result.n_resamples + result.n_skipped == 300


def test_nan_metric_counts_as_skipped():
    """sklearn >= 1.6 returns NaN (with a warning) for a single-class AUC."""
    y = np.array([0] * 18 + [1] * 2)
    s = np.linspace(0, 1, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = bootstrap_interval(roc_auc_score, y, s, n_resamples=300, random_state=0)
    assert result.n_skipped > 0 and np.isfinite(list(result)).all()


def test_same_random_state_same_interval(scored):
    y, s = scored
    a = bootstrap_interval(roc_auc_score, y, s, stratify=y, n_resamples=200, random_state=7)
    b = bootstrap_interval(roc_auc_score, y, s, stratify=y, n_resamples=200, random_state=7)
    c = bootstrap_interval(roc_auc_score, y, s, stratify=y, n_resamples=200, random_state=8)
    assert a == b and a != c


def test_rows_of_2d_arrays_are_resampled_together():
    x = np.arange(40.0).reshape(20, 2)

    def metric(rows, ids):
        assert np.array_equal(rows[:, 0] / 2, ids)  # rows kept intact and aligned
        return float(rows.mean())

    bootstrap_interval(metric, x, np.arange(20.0), n_resamples=50, random_state=0)


def test_paired_difference_of_a_model_with_itself_is_zero(scored):
    y, s = scored
    diff, low, high, p = paired_bootstrap_difference(roc_auc_score, y, s, s, stratify=y,
                                                     n_resamples=300, random_state=0)
    assert (diff, low, high) == (0.0, 0.0, 0.0)
    assert p == 1.0


@pytest.mark.slow
def test_paired_difference_detects_a_better_model():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 60)
    good, poor = y + rng.normal(0, 0.5, 120), y + rng.normal(0, 2.0, 120)
    diff, low, high, p = paired_bootstrap_difference(roc_auc_score, y, good, poor, stratify=y,
                                                     n_resamples=500, random_state=0)
    assert diff == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, poor))
    assert 0 < low < diff < high
    assert p < 0.01
    reverse = paired_bootstrap_difference(roc_auc_score, y, poor, good, stratify=y,
                                          n_resamples=500, random_state=0)
    assert reverse[0] == pytest.approx(-diff) and reverse[3] > 0.99


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_resamples": 0}, "n_resamples"),
    ({"confidence": 1.0}, "confidence"),
    ({"stratify": np.zeros(3)}, "stratify"),
])
def test_errors_name_the_argument(scored, kwargs, match):
    y, s = scored
    with pytest.raises(ValueError, match=match):
        bootstrap_interval(roc_auc_score, y, s, **kwargs)


def test_errors_name_the_mismatched_array(scored):
    y, s = scored
    with pytest.raises(ValueError, match=r"arrays\[1\] has 10 rows"):
        bootstrap_interval(roc_auc_score, y, s[:10])
    with pytest.raises(ValueError, match="score_b has 10 rows"):
        paired_bootstrap_difference(roc_auc_score, y, s, s[:10])
    with pytest.raises(TypeError, match="metric must be a callable"):
        bootstrap_interval("auc", y, s)
    with pytest.raises(TypeError, match="at least one array"):
        bootstrap_interval(roc_auc_score)
    with pytest.raises(TypeError, match="n_resamples"):
        bootstrap_interval(roc_auc_score, y, s, n_resamples=10.0)


def test_metric_undefined_on_original_samples_or_every_resample():
    y = np.zeros(10, int)
    with pytest.raises(ValueError, match="original samples"):
        bootstrap_interval(_auc_strict, y, np.arange(10.0))
    y = np.r_[0, np.zeros(9, int)]

    def fails_on_resamples(labels, _):
        if len(labels) and fails_on_resamples.calls:
            raise ValueError("boom")
        fails_on_resamples.calls += 1
        return 0.5

    fails_on_resamples.calls = 0
    with pytest.raises(ValueError, match="all 20 resamples"):
        bootstrap_interval(fails_on_resamples, y, np.arange(10.0), n_resamples=20)
