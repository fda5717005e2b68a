"""Feeding the network (petmtl._forward): one volume at a time on a CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from petmtl import MultiTaskPETEstimator
from petmtl.network import MultiTaskWNet

from .conftest import TINY


def _kernels(run) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return {event.key for event in prof.key_averages() if "conv" in event.key}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                    reason="this PyTorch build has no oneDNN")
def test_one_volume_is_predicted_with_the_fast_cpu_convolution(blobs):
    """Regression: a batch of one volume ran PyTorch's reference 3-D convolution on a CPU
    (several times slower than oneDNN, which it uses from two volumes up), which every
    file of ``predict_files`` and every lone last batch paid."""
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY).fit(X, y, masks=masks, pathology=pathology)
    alone = {}
    kernels = _kernels(lambda: alone.update(proba=est.predict_proba(X[:1]),
                                            masks=est.segment_proba(X[:1])))
    assert "aten::mkldnn_convolution" in kernels
    assert "aten::slow_conv3d_forward" not in kernels
    np.testing.assert_allclose(alone["proba"], est.predict_proba(X[:2])[:1], atol=1e-5)
    np.testing.assert_allclose(alone["masks"], est.segment_proba(X[:2])[:1], atol=1e-5)


def test_training_batches_reach_the_network_as_they_are(blobs, monkeypatch):
    """Only inference duplicates a lone volume: in training the samples of a batch meet
    (batch norm, Cox risk sets), so a batch of one stays one."""
    X, y, masks, pathology = blobs
    sizes = []
    forward = MultiTaskWNet.forward

    def recording(self, x, **kwargs):
        if self.training:
            sizes.append(len(x))
        return forward(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", recording)
    MultiTaskPETEstimator(**{**TINY, "batch_size": 1, "max_epochs": 1}).fit(
        X[:6], y[:6], masks=masks[:6], pathology=pathology[:6])
    assert sizes and set(sizes) == {1}
