"""File -> resample -> segment -> file keeps the source grid; real STS crops fit."""

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from petmtl import MultiTaskPETEstimator
from petmtl.io import load_mask, load_pet

from .test_path_input import PATHS, write_cohort
from .test_real_data import CROPS, needs_sts

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

# LPS orientation (the scanner's), 4.06 x 4.06 x 2.0 mm voxels as in the paper's data
LPS_ANISO = np.array([[-4.06, 0, 0, 120.0], [0, -4.06, 0, 95.0], [0, 0, 2.0, -40.0],
                      [0, 0, 0, 1]])


class _ThresholdNet(nn.Module):
    """Stand-in network: the tumour is every voxel above SUV 5 (a sharp sigmoid)."""

    def forward(self, x, outputs=None):
        return {"segmentation": (x - 5.0) * 50.0}


def _sphere_scan(shape=(24, 22, 40), centre=(11.0, 10.0, 21.0), radius_mm=14.0):
    idx = np.indices(shape, dtype=np.float64)
    spacing = np.abs(np.diag(LPS_ANISO)[:3])
    dist = np.sqrt(sum(((idx[a] - centre[a]) * spacing[a]) ** 2 for a in range(3)))
    pet = np.where(dist <= radius_mm, 10.0, 1.0).astype(np.float32)
    return pet, (dist <= radius_mm).astype(np.uint8)


def test_segment_round_trip_keeps_shape_affine_orientation_at_anisotropic_spacing(tmp_path):
    pet, truth = _sphere_scan()
    (path,), (mask_path,) = write_cohort(tmp_path, [pet], [truth], affine=LPS_ANISO)
    X, y = np.stack([pet[:16, :16, :16]] * 4), np.array([0, 1, 0, 1])
    est = MultiTaskPETEstimator(**{**PATHS, "tasks": ("segmentation",)}).fit(
        X, y, masks=np.stack([truth[:16, :16, :16]] * 4))
    est.module_ = _ThresholdNet()
    est.intensity_shift_, est.intensity_scale_ = 0.0, 1.0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (written,) = est.segment([path], output_dir=out_dir)
    src, out = nib.load(path), nib.load(written)
    assert out.shape == src.shape
    np.testing.assert_allclose(out.affine, src.affine)
    assert nib.aff2axcodes(out.affine) == nib.aff2axcodes(src.affine) == ("L", "P", "S")
    np.testing.assert_allclose(out.header.get_zooms(), (4.06, 4.06, 2.0), rtol=1e-6)
    predicted = load_mask(written, reference=load_pet(path)).data > 0
    expected = load_mask(mask_path).data > 0
    dice = 2 * np.sum(predicted & expected) / (predicted.sum() + expected.sum())
    assert dice > 0.9, dice
    centroid = np.argwhere(predicted).mean(0) - np.argwhere(expected).mean(0)
    assert np.all(np.abs(centroid) < 0.5)


def test_saved_model_keeps_path_settings_and_segments_identically(tmp_path):
    pet, truth = _sphere_scan()
    pets, masks = write_cohort(tmp_path, [pet, pet * 0.8, pet, pet * 0.8], [truth] * 4,
                               affine=LPS_ANISO)
    est = MultiTaskPETEstimator(**{**PATHS, "input_shape": (16, 16, 24),
                                   "tasks": ("segmentation",)}).fit(pets, [0, 1, 0, 1],
                                                                    masks=masks)
    back = MultiTaskPETEstimator.load(est.save(tmp_path / "m.pt"))
    assert back.input_shape == (16, 16, 24) and back.spacing == 2.0
    np.testing.assert_array_equal(back.segment_proba(pets[:1])[0], est.segment_proba(pets[:1])[0])
    np.testing.assert_array_equal(back.decision_function(pets), est.decision_function(pets))


@needs_sts
def test_fit_on_the_51_real_sts_crops_runs_through():
    pets = [str(c / "PET_image.nii.gz") for c in CROPS]
    masks = [str(c / "PET_mask.nii.gz") for c in CROPS]
    y = np.arange(len(pets)) % 2  # no outcome labels ship with the crops
    torch.manual_seed(0)
    est = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, batch_size=8,
                                tasks=("reconstruction", "segmentation"), spacing=4.0,
                                input_shape=(24, 24, 24), crop_center="auto",
                                random_state=0).fit(pets, y, masks=masks)
    assert len(pets) == 51 and np.isfinite(est.history_[-1]["train_loss"])
    proba = est.predict_proba(pets[:3])
    assert proba.shape == (3, 2) and np.all(np.isfinite(proba))
    seg = est.segment(pets[:1])[0]
    assert seg.shape == nib.load(pets[0]).shape
