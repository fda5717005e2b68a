"""The issue's checks on the shared DICOM data: the SUV manual's digital reference objects,
two real GE crops against independently converted NIfTI, and a bit-packed SEG."""

import glob
import warnings

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import read_dicom_mask, read_pet_dicom, read_suv_provenance  # noqa: E402

from .conftest import SHARED_DATA  # noqa: E402

DICOM = SHARED_DATA / "dicom"
DROS = sorted(p.name for p in (DICOM / "suv-dro").glob("DRO_*") if p.is_dir()) \
    if (DICOM / "suv-dro").is_dir() else []
needs_data = pytest.mark.skipif(not DICOM.is_dir(), reason=f"shared data not at {DICOM}")


def _dice(a, b):
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():  # pydicom's remarks on over-long SH values etc.
        warnings.simplefilter("ignore", UserWarning)
        return func(*args, **kwargs)


@needs_data
def test_all_eleven_reference_objects_are_present():
    assert len(DROS) == 11


@needs_data
@pytest.mark.parametrize("name", DROS)
def test_reference_object_suv_inside_its_rtstruct(name):
    folder = DICOM / "suv-dro" / name
    img = read_pet_dicom(folder / "PT")
    rs = next((folder / "RS").glob("*.dcm"))
    mask = np.asarray(read_dicom_mask(rs, img).dataobj) > 0
    values = np.asarray(img.dataobj)[mask]
    stats = np.array([values.min(), np.median(values), values.max()])
    if name == "DRO_2_3":
        # CM2ML: the object stores SUVbsa as integers x 0.01 truncated (5, 26, 105 for
        # 0.0528, 0.264, 1.056), so no correct reading can be within 0.5 %. Those integers
        # give, by hand, x 0.01 x 70000 g / (Du Bois 1.8481430 m2 x 1e4) = 0.18938,
        # 0.98477, 3.97696, each within one stored unit (0.0379 SUV) of 0.2 / 1 / 4.
        np.testing.assert_allclose(stats, [0.18938, 0.98477, 3.97696], rtol=1e-4)
    else:
        np.testing.assert_allclose(stats, [0.20, 1.00, 4.00], rtol=0.005)
    record = read_suv_provenance(img)
    assert record["suv"] == "bw" and record["attributes"]


@needs_data
@pytest.mark.parametrize("name", DROS)
def test_reference_object_rtstruct_in_world_space(name):
    """The RTSTRUCT's contours lie about one voxel inside DRO_mask.nii.gz's region, which
    also extends one slice beyond the first and last contour: even a perfect rasterisation
    reaches Dice 0.92 only. Checked instead: every voxel is inside the NIfTI mask (same
    world space) and Dice >= 0.92 (see also the matplotlib comparison below)."""
    folder = DICOM / "suv-dro" / name
    reference = nib.load(folder / "mask" / "DRO_mask.nii.gz")
    rs = next((folder / "RS").glob("*.dcm"))
    mask = np.asarray(read_dicom_mask(rs, reference).dataobj) > 0
    truth = np.asarray(reference.dataobj) > 0
    assert not (mask & ~truth).any()
    assert _dice(mask, truth) >= 0.92


@needs_data
def test_reference_object_rtstruct_agrees_with_matplotlib():
    folder = DICOM / "suv-dro" / "DRO_0_0"
    reference = nib.load(folder / "mask" / "DRO_mask.nii.gz")
    rs = next((folder / "RS").glob("*.dcm"))
    mask = np.asarray(read_dicom_mask(rs, reference).dataobj) > 0
    assert _dice(mask, _matplotlib_rasterisation(rs, reference)) >= 0.99


def _matplotlib_rasterisation(rs_path, reference):
    path_module = pytest.importorskip("matplotlib.path")
    import pydicom

    ds = pydicom.dcmread(rs_path)
    inverse = np.linalg.inv(reference.affine)
    out = np.zeros(reference.shape, dtype=bool)
    i, j = np.meshgrid(np.arange(reference.shape[0]), np.arange(reference.shape[1]),
                       indexing="ij")
    centres = np.stack([i.ravel(), j.ravel()], axis=1)
    for contour in ds.ROIContourSequence[0].ContourSequence:
        lps = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        ras = lps * [-1, -1, 1]
        vox = ras @ inverse[:3, :3].T + inverse[:3, 3]
        k = int(round(vox[0, 2]))
        inside = path_module.Path(vox[:, :2]).contains_points(centres)
        out[:, :, k] ^= inside.reshape(reference.shape[:2])
    return out


@needs_data
@pytest.mark.parametrize("patient", ["STS_002", "STS_003"])
def test_real_crops_match_their_nifti_references(patient):
    folder = DICOM / "sts-pet-dicom" / patient
    img = _quiet(read_pet_dicom, folder / "image")
    ref = nib.load(folder / "nifti-reference" / "image" / "image.nii.gz")
    assert img.shape == ref.shape
    np.testing.assert_allclose(img.affine, ref.affine, atol=1e-4)
    ours, theirs = np.asarray(img.dataobj, float), np.asarray(ref.dataobj, float)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6)
    mask = _quiet(read_dicom_mask, folder / "mask" / "RS.dcm", img)
    ref_mask = nib.load(folder / "nifti-reference" / "mask" / "mask.nii.gz")
    np.testing.assert_allclose(mask.affine, ref_mask.affine, atol=1e-4)
    assert _dice(mask.dataobj, ref_mask.dataobj) >= 0.95
    record = read_suv_provenance(img)
    assert record["units"] == "GML" and record["manufacturer"] == "GE MEDICAL SYSTEMS"


@needs_data
def test_bit_packed_seg_decodes_to_the_described_pattern():
    import pydicom

    folder = DICOM / "seg-bitpacking-phantom"
    mask = np.asarray(read_dicom_mask(folder / "mask" / "mask.dcm", folder / "image").dataobj)
    images = [pydicom.dcmread(p) for p in sorted(glob.glob(str(folder / "image" / "*.dcm")))]
    images.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    assert mask.shape == (23, 38, 3)  # 23 columns, 38 rows: 874 bits, not whole bytes
    for k, ds in enumerate(images):
        expected = ds.pixel_array > 0  # the round region of the middle slice
        expected[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # the four corners of every slice
        np.testing.assert_array_equal(mask[:, :, k].T, expected)
    assert mask[:, :, 1].sum() > 300 and mask[:, :, 0].sum() == mask[:, :, 2].sum() == 4
