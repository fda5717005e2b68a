"""Cox partial likelihood (Efron, Breslow, risk-set memory) and the logistic-hazard loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from petmtl.survival import RiskSetMemory, cox_ph_loss, logistic_hazard_loss, make_survival_y
from petmtl.survival.time_bins import (
    discretize_times,
    hazard_to_survival,
    logistic_hazard_risk,
    make_time_bins,
)

# Six samples: an event at t=1, two tied events and a censoring at t=2, an event at t=3,
# a censoring at t=4. Passed to the loss in a shuffled order.
TIME = [1.0, 2.0, 2.0, 2.0, 3.0, 4.0]
EVENT = [1, 1, 1, 0, 1, 0]
ETA = [0.1, -0.2, 0.3, 0.5, -0.4, 0.2]
PERM = [4, 1, 5, 0, 3, 2]


def _val(tensor: torch.Tensor) -> float:
    return tensor.detach().item()


def _shuffled(eta=ETA):
    eta = torch.tensor([eta[i] for i in PERM], dtype=torch.float64, requires_grad=True)
    return eta, torch.tensor([TIME[i] for i in PERM]), torch.tensor([EVENT[i] for i in PERM])


def _hand_loglik(tie_correction: bool) -> float:
    e = [math.exp(v) for v in ETA]
    r1 = e[0] + e[1] + e[2] + e[3] + e[4] + e[5]   # everyone is at risk at t=1
    r2 = e[1] + e[2] + e[3] + e[4] + e[5]          # at risk at t=2
    tied = e[1] + e[2]                             # the two events at t=2
    r3 = e[4] + e[5]                               # at risk at t=3
    ll = ETA[0] - math.log(r1)
    ll += ETA[1] + ETA[2] - math.log(r2)
    ll -= math.log(r2 - 0.5 * tied) if tie_correction else math.log(r2)
    ll += ETA[4] - math.log(r3)
    return ll


def test_cox_efron_hand_computed():
    eta, time, event = _shuffled()
    loss = cox_ph_loss(eta, event, time, ties="efron")
    assert abs(_val(loss) - (-_hand_loglik(True) / 4)) < 1e-6


def test_cox_breslow_hand_computed():
    eta, time, event = _shuffled()
    loss = cox_ph_loss(eta[:, None], event, time, ties="breslow")
    assert abs(_val(loss) - (-_hand_loglik(False) / 4)) < 1e-6


def test_cox_gradient_matches_finite_differences():
    eta, time, event = _shuffled()
    for ties in ("efron", "breslow"):
        assert torch.autograd.gradcheck(lambda x, t=ties: cox_ph_loss(x, event, time, ties=t),
                                        (eta,))


def test_cox_is_shift_invariant_and_stable_for_large_scores():
    eta, time, event = _shuffled()
    base = cox_ph_loss(eta, event, time)
    shifted = cox_ph_loss(eta + 800.0, event, time)
    assert torch.isfinite(shifted) and abs(_val(shifted) - _val(base)) < 1e-9


def test_cox_matches_sksurv_partial_likelihood():
    coxph = pytest.importorskip("sksurv.linear_model.coxph")
    rng = np.random.default_rng(0)
    n = 50
    time, event, eta = rng.integers(1, 8, n).astype(float), rng.random(n) < 0.6, rng.normal(
        size=n)
    for ties in ("efron", "breslow"):
        # sksurv's optimiser returns the negative log partial likelihood divided by n
        ref = coxph.CoxPHOptimizer(eta[:, None], event, time, np.zeros(1), ties).nlog_likelihood(
            np.ones(1))
        ours = _val(cox_ph_loss(torch.tensor(eta), event, time, ties=ties))
        assert abs(ours * event.sum() / n - ref) < 1e-9


def test_cox_takes_the_fields_of_a_structured_survival_y():
    y = make_survival_y([EVENT[i] for i in PERM] + [None], [TIME[i] for i in PERM] + [9.0])
    eta = _shuffled()[0]
    loss = cox_ph_loss(torch.cat([eta, torch.zeros(1, dtype=eta.dtype)]), y["event"], y["time"])
    assert abs(_val(loss) - (-_hand_loglik(True) / 4)) < 1e-6


def test_cox_without_event_is_zero_with_a_gradient():
    eta = torch.tensor([0.3, -1.0], requires_grad=True)
    loss = cox_ph_loss(eta, [False, False], [1.0, 2.0])
    assert _val(loss) == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(eta.grad, torch.zeros(2))


def test_cox_ignores_unlabelled_samples():
    eta, time, event = _shuffled()
    ref = cox_ph_loss(eta, event, time)
    extra_eta = torch.cat([eta, torch.tensor([5.0, -3.0], dtype=torch.float64)])
    extra_time = torch.cat([time, torch.tensor([0.5, float("nan")])])
    extra_event = torch.cat([event, torch.tensor([1, 1])])
    labelled = torch.tensor([True] * 6 + [False, True])  # the NaN time is unlabelled too
    loss = cox_ph_loss(extra_eta, extra_event, extra_time, labelled=labelled)
    assert abs(_val(loss) - _val(ref)) < 1e-12
    none = cox_ph_loss(extra_eta, extra_event, extra_time, labelled=torch.zeros(8, dtype=bool))
    assert _val(none) == 0.0 and none.requires_grad


def test_cox_batch_of_one_needs_the_memory():
    eta = torch.tensor([0.4], requires_grad=True)
    assert _val(cox_ph_loss(eta, [True], [2.0])) == 0.0
    memory = RiskSetMemory(capacity=8)
    memory.push(torch.tensor([0.1, -0.3, 0.8]), [True, False, True], [1.0, 3.0, 5.0])
    loss = cox_ph_loss(eta, [True], [2.0], memory=memory)
    loss.backward()
    assert _val(loss) > 0 and abs(_val(eta.grad)) > 1e-3


def test_memory_union_equals_full_cohort_loss_and_grads_reach_only_the_batch():
    rng = np.random.default_rng(1)
    n = 9
    time = torch.tensor(rng.integers(1, 5, n).astype(float))
    event = torch.tensor(rng.random(n) < 0.7)
    event[0] = True
    full_eta = torch.tensor(rng.normal(size=n), requires_grad=True)
    full = cox_ph_loss(full_eta, event, time)
    full.backward()
    batch = [0, 4, 7]
    rest = [i for i in range(n) if i not in batch]
    memory = RiskSetMemory(capacity=100)
    memory.push(full_eta[rest], event[rest], time[rest])
    assert not memory.log_risk.requires_grad
    batch_eta = full_eta.detach()[batch].clone().requires_grad_(True)
    union = cox_ph_loss(batch_eta, event[batch], time[batch], memory=memory)
    assert abs(_val(union) - _val(full)) < 1e-12
    union.backward()
    torch.testing.assert_close(batch_eta.grad, full_eta.grad[batch], rtol=1e-10, atol=1e-12)


def test_risk_set_memory_is_fifo_and_checkpointable():
    memory = RiskSetMemory(capacity=3)
    eta = torch.tensor([1.0, 2.0], requires_grad=True)
    memory.push(eta, [1, 0], [1.0, 2.0])
    memory.push(torch.tensor([3.0, 4.0, 9.0]), [1, 1, 1], [3.0, 4.0, float("nan")])
    assert len(memory) == 3  # the NaN-time sample is not stored; the oldest went first
    assert memory.time.tolist() == [2.0, 3.0, 4.0] and memory.event.tolist() == [False, True, True]
    state = memory.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    restored = RiskSetMemory(capacity=1)
    restored.load_state_dict(state)
    assert restored.capacity == 3 and torch.equal(restored.log_risk, memory.log_risk)
    probe = torch.tensor([0.5], requires_grad=True)
    assert _val(cox_ph_loss(probe, [1], [2.5], memory=memory)) == _val(
        cox_ph_loss(probe, [1], [2.5], memory=restored))
    memory.clear()
    assert len(memory) == 0
    with pytest.raises(ValueError, match="capacity"):
        RiskSetMemory(0)


def test_cox_argument_errors():
    with pytest.raises(ValueError, match="ties must be"):
        cox_ph_loss(torch.zeros(2), [1, 1], [1, 2], ties="exact")
    with pytest.raises(ValueError, match="lengths differ"):
        cox_ph_loss(torch.zeros(2), [1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="labelled must have one entry per sample"):
        cox_ph_loss(torch.zeros(2), [1, 1], [1, 2], labelled=[True])


# --- discrete time ----------------------------------------------------------------------------

def test_make_time_bins_edges():
    cuts = make_time_bins([1, 1, 1, 1, 0, 1], [1.0, 2.0, 3.0, 4.0, 10.0, np.nan], n_bins=4)
    np.testing.assert_allclose(cuts, [0.0, 1.75, 2.5, 3.25, 10.0])
    tied = make_time_bins([1, 1, 1, 1, 0], [5.0, 5.0, 5.0, 5.0, 10.0], n_bins=4)
    np.testing.assert_array_equal(tied, [0.0, 5.0, 10.0])  # three equal quantiles merged
    np.testing.assert_array_equal(make_time_bins([1, 0], [2.0, 6.0], n_bins=1), [0.0, 6.0])
    with pytest.raises(ValueError, match="event: no event"):
        make_time_bins([0, 0], [1.0, 2.0], 3)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        make_time_bins([1, 0], [1.0, 2.0], 0)


def test_discretize_times_edge_cases():
    cuts = [0.0, 1.0, 3.0, 6.0]
    time = [0.0, 1.0, 1.0 + 1e-9, 3.0, 6.0, 7.5, np.nan]
    event = [1, 1, 0, 1, 1, 1, 1]
    ev, index = discretize_times(event, time, cuts)
    assert index.dtype == np.int64
    assert index.tolist() == [0, 0, 1, 1, 2, 2, -1]
    assert ev.tolist() == [True, True, False, True, True, False, False]
    with pytest.raises(ValueError, match="cuts must be"):
        discretize_times([1], [1.0], [0.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="time must hold finite non-negative"):
        discretize_times([1], [-1.0], cuts)


def _softplus(x):
    return math.log1p(math.exp(x))


def test_logistic_hazard_loss_hand_computed():
    values = [[0.2, -0.5, 1.0], [-1.0, 0.3, 0.7], [1.5, 0.0, -2.0]]
    logits = torch.tensor(values, requires_grad=True)
    bins, event = [1, 2, 0], [True, False, True]
    # BCE(l, 0) = softplus(l), BCE(l, 1) = softplus(-l)
    a = _softplus(0.2) + _softplus(0.5)       # event in bin 1: survived bin 0, event in bin 1
    b = _softplus(-1.0) + _softplus(0.3)      # censored in bin 2: survived bins 0 and 1 only
    c = _softplus(-1.5)                       # event in bin 0
    loss = logistic_hazard_loss(logits, event, bins)
    assert abs(_val(loss) - (a + b + c) / 3) < 1e-6
    loss.backward()
    assert logits.grad[2, 1:].abs().sum() == 0 and logits.grad[1, 2] == 0
    exact = logistic_hazard_loss(torch.tensor(values, dtype=torch.float64), event, bins)
    assert exact.dtype == torch.float64 and abs(exact.item() - (a + b + c) / 3) < 1e-14


def test_logistic_hazard_loss_masks_and_batch_of_one():
    logits = torch.tensor([[0.2, -0.5], [3.0, 3.0], [9.0, 9.0]], requires_grad=True)
    full = logistic_hazard_loss(logits, [1, 1, 0], [1, 0, -1], labelled=[True, False, True])
    one = logistic_hazard_loss(logits[:1], [1], [1])
    assert abs(_val(full) - _val(one)) < 1e-7
    one.backward()
    assert logits.grad[0].abs().min() > 0
    none = logistic_hazard_loss(logits, [1, 1, 1], [0, 0, 0], labelled=[False] * 3)
    assert _val(none) == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="bin_index must be below"):
        logistic_hazard_loss(logits, [1, 1, 1], [2, 0, 0])


def test_hazard_to_survival_and_risk():
    logits = torch.tensor([[-2.0, 0.5, 3.0, -1.0], [1.0, 1.0, 1.0, 1.0]])
    surv = hazard_to_survival(logits)
    h = torch.sigmoid(logits)
    np.testing.assert_allclose(surv[:, 1].numpy(), ((1 - h[:, 0]) * (1 - h[:, 1])).numpy(),
                               rtol=1e-6)
    assert (surv.diff(dim=1) <= 0).all() and (surv > 0).all() and (surv <= 1).all()
    risk = logistic_hazard_risk(torch.stack([logits[0], logits[0] + 1.0]))
    assert risk.shape == (2,) and risk[1] > risk[0]  # higher hazards: earlier events
