"""Clinical covariate preprocessing and its checks at prediction (petmtl.clinical)."""

import pickle
import warnings

import numpy as np
import pytest

from petmtl.clinical import check_covariates, clinical_preprocessor, covariates_from_manifest

pd = pytest.importorskip("pandas")


def table():
    """Ten patients; rows 0-6 train, rows 7-9 test (T4 and age 95 only among them)."""
    return pd.DataFrame({
        "age": [50.0, 60.0, np.nan, 70.0, 55.0, 65.0, 58.0, 95.0, 62.0, np.nan],
        "sex": ["male", "female", "male", np.nan, "female", "male", "male", "female", "male",
                "male"],
        "ecog": [0.0, 1.0, 2.0, 1.0, np.nan, 0.0, 1.0, 3.0, 0.0, 1.0],
        "t_stage": ["T1", "T2", "T3", "T1", "T2", "T3", "T1", "T4", "T4", "T2"],
    }, index=[f"p{i}" for i in range(10)])


TRAIN, TEST = slice(0, 7), slice(7, 10)


def test_fit_learns_from_the_training_rows_only():
    data = table()
    pre = clinical_preprocessor(numeric=["age"], categorical=["sex", "ecog", "t_stage"])
    pre.fit(data.iloc[TRAIN])
    # a copy fitted on training rows whose test rows were anything else is the same model
    other = data.copy()
    other.iloc[TEST] = [[1000.0, "robot", 9.0, "T9"]] * 3
    twin = clinical_preprocessor(numeric=["age"], categorical=["sex", "ecog", "t_stage"])
    twin.fit(other.iloc[TRAIN])
    np.testing.assert_array_equal(pre.transform(data), twin.transform(data))
    encoder = pre.named_transformers_["categorical"].named_steps["encode"]
    assert list(encoder.categories_[2]) == ["T1", "T2", "T3"]  # no T4: it is test-only
    assert list(encoder.categories_[1]) == ["0", "1", "2", "missing"]
    # age: median 59 of the 6 known training ages imputes row 2; scaled by the training rows
    train_age = np.array([50.0, 60.0, 59.0, 70.0, 55.0, 65.0, 58.0])
    out = pre.transform(data.iloc[TRAIN])
    names = list(pre.get_feature_names_out())
    np.testing.assert_allclose(out[:, names.index("numeric__age")],
                               (train_age - train_age.mean()) / train_age.std())
    indicator = np.array([0, 0, 1, 0, 0, 0, 0])  # standardised like the values
    np.testing.assert_allclose(out[:, names.index("numeric__missingindicator_age")],
                               (indicator - indicator.mean()) / indicator.std())
    # transforming the test rows (unseen T4, age 95) changes nothing that was learnt
    state = pickle.dumps(pre)
    with pytest.warns(UserWarning) as record:
        check_covariates(pre, data.iloc[TEST])
    assert sorted(str(w.message).split(" has ")[0] for w in record) == [
        "covariate 'ecog'", "covariate 't_stage'"]  # ECOG 3 and T4 are test-only
    test_out = pre.transform(data.iloc[TEST])
    assert pickle.dumps(pre) == state
    t_columns = [names.index(f"categorical__t_stage_T{k}") for k in (1, 2, 3)]
    np.testing.assert_array_equal(test_out[:2][:, t_columns], 0)  # T4: none of the levels
    assert test_out[0, names.index("numeric__age")] == pytest.approx(
        (95.0 - train_age.mean()) / train_age.std())


def test_fold_models_inside_cross_validation_see_only_their_rows():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_validate
    from sklearn.pipeline import make_pipeline

    data = pd.concat([table()] * 4, ignore_index=True)
    y = np.tile([0, 1], 20)
    data.loc[30:, "t_stage"] = "T0"  # only in the last fold's rows
    folds = KFold(4)
    result = cross_validate(make_pipeline(clinical_preprocessor(), LogisticRegression()),
                            data, y, cv=folds, return_estimator=True)
    for (train, _), model in zip(folds.split(data), result["estimator"], strict=True):
        encoder = model[0].named_transformers_["categorical"].named_steps["encode"]
        t_levels = list(encoder.categories_[list(model[0].transformers_[1][2]).index(
            "t_stage")])
        assert ("T0" in t_levels) == (train.max() >= 30)
        scaler = model[0].named_transformers_["numeric"].named_steps["scale"]
        ages = data["age"].iloc[train]
        assert scaler.mean_[0] == pytest.approx(ages.fillna(ages.median()).mean())


