"""RTSTRUCT and DICOM SEG masks on a PET grid, and DICOM SEG writing.

The synthetic PET grid: 12 columns x 10 rows x 6 slices, 2 mm pixels, 4 mm slices, first
voxel at LPS (0, 0, 0): voxel (column c, row r, slice k) is at LPS (2c, 2r, 4k). Contour
edges lie half-way between voxel centres, so which voxels are inside is unambiguous.
"""

import warnings

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import (  # noqa: E402
    load_mask,
    load_pet,
    prepare_volume,
    read_dicom_mask,
    read_pet_dicom,
    write_dicom_seg,
)

from ._dicom_synth import square, write_pet_series, write_rtstruct  # noqa: E402

SHAPE = (12, 10, 6)


@pytest.fixture
def pet(tmp_path):
    folder = tmp_path / "pet"
    write_pet_series(folder, np.ones((6, 10, 12), dtype=np.int16), spacing=(2.0, 2.0),
                     header={"Units": "GML"}, series_uid="1.2.826.0.1.1",
                     frame_uid="1.2.826.0.1.2")
    return folder


def _rtstruct(tmp_path, rois, **kwargs):
    return write_rtstruct(tmp_path / "rs.dcm", rois, frame_uid="1.2.826.0.1.2",
                          series_uid="1.2.826.0.1.1", **kwargs)


def _data(img):
    return np.asarray(img.dataobj)


def test_ring_keeps_its_hole(tmp_path, pet):
    # outer: x 3..15 mm (columns 2-7), y 3..13 mm (rows 2-6); hole: columns 4-5, row 4;
    # island inside the hole's hole is impossible here, so a second, disjoint island:
    # x 19..21 mm (column 10), y 15..17 mm (row 8)
    rs = _rtstruct(tmp_path, {(7, "ring"): [square(3, 15, 3, 13, 8.0),
                                            square(7, 11, 7, 9, 8.0),
                                            square(19, 21, 15, 17, 8.0)]})
    mask = read_dicom_mask(rs, pet)
    expected = np.zeros(SHAPE, dtype=np.uint8)
    expected[2:8, 2:7, 2] = 1
    expected[4:6, 4, 2] = 0
    expected[10, 8, 2] = 1
    np.testing.assert_array_equal(_data(mask), expected)
    assert mask.get_data_dtype() == np.uint8


def test_nested_contours_alternate(tmp_path, pet):
    # three nested squares: filled, hole, filled again (even-odd)
    rs = _rtstruct(tmp_path, {(1, "target"): [square(1, 23, 1, 19, 0.0),
                                              square(5, 19, 5, 15, 0.0),
                                              square(9, 15, 9, 11, 0.0)]})
    got = _data(read_dicom_mask(rs, pet))[:, :, 0]
    expected = np.zeros((12, 10), dtype=np.uint8)
    expected[1:12, 1:10] = 1
    expected[3:10, 3:8] = 0
    expected[5:8, 5:6] = 1
    np.testing.assert_array_equal(got, expected)


def test_contours_between_pet_slices(tmp_path, pet):
    # drawn every 2 mm at z = 1, 3, 5, 7 (a CT's planes): PET slices at z = 0, 4, 8 take the
    # nearest plane within 1 mm; slice z = 12 is 5 mm from the last plane
    rs = _rtstruct(tmp_path, {(1, "gtv"): [square(3, 9, 3, 9, z) for z in (1, 3, 5, 7)]})
    got = _data(read_dicom_mask(rs, pet))
    assert got[2:5, 2:5, :].all(axis=(0, 1)).tolist() == [True, True, True, False, False,
                                                          False]
    assert got.sum() == 3 * 9


def test_contours_coarser_than_the_pet(tmp_path, pet):
    # planes every 8 mm at z = 4, 12: each covers +-4 mm, i.e. slices z = 0..16
    rs = _rtstruct(tmp_path, {(1, "gtv"): [square(3, 9, 3, 9, z) for z in (4, 12)]})
    got = _data(read_dicom_mask(rs, pet))
    assert got[3, 3, :].tolist() == [1, 1, 1, 1, 1, 0]


