"""Resampling, cropping, prepare_volume and the GeometryRecord inverse (petmtl.io)."""

import json

import nibabel as nib
import numpy as np
import pytest

from petmtl.io import (
    GeometryRecord,
    Volume,
    crop_or_pad,
    find_center,
    load_mask,
    load_pet,
    prepare_volume,
    resample_to_spacing,
    resampled_geometry,
    to_canonical,
    write_mask_like,
)


def _lps(spacing, origin=(120.0, 90.0, -300.0)):
    aff = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    aff[:3, 3] = origin
    return aff


def _blob(shape, center, radii_vox):
    grid = np.indices(shape, dtype=np.float64)
    r2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii_vox, strict=True))
    return r2 <= 1.0


def _dice(a, b):
    a, b = a > 0, b > 0
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _world(affine, ijk):
    return (affine @ np.append(np.asarray(ijk, float), 1.0))[:3]


# ----------------------------------------------------------------------------- resampling
def test_resampled_geometry_keeps_first_centre_and_fov():
    aff = _lps((4.06, 4.06, 2.0))
    shape, new = resampled_geometry((50, 40, 30), aff, 2.0)
    assert shape == (round(50 * 2.03), round(40 * 2.03), 30)
    np.testing.assert_allclose(new[:3, 3], aff[:3, 3])  # voxel (0,0,0) centre unchanged
    np.testing.assert_allclose(np.diag(new)[:3], [-2.0, -2.0, 2.0])  # directions kept
    shape, new = resampled_geometry((10, 10, 10), np.eye(4), (0.5, 2.0, 3.0))
    assert shape == (20, 5, 3)
    with pytest.raises(ValueError, match=r"spacing must be a positive number.*-1"):
        resampled_geometry((10, 10, 10), np.eye(4), -1)


def test_linear_resampling_reproduces_a_linear_field():
    aff = _lps((4.0, 3.0, 2.5))
    idx = np.indices((12, 10, 8), dtype=np.float64)
    world = np.tensordot(aff[:3, :3], idx, axes=1) + aff[:3, 3, None, None, None]
    field = (0.3 * world[0] - 0.2 * world[1] + 0.1 * world[2]).astype(np.float32)
    vol = Volume(field, aff)
    out = resample_to_spacing(vol, 2.0)
    assert out.spacing == pytest.approx((2.0, 2.0, 2.0))
    # compare inside the input's span of centres (edges are clamped)
    jdx = np.indices(out.shape, dtype=np.float64)
    w2 = np.tensordot(out.affine[:3, :3], jdx, axes=1) + out.affine[:3, 3, None, None, None]
    expected = 0.3 * w2[0] - 0.2 * w2[1] + 0.1 * w2[2]
    inner = (slice(0, 22), slice(0, 14), slice(0, 9))
    np.testing.assert_allclose(out.data[inner], expected[inner], atol=1e-3)


def test_nearest_resampling_keeps_labels_and_volume():
    aff = _lps((4.06, 4.06, 2.0))
    mask = _blob((40, 40, 50), (20, 18, 25), (6, 5, 10)).astype(np.uint8)
    out = resample_to_spacing(Volume(mask, aff), 2.0, order="nearest")
    assert out.data.dtype == np.uint8 and set(np.unique(out.data)) == {0, 1}
    vol_in = mask.sum() * 4.06 * 4.06 * 2.0
    vol_out = out.data.sum() * 8.0
    assert vol_out == pytest.approx(vol_in, rel=0.05)
    same = resample_to_spacing(Volume(mask, aff), (4.06, 4.06, 2.0), order=0)
    np.testing.assert_array_equal(same.data, mask)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resample_to_spacing(Volume(mask, aff), 2.0, order="bicubic")


