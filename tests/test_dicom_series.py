"""DICOM PET series: slice order, world geometry, irregular series, series choice, missing
or contradictory attributes, the provenance record and the optional dependency."""

import os
import shutil
import sys
import warnings

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import load_pet, read_pet_dicom, read_suv_provenance  # noqa: E402

from ._dicom_synth import CT_STORAGE, write_pet_series  # noqa: E402

SUV_66_MIN = 1.5170379476932365  # 5000 Bq/ml, 66 min after 400 MBq F-18, 80 kg


def _ramp(n=4, rows=3, cols=5):
    """Stored values encoding (slice, row, column) as 100 k + 10 r + c."""
    k, r, c = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    return (100 * k + 10 * r + c).astype(np.int16)


def _nibabel_slice_affine(path):
    """Voxel (row, column) -> LPS of one file, by nibabel's own DICOM wrapper."""
    import pydicom
    from nibabel.nicom import dicomwrappers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dicomwrappers.wrapper_from_data(pydicom.dcmread(path)).affine


@pytest.mark.parametrize("orientation", [(1, 0, 0, 0, 1, 0), (1, 0, 0, 0, -1, 0),
                                         (0, 1, 0, 0, 0, -1)])
def test_geometry_matches_nibabel_and_every_file(tmp_path, orientation):
    stored = _ramp()
    row_dir, col_dir = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row_dir, col_dir)
    origin = np.array([-100.0, 50.0, 20.0])
    positions = np.array([origin + 3.0 * k * normal for k in range(4)])
    paths = write_pet_series(tmp_path, stored, slopes=[1.0] * 4, positions=positions,
                             orientation=orientation, spacing=(2.0, 2.5),
                             file_order=[2, 0, 3, 1], header={"Units": "GML"})
    img = read_pet_dicom(tmp_path)
    data = np.asarray(img.dataobj)
    assert img.shape == (5, 3, 4)
    for path in paths:  # file i holds slice file_order[i]
        import pydicom

        ds = pydicom.dcmread(path)
        k = int(ds.InstanceNumber) - 1
        lps = _nibabel_slice_affine(path)
        ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
        # nibabel's axes are (row, column); ours (column, row)
        np.testing.assert_allclose(img.affine[:3, 0], ras[:3, 1], atol=1e-9)
        np.testing.assert_allclose(img.affine[:3, 1], ras[:3, 0], atol=1e-9)
        np.testing.assert_allclose(img.affine @ [0, 0, k, 1], ras[:, 3], atol=1e-9)
        np.testing.assert_array_equal(data[:, :, k].T, ds.pixel_array)


def test_implicit_vr_little_endian(tmp_path):
    from pydicom.uid import ImplicitVRLittleEndian

    write_pet_series(tmp_path, np.full((2, 2, 3), 10000, dtype=np.int16), slopes=[0.5, 0.5],
                     transfer_syntax=ImplicitVRLittleEndian)
    img = read_pet_dicom(tmp_path)
    np.testing.assert_allclose(np.asarray(img.dataobj), SUV_66_MIN, rtol=1e-6)
    np.testing.assert_allclose(img.affine[:3, 3], [0, 0, 0])


def test_compressed_pixel_data(tmp_path):
    import pydicom
    from pydicom.uid import RLELossless

    paths = write_pet_series(tmp_path, _ramp(), header={"Units": "GML"})
    for path in paths:  # RLE-compressed: decoded by pydicom's own handler
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless)
        ds.save_as(path)
    data = np.asarray(read_pet_dicom(tmp_path).dataobj)
    np.testing.assert_array_equal(data, _ramp().transpose(2, 1, 0))


def test_reversed_slice_order_is_sorted_along_the_normal(tmp_path):
    # files numbered head to feet; the image's slice axis still follows the normal (+z)
    stored = _ramp()
    positions = np.array([[0.0, 0.0, -4.0 * k] for k in range(4)])
    write_pet_series(tmp_path, stored, positions=positions, header={"Units": "GML"})
    img = read_pet_dicom(tmp_path)
    np.testing.assert_allclose(img.affine[:3, 2], [0, 0, 4.0])
    np.testing.assert_allclose(img.affine[:3, 3], [0, 0, -12.0])
    assert np.asarray(img.dataobj)[0, 0, 0] == 300  # the file at z = -12


def test_tilted_gantry_is_refused(tmp_path):
    positions = np.array([[0.0, -4.0 * k, 4.0 * k] for k in range(4)])
    write_pet_series(tmp_path, _ramp(), positions=positions, header={"Units": "GML"})
    with pytest.raises(ValueError, match="gantry tilt of about 45.00 degrees.*irregular="):
        read_pet_dicom(tmp_path)


