"""Clinical covariates of the synthetic cohort (make_pet_cohort(clinical=True))."""

import sys

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from petmtl.datasets import make_pet_cohort, write_cohort
from petmtl.io import read_manifest

pd = pytest.importorskip("pandas")

SMALL = dict(shape=(16, 16, 16), spacing=8.0)


@pytest.fixture(scope="module")
def pair():
    kw = dict(n_samples=300, **SMALL, return_features=True, random_state=5)
    return make_pet_cohort(**kw), make_pet_cohort(**kw, clinical=True)


def test_images_stay_those_of_the_image_only_cohort(pair):
    plain, clinical = pair
    assert "clinical" not in plain and "clinical_logit" not in plain
    for key in ("X", "masks", "features", "pathology", "mask_available", "patient_id"):
        np.testing.assert_array_equal(clinical[key], plain[key], err_msg=key)
    np.testing.assert_array_equal(clinical.image_logit, plain.logit)
    assert "Clinical covariates" in clinical.DESCR and "Clinical" not in plain.DESCR


def test_covariate_table(pair):
    _, cohort = pair
    table = cohort.clinical
    assert list(table.columns) == ["age", "sex", "ecog", "t_stage", "marker"]
    assert list(table.index) == list(cohort.patient_id) and table.index.name == "patient_id"
    assert table["age"].dtype == np.float64 and table["ecog"].dtype == np.float64
    assert table["age"].between(35, 90).all() and (table["age"] % 1 == 0).all()
    assert set(table["sex"]) == {"female", "male"}
    assert set(table["ecog"].dropna()) == {0.0, 1.0, 2.0, 3.0}
    assert set(table["t_stage"]) == {"T1", "T2", "T3", "T4"}
    assert set(table["marker"].dropna()) == {"negative", "positive"}
    assert table[["age", "sex", "t_stage"]].notna().all().all()
    assert 0.05 < table["ecog"].isna().mean() < 0.16
    assert 0.22 < table["marker"].isna().mean() < 0.38


def test_covariate_mechanism(pair):
    _, cohort = pair
    table = cohort.clinical
    stage = table["t_stage"].str[1].astype(int)
    assert spearmanr(stage, cohort.features[:, 0]).statistic > 0.5  # shared with the image
    # missing at random given observed covariates: ECOG more often at T1-T2, the marker
    # more often in older patients
    early = stage <= 2
    assert table["ecog"][early].isna().mean() > table["ecog"][~early].isna().mean()
    untested = table["marker"].isna()
    assert table["age"][untested].mean() > table["age"][~untested].mean() + 2
    # the clinical logit: worse with age and ECOG, better with a positive marker
    logit = pd.Series(cohort.clinical_logit, index=table.index)
    complete = table["ecog"].notna() & table["marker"].notna()
    frame = table[complete]
    design = np.column_stack([frame["age"], frame["ecog"], frame["marker"] == "positive",
                              np.ones(len(frame))])
    coef = np.linalg.lstsq(design, logit[complete], rcond=None)[0]
    assert coef[0] > 0 and coef[1] > 0 and coef[2] < 0
    assert 0.8 < np.std(cohort.clinical_logit) < 1.2 and 0.8 < np.std(cohort.logit) < 1.2
    # the outcome follows the combined logit, and each part alone carries part of it
    y = cohort.y
    assert roc_auc_score(y, cohort.logit) > roc_auc_score(y, cohort.image_logit)
    assert roc_auc_score(y, cohort.logit) > roc_auc_score(y, cohort.clinical_logit) > 0.6


def test_survival_cohort_and_manifest(tmp_path):
    cohort = make_pet_cohort(8, **SMALL, outcome="survival", clinical=True, random_state=1)
    assert cohort.y.dtype.names == ("event", "time") and len(cohort.clinical) == 8
    manifest = read_manifest(write_cohort(cohort, tmp_path),
                             extra_columns=["age", "ecog", "marker"])
    np.testing.assert_array_equal(manifest.extra["age"].astype(float), cohort.clinical["age"])
    ecog = [None if np.isnan(v) else str(int(v)) for v in cohort.clinical["ecog"]]
    assert list(manifest.extra["ecog"]) == ecog
    assert manifest.survival is not None


def test_clinical_argument_and_missing_pandas(monkeypatch):
    with pytest.raises(TypeError, match="clinical must be a bool"):
        make_pet_cohort(2, **SMALL, clinical="yes")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"clinical=True\) needs pandas.*petmtl\[clinical\]"):
        make_pet_cohort(2, **SMALL, clinical=True)
    assert make_pet_cohort(2, **SMALL).X.shape == (2, 16, 16, 16)  # no pandas needed