def test_unseen_categories_absent_columns_and_missing_values():
    data = table()
    strict = clinical_preprocessor(numeric=["age"], categorical=["sex", "ecog", "t_stage"],
                                   handle_unknown="error").fit(data.iloc[TRAIN])
    with pytest.raises(ValueError, match=r"'ecog' has categories \['3'\] never seen.*; "
                                         r"covariate 't_stage' has categories \['T4'\] never "
                                         r"seen .*known: \['T1', 'T2', 'T3'\]"):
        check_covariates(strict, data.iloc[TEST])
    with pytest.raises(ValueError, match=r"column\(s\) \['ecog'\] used in training are absent"):
        check_covariates(strict, data.drop(columns="ecog"))
    with pytest.raises(ValueError, match="columns are missing"):  # scikit-learn's own check
        strict.transform(data.drop(columns="ecog"))
    # sex had a missing value in training, so NaN is a known level; T stage had none
    ok = data.iloc[TRAIN].copy()
    ok.iloc[0, ok.columns.get_loc("sex")] = np.nan
    assert check_covariates(strict, ok) is ok
    ok.iloc[0, ok.columns.get_loc("t_stage")] = None
    with pytest.raises(ValueError, match=r"'t_stage' has 1 missing value\(s\) but none"):
        check_covariates(strict, ok, missing="error")
    with pytest.raises(ValueError, match=r"'t_stage' has categories \['missing'\]"):
        check_covariates(strict, ok)
    # a numeric column without training NaN: imputed with the median, and said so
    lenient = clinical_preprocessor(numeric=["ecog"], categorical=["sex"]).fit(
        data.iloc[[0, 1, 2, 3, 5, 6]])
    gap = data.iloc[[4]]  # ecog NaN
    with pytest.warns(UserWarning, match=r"'ecog' has 1 missing .* training median 1,"):
        check_covariates(lenient, gap)
    with pytest.raises(ValueError, match="none was missing in the training rows"):
        check_covariates(lenient, gap, missing="error")
    text = data.iloc[TRAIN].assign(age=["old"] * 7)
    with pytest.raises(ValueError, match="covariate 'age' must be numeric"):
        check_covariates(strict, text)
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        check_covariates(strict, data.to_numpy())
    with pytest.raises(TypeError, match="ColumnTransformer from clinical_preprocessor"):
        check_covariates(object(), data)
    with pytest.raises(ValueError, match="handle_unknown must be one of"):
        clinical_preprocessor(handle_unknown="drop")
    with pytest.raises(ValueError, match=r"\['age'\] are in both"):
        clinical_preprocessor(numeric=["age"], categorical=["age"])


def test_dtype_selection_and_pickle_round_trip():
    data = table()
    pre = clinical_preprocessor().fit(data.iloc[TRAIN])
    assert pre.transformers_[0][2] == ["age", "ecog"]
    assert pre.transformers_[1][2] == ["sex", "t_stage"]
    again = pickle.loads(pickle.dumps(pre))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_array_equal(again.transform(data), pre.transform(data))
    assert list(again.get_feature_names_out()) == list(pre.get_feature_names_out())


def test_covariates_from_a_written_cohort(tmp_path):
    from petmtl.datasets import make_pet_cohort, write_cohort
    from petmtl.io import read_manifest

    cohort = make_pet_cohort(6, shape=(16, 16, 16), spacing=8.0, clinical=True,
                             random_state=2)
    manifest = read_manifest(write_cohort(cohort, tmp_path), extra_columns=list(
        cohort.clinical.columns))
    table_back = covariates_from_manifest(manifest)
    pd.testing.assert_frame_equal(table_back, cohort.clinical)
    assert list(covariates_from_manifest(manifest, ["sex"]).columns) == ["sex"]
    with pytest.raises(ValueError, match=r"columns \['bmi'\] are not in manifest.extra"):
        covariates_from_manifest(manifest, ["bmi"])
