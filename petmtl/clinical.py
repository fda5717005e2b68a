"""Clinical covariates: preprocessing learnt on the training rows and checks at prediction.

Outcome studies pair the image with a table of per-patient covariates such as age, sex,
performance status, stage or a tumour marker, with missing values. This module turns such
a table (a pandas DataFrame, one row per patient) into model inputs with scikit-learn's
own pieces, so that everything is learnt in ``fit`` on the training rows only:

* numeric columns: median imputation with a missing-value indicator
  (``SimpleImputer(add_indicator=True)``), then ``StandardScaler``;
* categorical and ordinal columns (e.g. sex, T stage, ECOG): a missing value becomes the
  level ``"missing"`` (``SimpleImputer(strategy="constant")``), then ``OneHotEncoder``.

:func:`check_covariates` checks a table against a fitted preprocessor before prediction,
naming the column of every problem (an absent column, an unseen category, a missing value
where the training rows had none), so that nothing shifts silently.

A transformer made by :func:`clinical_preprocessor`, fitted or not, can be a parameter or
fitted attribute of a model saved to a petmtl model file: the file keeps what it learnt
(column names, medians, means and standard deviations, missing-indicator columns,
category levels) as plain data, never a pickle or a training row, and loading rebuilds a
transformer with the same ``transform`` output and output names. Any other
``ColumnTransformer`` is refused with a TypeError. What the stored statistics reveal
about the training rows is listed in the "Clinical data" page of the docs.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from petmtl.clinical import clinical_preprocessor
>>> train = pd.DataFrame({"age": [60.0, np.nan, 70.0], "sex": ["male", "female", np.nan]})
>>> pre = clinical_preprocessor().fit(train)
>>> list(pre.get_feature_names_out())  # doctest: +NORMALIZE_WHITESPACE
['numeric__age', 'numeric__missingindicator_age', 'categorical__sex_female',
 'categorical__sex_male', 'categorical__sex_missing']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Real

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from . import _clinical_store
from ._constraints import Options, check_param
from ._json import register_type
from ._optional import import_optional

__all__ = ["MISSING_LEVEL", "as_levels", "check_covariates", "clinical_preprocessor",
           "covariates_from_manifest"]

MISSING_LEVEL = "missing"
"""The category a missing categorical value becomes."""


def _level(value):
    """One categorical cell as a string level (whole numbers without ".0"), NaN if missing."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return np.nan
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
        if math.isnan(value):
            return np.nan
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


_levels = np.frompyfunc(_level, 1, 1)


def as_levels(X) -> np.ndarray:
    """Categorical columns as an object array of string levels, NaN where missing.

    Numbers and strings can then share one encoder (ECOG 0-3 becomes "0"-"3").

    Parameters
    ----------
    X : array-like or DataFrame of shape (n, k)

    Returns
    -------
    ndarray of object, shape (n, k)
    """
    values = np.asarray(X, dtype=object)
    return _levels(values).astype(object) if values.size else values


