"""Feeding the network (petmtl._forward): one volume at a time on a CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from petmtl import MultiTaskPETEstimator

from .conftest import TINY, network_batch_sizes


def _slow_convolutions(run) -> list[list[int]]:
    """The weight shapes of the reference (slow) 3-D convolutions that ``run`` calls."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        run()
    return [event.input_shapes[1] for event in prof.key_averages(group_by_input_shape=True)
            if event.key == "aten::slow_conv3d_forward"]


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                    reason="this PyTorch build has no oneDNN")
def test_one_volume_is_predicted_with_the_fast_cpu_convolution(blobs):
    """Regression: a batch of one volume ran PyTorch's reference 3-D convolution on a CPU
    (several times slower than oneDNN, which it uses from two volumes up for 3x3x3
    kernels), which every file of ``predict_files`` and every lone last batch paid."""
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY).fit(X, y, masks=masks, pathology=pathology)
    alone = {}
    slow = _slow_convolutions(lambda: alone.update(proba=est.predict_proba(X[:1]),
                                                   masks=est.segment_proba(X[:1])))
    # on one thread PyTorch keeps its own kernel for 1x1x1 convolutions (faster there)
    assert all(shape[2:] == [1, 1, 1] for shape in slow), slow
    np.testing.assert_allclose(alone["proba"], est.predict_proba(X[:2])[:1], atol=1e-5)
    np.testing.assert_allclose(alone["masks"], est.segment_proba(X[:2])[:1], atol=1e-5)


def test_training_batches_reach_the_network_as_they_are(blobs, monkeypatch):
    """Only inference duplicates a lone volume: in training the samples of a batch meet
    (batch norm, Cox risk sets), so a batch of one stays one."""
    X, y, masks, pathology = blobs
    sizes = network_batch_sizes(monkeypatch, training=True)
    MultiTaskPETEstimator(**{**TINY, "batch_size": 1, "max_epochs": 1}).fit(
        X[:6], y[:6], masks=masks[:6], pathology=pathology[:6])
    assert sizes and set(sizes) == {1}
