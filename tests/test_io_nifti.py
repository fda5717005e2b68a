"""Reading, validating, reorienting and writing NIfTI volumes (petmtl.io)."""

import gzip
import os
import pickle
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path as NIB_DATA

from petmtl.io import (
    NiftiVolumeDataset,
    Volume,
    canonical_orientation,
    collate_volumes,
    invert_orientation,
    load_mask,
    load_pet,
    to_canonical,
    write_mask_like,
    write_nifti,
)
from petmtl.io._volume import _reorient

LPS = np.diag([-4.0, -4.0, 3.0, 1.0])
LPS[:3, 3] = [100.0, 80.0, -50.0]


def _save(tmp_path, name, data, affine=LPS, **codes):
    img = nib.Nifti1Image(np.asarray(data), affine)
    if codes:
        img.set_qform(affine if codes.get("qform", 1) else None, code=codes.get("qform", 1))
        img.set_sform(affine if codes.get("sform", 1) else None, code=codes.get("sform", 1))
    path = tmp_path / name
    nib.save(img, path)
    return path


def _nib(name):
    return os.path.join(NIB_DATA, name)


# ----------------------------------------------------------------------------- load_pet
def test_load_pet_big_endian_int16_las():
    vol = load_pet(_nib("anatomical.nii"))
    ref = nib.load(_nib("anatomical.nii"))
    assert vol.data.dtype == np.float32 and vol.shape == (33, 41, 25)
    np.testing.assert_array_equal(vol.data, ref.get_fdata().astype(np.float32))
    np.testing.assert_allclose(vol.affine, ref.affine)
    assert vol.spacing == pytest.approx((2.0, 2.0, 2.0))
    assert vol.axcodes() == ("L", "A", "S")
    assert vol.path == _nib("anatomical.nii")


def test_load_pet_anisotropic_uint8_and_dtype():
    vol = load_pet(_nib("standard.nii.gz"), dtype=np.float64)
    assert vol.data.dtype == np.float64 and vol.shape == (4, 5, 7)
    assert vol.spacing == pytest.approx((1.0, 3.0, 2.0))


def test_load_pet_nifti2(tmp_path):
    src = nib.load(_nib("example_nifti2.nii.gz"))
    data = np.asarray(src.dataobj)[..., 0]
    path = tmp_path / "n2.nii.gz"
    nib.save(nib.Nifti2Image(data, src.affine), path)
    vol = load_pet(path)
    assert vol.shape == (32, 20, 12)
    np.testing.assert_array_equal(vol.data, data.astype(np.float32))


def test_load_pet_rejects_4d_but_squeezes_trailing_singleton(tmp_path):
    with pytest.raises(ValueError, match=r"example4d.*4-D image of shape \(128, 96, 24, 2\)"):
        load_pet(_nib("example4d.nii.gz"))
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6, 1)
    vol = load_pet(_save(tmp_path, "single.nii.gz", data))
    assert vol.shape == (4, 5, 6)
    np.testing.assert_array_equal(vol.data, data[..., 0])


def test_load_pet_rejects_non_nifti_and_missing(tmp_path):
    with pytest.raises(ValueError, match="Expected a NIfTI image.*Spm2AnalyzeImage"):
        load_pet(_nib("analyze.hdr"))
    missing = tmp_path / "nope.nii.gz"
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        load_pet(missing)
    with pytest.raises(ValueError, match="directory"):
        load_pet(tmp_path)


