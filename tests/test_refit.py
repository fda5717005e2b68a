"""T4's linear refit: the penalised model it finds, and the penalty its CV chooses."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from petmtl.losses import BinaryOutcome
from petmtl.training import refit_linear


def _problem(n=60, d=8, seed=0, separable=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 20, size=d) + rng.normal(size=d) * 5
    signal = x[:, 0] / x[:, 0].std() - x[:, 1] / x[:, 1].std()
    noise = 0.0 if separable else rng.normal(size=n)
    y = (signal + noise > np.median(signal + noise)).astype(int)
    targets = {"outcome": torch.as_tensor(y), "outcome_known": torch.ones(n, dtype=bool)}
    return x, y, targets


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("penalty", [1e-3, 0.1, 3.0])
def test_the_refit_is_the_l2_logistic_regression_of_standardised_features(penalty, separable):
    """Mean log-loss + penalty/2 |w|^2 on standardised features is scikit-learn's
    LogisticRegression with C = 1 / (n * penalty) on the same features."""
    x, y, targets = _problem(separable=separable)
    task = BinaryOutcome()
    refit = refit_linear(x, targets, task.whole_set_loss, n_outputs=1, strata=y,
                         penalties=(penalty,))
    z = (x - x.mean(0)) / x.std(0, ddof=1)
    reference = LogisticRegression(C=1 / (len(y) * penalty), tol=1e-12, max_iter=10_000)
    reference.fit(z, y)
    ours = x @ refit.weight.numpy().T[:, 0] + refit.bias.numpy()[0]
    np.testing.assert_allclose(ours, reference.decision_function(z), rtol=1e-3, atol=1e-3)


def test_the_chosen_penalty_is_the_one_of_least_cross_validated_loss():
    x, y, targets = _problem(n=80, d=30, seed=1)
    penalties = (1e-3, 0.03, 1.0, 30.0)
    refit = refit_linear(x, targets, BinaryOutcome().whole_set_loss, n_outputs=1,
                         strata=y, penalties=penalties, score_fn=BinaryOutcome().validate)
    assert len(refit.cv_losses) == len(penalties)
    assert refit.penalty == penalties[int(np.argmin(refit.cv_losses))]
    # 28 noise features on 80 samples: neither extreme wins
    assert refit.penalty not in (penalties[0], penalties[-1])
    assert 0.7 < refit.cv_scores["auc"] <= 1.0


def test_each_penalty_reaches_the_same_fit_whatever_the_order_of_the_path():
    """Penalties are fitted strongest first, each from the last solution: the held-out
    losses must not depend on the order in which the candidates are given."""
    x, y, targets = _problem(n=60, d=12, seed=2, separable=True)
    penalties = (1e-3, 1e-2, 0.1, 1.0)
    loss = BinaryOutcome().whole_set_loss
    ascending = refit_linear(x, targets, loss, n_outputs=1, strata=y, penalties=penalties)
    shuffled = refit_linear(x, targets, loss, n_outputs=1, strata=y,
                            penalties=penalties[::-1])
    np.testing.assert_allclose(ascending.cv_losses, shuffled.cv_losses[::-1], rtol=1e-4)
    alone = [refit_linear(x, targets, loss, n_outputs=1, strata=y, penalties=(p,)).cv_losses[0]
             for p in penalties]
    np.testing.assert_allclose(ascending.cv_losses, alone, rtol=1e-3)


def test_a_stratum_too_small_for_two_folds_falls_back_to_a_unit_penalty():
    x, y, targets = _problem(n=20)
    y = np.zeros(20, int)
    y[0] = 1
    targets["outcome"] = torch.as_tensor(y)
    refit = refit_linear(x, targets, BinaryOutcome().whole_set_loss, n_outputs=1, strata=y)
    assert np.isnan(refit.cv_losses).all() and refit.penalty == 1.0
    assert refit.cv_scores == {}
