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


def test_a_categorical_column_never_observed_in_training_is_all_missing():
    # it used to be dropped by the imputer: fit failed ("0 feature(s)") when it was the only
    # categorical column, and check_covariates failed on the column count otherwise
    data = table().assign(hpv=np.nan)
    for categorical in (["hpv"], ["sex", "hpv"]):
        pre = clinical_preprocessor(numeric=[], categorical=categorical).fit(data.iloc[TRAIN])
        assert "categorical__hpv_missing" in list(pre.get_feature_names_out())
        out = pre.transform(data.iloc[TRAIN])
        np.testing.assert_array_equal(
            out[:, list(pre.get_feature_names_out()).index("categorical__hpv_missing")], 1.0)
        with pytest.warns(UserWarning, match=r"'hpv' has categories \['positive'\] never"):
            check_covariates(pre, data.iloc[TEST].assign(hpv="positive"))


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


# ------------------------------------------------------- model files (no pickles)
def _round_trip(pre, tmp_path=None):
    """encode -> JSON text -> (torch.save / torch.load(weights_only=True)) -> decode."""
    import io
    import json

    import torch

    from petmtl._json import decode, encode

    text = json.dumps(encode(pre, "attribute 'clinical_preprocessor_'"), allow_nan=True)
    buffer = io.BytesIO()
    torch.save({"metadata": text}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["metadata"]
    assert loaded == text
    return decode(json.loads(loaded)), text


def _outcome(function, *args, **kwargs):
    """What a call gives: its result (or exception) and the messages of its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            result = (type(exc), str(exc))
    return result, [str(w.message) for w in caught]


def _assert_same_behaviour(pre, back, tables):
    assert list(back.get_feature_names_out()) == list(pre.get_feature_names_out())
    for data in tables:
        (want, want_warnings), (got, got_warnings) = (
            _outcome(p.transform, data) for p in (pre, back))
        if isinstance(want, tuple):
            assert got == want
        elif isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want, check_exact=True)
        else:
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)  # bit for bit (NaN equal to NaN)
        assert got_warnings == want_warnings
        for missing in ("impute", "error"):
            want, want_warnings = _outcome(check_covariates, pre, data, missing=missing)
            got, got_warnings = _outcome(check_covariates, back, data, missing=missing)
            assert (got is data) == (want is data) and (got is data or got == want)
            assert got_warnings == want_warnings


def _column(draw, st, n, kind):
    if kind == "numeric":
        values = draw(st.lists(st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False, width=32), st.just(np.nan)),
            min_size=n, max_size=n))
        dtype = draw(st.sampled_from(["float64", "float32"]))
        if not np.isnan(values).any() and draw(st.booleans()):
            values, dtype = np.round(values), draw(st.sampled_from(["int64", "float64"]))
        return pd.Series(values, dtype=dtype)
    levels = draw(st.sampled_from([["a", "b", "T1", "missing"], [0, 1, 2, 3], [0.5, 1.0, 2.5],
                                   [True, False]]))
    values = draw(st.lists(st.one_of(st.sampled_from(levels), st.none(), st.just(np.nan)),
                           min_size=n, max_size=n))
    return pd.Series(values, dtype=draw(st.sampled_from(["object", "category"])))


def _random_case(draw, st):
    n_train, n_test = draw(st.integers(1, 10)), draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(["numeric", "categorical"]), min_size=1,
                          max_size=5))
    data = pd.DataFrame({f"c{j}": _column(draw, st, n_train + n_test, kind)
                         for j, kind in enumerate(kinds)})
    handle_unknown = draw(st.sampled_from(["ignore", "error"]))
    if draw(st.booleans()):  # dtype-based selection; category/object columns are categorical
        return clinical_preprocessor(handle_unknown=handle_unknown), data, n_train
    roles = [draw(st.sampled_from(["numeric", "categorical", "unused"]) if kind == "numeric"
                  else st.sampled_from(["categorical", "unused"])) for kind in kinds]
    lists = {role: [c for c, r in zip(data.columns, roles, strict=True) if r == role]
             for role in ("numeric", "categorical")}
    data["name"] = [f"patient {i}" for i in range(len(data))]  # never used, never stored
    return clinical_preprocessor(**lists, handle_unknown=handle_unknown), data, n_train


@pytest.mark.slow
def test_fitted_preprocessor_round_trips_through_a_model_file_on_random_tables():
    """Random tables (numeric columns with NaN, float32 and int; categorical columns of
    strings, numbers and booleans, object or category dtype, with None/NaN; dtype-based
    selection or explicit lists with unused columns; both handle_unknown): the rebuilt
    transformer gives the same transform (unseen categories, new missing values), output
    names and check_covariates results, and a clone of it refits as the original."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from sklearn.base import clone

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(hyp):
        pre, data, n_train = _random_case(hyp.draw, st)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a column without any observed value
            pre.fit(data.iloc[:n_train])
        back, text = _round_trip(pre)
        assert "patient" not in text
        _assert_same_behaviour(pre, back, [data.iloc[:n_train], data.iloc[n_train:], data])
        assert _round_trip(back)[1] == text  # stored again, the same file
        refit = [_outcome(lambda p: clone(p).fit(data.iloc[n_train:]).transform(data), p)
                 for p in (pre, back)]
        assert refit[0][0].__class__ is refit[1][0].__class__
        if isinstance(refit[0][0], np.ndarray):
            np.testing.assert_array_equal(refit[1][0], refit[0][0])

    check()


def test_round_trip_of_the_documented_table_through_a_model_file(tmp_path):
    from petmtl.serialization import ModelRecord, read_record, write_record

    data = table()
    for pre in (clinical_preprocessor(),
                clinical_preprocessor(numeric=["age"], categorical=["sex", "ecog", "t_stage"],
                                      handle_unknown="error"),
                clinical_preprocessor().set_output(transform="pandas")):
        pre.fit(data.iloc[TRAIN])
        path = write_record(tmp_path / "model.pt", ModelRecord(
            "AnyEstimator", {}, {"clinical_preprocessor_": pre}))
        back = read_record(path).attributes["clinical_preprocessor_"]  # weights_only=True
        assert type(back) is type(pre) and back is not pre
        _assert_same_behaviour(pre, back, [data.iloc[TRAIN], data.iloc[TEST], data])
    assert isinstance(back.transform(data), pd.DataFrame)
    # an unfitted one keeps its settings
    unfitted, _ = _round_trip(clinical_preprocessor(["age"], ["sex"], handle_unknown="error"))
    assert unfitted.get_params()["categorical__encode__handle_unknown"] == "error"
    assert unfitted.transformers[0][2] == ["age"] and not hasattr(unfitted, "transformers_")


def test_model_file_holds_statistics_but_no_training_row():
    """What is kept: column names, medians, means and SDs (of the imputed values and of
    the missing indicators), the number of rows and the category levels. What is not:
    any row, the row order, per-level counts, identifiers, unused columns."""
    ages = [47.123457, 52.987653, 58.246813, 63.135792, np.nan, 69.864209]  # 5 known
    train = pd.DataFrame({
        "age": ages, "sex": ["male", "female", "male", "male", "female", "male"],
        "mrn": [f"MRN-{k}" for k in (90211, 90317, 90422, 90533, 90644, 90755)],
        "ecog": [0.0, 1.0, 1.0, 0.0, 2.0, 0.0],
    }, index=[f"PAT-{k:04d}" for k in range(6)])
    pre = clinical_preprocessor(numeric=["age"], categorical=["sex", "ecog"]).fit(train)
    _, text = _round_trip(pre)
    for value in [*(ages[k] for k in (0, 1, 3, 5)), *train["mrn"], *train.index]:
        assert str(value) not in text and repr(value) not in text
    # the median of 5 known ages is one patient's age: kept, as imputation needs it
    assert repr(ages[2]) in text
    # per-level counts, the pairing of values within a row and identifiers are not
    # stored: other sexes, ECOG values, MRNs and ids with the same level sets give the
    # same file
    other = train.assign(sex=["female", "male", "female", "female", "male", "female"],
                         mrn="x", ecog=[2.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    other.index = [f"Q{k}" for k in range(6)]
    assert _round_trip(clinical_preprocessor(
        numeric=["age"], categorical=["sex", "ecog"]).fit(other))[1] == text


def test_other_column_transformers_cannot_be_stored():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    from petmtl._json import encode

    data = table()
    where = "attribute 'clinical_preprocessor_'"
    foreign = ColumnTransformer([("numeric", StandardScaler(), ["age"])]).fit(data)
    with pytest.raises(TypeError, match=r"cannot store attribute 'clinical_preprocessor_': "
                                        r"only a ColumnTransformer made by petmtl.clinical."
                                        r"clinical_preprocessor.*transformers named "
                                        r"\['numeric'\]"):
        encode(foreign, where)
    changed = clinical_preprocessor().set_params(numeric__impute__strategy="mean")
    with pytest.raises(TypeError, match=r"numeric__impute__strategy='mean', which differs "
                                        r"from clinical_preprocessor's 'median'"):
        encode(changed.fit(data), where)
    replaced = clinical_preprocessor().set_params(numeric__scale="passthrough")
    with pytest.raises(TypeError, match=r"parameters \['numeric__scale__copy'"):
        encode(replaced, where)
    with pytest.raises(TypeError, match="without string column names"):
        encode(clinical_preprocessor([], []).fit(data.to_numpy()), where)


def test_a_tampered_stored_preprocessor_is_refused():
    import json

    from petmtl._json import decode, encode

    pre = clinical_preprocessor().fit(table().iloc[TRAIN])
    plain = encode(pre, "x")
    plain["value"]["fitted"]["feature_names_out"][0] = "numeric__weight"
    with pytest.raises(ValueError, match=r"could not be rebuilt: its output names"):
        decode(json.loads(json.dumps(plain)))
    plain["value"]["version"] = 99
    with pytest.raises(ValueError, match="unknown version 99"):
        decode(plain)