def test_world_space_on_a_reoriented_reference(tmp_path, pet):
    rs = _rtstruct(tmp_path, {(1, "gtv"): [square(3, 15, 3, 9, 8.0), square(3, 9, 3, 9, 12.0)]})
    img = read_pet_dicom(pet)
    on_pet = read_dicom_mask(rs, img)
    canonical = nib.as_closest_canonical(img)  # RAS+ voxel order: columns/rows flipped
    assert not np.allclose(canonical.affine, img.affine)
    on_canonical = read_dicom_mask(rs, canonical)
    np.testing.assert_array_equal(_data(on_canonical),
                                  _data(nib.as_closest_canonical(on_pet)))


def test_several_rois_label_map_and_selection(tmp_path, pet):
    rs = _rtstruct(tmp_path, {(3, "GTV"): [square(3, 9, 3, 9, 8.0)],
                              (8, "node"): [square(13, 17, 13, 17, 8.0)]})
    labels = _data(read_dicom_mask(rs, pet))
    assert sorted(np.unique(labels).tolist()) == [0, 3, 8]
    assert (labels == 3).sum() == 9 and (labels == 8).sum() == 4
    np.testing.assert_array_equal(_data(read_dicom_mask(rs, pet, roi="node")), labels == 8)
    np.testing.assert_array_equal(_data(read_dicom_mask(rs, pet, roi=3)), labels == 3)
    np.testing.assert_array_equal(_data(read_dicom_mask(rs, pet, roi=["gtv", 8])),
                                  labels > 0)
    with pytest.raises(ValueError, match="no ROI/segment is named 'lung'.*3: 'GTV'"):
        read_dicom_mask(rs, pet, roi="lung")
    with pytest.raises(ValueError, match="no ROI/segment number 4"):
        read_dicom_mask(rs, pet, roi=4)


def test_overlapping_rois_need_a_choice(tmp_path, pet):
    rs = _rtstruct(tmp_path, {(1, "GTV"): [square(3, 9, 3, 9, 8.0)],
                              (2, "PTV"): [square(1, 11, 1, 11, 8.0)]})
    with pytest.raises(ValueError, match="'GTV'.*'PTV'.*overlap.*roi="):
        read_dicom_mask(rs, pet)
    assert _data(read_dicom_mask(rs, pet, roi="PTV")).sum() == 25


def test_load_mask_and_prepare_volume_take_an_rtstruct(tmp_path, pet):
    rs = _rtstruct(tmp_path, {(1, "GTV"): [square(3, 9, 3, 9, 8.0)],
                              (2, "PTV"): [square(1, 11, 1, 11, 8.0)]})
    volume = load_pet(pet)
    assert load_mask(rs, reference=volume, label=1).data.sum() == 9
    assert load_mask(rs, reference=volume, binarize=True).data.sum() == 25
    with pytest.raises(ValueError, match="needs the PET as reference="):
        load_mask(rs)
    _, mask, _ = prepare_volume(pet, rs, spacing=None, shape=None, label=2)
    assert mask.sum() == 25


def test_frame_of_reference_mismatch(tmp_path, pet):
    rs = write_rtstruct(tmp_path / "rs.dcm", {(1, "gtv"): [square(3, 9, 3, 9, 8.0)]},
                        frame_uid="1.2.826.0.1.99", series_uid="1.2.826.0.1.98")
    with pytest.raises(ValueError, match="FrameOfReferenceUID.*not drawn on this PET"):
        read_dicom_mask(rs, pet)


def test_open_contours_are_ignored_with_a_warning(tmp_path, pet):
    rs = _rtstruct(tmp_path, {(1, "line"): [square(3, 9, 3, 9, 8.0)]},
                   kinds={1: "OPEN_PLANAR"})
    with pytest.warns(UserWarning, match="ignored.*OPEN_PLANAR"):
        assert _data(read_dicom_mask(rs, pet)).sum() == 0


def test_oblique_contours_are_refused(tmp_path, pet):
    tilted = np.array([[3, 3, 0], [9, 3, 0], [9, 9, 12], [3, 9, 12]], dtype=float)
    rs = _rtstruct(tmp_path, {(1, "gtv"): [tilted]})
    with pytest.raises(ValueError, match="not parallel"):
        read_dicom_mask(rs, pet)


