"""Memory format, thread limits and GPU settings of a fit (petmtl._runtime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from petmtl import MultiTaskPETEstimator
from petmtl._runtime import limited_threads, resolve_memory_format, threads_per_fit

from .conftest import TINY


@pytest.mark.parametrize("name, device, expected", [
    ("auto", "cpu", torch.channels_last_3d), ("auto", "meta", torch.contiguous_format),
    ("channels_last", "meta", torch.channels_last_3d), ("contiguous", "cpu",
                                                         torch.contiguous_format)])
def test_resolve_memory_format(name, device, expected):
    assert resolve_memory_format(name, torch.device(device)) is expected


def test_invalid_memory_format_is_rejected(blobs):
    X, y, masks, pathology = blobs
    with pytest.raises(ValueError, match="memory_format"):
        MultiTaskPETEstimator(memory_format="nhwc", **TINY).fit(
            X, y, masks=masks, pathology=pathology)


def test_both_memory_formats_train_the_same_network(blobs):
    X, y, masks, pathology = blobs
    fits = {}
    for fmt in ("channels_last", "contiguous"):
        est = MultiTaskPETEstimator(memory_format=fmt, **TINY)
        fits[fmt] = est.fit(X, y, masks=masks, pathology=pathology)
        conv = fits[fmt].module_.encoder.levels[0][0].weight
        assert conv.is_contiguous(memory_format=resolve_memory_format(fmt, est.device_))
    # Different kernels, so not bit-identical, but the same computation.
    np.testing.assert_allclose(fits["channels_last"].decision_function(X),
                               fits["contiguous"].decision_function(X), rtol=1e-3, atol=1e-3)


def test_thread_limit_outside_dask_keeps_torch_setting():
    before = torch.get_num_threads()
    assert threads_per_fit() is None or threads_per_fit() < before
    with limited_threads():
        pass
    assert torch.get_num_threads() == before


def test_release_heap_trims_on_glibc_and_is_a_no_op_elsewhere(monkeypatch):
    """Regression: path-input fits kept freed NIfTI buffers (peak RSS grew with n)."""
    from petmtl import _runtime

    calls = []
    monkeypatch.setattr(_runtime, "_malloc_trim", lambda: calls.append)
    _runtime.release_heap()
    assert calls == [0]
    monkeypatch.setattr(_runtime, "_malloc_trim", lambda: None)
    _runtime.release_heap()  # nothing to call: must not raise
    assert calls == [0]