# ----------------------------------------------------------------------------- cropping
def test_crop_or_pad_centres_on_foreground_and_pads_with_zero():
    pet = np.ones((30, 30, 30), np.float32)
    mask = np.zeros((30, 30, 30), np.uint8)
    mask[2:5, 10:13, 20:23] = 1  # centroid (3, 11, 21), near the first edge
    vol = Volume(pet, _lps((2.0, 2.0, 2.0)))
    out = crop_or_pad(vol, (16, 16, 16), mask=mask)
    cm = crop_or_pad(Volume(mask, vol.affine), (16, 16, 16), center=(3, 11, 21))
    assert out.shape == (16, 16, 16)
    assert tuple(np.argwhere(cm.data).mean(axis=0)) == (8.0, 8.0, 8.0)  # centroid at centre
    assert out.data[:5].sum() == 0 and out.data[5:].min() == 1  # rows -5..-1 are padding
    np.testing.assert_allclose(_world(out.affine, (8, 8, 8)), _world(vol.affine, (3, 11, 21)))
    with pytest.raises(ValueError, match="center='foreground' needs a mask"):
        crop_or_pad(vol, (16, 16, 16), center="foreground")
    with pytest.raises(ValueError, match=r"center must be.*'middle'"):
        crop_or_pad(vol, (16, 16, 16), center="middle")
    with pytest.raises(ValueError, match=r"shape must be a sequence of 3 positive ints"):
        crop_or_pad(vol, (16, 16, 0))


def test_body_centre_ignores_air():
    pet = np.zeros((40, 40, 40), np.float32)
    pet[20:36, 4:12, 10:30] = 2.0  # the "body"
    pet[0, 0, 0] = 0.05  # noise below the threshold
    c = find_center(Volume(pet, np.eye(4)), None)
    np.testing.assert_allclose(c, [27.5, 7.5, 19.5])
    np.testing.assert_allclose(find_center(Volume(pet, np.eye(4)), "center"), [19.5] * 3)
    out = crop_or_pad(Volume(pet, np.eye(4)), (16, 8, 20), center="body")
    assert out.data.min() == 2.0  # window entirely inside the body


# ----------------------------------------------------------------------------- prepare_volume
@pytest.fixture()
def lps_case(tmp_path):
    """Anisotropic (4.06 x 4.06 x 2.0 mm) LPS PET with an off-centre ellipsoid tumour."""
    shape = (48, 44, 90)
    aff = _lps((4.06, 4.06, 2.0))
    rng = np.random.default_rng(3)
    tumour = _blob(shape, (30.0, 17.0, 52.0), (4.0, 3.5, 9.0))
    pet = (rng.random(shape) * 0.5 + 1.0 + 6.0 * tumour).astype(np.float32)
    pet_path, mask_path = tmp_path / "pet.nii.gz", tmp_path / "mask.nii.gz"
    img = nib.Nifti1Image(pet, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=2)
    nib.save(img, pet_path)
    nib.save(nib.Nifti1Image(tumour.astype(np.uint8), aff), mask_path)
    return pet_path, mask_path, tumour


def test_prepare_volume_equals_step_by_step_pipeline(lps_case):
    pet_path, mask_path, _ = lps_case
    pet, mask, rec = prepare_volume(pet_path, mask_path, spacing=2.0, shape=(32, 32, 32))
    vol = load_pet(pet_path)
    mvol = load_mask(mask_path, vol)
    r = resample_to_spacing(to_canonical(vol), 2.0)
    rm = resample_to_spacing(to_canonical(mvol), 2.0, order=0)
    c = find_center(r, "foreground", mask=rm)
    ref, refm = crop_or_pad(r, (32, 32, 32), center=c), crop_or_pad(rm, (32, 32, 32), center=c)
    np.testing.assert_allclose(pet, ref.data, atol=1e-5)
    assert np.count_nonzero(mask != refm.data) <= 2
    np.testing.assert_allclose(rec.output_affine, ref.affine, atol=1e-9)
    assert nib.aff2axcodes(rec.output_affine) == ("R", "A", "S")
    assert pet.dtype == mask.dtype == np.float32 and mask.sum() > 0
    # tumour is centred: its centroid is within a voxel of the window centre
    np.testing.assert_allclose(np.argwhere(mask).mean(axis=0), [16, 16, 16], atol=1.0)


