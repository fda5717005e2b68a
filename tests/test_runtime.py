"""Memory format, thread limits and GPU settings of a fit (petmtl._runtime)."""

from __future__ import annotations

import os

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


@pytest.mark.slow
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
    assert threads_per_fit() is None  # not inside a dask task: nothing to share
    with limited_threads():
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_thread_limit_shares_the_cpus_among_concurrent_tasks_and_restores(monkeypatch):
    from petmtl import _runtime

    cpus = _runtime._available_cpus()
    monkeypatch.setattr(_runtime, "_concurrent_dask_tasks", lambda: 2 * cpus)
    before = torch.get_num_threads()
    torch.set_num_threads(cpus)
    try:
        with limited_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == cpus
    finally:
        torch.set_num_threads(before)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_release_heap_returns_freed_heap_memory_to_the_system():
    """Regression: path-input fits kept freed NIfTI buffers (peak RSS grew with n)."""
    from petmtl import _runtime

    if _runtime._malloc_trim() is None or not os.path.exists("/proc/self/statm"):
        pytest.skip("needs glibc and /proc (Linux)")
    big = np.ones(16 * 2**20 // 8)  # freeing a 16 MiB mmap raises glibc's mmap threshold,
    del big  # so the next 1 MiB buffers come from the heap and stay there once freed
    chunks = [np.ones(2**20 // 8) for _ in range(48)]
    pin = np.ones(16)  # noqa: F841 - keeps the top of the heap in use
    del chunks
    before = _resident_bytes()
    _runtime.release_heap()
    assert before - _resident_bytes() >= 8 * 2**20
