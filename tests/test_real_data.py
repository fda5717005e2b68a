"""The io layer on real clinical PET (shared/data; skipped when the data is absent)."""

import time

import nibabel as nib
import numpy as np
import pytest

from petmtl.io import (
    load_mask,
    load_pet,
    prepare_volume,
    resample_to_spacing,
    to_canonical,
    write_mask_like,
)
from petmtl.pet import suv_stats

from .conftest import SHARED_DATA

DATA = SHARED_DATA
STS = DATA / "sts-pet"
WB = DATA / "wholebody-pet"
CROPS = sorted(STS.glob("STS_*")) if STS.is_dir() else []

needs_sts = pytest.mark.skipif(len(CROPS) == 0, reason=f"real STS crops not found in {STS}")
needs_wb = pytest.mark.skipif(not (WB / "STS_001_mask.nii.gz").is_file(),
                              reason=f"whole-body scans not found in {WB}")


def _dice(a, b):
    a, b = a > 0, b > 0
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@needs_sts
def test_all_sts_crops_load_and_prepare():
    assert len(CROPS) == 51
    spacings, suv_max, volumes, n_truncated = set(), [], [], 0
    for case in CROPS:
        pet = load_pet(case / "PET_image.nii.gz")
        mask = load_mask(case / "PET_mask.nii.gz", pet)
        assert pet.axcodes() == ("L", "P", "S"), case.name
        assert 26 <= min(pet.shape) and max(pet.shape) <= 114, case.name
        spacings.add(tuple(round(s, 3) for s in pet.spacing))
        assert pet.data.min() >= 0 and pet.data.max() <= 52.9, case.name
        s = suv_stats(pet.data, mask.data, pet.spacing)
        suv_max.append(s["SUVmax"])
        volumes.append(s["MTV_ml"])
        x, m, rec = prepare_volume(case / "PET_image.nii.gz", case / "PET_mask.nii.gz")
        assert x.shape == m.shape == (64, 64, 64), case.name
        inside_ml = m.sum() * 8.0 / 1000.0
        touches_border = any(m[sl].any() for sl in (np.s_[0], np.s_[-1], np.s_[:, 0],
                                                    np.s_[:, -1], np.s_[..., 0], np.s_[..., -1]))
        if touches_border:  # tumour larger than the 12.8 cm window: truncated
            n_truncated += 1
            idx = np.argwhere(mask.data)
            extent_mm = (idx.max(axis=0) - idx.min(axis=0) + 1) * np.asarray(pet.spacing)
            assert extent_mm.max() > 64.0, case.name  # can only touch if > half the window
        else:  # kept whole: centred, and its volume survives the resampling to 2 mm
            centroid = np.argwhere(m > 0).mean(axis=0)
            np.testing.assert_allclose(centroid, [32, 32, 32], atol=1.0, err_msg=case.name)
            assert inside_ml == pytest.approx(s["MTV_ml"], rel=0.1), case.name
            # trilinear interpolation to 2 mm keeps the tumour's peak roughly
            assert float(x[m > 0].max()) == pytest.approx(s["SUVmax"], rel=0.25), case.name
        assert float(x.max()) <= float(pet.data.max()) + 1e-4, case.name  # no overshoot
        assert nib.aff2axcodes(rec.output_affine) == ("R", "A", "S")
    # limb sarcomas are long: about half exceed a 64^3 window of 2 mm (12.8 cm) and are cut
    assert 20 <= n_truncated <= 32
    assert {sp[0] for sp in spacings} == {3.906, 4.688, 5.469}
    assert {sp[2] for sp in spacings} == {3.27}
    assert min(suv_max) == pytest.approx(3.4, abs=0.1) and max(suv_max) == pytest.approx(30.0,
                                                                                          abs=0.1)
    assert min(volumes) == pytest.approx(17, abs=1) and max(volumes) == pytest.approx(2339, abs=5)