def test_prepare_volume_options(lps_case):
    pet_path, mask_path, _ = lps_case
    full, none_mask, rec = prepare_volume(pet_path, spacing=None, shape=None)
    assert none_mask is None and full.shape == (48, 44, 90) and rec.crop_start == (0, 0, 0)
    assert rec.spacing == pytest.approx((4.06, 4.06, 2.0))
    np.testing.assert_allclose(full, to_canonical(load_pet(pet_path)).data)
    # explicit centre in original voxel coordinates == foreground centre
    auto, _, r1 = prepare_volume(pet_path, mask_path, shape=(16, 16, 16))
    expl, _, r2 = prepare_volume(pet_path, shape=(16, 16, 16), center=(30, 17, 52))
    assert r1.crop_start == r2.crop_start
    np.testing.assert_array_equal(auto, expl)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        prepare_volume(pet_path, interpolation="spline")


def test_anisotropic_lps_round_trip_through_files(lps_case, tmp_path):
    pet_path, mask_path, tumour = lps_case
    _, mask, rec = prepare_volume(pet_path, mask_path, spacing=2.0, shape=(48, 48, 48))
    rec = GeometryRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    back = rec.to_original(mask.astype(np.uint8))
    assert back.shape == tumour.shape and back.dtype == np.uint8
    out = write_mask_like(back, pet_path, tmp_path / "pred.nii.gz")
    ref, img = nib.load(pet_path), nib.load(out)
    assert img.shape == ref.shape
    np.testing.assert_array_equal(img.affine, ref.affine)
    assert nib.aff2axcodes(img.affine) == nib.aff2axcodes(ref.affine) == ("L", "P", "S")
    assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 2
    reloaded = load_mask(out, load_pet(pet_path), atol=0)
    assert _dice(reloaded.data, tumour) >= 0.9


def test_to_original_zero_outside_window_and_linear(lps_case):
    pet_path, _, _ = lps_case
    pet, _, rec = prepare_volume(pet_path, shape=(20, 20, 20), center=(10, 10, 10))
    ones = rec.to_original(np.ones((20, 20, 20), np.float32), order="linear")
    assert ones.dtype == np.float32 and ones.shape == (48, 44, 90)
    inside = np.argwhere(ones > 0)
    # 20 voxels of 2 mm = 40 mm: ~10 voxels of 4.06 mm in-plane, 20 slices of 2 mm
    assert tuple(inside.max(axis=0) - inside.min(axis=0) + 1) in {
        (a, b, 20) for a in (9, 10, 11) for b in (9, 10, 11)}
    assert ones.max() == 1.0 and ones.sum() == np.count_nonzero(ones)
    # a PET crop mapped back reproduces the original PET where it is defined
    orig = load_pet(pet_path).data
    back = rec.to_original(pet, order=1)
    sel = back > 0
    assert np.corrcoef(back[sel], orig[sel])[0, 1] > 0.6
    with pytest.raises(ValueError, match=r"network-grid shape \(20, 20, 20\), got \(20, 20\)"):
        rec.to_original(np.ones((20, 20)))
    d = rec.to_dict()
    del d["crop_start"]
    with pytest.raises(ValueError, match=r"missing keys \['crop_start'\]"):
        GeometryRecord.from_dict(d)


def test_round_trip_with_permuted_axes(tmp_path):
    # voxel axes point Posterior, Superior, Left (a sagittal-first storage order)
    aff = np.array([[0, 0, -3.0, 60], [-4.0, 0, 0, 40], [0, 2.5, 0, -90], [0, 0, 0, 1]])
    shape = (30, 40, 36)
    tumour = _blob(shape, (12.0, 22.0, 20.0), (3.0, 5.0, 4.0))
    rng = np.random.default_rng(5)
    pet = (rng.random(shape) + 5.0 * tumour).astype(np.float32)
    pet_path, mask_path = tmp_path / "psl.nii.gz", tmp_path / "psl_mask.nii"
    nib.save(nib.Nifti1Image(pet, aff), pet_path)
    nib.save(nib.Nifti1Image(tumour.astype(np.uint8), aff), mask_path)
    x, m, rec = prepare_volume(pet_path, mask_path, spacing=2.0, shape=(40, 40, 40))
    assert nib.aff2axcodes(aff) == ("P", "S", "L")
    assert rec.resampled_shape == (54, 60, 50)  # (36*3, 30*4, 40*2.5) / 2
    back = rec.to_original(m)
    assert back.shape == shape and _dice(back, tumour) >= 0.9
    # the hot tumour in the network window is where the mask is
    assert x[m > 0].mean() > 4.0 > x[m == 0].mean()
