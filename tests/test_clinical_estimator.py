"""Clinical covariates in the estimators: X as a table of images and covariates."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from petmtl import MultiTaskPETEstimator, MultiTaskPETSurvival
from petmtl.survival import make_survival_y

from .conftest import make_blob_volumes

pd = pytest.importorskip("pandas")

SMALL = dict(base_width=2, depth=2, batch_size=4, max_epochs=2, random_state=0)


def table(n=24, seed=0):
    """The outcome is the marker (plus a little age); the images (bright or dim tumours
    alternating) are independent of it."""
    X, _, masks, pathology = make_blob_volumes(n_samples=n, size=12, seed=seed)
    rng = np.random.default_rng(seed)
    marker = np.array(["positive", "positive", "negative", "negative"] * (n // 4),
                      dtype=object)
    y = (marker == "positive").astype(int)
    age = rng.normal(60, 8, n) + 3 * y
    age[::7] = np.nan
    frame = pd.DataFrame({"image": list(X), "age": age, "marker": marker,
                          "ecog": rng.integers(0, 3, n).astype(float)})
    return frame, y, masks, pathology


@pytest.fixture(scope="module")
def cohort():
    return table()


@pytest.fixture(scope="module", params=["late", "film"])
def fitted(request, cohort):
    frame, y, masks, pathology = cohort
    return MultiTaskPETEstimator(**SMALL, clinical_fusion=request.param).fit(
        frame, y, masks=masks, pathology=pathology)


def test_covariates_reach_t4_and_are_learnt(cohort, fitted):
    frame, y, _, _ = cohort
    test, y_test, _, _ = table(24, seed=5)
    # the images say nothing; the marker says everything
    assert roc_auc_score(y_test, fitted.predict_proba(test)[:, 1]) > 0.95
    assert fitted.n_clinical_features_ == len(fitted.clinical_preprocessor_
                                              .get_feature_names_out())
    switched = test.assign(marker=np.where(test["marker"] == "positive", "negative",
                                           "positive"))
    assert roc_auc_score(y_test, fitted.predict_proba(switched)[:, 1]) < 0.05


def test_preprocessing_is_learnt_on_the_training_rows_only(cohort):
    frame, y, masks, pathology = cohort
    frame = frame.assign(marker=np.where(np.arange(len(frame)) < 20, frame["marker"],
                                         "equivocal"), age=frame["age"].where(
        np.arange(len(frame)) < 20, 200.0))
    train = np.arange(20)
    est = MultiTaskPETEstimator(**SMALL).fit(frame.iloc[train], y[train], masks=masks[train],
                                             pathology=pathology[train])
    preprocessor = est.clinical_preprocessor_
    categories = preprocessor.named_transformers_["categorical"].named_steps["encode"]
    assert "equivocal" not in [c for levels in categories.categories_ for c in levels]
    scaler = preprocessor.named_transformers_["numeric"].named_steps["scale"]
    ages = frame["age"].iloc[train]
    assert scaler.mean_[0] == pytest.approx(ages.fillna(ages.median()).mean())
    with pytest.warns(UserWarning, match="'equivocal'"):
        est.predict_proba(frame.iloc[20:])


@pytest.mark.slow
def test_missing_or_unexpected_covariates_are_named(cohort, fitted):
    frame, _, _, _ = cohort
    with pytest.raises(ValueError, match=r"covariate column\(s\) \['marker'\]"):
        fitted.predict_proba(frame.drop(columns=["marker"]))
    with pytest.raises(ValueError, match="fitted with clinical covariates"):
        fitted.predict_proba(np.stack(frame["image"]))
    with pytest.raises(ValueError, match="no column 'image'"):
        fitted.predict_proba(frame.rename(columns={"image": "pet"}))
    with pytest.warns(UserWarning, match="'ecog' has 1 missing value"):
        fitted.predict_proba(frame.assign(ecog=[np.nan] + list(frame["ecog"][1:])))
    plain = MultiTaskPETEstimator(**SMALL).fit(np.stack(frame["image"]), cohort[1],
                                               masks=cohort[2], pathology=cohort[3])
    with pytest.raises(ValueError, match="fitted without clinical covariates"):
        plain.predict_proba(frame)
    only_images = frame[["image"]]
    assert plain.predict_proba(only_images).shape == (len(frame), 2)


@pytest.mark.parametrize(("categorical", "match"), [
    (["stage"], r"clinical_categorical names \['stage'\], which X does not have"),
    ([], r"\['marker'\] hold non-numeric values but are not in clinical_categorical"),
])
def test_clinical_categorical_is_checked_against_the_table(cohort, categorical, match):
    frame, y, masks, pathology = cohort
    with pytest.raises(ValueError, match=match):
        MultiTaskPETEstimator(**SMALL, clinical_categorical=categorical).fit(
            frame, y, masks=masks, pathology=pathology)


def test_grad_cam_of_the_outcome_is_given_the_covariates(cohort, fitted):
    from petmtl.explain import grad_cam

    frame = cohort[0]
    rows = frame.iloc[[0, 2]]  # marker positive, then negative
    maps = grad_cam(fitted, rows, scale="encoder_0")
    assert maps.shape == (2, 12, 12, 12) and maps.max() == pytest.approx(1.0)
    # the covariates decide the predicted class, so the map explained changes with them
    swapped = rows.assign(marker=rows["marker"].iloc[::-1].to_numpy())
    assert not np.allclose(grad_cam(fitted, swapped, scale="encoder_0"), maps, atol=1e-3)
    images = np.stack(rows["image"])
    with pytest.raises(ValueError, match="fitted with clinical covariates"):
        grad_cam(fitted, images)
    # the segmentation does not read them
    assert grad_cam(fitted, images, target="segmentation", scale=0).shape == (2, 12, 12, 12)


def test_model_files_and_pickles_keep_the_preprocessing(cohort, fitted, tmp_path):
    frame = cohort[0]
    expected = fitted.predict_proba(frame)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(frame),
                                  expected)
    loaded = MultiTaskPETEstimator.load(fitted.save(tmp_path / "clinical.pt"))
    np.testing.assert_array_equal(loaded.predict_proba(frame), expected)


@pytest.mark.slow
def test_cross_validate_and_grid_search_over_lam_and_fusion_with_routed_masks(cohort):
    frame, y, masks, pathology = cohort
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskPETEstimator(**{**SMALL, "max_epochs": 1})
        est.set_fit_request(masks=True, pathology=True)
        search = GridSearchCV(est, {"lam": [0.3, 0.7], "clinical_fusion": ["late", "film"]},
                              scoring="roc_auc", cv=StratifiedKFold(2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            search.fit(frame, y, masks=masks, pathology=pathology)
            scores = cross_validate(est, frame, y, cv=StratifiedKFold(2), scoring="roc_auc",
                                    params={"masks": masks, "pathology": pathology})
    assert set(search.best_params_) == {"lam", "clinical_fusion"}
    assert scores["test_score"].shape == (2,)


@pytest.mark.slow
def test_survival_estimator_takes_covariates(cohort):
    frame, y, masks, pathology = cohort
    rng = np.random.default_rng(0)
    surv = make_survival_y(rng.random(len(y)) < 0.8, np.where(y == 1, 5.0, 20.0)
                           + rng.random(len(y)))
    est = MultiTaskPETSurvival(**SMALL).fit(frame, surv, masks=masks, pathology=pathology)
    risk = est.predict(frame)
    assert risk[y == 1].mean() > risk[y == 0].mean()  # the marker says who dies early
    assert est.predict_survival_function(frame.iloc[:2], return_array=True).shape[0] == 2


def test_film_starts_as_late_fusion_and_conditions_the_image_features(cohort):
    frame, y, masks, pathology = cohort
    one_epoch = {**SMALL, "max_epochs": 1}
    film = MultiTaskPETEstimator(**one_epoch, clinical_fusion="film").fit(
        frame, y, masks=masks, pathology=pathology)
    late = MultiTaskPETEstimator(**one_epoch).fit(frame, y, masks=masks, pathology=pathology)
    switched = frame.assign(marker=np.where(frame["marker"] == "positive", "negative",
                                            "positive"))
    for est, conditioned in ((film, True), (late, False)):
        head = est.module_.outcome
        n_image = head.n_features - head.n_wide  # [image features, covariates, descriptors]
        before = est.transform(frame)[:, :n_image]
        after = est.transform(switched)[:, :n_image]
        assert (not np.allclose(before, after, atol=1e-6)) == conditioned
