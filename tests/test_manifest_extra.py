"""Extra manifest columns (e.g. clinical covariates) in write_manifest and read_manifest."""

import numpy as np
import pytest

from petmtl.io import read_manifest, write_manifest


def test_extra_columns_round_trip(tmp_path):
    csv = tmp_path / "manifest.csv"
    write_manifest(csv, ["a", "b", "c"], ["a.nii.gz", "b.nii.gz", "c.nii.gz"],
                   outcome=[1, 0, -1],
                   extra={"age": [61.0, np.nan, 70.5], "ecog": [np.int64(2), None, 0.0],
                          "stage": ["T1", "T2", None]})
    header = csv.read_text().splitlines()
    assert header[0] == "patient_id,pet_path,outcome,age,ecog,stage"
    assert header[1].endswith(",1,61,2,T1") and header[2].endswith(",0,,,T2")
    assert header[3].endswith(",,70.5,0,")
    plain = read_manifest(csv, check_files=False)
    assert plain.extra == {}  # extra columns are ignored unless asked for
    np.testing.assert_array_equal(plain.y, [1, 0, -1])
    manifest = read_manifest(csv, check_files=False, extra_columns=["stage", "age"])
    assert list(manifest.extra) == ["stage", "age"]
    assert list(manifest.extra["age"]) == ["61", None, "70.5"]
    assert list(manifest.extra["stage"]) == ["T1", "T2", None]
    assert manifest.extra["age"].dtype == object


def test_extra_column_errors(tmp_path):
    csv = tmp_path / "manifest.csv"
    with pytest.raises(ValueError, match="extra column 'outcome' clashes"):
        write_manifest(csv, ["a"], ["a.nii.gz"], extra={"outcome": [1]})
    with pytest.raises(ValueError, match="same length|len\\(ids\\)=1"):
        write_manifest(csv, ["a"], ["a.nii.gz"], extra={"age": [1, 2]})
    write_manifest(csv, ["a"], ["a.nii.gz"], extra={"age": [50]})
    with pytest.raises(ValueError, match=r"lacks the extra_columns \['sex'\]; columns found"):
        read_manifest(csv, check_files=False, extra_columns=["age", "sex"])
    with pytest.raises(TypeError, match=r"write \['age'\] for one column"):
        read_manifest(csv, check_files=False, extra_columns="age")