@needs_sts
@needs_wb
def test_sts001_crop_is_a_subgrid_of_the_whole_body_scan():
    wb = load_pet(WB / "STS_001_pet_suvbw.nii.gz")
    wbm = load_mask(WB / "STS_001_mask.nii.gz", wb)
    crop = load_pet(STS / "STS_001" / "PET_image.nii.gz")
    cm = load_mask(STS / "STS_001" / "PET_mask.nii.gz", crop)
    assert wb.shape == (128, 128, 267) and wb.spacing == pytest.approx((4.6875, 4.6875, 3.27))
    offset = np.linalg.solve(wb.affine, crop.affine[:, 3])[:3]
    start = np.round(offset).astype(int)
    np.testing.assert_allclose(offset, start, atol=1e-3)
    box = tuple(slice(s, s + n) for s, n in zip(start, crop.shape, strict=True))
    np.testing.assert_allclose(wb.data[box], crop.data, atol=1e-2)
    assert suv_stats(wb.data, wbm.data, wb.spacing)["SUVmax"] == pytest.approx(7.91, abs=0.01)
    assert suv_stats(crop.data, cm.data, crop.spacing)["SUVmax"] == pytest.approx(7.91, abs=0.01)
    assert _dice(wbm.data[box], cm.data) > 0.85  # two independent rasterisations


@needs_wb
@pytest.mark.slow
def test_whole_body_label_map_and_prepare(tmp_path):
    pet_path = WB / "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz"
    mask_path = WB / "QIN-HEADNECK-01-0139_mask.nii.gz"
    pet = load_pet(pet_path)
    assert pet.shape == (168, 168, 545) and pet.data.max() == pytest.approx(89.9, abs=0.1)
    with pytest.raises(ValueError, match=r"QIN-HEADNECK-01-0139_mask\.nii\.gz is not binary"):
        load_mask(mask_path, pet)
    lesions = load_mask(mask_path, pet, binarize=True)
    primary = load_mask(mask_path, pet, label=1)
    assert 0 < primary.data.sum() < lesions.data.sum()

    t0 = time.perf_counter()
    x, m, rec = prepare_volume(pet_path, mask_path, label=1)
    elapsed = time.perf_counter() - t0
    assert elapsed < 10.0, f"prepare_volume took {elapsed:.1f} s"
    assert x.shape == (64, 64, 64) and m.sum() > 0
    back = rec.to_original(m.astype(np.uint8))
    assert _dice(back, primary.data) > 0.95
    out = write_mask_like(back, pet_path, tmp_path / "primary.nii.gz")
    img, ref = nib.load(out), nib.load(pet_path)
    np.testing.assert_array_equal(img.affine, ref.affine)
    assert img.header["sform_code"] == ref.header["sform_code"] == 2
    assert img.header["qform_code"] == ref.header["qform_code"] == 0

    # body-centred window without a mask, and the full 2 mm grid for sliding windows
    xb, mb, rb = prepare_volume(pet_path, center="body")
    assert mb is None and xb.max() > 0
    t0 = time.perf_counter()
    full = resample_to_spacing(to_canonical(pet), 2.0)
    elapsed = time.perf_counter() - t0
    assert full.shape == (285, 285, 552) and elapsed < 15.0
    np.testing.assert_allclose(float(full.data.max()), float(pet.data.max()), rtol=0.2)


@needs_wb
def test_whole_body_sts_prepare_centres_the_tumour():
    x, m, rec = prepare_volume(WB / "STS_001_pet_suvbw.nii.gz", WB / "STS_001_mask.nii.gz",
                               shape=(96, 96, 96))
    np.testing.assert_allclose(np.argwhere(m > 0).mean(axis=0), [48, 48, 48], atol=1.0)
    assert float(x[m > 0].max()) == pytest.approx(7.91, rel=0.25)
    assert rec.original_shape == (128, 128, 267)