def test_load_pet_garbage_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not an image at all" * 20)
    with pytest.raises(ValueError, match=r"Cannot read .*garbage\.nii\.gz as a NIfTI"):
        load_pet(garbage)
    plain = tmp_path / "garbage.nii"
    plain.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"garbage\.nii"):
        load_pet(plain)
    rng = np.random.default_rng(0)
    good = _save(tmp_path, "good.nii.gz", rng.random((20, 20, 20)).astype(np.float32))
    raw = good.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.nii\.gz.*damaged"):
        load_pet(cut)
    raw_nii = Path(_nib("anatomical.nii")).read_bytes()
    cut_nii = tmp_path / "cut.nii"
    cut_nii.write_bytes(raw_nii[: len(raw_nii) // 2])
    with pytest.raises(ValueError, match=r"cut\.nii"):
        load_pet(cut_nii)


def test_load_pet_rejects_nan_and_inf(tmp_path):
    data = np.ones((5, 5, 5), np.float32)
    data[1, 2, 3] = np.nan
    data[4, 4, 4] = np.inf
    path = _save(tmp_path, "nan.nii.gz", data)
    with pytest.raises(ValueError, match=r"nan\.nii\.gz contains 2 NaN.*\(1, 2, 3\)"):
        load_pet(path)


def test_volume_validates_its_fields():
    with pytest.raises(ValueError, match="3-D"):
        Volume(np.zeros((3, 3)), np.eye(4))
    with pytest.raises(ValueError, match="singular"):
        Volume(np.zeros((3, 3, 3)), np.diag([1.0, 0.0, 1.0, 1.0]))


# ----------------------------------------------------------------------------- load_mask
def test_load_mask_checks_reference(tmp_path):
    pet = load_pet(_save(tmp_path, "pet.nii.gz", np.ones((6, 7, 8), np.float32)))
    m = np.zeros((6, 7, 8), np.uint8)
    m[2:4, 2:4, 2:4] = 1
    mask = load_mask(_save(tmp_path, "m.nii.gz", m), pet)
    assert mask.data.dtype == np.uint8 and mask.data.sum() == 8
    with pytest.raises(ValueError, match=r"wrong\.nii\.gz has shape \(6, 7, 9\).*\(6, 7, 8\)"):
        load_mask(_save(tmp_path, "wrong.nii.gz", np.zeros((6, 7, 9), np.uint8)), pet)
    shifted = LPS.copy()
    shifted[0, 3] += 0.5
    with pytest.raises(ValueError, match=r"shifted\.nii\.gz affine differs .* 0\.5 mm"):
        load_mask(_save(tmp_path, "shifted.nii.gz", m, shifted), pet)
    near = LPS.copy()
    near[0, 3] += 1e-4
    assert load_mask(_save(tmp_path, "near.nii.gz", m, near), pet).data.sum() == 8
    with pytest.raises(ValueError, match="atol=1e-05"):
        load_mask(_save(tmp_path, "near2.nii.gz", m, near), pet, atol=1e-5)


def test_load_mask_label_maps(tmp_path):
    labels = np.zeros((6, 6, 6), np.int16)
    labels[1, 1, 1] = 1
    labels[2:4, 2, 2] = 2
    labels[5, 5, 5] = 11
    path = _save(tmp_path, "labels.nii.gz", labels)
    with pytest.raises(ValueError, match=r"labels\.nii\.gz is not binary.*\[2, 11\].*label="):
        load_mask(path)
    assert load_mask(path, label=2).data.sum() == 2
    assert load_mask(path, label=[1, 11]).data.sum() == 2
    assert load_mask(path, binarize=True).data.sum() == 4
    with pytest.raises(ValueError, match=r"Label\(s\) \[7\] not found.*\[0, 1, 2, 11\]"):
        load_mask(path, label=7)
    with pytest.raises(ValueError, match="not both"):
        load_mask(path, label=1, binarize=True)


def test_load_mask_float_01_and_empty_warning(tmp_path):
    m = np.zeros((4, 4, 4), np.float32)
    m[0, 0, 0] = 1.0
    assert load_mask(_save(tmp_path, "f.nii.gz", m)).data.sum() == 1
    with pytest.warns(UserWarning, match=r"empty\.nii\.gz is empty"):
        out = load_mask(_save(tmp_path, "empty.nii.gz", np.zeros((4, 4, 4), np.uint8)))
    assert out.data.sum() == 0
    soft = m.copy()
    soft[1, 1, 1] = 0.5
    with pytest.raises(ValueError, match=r"soft\.nii\.gz is not binary.*0\.5"):
        load_mask(_save(tmp_path, "soft.nii.gz", soft))


# ----------------------------------------------------------------------------- orientation
@pytest.mark.parametrize("name", ["anatomical.nii", "standard.nii.gz", "reoriented_anat_moved.nii"])
def test_to_canonical_matches_nibabel(name):
    vol = load_pet(_nib(name))
    can = to_canonical(vol)
    ref = nib.as_closest_canonical(nib.load(_nib(name)))
    assert can.axcodes() == ("R", "A", "S")
    np.testing.assert_array_equal(can.data, np.asarray(ref.dataobj, dtype=np.float32))
    np.testing.assert_allclose(can.affine, ref.affine, atol=1e-6)


def test_to_canonical_keeps_world_positions_and_inverts():
    rng = np.random.default_rng(1)
    affine = np.array([[0, 0, -3.0, 10], [-2.0, 0, 0, 20], [0, 4.0, 0, -5], [0, 0, 0, 1]])
    vol = Volume(rng.random((5, 6, 7)).astype(np.float32), affine)  # axes: P, S, L
    can = to_canonical(vol)
    assert vol.axcodes() == ("P", "S", "L") and can.axcodes() == ("R", "A", "S")
    assert can.shape == (7, 5, 6) and can.spacing == pytest.approx((3.0, 2.0, 4.0))
    for ijk in [(0, 0, 0), (4, 5, 6), (2, 3, 1)]:
        world = affine @ np.array([*ijk, 1.0])
        can_ijk = np.round(np.linalg.solve(can.affine, world)[:3]).astype(int)
        assert can.data[tuple(can_ijk)] == vol.data[ijk]
    ornt = canonical_orientation(affine)
    back = _reorient(can, invert_orientation(ornt))
    np.testing.assert_array_equal(back.data, vol.data)
    np.testing.assert_allclose(back.affine, affine)


# ----------------------------------------------------------------------------- writers
def test_write_nifti_roundtrip_and_codes(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    out = write_nifti(data, LPS, tmp_path / "x.nii.gz")
    img = nib.load(out)
    np.testing.assert_array_equal(img.get_fdata(), data)
    np.testing.assert_allclose(img.affine, LPS)
    assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 1
    with gzip.open(out) as f:  # really gzip-compressed
        assert len(f.read(348)) == 348
    write_nifti(data > 30, LPS, tmp_path / "b.nii")
    assert nib.load(tmp_path / "b.nii").get_data_dtype() == np.uint8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.nii", "x.nii.gz"]
    with pytest.raises(ValueError, match=r"end with \.nii or \.nii\.gz.*x\.img"):
        write_nifti(data, LPS, tmp_path / "x.img")
    with pytest.raises(ValueError, match="3-D"):
        write_nifti(data[0], LPS, tmp_path / "y.nii")


def test_write_nifti_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "pred.nii.gz"
    write_nifti(np.zeros((3, 3, 3), np.uint8), LPS, target)
    before = target.read_bytes()

    def half_write(img, filename):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_nifti(np.ones((3, 3, 3), np.uint8), LPS, target)
    assert target.read_bytes() == before  # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["pred.nii.gz"]  # no temporary left


@pytest.mark.parametrize("qform,sform", [(0, 2), (1, 0), (1, 1)])
def test_write_mask_like_copies_geometry(tmp_path, qform, sform):
    ref_path = _save(tmp_path, "ref.nii.gz", np.ones((5, 6, 7), np.float32), LPS,
                     qform=qform, sform=sform)
    mask = np.zeros((5, 6, 7), np.uint8)
    mask[1:3, 2:4, 3:6] = 1
    out = write_mask_like(mask, ref_path, tmp_path / "mask.nii.gz")
    ref, img = nib.load(ref_path), nib.load(out)
    assert img.shape == ref.shape and img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(img.dataobj), mask)
    np.testing.assert_array_equal(img.affine, ref.affine)
    for key in ("qform_code", "sform_code", "pixdim", "xyzt_units"):
        np.testing.assert_array_equal(img.header[key], ref.header[key])
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
    with pytest.raises(ValueError, match=r"shape \(5, 6, 6\).*ref\.nii\.gz has shape"):
        write_mask_like(mask[:, :, :6], ref_path, tmp_path / "bad.nii.gz")


@pytest.mark.parametrize("qform,sform", [(0, 2), (1, 1)])
def test_write_mask_like_from_the_header_in_memory_matches_the_file(tmp_path, qform, sform,
                                                                     monkeypatch):
    ref_path = _save(tmp_path, "ref.nii.gz", np.ones((5, 6, 7), np.float32), LPS,
                     qform=qform, sform=sform)
    mask = np.zeros((5, 6, 7), np.uint8)
    mask[1:3, 2:4, 3:6] = 1
    from_file = nib.load(write_mask_like(mask, ref_path, tmp_path / "a.nii.gz"))
    header = load_pet(ref_path).header
    monkeypatch.setattr(nib, "load", None)  # the reference must not be opened again
    out = write_mask_like(mask, ref_path, tmp_path / "b.nii.gz", reference_header=header)
    monkeypatch.undo()
    from_header = nib.load(out)
    np.testing.assert_array_equal(np.asarray(from_header.dataobj), mask)
    np.testing.assert_array_equal(from_header.affine, from_file.affine)
    for key in ("qform_code", "sform_code", "pixdim", "xyzt_units", "srow_x", "quatern_b"):
        np.testing.assert_array_equal(from_header.header[key], from_file.header[key])


def test_write_mask_like_on_nibabel_reference(tmp_path):
    ref = nib.load(_nib("anatomical.nii"))
    mask = (ref.get_fdata() > ref.get_fdata().mean()).astype(np.uint8)
    out = write_mask_like(mask, _nib("anatomical.nii"), tmp_path / "m.nii")
    back = load_mask(out, load_pet(_nib("anatomical.nii")), atol=0)
    np.testing.assert_array_equal(back.data, mask)


# ----------------------------------------------------------------------------- dataset
def _cohort(tmp_path, n=3):
    pets, masks = [], []
    rng = np.random.default_rng(2)
    for i in range(n):
        shape = (20 + i, 18, 16)
        pet = rng.random(shape).astype(np.float32)
        m = np.zeros(shape, np.uint8)
        m[5:9, 6:10, 4:8] = 1
        pets.append(_save(tmp_path, f"p{i}.nii.gz", pet))
        masks.append(_save(tmp_path, f"m{i}.nii.gz", m))
    return pets, masks


def test_dataset_items_lazy_and_picklable(tmp_path):
    pets, masks = _cohort(tmp_path)
    ds = NiftiVolumeDataset(pets, [masks[0], None, masks[2]], spacing=4.0, shape=(8, 8, 8))
    assert len(ds) == 3
    pet, mask, rec = ds[0]
    assert pet.shape == (8, 8, 8) and pet.dtype == np.float32
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() > 0
    assert rec.path == str(pets[0]) and rec.output_shape == (8, 8, 8)
    assert ds[1][1] is None
    ds2 = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(ds2[-1][0], ds[2][0])
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
    pets_t, masks_t, recs = collate_volumes([ds[0], ds[1]])
    assert tuple(pets_t.shape) == (2, 1, 8, 8, 8)
    assert masks_t[1].min() == -1 and masks_t[0].max() == 1 and len(recs) == 2
    assert collate_volumes([ds[1]])[1] is None


def test_dataset_errors_name_the_file(tmp_path):
    pets, masks = _cohort(tmp_path, 2)
    with pytest.raises(FileNotFoundError, match="ghost.nii.gz"):
        NiftiVolumeDataset([pets[0], tmp_path / "ghost.nii.gz"])
    with pytest.raises(ValueError, match="mask_paths has 1 entries but pet_paths has 2"):
        NiftiVolumeDataset(pets, masks[:1])
    with pytest.raises(TypeError, match="Unknown keyword"):
        NiftiVolumeDataset(pets, nonsense=1)
    bad = _save(tmp_path, "bad_mask.nii.gz", np.full((20, 18, 16), 3, np.uint8))
    ds = NiftiVolumeDataset([pets[0]], [bad], shape=(8, 8, 8))
    with pytest.raises(ValueError, match=r"bad_mask\.nii\.gz is not binary"):
        ds[0]


def test_dataset_cache_and_dataloader(tmp_path):
    import torch

    pets, masks = _cohort(tmp_path, 4)
    ds = NiftiVolumeDataset(pets, masks, spacing=4.0, shape=(8, 8, 8), cache=True)
    first = ds[1]
    assert ds[1] is first  # cached
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_volumes,
                                         num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() notices on some Pythons
        batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(2, 1, 8, 8, 8)] * 2
    torch.testing.assert_close(batches[0][0][1, 0], torch.from_numpy(first[0]))


def test_atomic_path_leaves_no_file_when_the_writer_fails(tmp_path):
    from petmtl._atomic import atomic_path

    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
