"""PET quantification helpers (petmtl.pet)."""

import datetime as dt

import numpy as np
import pytest
from scipy import ndimage

from petmtl.pet import (
    F18_HALF_LIFE_S,
    mtv_mask,
    peritumoral_region,
    suv_body_weight,
    suv_stats,
)


# ----------------------------------------------------------------------------- SUV
def test_suv_body_weight_formula_and_time_forms():
    # 370 MBq, 70 kg, scanned one half-life after injection: dose at scan 185 MBq
    kw = dict(weight_kg=70.0, injected_dose_bq=370e6)
    suv = suv_body_weight(5000.0, **kw, decay_seconds=F18_HALF_LIFE_S)
    assert suv == pytest.approx(5000.0 * 70000.0 / 185e6)
    t0 = dt.datetime(2024, 3, 1, 9, 0, 0)
    t1 = t0 + dt.timedelta(seconds=F18_HALF_LIFE_S)
    assert suv_body_weight(5000.0, **kw, injection_time=t0, scan_time=t1) == pytest.approx(suv)
    assert suv_body_weight(5000.0, **kw, injection_time=100.0,
                           scan_time=100.0 + F18_HALF_LIFE_S) == pytest.approx(suv)
    arr = np.array([[0.0, 5000.0]], np.float32)
    out = suv_body_weight(arr, **kw, decay_seconds=F18_HALF_LIFE_S)
    assert out.dtype == np.float32 and out[0, 1] == pytest.approx(suv, rel=1e-6)
    ints = suv_body_weight(np.array([5000]), **kw, decay_seconds=0)
    assert ints.dtype == np.float64 and ints[0] == pytest.approx(5000.0 * 70000.0 / 370e6)


def test_suv_body_weight_validation():
    kw = dict(injected_dose_bq=3e8, decay_seconds=3600)
    with pytest.raises(ValueError, match=r"weight_kg must be a positive finite number, got 0"):
        suv_body_weight(1.0, weight_kg=0, **kw)
    with pytest.raises(ValueError, match=r"injected_dose_bq must be a positive.*-5"):
        suv_body_weight(1.0, weight_kg=70, injected_dose_bq=-5, decay_seconds=0)
    with pytest.raises(TypeError, match="weight_kg must be a positive number, got 'heavy'"):
        suv_body_weight(1.0, weight_kg="heavy", **kw)
    with pytest.raises(ValueError, match=r"decay time.*>= 0 seconds, got -60.0 s"):
        suv_body_weight(1.0, weight_kg=70, injected_dose_bq=3e8, injection_time=60.0,
                        scan_time=0.0)
    with pytest.raises(ValueError, match="not both"):
        suv_body_weight(1.0, weight_kg=70, injection_time=0.0, scan_time=1.0, **kw)
    with pytest.raises(ValueError, match="Give decay_seconds, or both"):
        suv_body_weight(1.0, weight_kg=70, injected_dose_bq=3e8, injection_time=0.0)
    with pytest.raises(TypeError, match="both be datetimes or both be seconds"):
        suv_body_weight(1.0, weight_kg=70, injected_dose_bq=3e8,
                        injection_time=dt.datetime(2024, 1, 1), scan_time=10.0)


# ----------------------------------------------------------------------------- MTV
def test_mtv_mask_relative_threshold_inside_region():
    suv = np.zeros((10, 10, 10), np.float32)
    suv[2:5, 2:5, 2:5] = 4.0
    suv[3, 3, 3] = 10.0  # SUVmax of the tumour; threshold 4.0 -> the whole cube
    suv[8, 8, 8] = 20.0  # a hotter organ outside the region
    region = np.zeros_like(suv, dtype=bool)
    region[1:6, 1:6, 1:6] = True
    m = mtv_mask(suv, region)
    assert m.dtype == bool and m.sum() == 27 and not m[8, 8, 8]
    assert mtv_mask(suv, region, fraction=0.5).sum() == 1
    whole = mtv_mask(suv)  # SUVmax 20 -> only >= 8
    assert whole.sum() == 2
    with pytest.raises(ValueError, match="region is empty"):
        mtv_mask(suv, np.zeros_like(region))
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 1.5"):
        mtv_mask(suv, fraction=1.5)
    with pytest.raises(ValueError, match="SUVmax inside the region must be positive"):
        mtv_mask(np.zeros((3, 3, 3)))


# ----------------------------------------------------------------------------- margin
def test_peritumoral_region_respects_anisotropic_spacing():
    mask = np.zeros((41, 41, 41), bool)
    mask[20, 20, 20] = True
    region = peritumoral_region(mask, (4.0, 2.0, 10.0), margin_mm=30.0)
    extent = np.argwhere(region)
    half = (extent.max(axis=0) - extent.min(axis=0)) // 2
    assert tuple(half) == (7, 15, 3)  # floor(30 / spacing) voxels on each side
    # equals the exact Euclidean ball in mm
    grid = np.indices(mask.shape) - 20
    dist = np.sqrt(sum((g * s) ** 2 for g, s in zip(grid, (4.0, 2.0, 10.0), strict=True)))
    np.testing.assert_array_equal(region, dist <= 30.0)
    shell = peritumoral_region(mask, (4.0, 2.0, 10.0), exclude_tumor=True)
    assert shell.sum() == region.sum() - 1 and not shell[20, 20, 20]


def test_peritumoral_region_matches_full_edt_near_border():
    rng = np.random.default_rng(4)
    mask = ndimage.binary_dilation(rng.random((30, 25, 20)) > 0.995, iterations=1)
    region = peritumoral_region(mask, 3.0, margin_mm=10.0)
    full = ndimage.distance_transform_edt(~mask, sampling=3.0) <= 10.0
    np.testing.assert_array_equal(region, full)
    with pytest.raises(ValueError, match="mask is empty"):
        peritumoral_region(np.zeros((5, 5, 5)), 2.0)
    with pytest.raises(ValueError, match=r"spacing must be a positive number.*\(2.0, 0.0, 1.0\)"):
        peritumoral_region(mask, (2.0, 0.0, 1.0))


# ----------------------------------------------------------------------------- stats
def test_suv_stats_values_and_units():
    suv = np.zeros((10, 10, 10), np.float32)
    suv[:2, :2, :2] = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    mask = suv > 0
    s = suv_stats(suv, mask, (2.0, 2.0, 2.5))  # 10 mm^3 = 0.01 ml per voxel
    assert s["SUVmax"] == 8.0 and s["SUVmean"] == pytest.approx(4.5)
    assert s["MTV_ml"] == pytest.approx(0.08) and s["TLG"] == pytest.approx(0.36)
    assert s["n_voxels"] == 8
    empty = suv_stats(suv, np.zeros_like(mask), 2.0)
    assert np.isnan(empty["SUVmax"]) and empty["MTV_ml"] == 0.0 and empty["TLG"] == 0.0
    with pytest.raises(ValueError, match=r"mask shape \(10, 10\) differs"):
        suv_stats(suv, mask[0], 2.0)