def _highdicom():
    return pytest.importorskip("highdicom")


@pytest.mark.parametrize("kind", ["binary", "labels"])
def test_seg_round_trip(tmp_path, pet, kind):
    hd = _highdicom()
    import pydicom

    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[2:7, 3:6, 1:4] = 1
    if kind == "labels":
        mask[8:11, 1:3, 2:5] = 2
    out = write_dicom_seg(mask, pet, tmp_path / "seg.dcm",
                          segment_labels={1: "tumour", 2: "node"})
    back = read_dicom_mask(out, pet)
    np.testing.assert_array_equal(_data(back), mask)
    ds = pydicom.dcmread(out)
    source = [pydicom.dcmread(p) for p in sorted((pet).iterdir())]
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == "1.2.826.0.1.1"
    referenced = {item.ReferencedSOPInstanceUID
                  for item in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {s.SOPInstanceUID for s in source}
    assert ds.FrameOfReferenceUID == "1.2.826.0.1.2"
    assert ds.StudyInstanceUID == source[0].StudyInstanceUID
    seg = hd.seg.segread(out)
    assert seg.number_of_segments == (2 if kind == "labels" else 1)
    if kind == "labels":
        np.testing.assert_array_equal(_data(read_dicom_mask(out, pet, roi="node")), mask == 2)
        np.testing.assert_array_equal(_data(read_dicom_mask(out, pet, roi=1)), mask == 1)
    assert [s.SegmentLabel for s in ds.SegmentSequence][:1] == ["tumour"]


def test_seg_from_a_nifti_image_and_fractional(tmp_path, pet):
    _highdicom()
    img = read_pet_dicom(pet)
    proba = np.zeros(SHAPE, dtype=np.float32)
    proba[2:5, 2:5, 2] = 0.8
    proba[6, 6, 3] = 0.3
    out = write_dicom_seg(nib.Nifti1Image(proba, img.affine), pet, tmp_path / "p.dcm")
    np.testing.assert_array_equal(_data(read_dicom_mask(out, img)), proba >= 0.5)
    np.testing.assert_array_equal(_data(read_dicom_mask(out, img, threshold=0.25)),
                                  proba >= 0.25)


def test_seg_read_onto_a_reoriented_reference(tmp_path, pet):
    _highdicom()
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:4, 2:8, 1:3] = 1
    out = write_dicom_seg(mask, pet, tmp_path / "seg.dcm")
    img = read_pet_dicom(pet)
    canonical = nib.as_closest_canonical(img)
    expected = nib.as_closest_canonical(nib.Nifti1Image(mask, img.affine))
    np.testing.assert_array_equal(_data(read_dicom_mask(out, canonical)), _data(expected))


def test_seg_writing_checks_the_grid(tmp_path, pet):
    _highdicom()
    img = read_pet_dicom(pet)
    with pytest.raises(ValueError, match="series' shape"):
        write_dicom_seg(np.ones((12, 10, 5), np.uint8), pet, tmp_path / "s.dcm")
    shifted = img.affine.copy()
    shifted[0, 3] += 2.0
    with pytest.raises(ValueError, match="affine differs"):
        write_dicom_seg(nib.Nifti1Image(np.ones(SHAPE, np.uint8), shifted), pet,
                        tmp_path / "s.dcm")
    assert not (tmp_path / "s.dcm").exists()


def test_an_empty_mask_is_written_as_a_segment_without_voxels(tmp_path, pet):
    _highdicom()
    img = read_pet_dicom(pet)
    path = write_dicom_seg(np.zeros(SHAPE, np.uint8), pet, tmp_path / "empty.dcm")
    with pytest.warns(UserWarning, match="covers no voxel"):
        back = read_dicom_mask(path, img)
    assert _data(back).shape == SHAPE and not _data(back).any()


def test_seg_writing_without_highdicom(tmp_path, pet, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(ImportError, match=r"petmtl\[dicom\]"):
        write_dicom_seg(np.ones(SHAPE, np.uint8), pet, tmp_path / "s.dcm")


def test_not_a_mask_file(tmp_path, pet):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="neither an RTSTRUCT nor a SEG"):
            read_dicom_mask(next(iter(sorted(pet.iterdir()))), pet)
