"""Cohort manifest CSV reading and writing (petmtl.io)."""

import os

import numpy as np
import pytest

from petmtl.io import Manifest, NiftiVolumeDataset, read_manifest, write_manifest


@pytest.fixture()
def cohort(tmp_path):
    img = tmp_path / "images"
    img.mkdir()
    for name in ("a_pet.nii.gz", "a_mask.nii.gz", "b_pet.nii.gz", "c_pet.nii.gz"):
        (img / name).write_bytes(b"x")
    return tmp_path


def _csv(folder, text, name="cohort.csv"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_manifest_resolves_paths_and_missing_values(cohort):
    path = _csv(cohort, (
        "patient_id,pet_path,mask_path,pathology,outcome\n"
        "A,images/a_pet.nii.gz,images/a_mask.nii.gz,lung,1\n"
        f"B,{cohort / 'images' / 'b_pet.nii.gz'},,,0\n"
        "C,./images/../images/c_pet.nii.gz,, esophagus ,\n"
    ))
    m = read_manifest(path)
    assert isinstance(m, Manifest) and len(m) == 3
    assert list(m.ids) == ["A", "B", "C"]
    assert list(m.X) == [str(cohort / "images" / f"{p}_pet.nii.gz") for p in "abc"]
    assert all(os.path.isabs(p) for p in m.X)
    assert list(m.masks) == [str(cohort / "images" / "a_mask.nii.gz"), None, None]
    assert list(m.pathology) == ["lung", None, "esophagus"]
    assert m.y.dtype == np.int64 and m.y.tolist() == [1, 0, -1]
    assert m.X.dtype == object and m.path == str(path)


def test_read_manifest_string_labels_bom_and_optional_columns(cohort):
    path = _csv(cohort, (
        "\ufeffpatient_id,pet_path,outcome\n"
        "A,images/a_pet.nii.gz,relapse\n"
        "B,images/b_pet.nii.gz,\n"
        "C,images/c_pet.nii.gz,no relapse\n"
    ))
    m = read_manifest(path)
    assert m.y.dtype == object and m.y.tolist() == ["relapse", -1, "no relapse"]
    labelled = m.y[m.y != -1]
    assert sorted(labelled) == ["no relapse", "relapse"]
    assert list(m.masks) == [None] * 3 and list(m.pathology) == [None] * 3
    renamed = _csv(cohort, "id,pet\nA,images/a_pet.nii.gz\n", "renamed.csv")
    m2 = read_manifest(renamed, id_column="id", pet_column="pet", outcome_column=None)
    assert m2.y.tolist() == [-1]


def test_read_manifest_errors_name_line_and_patient(cohort):
    with pytest.raises(ValueError, match=r"lacks required column\(s\) \['pet_path'\]"):
        read_manifest(_csv(cohort, "patient_id,pet\nA,x\n"))
    with pytest.raises(ValueError, match=r"line 3 \(patient_id 'A'\): duplicate id.*line 2"):
        read_manifest(_csv(cohort, "patient_id,pet_path\nA,images/a_pet.nii.gz\n"
                                   "A,images/b_pet.nii.gz\n"))
    with pytest.raises(ValueError, match=r"line 3 \(patient_id 'B'\): missing PET path"):
        read_manifest(_csv(cohort, "patient_id,pet_path\nA,images/a_pet.nii.gz\nB,\n"))
    with pytest.raises(ValueError, match=r"line 2: empty 'patient_id'"):
        read_manifest(_csv(cohort, "patient_id,pet_path\n,images/a_pet.nii.gz\n"))
    with pytest.raises(FileNotFoundError, match=r"line 2 \(patient_id 'A'\): mask file not found"
                                                r".*ghost\.nii\.gz"):
        read_manifest(_csv(cohort, "patient_id,pet_path,mask_path\n"
                                   "A,images/a_pet.nii.gz,images/ghost.nii.gz\n"))
    with pytest.raises(ValueError, match=r"line 4 \(patient_id 'C'\): unknown labels.*'2'"):
        read_manifest(_csv(cohort, "patient_id,pet_path,outcome\nA,images/a_pet.nii.gz,0\n"
                                   "B,images/b_pet.nii.gz,1\nC,images/c_pet.nii.gz,2\n"))
    with pytest.raises(FileNotFoundError, match="Manifest CSV not found"):
        read_manifest(cohort / "nothing.csv")


def test_read_manifest_without_file_check(tmp_path):
    path = _csv(tmp_path, "patient_id,pet_path\nA,later/a.nii.gz\n")
    m = read_manifest(path, check_files=False)
    assert m.X[0] == str(tmp_path / "later" / "a.nii.gz")


def test_write_manifest_round_trip_relative(cohort):
    img = cohort / "images"
    out = cohort / "sub" / "cohort.csv"
    out.parent.mkdir()
    write_manifest(out, ["A", "B", "C"], [img / "a_pet.nii.gz", img / "b_pet.nii.gz",
                                          str(img / "c_pet.nii.gz")],
                   mask_paths=[img / "a_mask.nii.gz", None, None],
                   pathology=["lung", None, "esophagus"], outcome=[1, None, -1])
    text = out.read_text()
    assert "../images/a_pet.nii.gz" in text and str(cohort) not in text
    m = read_manifest(out)
    assert m.ids.tolist() == ["A", "B", "C"]
    assert m.X[2] == str(img / "c_pet.nii.gz")
    assert m.masks.tolist() == [str(img / "a_mask.nii.gz"), None, None]
    assert m.pathology.tolist() == ["lung", None, "esophagus"]
    assert m.y.tolist() == [1, -1, -1]
    assert sorted(p.name for p in out.parent.iterdir()) == ["cohort.csv"]  # no temp file left
    ds = NiftiVolumeDataset.from_manifest(m)
    assert ds.pet_paths == list(m.X)
    with pytest.raises(ValueError, match=r"len\(ids\)=2.*'pet_path': 1"):
        write_manifest(out, ["A", "B"], [img / "a_pet.nii.gz"])
    with pytest.raises(ValueError, match="unique"):
        write_manifest(out, ["A", "A"], [img / "a_pet.nii.gz"] * 2)


def test_reads_cohorts_written_by_petmtl_datasets(tmp_path):
    datasets = pytest.importorskip("petmtl.datasets")
    cohort = datasets.make_pet_cohort(4, shape=(16, 20, 24), random_state=0,
                                      missing_masks=0.3, missing_outcome=0.3)
    m = read_manifest(datasets.write_cohort(cohort, tmp_path))
    assert m.ids.tolist() == list(cohort["patient_id"])
    assert m.y.tolist() == cohort["y"].tolist()
    assert [p is not None for p in m.masks] == cohort["mask_available"].tolist()
    ds = NiftiVolumeDataset.from_manifest(m, spacing=cohort["spacing"], shape=(16, 20, 24),
                                          center="center")
    for i in range(len(ds)):
        pet, mask, _ = ds[i]
        # petmtl.datasets arrays are in RAS+ voxel order (x, y, z), as read back here
        np.testing.assert_array_equal(pet, cohort["X"][i])
        if mask is not None:
            np.testing.assert_array_equal(mask, cohort["masks"][i])


def test_time_and_event_columns_without_events_or_known_times_are_read(tmp_path):
    """Regression: an all-censored test cohort, or empty time/event columns beside a binary
    outcome, made read_manifest fail with the checks a survival fit needs."""
    path = tmp_path / "m.csv"
    path.write_text("patient_id,pet_path,outcome,time,event\n"
                    "p1,a.nii.gz,1,,\np2,b.nii.gz,0,,\n")
    manifest = read_manifest(path, check_files=False)
    assert np.isnan(manifest.survival["time"]).all() and not manifest.survival["event"].any()
    path.write_text("patient_id,pet_path,time,event\np1,a.nii.gz,3,0\np2,b.nii.gz,4.5,no\n")
    survival = read_manifest(path, check_files=False).survival
    assert survival.dtype.names == ("event", "time")
    assert survival["time"].tolist() == [3.0, 4.5] and not survival["event"].any()
