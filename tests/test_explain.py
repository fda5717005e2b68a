"""Tests for petmtl.explain.grad_cam."""

import numpy as np
import pytest
import torch

from petmtl import MultiTaskPETEstimator
from petmtl.explain import grad_cam, scale_names

from .conftest import make_blob_volumes


@pytest.fixture(scope="module")
def blob_problem():
    """A planted blob decides the label (bright = 1, dim = 0); a short fit learns it.

    Without PET descriptors, whose linear path to the outcome Grad-CAM cannot see, and with
    T4's trained head: a linear refit on 16 samples may lean on background channels.
    """
    X, y, masks, pathology = make_blob_volumes(16, 16, seed=0)
    est = MultiTaskPETEstimator(tasks=(), outcome_features="global", base_width=4, depth=2,
                                outcome_descriptors=False, refit_outcome=False,
                                learning_rate=1e-2, max_epochs=30, early_stopping=False,
                                random_state=0)
    est.fit(X, y)
    return est, X, y, masks


@pytest.fixture(scope="module")
def multitask():
    X, y, masks, pathology = make_blob_volumes(8, 16, seed=1)
    est = MultiTaskPETEstimator(base_width=2, depth=3, max_epochs=1, random_state=0)
    return est.fit(X, y, masks=masks, pathology=pathology), X


def test_heat_concentrates_on_the_deciding_blob(blob_problem):
    est, X, y, masks = blob_problem
    assert (est.predict(X) == y).all()
    maps = grad_cam(est, X, target="outcome")
    assert list(maps) == ["encoder_0", "encoder_1"]
    for name, factor in (("encoder_0", 2.0), ("encoder_1", 1.2)):
        heat = maps[name]
        inside, outside = heat[masks > 0].mean(), heat[masks == 0].mean()
        assert inside > factor * outside, (name, inside, outside)


def test_single_scale_by_index_and_name_agree(blob_problem):
    est, X, _, _ = blob_problem
    by_index = grad_cam(est, X[:3], scale=0)
    by_name = grad_cam(est, X[:3], scale="encoder_0")
    by_negative = grad_cam(est, X[:3], scale=-2)
    assert isinstance(by_index, np.ndarray)
    np.testing.assert_allclose(by_index, by_name, atol=1e-6)
    np.testing.assert_allclose(by_index, by_negative, atol=1e-6)
    np.testing.assert_allclose(by_index, grad_cam(est, X[:3], batch_size=1)["encoder_0"],
                               atol=1e-5)


def test_shapes_range_and_all_scales(multitask):
    est, X = multitask
    names = scale_names(est)
    assert names == ["encoder_0", "encoder_1", "encoder_2", "segmentation_0", "segmentation_1"]
    for target in ("outcome", "pathology"):
        maps = grad_cam(est, X[:3], target=target, scale="all")
        assert list(maps) == names
        for heat in maps.values():
            assert heat.shape == (3, 16, 16, 16) and heat.dtype == np.float32
            assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
            peaks = heat.reshape(3, -1).max(axis=1)
            assert np.all((peaks == 0) | np.isclose(peaks, 1))


def test_odd_shapes_and_channel_axis(multitask):
    est, _ = multitask
    X = np.random.default_rng(0).normal(1, 0.2, (2, 1, 13, 10, 9)).astype(np.float32)
    heat = grad_cam(est, X, scale="segmentation_1", class_index=1)
    assert heat.shape == (2, 13, 10, 9)
    assert np.isfinite(heat).all() and 0 <= heat.min() and heat.max() <= 1


def test_class_index_flips_the_binary_score(blob_problem):
    est, X, y, _ = blob_problem
    pos = grad_cam(est, X[:4], scale=1, class_index=1)
    neg = grad_cam(est, X[:4], scale=1, class_index=0)
    assert not np.allclose(pos, neg)


