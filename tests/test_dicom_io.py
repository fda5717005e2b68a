"""DICOM folders wherever petmtl.io takes a NIfTI path: cache, dataset, manifest, and the
tree conversion to NIfTI + manifest."""

import os

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import (  # noqa: E402
    NiftiVolumeDataset,
    PreprocessedCache,
    convert_dicom_tree,
    load_pet,
    read_manifest,
    read_suv_provenance,
    write_manifest,
    write_nifti,
)

from ._dicom_synth import square, write_pet_series, write_rtstruct  # noqa: E402

SUV_66_MIN = 1.5170379476932365  # 5000 Bq/ml, 66 min after 400 MBq F-18, 80 kg


def _patient(root, pid, *, value=10000, rois=None, units="BQML"):
    """A PET series (6 slices of 8 x 8, 4 mm) and, with ``rois``, an RTSTRUCT beside it."""
    frame, series = f"1.2.826.0.9.{pid}.1", f"1.2.826.0.9.{pid}.2"
    stored = np.full((6, 8, 8), value, dtype=np.int16)
    write_pet_series(root / f"P{pid}" / "pet", stored, slopes=[0.5] * 6,
                     header={"PatientID": f"P{pid}", "Units": units},
                     frame_uid=frame, series_uid=series)
    if rois:
        write_rtstruct(root / f"P{pid}" / "rs.dcm", rois, frame_uid=frame,
                       series_uid=series)
    return root / f"P{pid}" / "pet"


def test_cache_keys_a_folder_by_its_files(tmp_path):
    pet = _patient(tmp_path, 1)
    cache = PreprocessedCache(tmp_path / "cache")
    first, _, _ = cache.get(pet, spacing=None, shape=None)
    again, _, _ = cache.get(pet, spacing=None, shape=None)
    assert len(cache) == 1 and np.array_equal(first, again)
    np.testing.assert_allclose(first, SUV_66_MIN, rtol=1e-6)
    _patient(tmp_path, 1, value=20000)  # the series rewritten: twice the values
    changed, _, _ = cache.get(pet, spacing=None, shape=None)
    assert len(cache) == 2
    np.testing.assert_allclose(changed, 2 * SUV_66_MIN, rtol=1e-6)
    assert cache.prune() == 1


def test_cache_sha256_of_a_folder(tmp_path):
    pet = _patient(tmp_path, 1)
    cache = PreprocessedCache(tmp_path / "cache", verify="sha256")
    cache.get(pet, spacing=None, shape=None)
    os.utime(next(pet.iterdir()), (1, 1))  # touched, same contents: still a hit
    cache.get(pet, spacing=None, shape=None)
    assert len(cache) == 1 and cache.prune() == 0


def test_dataset_and_manifest_mix_dicom_and_nifti(tmp_path):
    gtv = {(1, "GTV"): [square(6, 18, 6, 18, z) for z in (4.0, 8.0)]}
    dicom_pet = _patient(tmp_path, 1, rois=gtv)
    volume = load_pet(dicom_pet)
    nifti_pet = write_nifti(volume.data, volume.affine, tmp_path / "p2.nii.gz")
    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[2:5, 2:5, 1:3] = 1
    nifti_mask = write_nifti(mask, volume.affine, tmp_path / "p2_mask.nii.gz")
    csv = write_manifest(tmp_path / "cohort.csv", ["P1", "P2"], [dicom_pet, nifti_pet],
                         [tmp_path / "P1" / "rs.dcm", nifti_mask], outcome=[0, 1])
    manifest = read_manifest(csv)
    assert manifest.X[0] == os.fspath(dicom_pet)
    dataset = NiftiVolumeDataset.from_manifest(manifest, spacing=None, shape=None)
    (pet1, mask1, _), (pet2, mask2, _) = dataset[0], dataset[1]
    np.testing.assert_array_equal(pet1, pet2)
    np.testing.assert_array_equal(mask1, mask2)  # the RTSTRUCT and the NIfTI agree
    with pytest.raises(FileNotFoundError, match="PET file not found"):
        write_manifest(tmp_path / "bad.csv", ["P3"], [tmp_path / "nowhere"])
        read_manifest(tmp_path / "bad.csv")


def test_convert_tree_of_patients(tmp_path):
    root = tmp_path / "dicom"
    gtv = {(1, "GTV"): [square(6, 18, 6, 18, 8.0)]}
    _patient(root, 1, rois=gtv)
    _patient(root, 2)
    _patient(root, 3, rois={(1, "GTV"): gtv[(1, "GTV")], (2, "PTV"): gtv[(1, "GTV")]})
    _patient(root, 4, units="PROPCNTS")
    report = convert_dicom_tree(root, tmp_path / "out")
    manifest = read_manifest(report.manifest)
    assert list(manifest.ids) == ["P1", "P2", "P3"]
    assert manifest.masks[0] is not None and manifest.masks[1] is None
    assert manifest.masks[2] is None  # two ROIs and no roi=: skipped, with the reason
    text = str(report)
    assert "2 ROIs" in text and "choose one with roi=" in text
    assert "Units (0054,1001) = 'PROPCNTS'" in text
    pet = nib.load(manifest.X[0])
    np.testing.assert_allclose(pet.get_fdata(), SUV_66_MIN, rtol=1e-6)
    assert read_suv_provenance(manifest.X[0])["units"] == "BQML"
    mask = nib.load(manifest.masks[0])
    np.testing.assert_array_equal(mask.affine, pet.affine)
    assert np.asarray(mask.dataobj).sum() == 9


def test_convert_with_roi_and_lbm(tmp_path):
    root = tmp_path / "dicom"
    rois = {(1, "GTV"): [square(6, 18, 6, 18, 8.0)], (2, "PTV"): [square(2, 22, 2, 22, 8.0)]}
    _patient(root, 1, rois=rois)
    report = convert_dicom_tree(root, tmp_path / "out", roi="PTV", suv="lbm")
    row = report.converted[0]
    assert np.asarray(nib.load(row["mask_path"]).dataobj).sum() == 25
    assert read_suv_provenance(row["pet_path"])["suv"] == "lbm"
    assert not report.skipped


def test_convert_names_repeated_patient_ids(tmp_path):
    root = tmp_path / "dicom"
    for k in (1, 2):
        write_pet_series(root / f"s{k}", np.full((3, 4, 4), 100, dtype=np.int16),
                         header={"PatientID": "SAME", "Units": "GML", "SeriesNumber": k})
    report = convert_dicom_tree(root, tmp_path / "out")
    assert sorted(r["patient_id"] for r in report.converted) == ["SAME_s1", "SAME_s2"]


def test_convert_of_an_empty_tree(tmp_path):
    report = convert_dicom_tree(tmp_path, tmp_path / "out")
    assert report.manifest is None and not report.converted


def test_a_mask_written_like_a_converted_pet_has_no_suv_record(tmp_path):
    from petmtl.io import write_mask_like

    _patient(tmp_path / "dicom", 1)
    report = convert_dicom_tree(tmp_path / "dicom", tmp_path / "out")
    pet = report.converted[0]["pet_path"]
    assert read_suv_provenance(pet)["suv"] == "bw"
    out = write_mask_like(np.ones(nib.load(pet).shape, np.uint8), pet, tmp_path / "m.nii.gz")
    with pytest.raises(ValueError, match="no petmtl SUV provenance"):
        read_suv_provenance(out)
    assert nib.load(out).header["descrip"].tobytes().strip(b"\0") == b""
