"""Faults during training: interruption, divergence, out of memory, checkpoints,
resume after ``kill -9`` and tampered checkpoint files (determinism: test_estimator)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import petmtl.training.loop
from petmtl import MultiTaskPETEstimator
from petmtl.exceptions import (
    CheckpointError,
    DeviceOutOfMemoryError,
    TrainingDivergedError,
    TrainingInterruptedWarning,
)
from petmtl.network import MultiTaskWNet
from petmtl.serialization import FORMAT_VERSION, read_record

from .conftest import make_blob_volumes, wait_for_file

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(base_width=2, depth=2, batch_size=4, random_state=0, max_epochs=3)


@pytest.fixture(scope="module")
def data():
    return make_blob_volumes(n_samples=12, size=12, seed=1)


def fit(data, **params):
    X, y, masks, pathology = data
    return MultiTaskPETEstimator(**{**SMALL, **params}).fit(X, y, masks=masks,
                                                             pathology=pathology)


def weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def patch_forward(monkeypatch, action, *, on_call):
    """Run ``action()`` at the ``on_call``-th training forward pass (1-based)."""
    original = MultiTaskWNet.forward
    calls = {"n": 0}

    def forward(self, x, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == on_call:
                action()
        return original(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", forward)
    return calls


# 12 samples, 2 held out: 10 training samples = 3 batches per epoch (the last of 2).
BATCHES_PER_EPOCH = 3


# ------------------------------------------------------------- interruption
def test_keyboard_interrupt_inside_a_batch_keeps_a_fitted_estimator(data, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    patch_forward(monkeypatch, interrupt, on_call=BATCHES_PER_EPOCH + 2)  # in epoch 2
    with pytest.warns(TrainingInterruptedWarning, match=r"after 1 completed epoch"):
        est = fit(data, max_epochs=5)
    assert [r["epoch"] for r in est.history_] == [1]
    assert est.best_epoch_ == 1
    X = data[0]
    assert np.isfinite(est.predict_proba(X)).all()
    assert est.segment(X).shape == X.shape
    assert set(est.predict_pathology(X)) <= set(est.pathology_classes_)


def test_interrupt_in_the_first_epoch_without_validation_keeps_current_weights(
        data, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    patch_forward(monkeypatch, interrupt, on_call=2)
    with pytest.warns(TrainingInterruptedWarning, match=r"after 0 completed epoch.*current"):
        est = fit(data, early_stopping=False)
    assert est.history_ == [] and est.best_epoch_ == 0
    assert np.isfinite(est.decision_function(data[0])).all()


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler, whatever the process started with.

    A job started in the background by a shell ignores SIGINT (SIG_IGN), and petmtl
    then leaves SIGINT alone; the tests of Ctrl-C need the handler a terminal gives.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_signal_finishes_the_current_batch(data, monkeypatch, python_sigint_handler):
    calls = patch_forward(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT),
                          on_call=BATCHES_PER_EPOCH + 1)  # first batch of epoch 2
    with pytest.warns(TrainingInterruptedWarning, match=r"after 1 completed epoch"):
        est = fit(data, max_epochs=5)
    # the batch during which Ctrl-C arrived completed, no further batch started
    assert calls["n"] == BATCHES_PER_EPOCH + 1
    assert len(est.history_) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_sigint_is_left_alone(data, monkeypatch):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        patch_forward(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT), on_call=2)
        est = fit(data, max_epochs=2)  # the ignored Ctrl-C interrupts nothing
        assert len(est.history_) == 2
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_interrupted_then_warm_started_run_reaches_max_epochs(data, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    patch_forward(monkeypatch, interrupt, on_call=BATCHES_PER_EPOCH + 1)
    with pytest.warns(TrainingInterruptedWarning, match="warm_start=True"):
        est = fit(data, max_epochs=3)
    monkeypatch.undo()
    est.set_params(warm_start=True)
    X, y, masks, pathology = data
    est.fit(X, y, masks=masks, pathology=pathology)
    assert [r["epoch"] for r in est.history_] == [1, 2, 3]
    est.set_params(max_epochs=4).fit(X, y, masks=masks, pathology=pathology)
    assert [r["epoch"] for r in est.history_] == [1, 2, 3, 4]


# --------------------------------------------------------------- divergence
def nan_loss_from(monkeypatch, task, epoch_call):
    original = petmtl.training.loop.multitask_loss
    calls = {"n": 0}

    def loss(outputs, batch, weights, **kwargs):
        total, terms = original(outputs, batch, weights, **kwargs)
        if outputs["outcome"].requires_grad:
            calls["n"] += 1
            if calls["n"] >= epoch_call:
                terms[task] = float("nan")
                total = total * float("nan")
        return total, terms

    monkeypatch.setattr(petmtl.training.loop, "multitask_loss", loss)


def test_non_finite_loss_names_task_and_epoch_and_keeps_best_weights(data, monkeypatch):
    nan_loss_from(monkeypatch, "segmentation", BATCHES_PER_EPOCH + 2)
    est = MultiTaskPETEstimator(**{**SMALL, "max_epochs": 4})
    X, y, masks, pathology = data
    with pytest.raises(TrainingDivergedError, match=r"'segmentation'.*epoch 2") as info:
        est.fit(X, y, masks=masks, pathology=pathology)
    assert isinstance(info.value, FloatingPointError)
    assert (info.value.task, info.value.epoch) == ("segmentation", 2)
    assert "epoch 1" in str(info.value) and est.best_epoch_ == 1
    assert len(est.history_) == 1
    assert np.isfinite(est.predict_proba(X)).all()
    assert all(torch.isfinite(v).all() for v in weights(est).values() if v.is_floating_point())


def test_divergence_without_finite_weights_leaves_estimator_unfitted(data, monkeypatch):
    nan_loss_from(monkeypatch, "outcome", 1)
    est = MultiTaskPETEstimator(**{**SMALL, "early_stopping": False})
    X, y, masks, pathology = data
    with pytest.raises(TrainingDivergedError, match=r"'outcome'.*epoch 1.*unfitted"):
        est.fit(X, y, masks=masks, pathology=pathology)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_absurd_learning_rate_is_reported_as_divergence(data):
    X, y, masks, pathology = data
    est = MultiTaskPETEstimator(**{**SMALL, "learning_rate": 1e30, "max_epochs": 5,
                                   "norm": None, "augment": False})
    with pytest.raises(TrainingDivergedError, match=r"loss became .* epoch \d"):
        est.fit(X, y, masks=masks, pathology=pathology)
    if hasattr(est, "module_"):  # best weights were restored: they predict finite values
        assert np.isfinite(est.predict_proba(X)).all()


# ------------------------------------------------------------ out of memory
def test_out_of_memory_becomes_a_clear_memory_error(data, monkeypatch):
    est = fit(data, max_epochs=1)

    def oom(self, x, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(MultiTaskWNet, "forward", oom)
    X, y, masks, pathology = data
    for call in (lambda: est.predict(X), lambda: est.segment(X),
                 lambda: clone(est).fit(X, y, masks=masks, pathology=pathology)):
        with pytest.raises(DeviceOutOfMemoryError, match=r"batch_size=4.*base_width") as info:
            call()
        assert isinstance(info.value, MemoryError)
        assert info.value.__cause__ is None and info.value.__suppress_context__


# ------------------------------------------------------ checkpoints, resume
def test_checkpoint_is_safe_to_load_and_holds_the_run(data, tmp_path):
    path = tmp_path / "run.ckpt"
    est = fit(data, checkpoint_path=path)
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == FORMAT_VERSION
    record = read_record(path)
    assert record.training_state["epoch"] == 3
    assert "exp_avg" in record.optimizer_state["state"][0]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    loaded = MultiTaskPETEstimator.load(path)
    assert [r["epoch"] for r in loaded.history_] == [1, 2, 3]
    X = data[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict_pathology(X), est.predict_pathology(X))
    assert loaded.best_epoch_ == est.best_epoch_


@pytest.mark.parametrize("interrupted_in, saved", [(4, 2), (5, 4), (None, 5)])
@pytest.mark.slow
def test_checkpoint_every_and_final_epoch(data, tmp_path, monkeypatch, interrupted_in, saved):
    """Every second epoch and the last one are written: a run interrupted in epoch 4 has
    epoch 2 saved, one interrupted in epoch 5 epoch 4, a finished one epoch 5."""
    path = tmp_path / "c.pt"
    if interrupted_in is not None:
        def interrupt():
            raise KeyboardInterrupt

        patch_forward(monkeypatch, interrupt,
                      on_call=(interrupted_in - 1) * BATCHES_PER_EPOCH + 1)
        with pytest.warns(TrainingInterruptedWarning):
            fit(data, max_epochs=5, checkpoint_path=path, checkpoint_every=2)
    else:
        fit(data, max_epochs=5, checkpoint_path=path, checkpoint_every=2)
    assert read_record(path).training_state["epoch"] == saved


@pytest.mark.slow
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(data, tmp_path, monkeypatch):
    reference = fit(data, max_epochs=4)
    path = tmp_path / "run.ckpt"

    def interrupt():
        raise KeyboardInterrupt

    patch_forward(monkeypatch, interrupt, on_call=2 * BATCHES_PER_EPOCH + 2)  # epoch 3
    with pytest.warns(TrainingInterruptedWarning, match=f"resume={str(path)!r}"):
        fit(data, max_epochs=4, checkpoint_path=path)
    monkeypatch.undo()
    assert read_record(path).training_state["epoch"] == 2
    resumed = fit(data, max_epochs=4, resume=path, checkpoint_path=path)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4]
    assert resumed.best_epoch_ == reference.best_epoch_
    assert_same_weights(resumed, reference)
    np.testing.assert_array_equal(resumed.predict_proba(data[0]),
                                  reference.predict_proba(data[0]))
    for a, b in zip(resumed.history_, reference.history_, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["valid_loss"] == b["valid_loss"]


def test_resume_refuses_another_architecture_or_data(data, tmp_path):
    path = tmp_path / "run.ckpt"
    fit(data, max_epochs=1, checkpoint_path=path)
    with pytest.raises(CheckpointError, match=r"resume=.*base_width=2 \(now 4\)"):
        fit(data, resume=path, base_width=4)
    X, y, masks, pathology = data
    with pytest.raises(CheckpointError, match=r"10 samples|12 samples \(now 10\)"):
        MultiTaskPETEstimator(**SMALL, resume=path).fit(
            X[:10], y[:10], masks=masks[:10], pathology=pathology[:10])
    with pytest.raises(FileNotFoundError, match="resume="):
        fit(data, resume=tmp_path / "missing.ckpt")


def test_resume_compares_the_saved_network_with_the_one_built(data, tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    fit(data, max_epochs=1, checkpoint_path=path)
    with pytest.raises(CheckpointError, match=r"lesion_burden=None \(now 'suv2.5'\)"):
        fit(data, resume=path, lesion_burden="suv2.5")
    # a difference no parameter check names is still found in the weights, not by torch
    monkeypatch.setattr("petmtl.training.checkpoint.ARCHITECTURE", ())
    with pytest.raises(CheckpointError, match=r"its network differs .*standardize\.mean of "
                                              r"shape"):
        fit(data, resume=path, lesion_burden="suv2.5")


@pytest.mark.parametrize("bad, error, match", [
    (dict(checkpoint_every=0), ValueError, "checkpoint_every"),
    (dict(checkpoint_every=1.5), TypeError, "checkpoint_every"),
    (dict(warm_start="yes"), TypeError, "warm_start"),
    (dict(checkpoint_path=3), TypeError, "checkpoint_path"),
    (dict(checkpoint_path="/nonexistent-petmtl-dir/x.ckpt"), ValueError, "checkpoint_path"),
    (dict(resume=["a"]), TypeError, "resume"),
    (dict(resume="."), ValueError, "resume"),
])
def test_checkpoint_parameters_are_validated(data, bad, error, match):
    with pytest.raises(error, match=match):
        fit(data, **bad)


# ----------------------------------------------------------- kill -9 + resume
HELPER = ROOT / "tests" / "_train_until_killed.py"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    path = tmp_path / "killed.ckpt"
    proc = subprocess.Popen([sys.executable, str(HELPER), str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the helper marks the first batch after its first checkpoint: mid-epoch 2, with
        # four more epochs of slow batches to go
        wait_for_file(Path(f"{path}.mid-epoch"), proc, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = read_record(path).training_state["epoch"]
    assert 1 <= saved < 6
    sys.path.insert(0, str(HELPER.parent))
    try:
        from _train_until_killed import PARAMS, dataset
    finally:
        sys.path.pop(0)
    X, y, masks, pathology = dataset()
    est = MultiTaskPETEstimator(**PARAMS, checkpoint_path=path, resume=path)
    est.fit(X, y, masks=masks, pathology=pathology)
    assert [r["epoch"] for r in est.history_] == list(range(1, 7))
    assert est.predict(X).shape == (len(X),)
    assert read_record(path).training_state["epoch"] == 6


# --------------------------------------------------------------- tampering
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("how", ["inside_checkpoint", "plain_pickle"])
@pytest.mark.slow
def test_tampered_checkpoint_is_refused_without_running_it(data, tmp_path, how):
    path, marker = tmp_path / "run.ckpt", tmp_path / "PWNED"
    fit(data, max_epochs=1, checkpoint_path=path)
    if how == "inside_checkpoint":
        payload = torch.load(path, weights_only=True)
        payload["metadata"] = _Payload(marker)
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps({"format": "petmtl-checkpoint",
                                       "x": _Payload(marker)}, protocol=2))
    for load in (lambda: read_record(path), lambda: MultiTaskPETEstimator.load(path),
                 lambda: fit(data, resume=path)):
        with pytest.raises(ValueError, match="refusing to load|not a readable"):
            load()
    with pytest.raises(CheckpointError, match="resume="):
        fit(data, resume=path)
    assert not marker.exists()


@pytest.mark.slow
def test_truncated_and_garbage_checkpoints_are_refused(data, tmp_path):
    path = tmp_path / "run.ckpt"
    fit(data, max_epochs=1, checkpoint_path=path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="resume="):
        fit(data, resume=path)
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="resume="):
        fit(data, resume=path)
    torch.save({"format": "something-else"}, path)
    with pytest.raises(CheckpointError, match="not a petmtl model file"):
        fit(data, resume=path)
    model = tmp_path / "model.pt"
    fit(data, max_epochs=1).save(model)
    with pytest.raises(CheckpointError, match="without a petmtl training state"):
        fit(data, resume=model)