def test_errors(blob_problem, multitask):
    est, X, _, _ = blob_problem
    with pytest.raises(ValueError, match="target='pathology'.*pathology task is disabled"):
        grad_cam(est, X[:1], target="pathology")
    with pytest.raises(ValueError, match="target must be one of"):
        grad_cam(est, X[:1], target="mask")
    with pytest.raises(ValueError, match="target='segmentation'.*segmentation task is disabled"):
        grad_cam(est, X[:1], target="segmentation")
    with pytest.raises(ValueError, match="scale must be .*segmentation task is disabled"):
        grad_cam(est, X[:1], scale="segmentation_0")
    with pytest.raises(ValueError, match=r"scale must be 'all', an int in \[0, 1\]"):
        grad_cam(est, X[:1], scale=5)
    with pytest.raises(TypeError, match="scale must be"):
        grad_cam(est, X[:1], scale=1.5)
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 1\]"):
        grad_cam(est, X[:1], class_index=2)
    with pytest.raises(TypeError, match="class_index must be None or an int"):
        grad_cam(est, X[:1], class_index="1")
    with pytest.raises(ValueError, match="batch_size"):
        grad_cam(est, X[:1], batch_size=0)
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        grad_cam(MultiTaskPETEstimator(), X[:1])


def test_network_left_in_its_mode_and_unchanged(multitask):
    est, X = multitask
    before = {k: v.clone() for k, v in est.module_.state_dict().items()}
    grads = [None if p.grad is None else p.grad.clone() for p in est.module_.parameters()]
    proba = est.predict_proba(X)
    grad_cam(est, X)
    assert not est.module_.training
    for k, v in est.module_.state_dict().items():
        assert torch.equal(v, before[k])
    for p, g in zip(est.module_.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    np.testing.assert_array_equal(est.predict_proba(X), proba)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu():
    X, y, masks, pathology = make_blob_volumes(8, 16, seed=2)
    params = dict(base_width=2, depth=2, max_epochs=1, random_state=0, amp=False)
    est = MultiTaskPETEstimator(device="cuda", **params).fit(X, y, masks=masks,
                                                            pathology=pathology)
    on_gpu = grad_cam(est, X)
    est.module_.cpu()
    est.device_ = torch.device("cpu")
    on_cpu = grad_cam(est, X)
    for name in on_cpu:
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], atol=1e-3)


@pytest.fixture(scope="module")
def segmenter():
    """A short T2-only fit that finds the planted blobs."""
    X, y, masks, _ = make_blob_volumes(16, 16, seed=2)
    est = MultiTaskPETEstimator(tasks=("segmentation",), outcome_features="global",
                                base_width=4, depth=2, learning_rate=1e-2, max_epochs=25,
                                early_stopping=False, random_state=0)
    return est.fit(X, y, masks=masks), X, masks


def test_segmentation_heat_sits_on_the_predicted_tumour(segmenter):
    est, X, masks = segmenter
    predicted = est.segment(X)
    assert predicted[masks > 0].mean() > 0.5  # the fit found the blobs
    maps = grad_cam(est, X, target="segmentation")
    assert list(maps) == ["encoder_0", "encoder_1", "segmentation_0"]
    for name in ("encoder_0", "segmentation_0"):  # full-resolution scales
        heat = maps[name]
        assert heat[masks > 0].mean() > 2.0 * heat[masks == 0].mean(), name
    background = grad_cam(est, X[:2], target="segmentation", scale="segmentation_0",
                          class_index=0)
    assert not np.allclose(background, maps["segmentation_0"][:2])


@pytest.mark.parametrize("loss", ["cox", "logistic_hazard"])
@pytest.mark.slow
def test_survival_outcome_maps_explain_the_predicted_risk(loss):
    from petmtl import MultiTaskPETSurvival
    from petmtl.survival import make_survival_y

    X, y, masks, pathology = make_blob_volumes(n_samples=12, size=16, seed=3)
    rng = np.random.default_rng(0)
    surv = make_survival_y(rng.random(12) < 0.8, np.where(y == 1, 5.0, 20.0) + rng.random(12))
    surv["event"][:2] = True
    est = MultiTaskPETSurvival(base_width=2, depth=2, max_epochs=1, loss=loss, n_time_bins=3,
                               random_state=0).fit(X, surv, masks=masks, pathology=pathology)
    maps = grad_cam(est, X[:2], target="outcome")
    assert set(maps) == set(scale_names(est))
    for heat in maps.values():
        assert heat.shape == (2, 16, 16, 16) and 0.0 <= heat.min() and heat.max() <= 1.0
    assert any(heat.max() > 0 for heat in maps.values())
    with pytest.raises(ValueError, match="class_index must be None"):
        grad_cam(est, X[:1], target="outcome", class_index=1)