def test_tilted_gantry_resampled(tmp_path):
    # slice k is shifted by -4 mm (one row) in y; a structure at fixed world y = 20 mm
    # lies in row 5 + k of slice k and must land in row 5 of every resampled slice
    stored = np.zeros((4, 12, 6), dtype=np.int16)
    for k in range(4):
        stored[k, 5 + k, :] = 1000
    positions = np.array([[0.0, -4.0 * k, 4.0 * k] for k in range(4)])
    write_pet_series(tmp_path, stored, positions=positions, header={"Units": "GML"})
    with pytest.warns(UserWarning, match="shifted onto an orthogonal grid"):
        img = read_pet_dicom(tmp_path, irregular="resample")
    data = np.asarray(img.dataobj)
    for k in range(4):
        assert np.argmax(data[0, :, k]) == 5
        np.testing.assert_allclose(data[:, 5, k], 1000)
    np.testing.assert_allclose(img.affine[:3, 2], [0, 0, 4.0])


def test_uneven_spacing_refused_and_resampled(tmp_path):
    stored = np.stack([np.full((2, 2), v, dtype=np.int16) for v in (10, 20, 30, 50)])
    positions = np.array([[0.0, 0.0, z] for z in (0.0, 4.0, 8.0, 16.0)])  # 12 missing
    write_pet_series(tmp_path, stored, positions=positions, header={"Units": "GML"})
    with pytest.raises(ValueError, match="uneven.*between positions 8.000 and 16.000"):
        read_pet_dicom(tmp_path)
    with pytest.warns(UserWarning, match="interpolated linearly onto 5 slices"):
        img = read_pet_dicom(tmp_path, irregular="resample")
    np.testing.assert_allclose(np.asarray(img.dataobj)[0, 0], [10, 20, 30, 40, 50])


def test_two_slices_at_one_position(tmp_path):
    positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 4.0], [0.0, 0.0, 4.0]])
    write_pet_series(tmp_path, _ramp(n=3), positions=positions, header={"Units": "GML"})
    with pytest.raises(ValueError, match="same position 4.000 mm"):
        read_pet_dicom(tmp_path)


def test_a_copied_series_is_named(tmp_path):
    write_pet_series(tmp_path / "a", _ramp(), header={"Units": "GML"})
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with pytest.raises(ValueError, match="hold the same image.*copied twice"):
        read_pet_dicom(tmp_path)


def test_two_series_refused_with_their_list_then_chosen(tmp_path):
    write_pet_series(tmp_path, _ramp(), series_uid="1.2.3.1", names="a{:03d}.dcm",
                     header={"Units": "GML"})
    write_pet_series(tmp_path, 2 * _ramp(), series_uid="1.2.3.2", names="b{:03d}.dcm",
                     header={"Units": "GML"})
    with pytest.raises(ValueError, match="2 PET.*series_uid=.*1.2.3.1.*1.2.3.2"):
        read_pet_dicom(tmp_path)
    img = read_pet_dicom(tmp_path, series_uid="1.2.3.2")
    assert np.asarray(img.dataobj)[1, 0, 0] == 2
    with pytest.raises(ValueError, match="series_uid='9.9' is not in"):
        read_pet_dicom(tmp_path, series_uid="9.9")


def test_other_modalities_beside_the_pet_are_ignored(tmp_path):
    write_pet_series(tmp_path / "ct", _ramp(), header={"Modality": "CT"},
                     sop_class=CT_STORAGE)
    write_pet_series(tmp_path / "pt", _ramp(), header={"Units": "GML"})
    assert read_pet_dicom(tmp_path).shape == (5, 3, 4)
    with pytest.raises(ValueError, match="No PET .*CT"):
        read_pet_dicom(tmp_path / "ct")


def test_a_dicomdir_beside_the_series_is_ignored(tmp_path):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    write_pet_series(tmp_path, _ramp(), header={"Units": "GML"})
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    index = FileDataset(str(tmp_path / "DICOMDIR"), {}, file_meta=meta, preamble=b"\0" * 128)
    index.FileSetID = "TEST"
    index.save_as(tmp_path / "DICOMDIR", enforce_file_format=True)
    assert read_pet_dicom(tmp_path).shape == (5, 3, 4)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(ValueError, match="No DICOM file"):
        read_pet_dicom(tmp_path)
    with pytest.raises(FileNotFoundError, match="DICOM folder not found"):
        read_pet_dicom(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="irregular must be one of"):
        read_pet_dicom(tmp_path, irregular="guess")