def clinical_preprocessor(
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    *,
    handle_unknown: str = "ignore",
) -> ColumnTransformer:
    """A ``ColumnTransformer`` for a table of clinical covariates.

    Parameters
    ----------
    numeric : sequence of str, optional
        Numeric columns: median imputation, a missing indicator for each column with a
        missing value in the training rows, then standardisation (of the indicators too).
    categorical : sequence of str, optional
        Categorical and ordinal columns (strings or numbers): a missing value becomes the
        level ``"missing"``, then one-hot encoding (no order assumed).
        If neither list is given, numeric dtypes are numeric and every other column is
        categorical (chosen in ``fit``); if one is given, only the named columns are used.
    handle_unknown : {"ignore", "error"}, default="ignore"
        A category never seen in the training rows (including a missing value in a column
        that had none there): ``"ignore"`` encodes it as all zeros (none of the column's
        levels, so the column adds nothing to a linear model's score; with an L2-penalised
        fit that is close to the average patient), ``"error"`` raises in ``transform``.
        :func:`check_covariates` warns about, or names, such values either way.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Unfitted; output names ``numeric__<col>``, ``numeric__missingindicator_<col>``
        and ``categorical__<col>_<level>``. Other columns are dropped.

    Raises
    ------
    ValueError
        If ``handle_unknown`` is not one of the options, or a column is in both lists.

    See Also
    --------
    check_covariates : Check a table against the fitted preprocessor.
    """
    check_param("handle_unknown", handle_unknown, Options("ignore", "error"))
    if numeric is None and categorical is None:
        numeric = make_column_selector(dtype_include="number")
        categorical = make_column_selector(dtype_exclude="number")
    else:
        numeric, categorical = _names(numeric, "numeric"), _names(categorical, "categorical")
        both = sorted(set(numeric) & set(categorical))
        if both:
            raise ValueError(f"columns {both} are in both numeric and categorical")
    numbers = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler())])
    levels = Pipeline([
        ("levels", FunctionTransformer(as_levels, feature_names_out="one-to-one")),
        # keep_empty_features: a column without any observed value in the training rows
        # is all "missing" rather than dropped (which broke fit and the checks)
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL,
                                 keep_empty_features=True)),
        ("encode", OneHotEncoder(handle_unknown=handle_unknown, sparse_output=False)),
    ])
    return ColumnTransformer([("numeric", numbers, numeric), ("categorical", levels, categorical)],
                             remainder="drop")


register_type(ColumnTransformer, "petmtl.clinical_preprocessor",
              lambda pre: _clinical_store.to_plain(pre, clinical_preprocessor),
              lambda plain: _clinical_store.from_plain(plain, clinical_preprocessor))


def _names(columns, name: str) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"{name} must be a sequence of column names (str), got {columns!r}")
    return list(columns)


def _fitted_parts(preprocessor) -> dict:
    """The fitted numeric and categorical pipelines with their columns."""
    names = {name for name, *_ in getattr(preprocessor, "transformers", [])}
    if not isinstance(preprocessor, ColumnTransformer) or names != {"numeric", "categorical"}:
        raise TypeError(f"preprocessor must be a ColumnTransformer from clinical_preprocessor, "
                        f"got {type(preprocessor).__name__}")
    check_is_fitted(preprocessor)
    return {name: (step, list(columns)) for name, step, columns in preprocessor.transformers_
            if name in names and len(columns)}


def _check_numeric(X, step, columns, missing: str) -> None:
    imputer = step.named_steps["impute"]
    had_missing = set()
    if imputer.indicator_ is not None:
        had_missing = {columns[j] for j in imputer.indicator_.features_}
    for j, column in enumerate(columns):
        try:
            values = np.asarray(X[column], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"covariate {column!r} must be numeric (it was in the training "
                             f"rows), got values such as {list(X[column][:3])}") from None
        if np.isinf(values).any():
            raise ValueError(f"covariate {column!r} holds an infinite value")
        n_missing = int(np.isnan(values).sum())
        if n_missing and column not in had_missing:
            text = (f"covariate {column!r} has {n_missing} missing value(s) but none was "
                    "missing in the training rows")
            if missing == "error":
                raise ValueError(text)
            warnings.warn(f"{text}: they are imputed with the training median "
                          f"{imputer.statistics_[j]:g}, without a missing indicator",
                          UserWarning, stacklevel=3)


def _check_categorical(X, step, columns, missing: str) -> None:
    encoder = step.named_steps["encode"]
    problems = []
    for column, known in zip(columns, encoder.categories_, strict=True):
        levels = as_levels(np.asarray(X[column], dtype=object).reshape(-1, 1)).ravel()
        is_missing = np.array([isinstance(v, float) and math.isnan(v) for v in levels], bool)
        if is_missing.any() and missing == "error" and MISSING_LEVEL not in known:
            raise ValueError(f"covariate {column!r} has {int(is_missing.sum())} missing "
                             "value(s) but none was missing in the training rows")
        levels = np.where(is_missing, MISSING_LEVEL, levels)
        unseen = sorted(set(levels) - set(known))
        if not unseen:
            continue
        problems.append(f"covariate {column!r} has categories {unseen} never seen in the "
                        f"training rows (known: {list(known)})")
    if problems and encoder.handle_unknown == "error":
        raise ValueError("; ".join(problems))
    for text in problems:
        warnings.warn(f"{text}; they are encoded as none of the known levels",
                      UserWarning, stacklevel=3)


