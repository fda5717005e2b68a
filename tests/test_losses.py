import math

import pytest
import torch

from petmtl.losses import (
    classification_loss,
    multitask_loss,
    reconstruction_loss,
    segmentation_loss,
    soft_dice,
    task_weights,
)


def test_identical_masks_have_dice_one_and_zero_loss():
    mask = torch.zeros(2, 1, 4, 4, 4)
    mask[:, :, :2] = 1
    assert torch.allclose(soft_dice(mask, mask), torch.ones(2))
    logits = mask * 200 - 100  # sigmoid -> exactly 0/1
    loss = segmentation_loss(logits, mask, torch.tensor([True, True]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_disjoint_masks_dice_is_only_the_smoothing_term():
    a = torch.zeros(1, 1, 4, 4, 4)
    b = torch.zeros(1, 1, 4, 4, 4)
    a[..., :2] = 1
    b[..., 2:] = 1
    # (2 * 0 + 1) / (32 + 32 + 1)
    assert soft_dice(a, b, smooth=1.0).item() == pytest.approx(1 / 65)


def test_soft_dice_hand_computed():
    p = torch.tensor([[0.5, 0.5, 0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    # 2 * (0.5 + 1) + 1 = 4 ; 2 + 2 + 1 = 5
    assert soft_dice(p, t).item() == pytest.approx(0.8)


def test_reconstruction_is_mse():
    a = torch.tensor([1.0, 2.0, 3.0])
    b = torch.tensor([1.0, 0.0, 0.0])
    assert reconstruction_loss(a, b).item() == pytest.approx((0 + 4 + 9) / 3)


def test_binary_and_multiclass_cross_entropy_hand_computed():
    logits = torch.tensor([0.0, 2.0])
    labels = torch.tensor([1, 0])
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert classification_loss(logits, labels, torch.tensor([True, True])).item() == \
        pytest.approx(expected, rel=1e-6)
    multi = torch.tensor([[0.0, 0.0, 0.0]])
    assert classification_loss(multi, torch.tensor([2]), torch.tensor([True])).item() == \
        pytest.approx(math.log(3), rel=1e-6)


def test_cross_entropy_keeps_float64_and_lifts_half_precision():
    """The linear refit of T4 minimises it in float64; mixed-precision training feeds
    half-precision logits, which are summed in float32."""
    logits = torch.tensor([1e-9, 2.0], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    known = torch.tensor([True, True])
    loss = classification_loss(logits, labels, known, class_weights=(0.5, 1.5))
    assert loss.dtype == torch.float64
    expected = (1.5 * math.log1p(math.exp(-1e-9)) + 0.5 * math.log1p(math.exp(2))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-14)
    assert classification_loss(logits.half(), labels, known).dtype == torch.float32


def test_only_labelled_samples_count():
    logits = torch.tensor([10.0, -10.0])
    labels = torch.tensor([1, 1])
    only_first = classification_loss(logits, labels, torch.tensor([True, False]))
    assert only_first.item() == pytest.approx(math.log1p(math.exp(-10)), rel=1e-4)


def test_no_labelled_sample_gives_zero_not_nan_and_keeps_gradient():
    logits = torch.randn(3, requires_grad=True)
    loss = classification_loss(logits, torch.zeros(3, dtype=torch.long),
                               torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros(3))
    seg = segmentation_loss(torch.randn(2, 1, 4, 4, 4), torch.zeros(2, 1, 4, 4, 4),
                            torch.tensor([False, False]))
    assert seg.item() == 0.0


@pytest.mark.parametrize("lam", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_weights_follow_lambda_as_documented(lam):
    w = task_weights(lam, ("reconstruction", "segmentation", "pathology"))
    assert w["outcome"] == lam
    assert w["reconstruction"] == w["segmentation"] == w["pathology"] == \
        pytest.approx((1 - lam) / 3)
    # the paper's relation omega = 1 - (lambda + 2 alpha), with alpha = beta
    assert w["pathology"] == pytest.approx(1 - (lam + 2 * w["reconstruction"]))
    assert sum(w.values()) == pytest.approx(1.0)


def test_disabled_tasks_get_zero_weight():
    w = task_weights(0.3, ("segmentation",))
    assert w == {"reconstruction": 0.0, "segmentation": pytest.approx(0.7),
                 "pathology": 0.0, "outcome": 0.3}
    assert task_weights(0.3, ()) == {"reconstruction": 0.0, "segmentation": 0.0,
                                     "pathology": 0.0, "outcome": 1.0}


def test_multitask_loss_is_the_weighted_sum_of_its_logged_terms():
    torch.manual_seed(0)
    n = 3
    outputs = {"reconstruction": torch.randn(n, 1, 4, 4, 4),
               "segmentation": torch.randn(n, 1, 4, 4, 4),
               "pathology": torch.randn(n, 1), "outcome": torch.randn(n)}
    batch = {"image": torch.randn(n, 1, 4, 4, 4),
             "mask": (torch.rand(n, 1, 4, 4, 4) > 0.5).float(),
             "mask_known": torch.tensor([True, False, True]),
             "pathology": torch.tensor([0, 1, 0]),
             "pathology_known": torch.tensor([False, False, False]),
             "outcome": torch.tensor([1, 0, 0]),
             "outcome_known": torch.tensor([True, True, False])}
    weights = task_weights(0.3, ("reconstruction", "segmentation", "pathology"))
    total, terms = multitask_loss(outputs, batch, weights)
    assert set(terms) == {"reconstruction", "segmentation", "pathology", "outcome"}
    assert terms["pathology"] == 0.0
    expected = sum(weights[k] * v for k, v in terms.items())
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(total.item())
