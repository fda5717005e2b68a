"""Training features as callbacks: learning-rate schedules, gradient clipping, the loop."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from petmtl import MultiTaskPETEstimator
from petmtl.exceptions import TrainingInterruptedWarning
from petmtl.network import MultiTaskWNet
from petmtl.training import Callback, GradientClipping, LoopState, LRSchedule

from .conftest import make_blob_volumes

SMALL = dict(base_width=2, depth=2, batch_size=4, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_blob_volumes(n_samples=12, size=12, seed=1)


def fit(data, **params):
    X, y, masks, pathology = data
    return MultiTaskPETEstimator(**{**SMALL, **params}).fit(X, y, masks=masks,
                                                             pathology=pathology)


@pytest.mark.slow
def test_cosine_schedule_follows_the_cosine_epoch_by_epoch(data):
    est = fit(data, max_epochs=4, learning_rate=0.01, lr_schedule="cosine",
              early_stopping=False)
    # epoch e trains at 0.01 * (1 + cos(pi * (e - 1) / 4)) / 2
    expected = [0.01, 0.01 * (1 + math.cos(math.pi / 4)) / 2, 0.005,
                0.01 * (1 + math.cos(3 * math.pi / 4)) / 2]
    np.testing.assert_allclose([r["lr"] for r in est.history_], expected, rtol=1e-12)
    constant = fit(data, max_epochs=2, learning_rate=0.01, early_stopping=False)
    assert [r["lr"] for r in constant.history_] == [0.01, 0.01]


def _fake_loop(optimizer, history):
    return SimpleNamespace(optimizer=optimizer, state=LoopState(history=history))


def test_plateau_divides_the_rate_by_ten_after_patience_epochs():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    history = []
    loop = _fake_loop(optimizer, history)
    schedule = LRSchedule("plateau", max_epochs=20, patience=2)
    schedule.on_train_begin(loop)
    rates = []
    for value in [1.0, 0.9, 0.9, 0.9, 0.9, 0.8]:  # best 0.9 at epoch 2, then 3 epochs flat
        history.append({"valid_loss": value})
        schedule.on_epoch_end(loop)
        rates.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_plateau_watches_a_score_that_must_rise():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    history = []
    loop = _fake_loop(optimizer, history)
    schedule = LRSchedule("plateau", max_epochs=20, monitor="valid_auc",
                          lower_is_better=False, patience=1)
    schedule.on_train_begin(loop)
    for value in [0.6, 0.7, 0.8]:  # rising AUC: no reduction
        history.append({"valid_auc": value})
        schedule.on_epoch_end(loop)
    assert optimizer.param_groups[0]["lr"] == 1.0
    for value in [0.7, 0.7]:
        history.append({"valid_auc": value})
        schedule.on_epoch_end(loop)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
@pytest.mark.slow
def test_a_resumed_run_follows_the_same_schedule(data, tmp_path, monkeypatch, schedule):
    params = dict(max_epochs=4, learning_rate=0.01, lr_schedule=schedule)
    reference = fit(data, **params)
    original, calls = MultiTaskWNet.forward, {"n": 0}

    def interrupt_in_epoch_3(self, x, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == 2 * 3 + 1:  # 10 training samples: 3 batches per epoch
                raise KeyboardInterrupt
        return original(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", interrupt_in_epoch_3)
    path = tmp_path / "run.ckpt"
    with pytest.warns(TrainingInterruptedWarning):
        fit(data, **params, checkpoint_path=path)
    monkeypatch.undo()
    resumed = fit(data, **params, resume=path)
    assert [r["lr"] for r in resumed.history_] == [r["lr"] for r in reference.history_]
    for (name, a), b in zip(reference.module_.state_dict().items(),
                            resumed.module_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_a_longer_resumed_cosine_run_keeps_annealing(data, tmp_path):
    """A finished 3-epoch run resumed with max_epochs=6 follows the 6-epoch curve from
    epoch 4 on, down to its end (a cosine whose period stayed 3 epochs would rise back
    towards 0.01 there)."""
    path = tmp_path / "run.ckpt"
    params = dict(learning_rate=0.01, lr_schedule="cosine", early_stopping=False)
    fit(data, **params, max_epochs=3, checkpoint_path=path)
    longer = fit(data, **params, max_epochs=6, resume=path)
    rates = [r["lr"] for r in longer.history_]
    expected = [0.01 * (1 + math.cos(math.pi * e / 6)) / 2 for e in (3, 4, 5)]
    np.testing.assert_allclose(rates[3:], expected, rtol=1e-12)
    assert np.all(np.diff(rates[3:]) < 0)


class _GradientNorms(Callback):
    """Records the global gradient norm that the optimizer step will use."""

    def __init__(self):
        self.norms = []

    def on_grad_computed(self, loop):
        grads = [p.grad.flatten() for p in loop.module.parameters() if p.grad is not None]
        self.norms.append(float(torch.cat(grads).norm()))


def test_gradient_clipping_bounds_the_norm_of_every_step():
    torch.manual_seed(0)
    module = torch.nn.Linear(8, 1)
    loop = SimpleNamespace(module=module)
    module(torch.randn(16, 8) * 100).pow(2).sum().backward()
    before = float(torch.cat([p.grad.flatten() for p in module.parameters()]).norm())
    GradientClipping(0.5).on_grad_computed(loop)
    spy = _GradientNorms()
    spy.on_grad_computed(loop)
    assert before > 10 and spy.norms == [pytest.approx(0.5, rel=1e-5)]


@pytest.mark.slow
def test_grad_clip_parameter_clips_the_steps_of_a_fit(data, monkeypatch):
    seen = []
    original = GradientClipping.on_grad_computed

    def recording(self, loop):
        original(self, loop)
        grads = [p.grad.flatten() for p in loop.module.parameters() if p.grad is not None]
        seen.append(float(torch.cat(grads).norm()))

    monkeypatch.setattr(GradientClipping, "on_grad_computed", recording)
    clipped = fit(data, max_epochs=1, grad_clip=1e-3)
    assert len(seen) == 3 and max(seen) <= 1e-3 * (1 + 1e-5)
    monkeypatch.undo()
    free = fit(data, max_epochs=1)
    changed = [not torch.equal(a, b) for a, b in zip(
        clipped.module_.state_dict().values(), free.module_.state_dict().values(), strict=True)]
    assert any(changed)


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"lr_schedule": "step"}, ValueError, "lr_schedule"),
    ({"grad_clip": 0}, ValueError, "grad_clip"),
    ({"grad_clip": "1"}, TypeError, "grad_clip"),
])
def test_schedule_and_clipping_parameters_are_checked(data, params, error, match):
    with pytest.raises(error, match=match):
        fit(data, max_epochs=1, **params)