def check_covariates(preprocessor: ColumnTransformer, X, *, missing: str = "impute"):
    """Check a covariate table against a fitted :func:`clinical_preprocessor`.

    Call it before ``preprocessor.transform(X)`` at prediction time: every problem names
    its column.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Fitted result of :func:`clinical_preprocessor`.
    X : pandas.DataFrame
        Covariates, one row per patient; the training columns must be present (others
        are ignored, the order does not matter).
    missing : {"impute", "error"}, default="impute"
        A missing value (NaN or None) in a column that had none in the training rows:
        ``"impute"`` imputes it as the preprocessor does (numeric: the training median,
        with a UserWarning as no missing indicator was learnt; categorical: an unseen
        category, below), ``"error"`` raises. Missing values in columns that had some in
        the training rows are always fine (imputed, with their indicator or level).

    Returns
    -------
    X : pandas.DataFrame
        The table, unchanged.

    Raises
    ------
    TypeError
        If ``X`` is not a table with named columns, or ``preprocessor`` is not a
        ColumnTransformer from :func:`clinical_preprocessor`.
    ValueError
        If a training column is absent, a numeric column holds text or an infinite value,
        a category is unseen and the preprocessor has ``handle_unknown="error"``, or (with
        ``missing="error"``) a value is missing where none was in the training rows.

    Warns
    -----
    UserWarning
        For unseen categories with ``handle_unknown="ignore"`` (encoded as all zeros) and
        for imputed numeric values without an indicator.
    """
    check_param("missing", missing, Options("impute", "error"))
    parts = _fitted_parts(preprocessor)
    if not hasattr(X, "columns"):
        raise TypeError(f"X must be a pandas DataFrame of covariates with named columns, got "
                        f"{type(X).__name__}")
    needed = [c for _, columns in parts.values() for c in columns]
    absent = [c for c in needed if c not in X.columns]
    if absent:
        raise ValueError(f"covariate column(s) {absent} used in training are absent; columns "
                         f"given: {list(X.columns)}")
    if "numeric" in parts:
        _check_numeric(X, *parts["numeric"], missing)
    if "categorical" in parts:
        _check_categorical(X, *parts["categorical"], missing)
    return X


def covariates_from_manifest(manifest, columns: Sequence[str] | None = None):
    """The extra columns of a manifest as a covariate table.

    Parameters
    ----------
    manifest : petmtl.io.Manifest
        Read with ``read_manifest(path, extra_columns=[...])``.
    columns : sequence of str, optional
        Which of ``manifest.extra`` to use (default: all, in order).

    Returns
    -------
    pandas.DataFrame
        Indexed by patient id; a column whose non-empty cells all read as numbers is
        float64, any other keeps its strings; empty cells are NaN.

    Raises
    ------
    ValueError
        If a column was not read into ``manifest.extra``.
    """
    pd = import_optional("pandas", "clinical", "covariates_from_manifest")
    columns = list(manifest.extra) if columns is None else list(columns)
    absent = [c for c in columns if c not in manifest.extra]
    if absent:
        raise ValueError(f"columns {absent} are not in manifest.extra "
                         f"({list(manifest.extra)}); read the manifest with "
                         f"read_manifest(path, extra_columns=[...])")
    data = {}
    for column in columns:
        cells = [np.nan if v is None else v for v in manifest.extra[column]]
        try:
            data[column] = np.array([float(v) for v in cells], dtype=np.float64)
        except ValueError:
            data[column] = np.array(cells, dtype=object)
    return pd.DataFrame(data, index=pd.Index(list(manifest.ids), name="patient_id"))
