"""``petmtl convert`` + ``fit`` + ``predict`` on DICOM folders, and a manifest mixing DICOM
and NIfTI rows."""

import csv
import sys
import warnings

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.cli import main  # noqa: E402
from petmtl.io import read_manifest, read_suv_provenance, write_manifest  # noqa: E402

from ._dicom_synth import copy_series  # noqa: E402
from .conftest import SHARED_DATA  # noqa: E402

STS = SHARED_DATA / "dicom" / "sts-pet-dicom"
FAST = ["--set", "base_width=2", "--set", "depth=2", "--set", "max_epochs=1",
        "--set", "input_shape=(16,16,16)", "--set", "spacing=8", "--set", "random_state=0",
        "-q"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The two real crops and a renamed copy of each (new UIDs): four patients."""
    if not STS.is_dir():
        pytest.skip(f"shared data not found at {STS}")
    root = tmp_path_factory.mktemp("dicom_cli") / "dicom"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("STS_002", "STS_003"):
            copy_series(STS / name, root / name, patient_id=name)
            copy_series(STS / name, root / f"{name}b", patient_id=f"{name}b")
    return root


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_convert_fit_predict_on_dicom_folders(tree, tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "cohort"
    assert main(["convert", str(tree), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "converted 4 PET series" in printed and "nifti-reference" not in printed
    converted = read_manifest(out / "manifest.csv")
    assert sorted(converted.ids) == ["STS_002", "STS_002b", "STS_003", "STS_003b"]
    assert all(m is not None for m in converted.masks)
    # a manifest mixing the DICOM folders (with their RTSTRUCTs) and the converted NIfTI
    ids = list(converted.ids)
    pets = [tree / i / "image" if k % 2 == 0 else p
            for k, (i, p) in enumerate(zip(ids, converted.X, strict=True))]
    masks = [tree / i / "mask" / "RS.dcm" if k % 2 == 0 else m
             for k, (i, m) in enumerate(zip(ids, converted.masks, strict=True))]
    mixed = write_manifest(tmp_path / "mixed.csv", ids, pets, masks, outcome=[0, 1, 0, 1])
    model = tmp_path / "model.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main(["fit", str(mixed), "--model", str(model), *FAST]) == 0
        predictions, masks_dir = tmp_path / "pred.csv", tmp_path / "masks"
        assert main(["predict", str(model), str(mixed), "--out", str(predictions),
                     "--masks-dir", str(masks_dir), "--masks-format", "nifti", "-q"]) == 0
    rows = _rows(predictions)
    assert [r["patient_id"] for r in rows] == ids
    assert all(0 <= float(r["probability_1"]) <= 1 for r in rows)
    for row, pet in zip(rows, converted.X, strict=True):
        predicted = nib.load(row["predicted_mask_path"])
        with pytest.raises(ValueError, match="no petmtl SUV provenance"):
            read_suv_provenance(predicted)  # a mask does not carry its PET's SUV record
        reference = nib.load(pet)  # the DICOM series' grid, as converted
        assert predicted.shape == reference.shape
        np.testing.assert_allclose(predicted.affine, reference.affine, atol=1e-4)


def test_convert_reports_skips_and_fails_without_pet(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["convert", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no PET series could be converted" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2


def test_convert_without_pydicom_names_the_extra(tree, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    assert main(["convert", str(tree), "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'petmtl[dicom]'" in capsys.readouterr().err


def test_help_lists_convert(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "convert" in capsys.readouterr().out


@pytest.mark.slow
def test_segmentations_go_back_to_the_scanner_as_dicom_seg(tree, tmp_path):
    """segment(..., output_format="dicom-seg") on DICOM folders writes SEGs that reference
    each series and read back as the masks segment returns; "auto" keeps NIfTI rows NIfTI."""
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    import torch

    from petmtl import MultiTaskPETEstimator
    from petmtl.io import read_dicom_mask

    torch.set_num_threads(1)
    folders = [str(tree / name / "image") for name in ("STS_002", "STS_003", "STS_002b")]
    masks = [str(tree / name / "mask" / "RS.dcm") for name in ("STS_002", "STS_003",
                                                                "STS_002b")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, spacing=8.0,
                                    input_shape=(16, 16, 16), random_state=0,
                                    early_stopping=False, tasks=("segmentation",),
                                    outcome_features="global")
        est.fit(folders, [0, 1, 0], masks=masks)
        # a threshold that splits the first scan in two, so that the masks are not empty
        threshold = float(np.median(est.segment_proba(folders[:1])[0]))
        arrays = est.segment(folders, threshold=threshold)
        assert 0 < arrays[0].sum() < arrays[0].size
        written = est.segment(folders, threshold=threshold, output_dir=tmp_path,
                              output_format="dicom-seg")
        for path, folder, expected in zip(written, folders, arrays, strict=True):
            assert path.endswith("_seg.dcm")
            seg = pydicom.dcmread(path)
            source = pydicom.dcmread(next(p for p in sorted((tree / folder).glob("*"))
                                          if p.is_file()))
            assert seg.Modality == "SEG"
            assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == \
                source.SeriesInstanceUID
            back = np.asarray(read_dicom_mask(path, folder).dataobj)
            np.testing.assert_array_equal(back, expected)
        nifti = tmp_path / "x.nii.gz"
        nib.save(nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.eye(4)), nifti)
        with pytest.raises(ValueError, match="DICOM series folder"):
            est.segment([str(nifti)], output_dir=tmp_path, output_format="dicom-seg")
        (tmp_path / "auto").mkdir()
        auto = est.segment([folders[0], str(nifti)], output_dir=tmp_path / "auto",
                           output_format="auto", threshold=threshold)
        assert auto[0].endswith("_seg.dcm") and auto[1].endswith("_seg.nii.gz")