# attribute the manual requires for BQML + START, how it is broken, the error's keyword
REQUIRED = [
    ("Units", {"header": {"Units": None}}, "Units"),
    ("RescaleSlope", {"per_slice": {"RescaleSlope": [None, None]}}, "RescaleSlope"),
    ("RescaleIntercept", {"header": {"RescaleIntercept": None}}, "RescaleIntercept"),
    ("RescaleIntercept != 0", {"header": {"RescaleIntercept": 5.0}}, "RescaleIntercept"),
    ("PatientWeight", {"header": {"PatientWeight": None}}, "PatientWeight"),
    ("PatientWeight = 0", {"header": {"PatientWeight": 0.0}}, "PatientWeight"),
    ("DecayCorrection", {"header": {"DecayCorrection": None}}, "DecayCorrection"),
    ("RadionuclideTotalDose", {"rp": {"RadionuclideTotalDose": None}},
     "RadionuclideTotalDose"),
    ("RadionuclideTotalDose = 0", {"rp": {"RadionuclideTotalDose": 0.0}},
     "RadionuclideTotalDose"),
    ("injection time", {"rp": {"RadiopharmaceuticalStartTime": None,
                               "RadiopharmaceuticalStartDateTime": None}},
     "RadiopharmaceuticalStartDateTime"),
    ("RadionuclideHalfLife", {"rp": {"RadionuclideHalfLife": None}, "nuclide_code": None},
     "RadionuclideHalfLife"),
    ("AcquisitionTime (NONE)", {"header": {"DecayCorrection": "NONE",
                                           "AcquisitionTime": None}}, "AcquisitionTime"),
    ("ActualFrameDuration (NONE)", {"header": {"DecayCorrection": "NONE",
                                               "ActualFrameDuration": None}},
     "ActualFrameDuration"),
    ("AcquisitionTime (START, no SeriesTime)", {"header": {"SeriesTime": None,
                                                           "AcquisitionTime": None}},
     "AcquisitionTime"),
    ("ActualFrameDuration (CNTS)", {"header": {"Units": "CNTS", "ActualFrameDuration": None,
                                               "CorrectedImage": ["ATTN", "NORM", "DCAL"]}},
     "ActualFrameDuration"),
    ("ImagePositionPatient", {"per_slice": {"ImagePositionPatient": [None, None]}},
     "ImagePositionPatient"),
    ("Units in one slice", {"per_slice": {"Units": ["BQML", None]}}, "Units"),
    ("Units contradict", {"per_slice": {"Units": ["BQML", "GML"]}}, "Units"),
    ("PatientWeight contradicts", {"per_slice": {"PatientWeight": [80.0, 81.0]}},
     "PatientWeight"),
    ("dose not a number", {"rp": {"RadionuclideTotalDose": 987654321.0}},
     "RadionuclideTotalDose"),
]


@pytest.mark.parametrize(("what", "broken", "keyword"), REQUIRED, ids=[r[0] for r in REQUIRED])
def test_each_required_attribute_gives_a_one_line_error(tmp_path, what, broken, keyword):
    stored = np.full((2, 2, 3), 10000, dtype=np.int16)
    paths = write_pet_series(tmp_path, stored, slopes=[0.5, 0.5], **broken)
    if what == "dose not a number":  # pydicom refuses to write an invalid DS: patch it in
        for path in paths:
            raw = open(path, "rb").read()
            with open(path, "wb") as f:
                f.write(raw.replace(b"987654321.0", b"98765abc321"))
    with pytest.raises(ValueError) as info:
        read_pet_dicom(tmp_path)
    message = str(info.value)
    assert keyword in message and "\n" not in message
    assert str(tmp_path) in message


def test_provenance_survives_writing_the_nifti(tmp_path):
    write_pet_series(tmp_path / "pet", np.full((2, 2, 3), 10000, dtype=np.int16),
                     slopes=[0.5, 0.5])
    img = read_pet_dicom(tmp_path / "pet")
    assert img.get_data_dtype() == np.float32
    assert img.header["descrip"].tobytes().startswith(b"SUVbw g/ml from BQML")
    nib.save(img, tmp_path / "pet.nii.gz")
    record = read_suv_provenance(tmp_path / "pet.nii.gz")
    assert record["suv"] == "bw" and record["decay_correction"] == "START"
    assert record["attributes"]["Units (0054,1001)"] == "BQML"
    assert record["attributes"]["RescaleSlope (0028,1053)"] == 0.5
    back = nib.load(tmp_path / "pet.nii.gz")
    np.testing.assert_allclose(back.get_fdata(), SUV_66_MIN, rtol=1e-6)
    assert int(back.header["sform_code"]) == 1
    with pytest.raises(ValueError, match="no petmtl SUV provenance"):
        read_suv_provenance(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)))


def test_load_pet_reads_a_series_folder(tmp_path):
    write_pet_series(tmp_path, np.full((2, 2, 3), 10000, dtype=np.int16), slopes=[0.5, 0.5])
    volume = load_pet(tmp_path)
    np.testing.assert_allclose(volume.data, SUV_66_MIN, rtol=1e-6)
    assert volume.path == os.fspath(tmp_path) and volume.data.dtype == np.float32


def test_missing_pydicom_names_the_extra(tmp_path, monkeypatch):
    write_pet_series(tmp_path, np.full((2, 2, 3), 100, dtype=np.int16))
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError, match=r"pip install 'petmtl\[dicom\]'"):
        read_pet_dicom(tmp_path)
    with pytest.raises(ImportError, match=r"petmtl\[dicom\]"):
        load_pet(tmp_path)
