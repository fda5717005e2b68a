"""Clinical and lesion-burden baselines (petmtl.baselines)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from petmtl.baselines import (
    RADIOMIC_FEATURES,
    clinical_classifier,
    clinical_cox,
    radiomic_features,
    radiomics_classifier,
    radiomics_clinical_classifier,
    radiomics_clinical_cox,
)
from petmtl.clinical import clinical_preprocessor
from petmtl.metrics import concordance_index_censored
from petmtl.pet import BURDEN_FEATURES, LesionBurden

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def cohort():
    from petmtl.datasets import make_pet_cohort

    return make_pet_cohort(240, shape=(16, 16, 16), spacing=8.0, clinical=True,
                           return_features=True, random_state=7)


def test_clinical_classifier_learns_the_clinical_part(cohort):
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_predict(clinical_classifier(), cohort.clinical, cohort.y, cv=folds,
                               method="decision_function")
    assert roc_auc_score(cohort.y, scores) > 0.62
    # out of fold, the scores follow the true clinical logit
    assert np.corrcoef(scores, cohort.clinical_logit)[0, 1] > 0.6


def test_radiomics_clinical_is_both_blocks_side_by_side(cohort):
    radiomics = radiomic_features(cohort.X, cohort.masks, 8.0, as_frame=True)
    assert list(radiomics.columns) == list(RADIOMIC_FEATURES)
    radiomics.index = cohort.clinical.index
    table = pd.concat([radiomics, cohort.clinical], axis=1)
    model = radiomics_clinical_classifier(random_state=0).fit(table, cohort.y)
    # the same model by hand: each block preprocessed alone, then one logistic regression
    rad = radiomics_classifier()[:-1].fit(radiomics.to_numpy())
    clin = clinical_preprocessor().fit(cohort.clinical)
    design = np.hstack([rad.transform(radiomics.to_numpy()), clin.transform(cohort.clinical)])
    manual = LogisticRegression(max_iter=1000, random_state=0).fit(design, cohort.y)
    np.testing.assert_allclose(model.predict_proba(table), manual.predict_proba(design),
                               rtol=1e-6, atol=1e-9)


def test_radiomic_features_with_lesion_burden(cohort):
    X, masks = cohort.X[:6], cohort.masks[:6]
    plain = radiomic_features(X, masks, 8.0)
    with_burden = radiomic_features(X, masks, 8.0, burden="suv2.5")
    assert with_burden.shape == (6, len(RADIOMIC_FEATURES) + len(BURDEN_FEATURES))
    np.testing.assert_array_equal(with_burden[:, :4], plain)
    burden = LesionBurden(8.0, "suvmax41", min_volume_ml=1.0)
    expected = burden.fit_transform(X, masks=masks)
    np.testing.assert_array_equal(radiomic_features(X, masks, 8.0, burden=burden)[:, 4:],
                                  expected)
    frame = radiomic_features(X, masks, 8.0, burden="suv4.0", as_frame=True)
    assert list(frame.columns) == list(RADIOMIC_FEATURES) + list(BURDEN_FEATURES)
    # the radiomics baseline takes the burden columns, NaN distances imputed
    features = radiomic_features(cohort.X[:40], cohort.masks[:40], 8.0, burden="suv2.5")
    assert np.isnan(features).any()
    model = radiomics_classifier().fit(features, cohort.y[:40])
    assert model.predict_proba(features).shape == (40, 2)


def test_cox_counterparts_rank_the_risk():
    from petmtl.datasets import make_pet_cohort

    cohort = make_pet_cohort(120, shape=(16, 16, 16), spacing=8.0, clinical=True,
                             outcome="survival", return_features=True, random_state=3)
    event, time = cohort.y["event"], cohort.y["time"]
    clinical = clinical_cox().fit(cohort.clinical, cohort.y)
    risk = clinical.predict(cohort.clinical)
    assert np.corrcoef(risk, cohort.clinical_logit)[0, 1] > 0.6
    assert concordance_index_censored(event, time, risk)[0] > 0.6
    radiomics = radiomic_features(cohort.X, cohort.masks, 8.0, as_frame=True)
    radiomics.index = cohort.clinical.index
    both = radiomics_clinical_cox(alpha=1.0).fit(
        pd.concat([radiomics, cohort.clinical], axis=1), cohort.y)
    assert both.score(pd.concat([radiomics, cohort.clinical], axis=1), cohort.y) > 0.6
