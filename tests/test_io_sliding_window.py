"""Sliding-window inference (petmtl.io.sliding_window_predict)."""

import numpy as np
import pytest
import torch

from petmtl.io import DEFAULT_OVERLAP, sliding_window_predict


def _identity(calls):
    def fn(batch):
        calls.append(batch.shape)
        assert batch.dtype == np.float32
        return batch.copy()
    return fn


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
@pytest.mark.parametrize("shape", [(70, 45, 33), (20, 9, 31), (64, 64, 64), (1, 80, 17)])
def test_identity_returns_input(shape, blend):
    rng = np.random.default_rng(0)
    vol = rng.random(shape).astype(np.float32) * 10
    calls = []
    out = sliding_window_predict(vol, _identity(calls), (32, 16, 16), overlap=0.5, blend=blend,
                                 batch_size=3)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, vol, rtol=1e-5, atol=1e-5)
    assert all(c[0] <= 3 and c[1:] == (32, 16, 16) for c in calls)


def test_window_count_and_coverage():
    calls = []
    vol = np.ones((100, 64, 40), np.float32)
    sliding_window_predict(vol, _identity(calls), (64, 64, 64), overlap=0.5, batch_size=2)
    # axis 0: starts 0, 32, 36; axis 1: one; axis 2: padded to 64, one
    assert sum(c[0] for c in calls) == 3 and [c[0] for c in calls] == [2, 1]


def test_blending_averages_disagreeing_windows():
    counter = iter(range(1000))

    def per_window_constant(batch):
        return np.stack([np.full(batch.shape[1:], float(next(counter)), np.float32)
                         for _ in batch])

    vol = np.zeros((64, 16, 16), np.float32)  # windows start at 0, 16, 32 along axis 0
    out = sliding_window_predict(vol, per_window_constant, (32, 16, 16), blend="constant",
                                 batch_size=1, overlap=0.5)
    np.testing.assert_allclose(out[:16], 0.0)
    np.testing.assert_allclose(out[16:32], 0.5)  # windows 0 and 1 averaged
    np.testing.assert_allclose(out[32:48], 1.5)
    np.testing.assert_allclose(out[48:], 2.0)
    counter = iter(range(1000))
    g = sliding_window_predict(vol, per_window_constant, (32, 16, 16), blend="gaussian",
                               overlap=0.5)
    # slices 16..31 lie between the centres of windows 0 (15.5) and 1 (31.5): the nearer
    # window dominates, symmetrically about the midpoint 23.5
    line = g[16:32, 8, 8]
    assert np.all(np.diff(line) > 0) and 0.0 < line[0] < 0.05 and 0.95 < line[-1] < 1.0
    assert line[7] < 0.5 < line[8]
    assert line[7] + line[8] == pytest.approx(1.0, abs=1e-5)


def test_errors():
    vol = np.zeros((10, 10, 10), np.float32)
    with pytest.raises(ValueError, match=r"shape \(2, 4, 4, 4\).*got \(2, 4, 4\)"):
        sliding_window_predict(vol, lambda b: b[:, 0], (4, 4, 4), batch_size=2)
    with pytest.raises(ValueError, match=r"overlap must be a number in \[0, 1\), got 1.0"):
        sliding_window_predict(vol, lambda b: b, (4, 4, 4), overlap=1.0)
    with pytest.raises(ValueError, match="blend must be 'gaussian' or 'constant', got 'mean'"):
        sliding_window_predict(vol, lambda b: b, (4, 4, 4), blend="mean")
    with pytest.raises(ValueError, match="3-D array, got shape"):
        sliding_window_predict(vol[0], lambda b: b, (4, 4, 4))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        sliding_window_predict(vol, lambda b: b, (4, 4, 4), batch_size=0)
    with pytest.raises(TypeError, match="predict_fn must be callable"):
        sliding_window_predict(vol, "model", (4, 4, 4))


def test_default_overlap_is_a_quarter_window():
    calls = []
    vol = np.ones((160, 64, 64), np.float32)
    sliding_window_predict(vol, _identity(calls), (64, 64, 64), batch_size=1)
    # steps of 48 voxels: starts 0, 48, 96 along axis 0 (the last flush with the end)
    assert len(calls) == 3 and DEFAULT_OVERLAP == 0.25


def test_tensor_input_stays_a_tensor_and_matches_the_array_result():
    rng = np.random.default_rng(0)
    vol = rng.random((40, 30, 20)).astype(np.float32)
    seen = []

    def square(batch):
        seen.append(type(batch))
        return batch**2

    from_array = sliding_window_predict(vol, square, (16, 16, 16), overlap=0.25)
    from_tensor = sliding_window_predict(torch.from_numpy(vol), square, (16, 16, 16),
                                         overlap=0.25)
    assert isinstance(from_tensor, torch.Tensor) and isinstance(from_array, np.ndarray)
    assert seen[0] is np.ndarray and seen[-1] is torch.Tensor
    np.testing.assert_allclose(from_tensor.numpy(), from_array, rtol=1e-6)
    np.testing.assert_allclose(from_array, vol**2, rtol=1e-5)
