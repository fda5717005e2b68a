import numpy as np
import pytest

from petmtl.metrics import DiceScorer, dice_score


def _masks():
    a = np.zeros((3, 4, 4, 4), dtype=np.uint8)
    b = np.zeros_like(a)
    a[0, :2] = 1
    b[0, :2] = 1          # identical -> 1
    a[1, :2] = 1
    b[1, 1:3] = 1         # overlap 16 of 32 + 32 -> 0.5
    return a, b           # sample 2: both empty -> empty_score


def test_dice_hand_computed_per_sample_and_mean():
    a, b = _masks()
    np.testing.assert_allclose(dice_score(a, b, per_sample=True), [1.0, 0.5, 1.0])
    assert dice_score(a, b) == pytest.approx(2.5 / 3)
    assert dice_score(a, b, empty_score=0.0) == pytest.approx(1.5 / 3)


def test_missing_reference_masks_are_left_out():
    a, b = _masks()
    partial = [a[0], None, a[2]]
    scores = dice_score(partial, b, per_sample=True)
    assert np.isnan(scores[1]) and scores[0] == 1.0
    assert dice_score(partial, b) == 1.0
    with pytest.raises(ValueError, match="no annotated sample"):
        dice_score([None, None, None], b)


def test_single_volume_and_bad_shapes():
    a, b = _masks()
    assert dice_score(a[1], b[1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="masks_pred"):
        dice_score(a, b[0, 0])
    with pytest.raises(ValueError, match="masks must have"):
        dice_score(a[:, :2], b)


def test_scorer_without_masks_explains_routing():
    with pytest.raises(ValueError, match="metadata routing"):
        DiceScorer()(object(), np.zeros((1, 4)), None)
    assert "masks" in str(DiceScorer().get_metadata_routing())


def test_probability_maps_are_refused_not_scored_as_tumour_everywhere():
    """Regression: a uniform 0.01 map scored 0.667 against a mask covering half the volume."""
    truth = np.zeros((1, 4, 4, 4), dtype=np.uint8)
    truth[0, :2] = 1
    with pytest.raises(ValueError, match=r"masks_pred must be binary.*proba >= 0.5"):
        dice_score(truth, np.full(truth.shape, 0.01))
    assert dice_score(truth, np.full(truth.shape, 0.01) >= 0.5) == 0.0
    assert dice_score(truth, truth.astype(bool)) == 1.0
