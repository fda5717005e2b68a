"""A fitted clinical preprocessor as plain data, and back, for safe model files.

Model files never hold pickles (:mod:`petmtl.serialization`), so the fitted
``ColumnTransformer`` of :func:`petmtl.clinical.clinical_preprocessor` is stored as the
numbers and names it learnt, and rebuilt on loading:

1. the same unfitted transformer is made again by the factory (the same columns or
   dtype-based selection, the same ``handle_unknown``);
2. it is fitted on a *skeleton* table built from the stored names alone: every training
   column (numeric ones in the imputer's fit dtype), each categorical column cycling
   through its stored levels, each numeric column missing in one row where the training
   rows had a missing value (and in every row where they had nothing else). scikit-learn thereby
   sets up all of its own (partly private) structure: column indices, output slices,
   missing-indicator columns, one-hot layout, fit dtypes;
3. the statistics that the skeleton cannot reproduce are put back from the file: the
   imputers' ``statistics_`` and the scaler's ``mean_``, ``var_``, ``scale_`` and
   ``n_samples_seen_`` (public fitted attributes); everything the skeleton did reproduce
   (resolved columns, indicator columns, categories, output names) is checked against
   the file, and any difference is an error rather than a silently different model.

This stays within scikit-learn's public fitted attributes, unlike setting private
attributes on unfitted objects, and stores no training row (see :func:`to_plain`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.pipeline import Pipeline

from ._optional import import_optional

STORE_VERSION = 1
_PARTS = ("numeric", "categorical")


# ------------------------------------------------------------------------ storing
def column_spec(preprocessor) -> dict[str, Any]:
    """The arguments of ``clinical_preprocessor`` that made ``preprocessor``.

    Parameters
    ----------
    preprocessor : ColumnTransformer

    Returns
    -------
    dict
        ``numeric`` and ``categorical`` (lists of str, or both None for dtype-based
        selection) and ``handle_unknown``.

    Raises
    ------
    TypeError
        If ``preprocessor`` is not laid out as ``clinical_preprocessor`` lays it out.
    """
    if type(preprocessor) is not ColumnTransformer:
        raise _refuse(f"is a {type(preprocessor).__name__}")
    items = preprocessor.transformers
    if not (isinstance(items, list)
            and all(isinstance(item, tuple) and len(item) == 3 for item in items)):
        raise _refuse("has transformers that are not a list of (name, transformer, "
                      "columns)")
    names = [name for name, *_ in items]
    if names != list(_PARTS):
        raise _refuse(f"has transformers named {names}, not {list(_PARTS)}")
    columns = {name: cols for name, _, cols in items}
    if all(isinstance(c, make_column_selector) for c in columns.values()):
        wanted = {"numeric": (None, "number", None), "categorical": (None, None, "number")}
        for name, selector in columns.items():
            found = (selector.pattern, selector.dtype_include, selector.dtype_exclude)
            if found != wanted[name]:
                raise _refuse(f"has a {name} column selector other than "
                              "clinical_preprocessor's")
        spec = {"numeric": None, "categorical": None}
    elif all(isinstance(c, list) and all(isinstance(n, str) for n in c)
             for c in columns.values()):
        spec = {name: list(cols) for name, cols in columns.items()}
    else:
        raise _refuse("has columns that are neither lists of names nor "
                      "clinical_preprocessor's dtype selectors")
    handle_unknown = preprocessor.get_params().get("categorical__encode__handle_unknown")
    if handle_unknown not in ("ignore", "error"):
        raise _refuse(f"has categorical__encode__handle_unknown={handle_unknown!r}, which "
                      "clinical_preprocessor never makes")
    spec["handle_unknown"] = handle_unknown
    return spec


def to_plain(preprocessor, factory: Callable[..., ColumnTransformer]) -> dict[str, Any]:
    """What a model file keeps of a (fitted) clinical preprocessor.

    What it reveals about the training rows, unavoidably, as the transformer needs it:
    the column names; for each numeric column whether a
    value was missing, its median (for an odd number of known values, one patient's
    value), and the mean and standard deviation of the imputed values and of the
    missing indicators (the fraction missing); the number of training rows; for each
    categorical column the set of levels seen (a rare level tells that some patient had
    it). No row, row order, patient identifier, per-level count or value of an unused
    column is stored.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Made by ``factory`` (``clinical_preprocessor``), fitted or not, with its
        parameters unchanged.
    factory : callable
        ``clinical_preprocessor``.

    Returns
    -------
    dict
        Names, lists, strings and NumPy arrays only.

    Raises
    ------
    TypeError
        If ``preprocessor`` is not an unchanged ``clinical_preprocessor`` transformer,
        or was fitted on data without column names.
    """
    spec = column_spec(preprocessor)
    _check_params(preprocessor, factory(**spec))
    output = getattr(preprocessor, "_sklearn_output_config", {}).get("transform")
    plain = {"version": STORE_VERSION, **spec, "output": output, "fitted": None}
    if hasattr(preprocessor, "transformers_"):
        plain["fitted"] = _fitted_to_plain(preprocessor)
    return plain


def _refuse(reason: str) -> TypeError:
    return TypeError(f"only a ColumnTransformer made by petmtl.clinical.clinical_preprocessor, "
                     f"with its parameters unchanged, can be stored in a model file; this "
                     f"one {reason}")


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


def _check_params(preprocessor, reference) -> None:
    """Refuse a transformer whose parameters differ from ``reference``'s."""
    given, wanted = preprocessor.get_params(deep=True), reference.get_params(deep=True)
    if set(given) != set(wanted):
        changed = sorted(set(given) ^ set(wanted))
        raise _refuse(f"has parameters {changed[:5]} that differ from clinical_preprocessor's")
    for key, value in wanted.items():
        if key == "transformers":  # names and columns are checked by column_spec
            continue
        if key.endswith("steps"):
            same = [(n, type(s)) for n, s in given[key]] == [(n, type(s)) for n, s in value]
        elif isinstance(value, BaseEstimator):
            same = type(given[key]) is type(value)
        else:
            same = _same(given[key], value)
        if not same:
            raise _refuse(f"has {key}={given[key]!r}, which differs from "
                          f"clinical_preprocessor's {value!r}")


def _fitted_to_plain(preprocessor) -> dict[str, Any]:
    names_in = getattr(preprocessor, "feature_names_in_", None)
    if names_in is None or not all(isinstance(n, str) for n in names_in):
        raise _refuse("was fitted on data without string column names (fit it on a "
                      "pandas DataFrame)")
    fitted = {"feature_names_in": [str(n) for n in names_in],
              "feature_names_out": [str(n) for n in preprocessor.get_feature_names_out()]}
    parts = {name: (step, list(cols)) for name, step, cols in preprocessor.transformers_
             if name in _PARTS}
    step, columns = parts["numeric"]
    fitted["numeric"] = _numeric_to_plain(step, columns) if columns else None
    step, columns = parts["categorical"]
    fitted["categorical"] = _categorical_to_plain(step, columns) if columns else None
    return fitted


def _numeric_to_plain(step: Pipeline, columns: list[str]) -> dict[str, Any]:
    imputer, scaler = step.named_steps["impute"], step.named_steps["scale"]
    indicator = imputer.indicator_
    # statistics_ keeps the dtype the imputer was fitted in (float64, or float32/16 when
    # every numeric column was), which is also the dtype the skeleton's columns get
    return {"columns": columns, "statistics": imputer.statistics_,
            "indicator_features": (None if indicator is None
                                   else np.asarray(indicator.features_, dtype=np.int64)),
            "mean": scaler.mean_, "var": scaler.var_, "scale": scaler.scale_,
            "n_samples_seen": scaler.n_samples_seen_}


def _categorical_to_plain(step: Pipeline, columns: list[str]) -> dict[str, Any]:
    encoder = step.named_steps["encode"]
    return {"columns": columns, "statistics": step.named_steps["impute"].statistics_,
            "categories": [np.asarray(c, dtype=object) for c in encoder.categories_]}


# --------------------------------------------------------------------- rebuilding
def from_plain(plain: dict[str, Any], factory: Callable[..., ColumnTransformer]):
    """Rebuild the transformer that :func:`to_plain` described.

    Parameters
    ----------
    plain : dict
        As :func:`to_plain` returned it (after a JSON round trip).
    factory : callable
        ``clinical_preprocessor``.

    Returns
    -------
    ColumnTransformer
        Fitted if it was when stored, with the same ``transform`` output and output names.

    Raises
    ------
    ValueError
        If the data is not a stored clinical preprocessor of a known version, or the
        rebuilt transformer does not reproduce what was stored.
    """
    if not isinstance(plain, dict) or plain.get("version") != STORE_VERSION:
        raise ValueError(f"stored clinical preprocessor of unknown version "
                         f"{plain.get('version') if isinstance(plain, dict) else plain!r} "
                         f"(this petmtl reads version {STORE_VERSION})")
    preprocessor = factory(plain["numeric"], plain["categorical"],
                           handle_unknown=plain["handle_unknown"])
    if plain["output"] is not None:
        preprocessor.set_output(transform=plain["output"])
    if plain["fitted"] is None:
        return preprocessor
    fitted = plain["fitted"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. an all-missing column, as in the real fit
        preprocessor.fit(_skeleton(fitted))
    _restore(preprocessor, fitted)
    return preprocessor


def _skeleton(fitted: dict[str, Any]):
    """A table with the stored columns, dtypes, missing patterns and levels; no patient."""
    pd = import_optional("pandas", "clinical", "loading a model with clinical covariates")
    numeric, categorical = fitted["numeric"] or {}, fitted["categorical"] or {}
    levels = dict(zip(categorical.get("columns", []), categorical.get("categories", []),
                      strict=True))
    n_rows = max([2, *(len(v) for v in levels.values())])
    missing = _missing_pattern(numeric)
    dtype = np.asarray(numeric.get("statistics", [])).dtype
    data = {}
    for column in fitted["feature_names_in"]:
        if column in missing:
            values = np.zeros(n_rows, dtype=dtype)
            values[: missing[column]] = np.nan
            data[column] = pd.Series(values, dtype=dtype)
        elif column in levels:
            known = [str(v) for v in levels[column]]
            data[column] = pd.Series([known[i % len(known)] for i in range(n_rows)],
                                     dtype=object)
        else:  # dropped by the transformer
            data[column] = pd.Series([None] * n_rows, dtype=object)
    return pd.DataFrame(data)


def _missing_pattern(numeric: dict[str, Any]) -> dict[str, int]:
    """Rows to leave missing per numeric column: none, one, or all (no observed value)."""
    columns = numeric.get("columns", [])
    rows = dict.fromkeys(columns, 0)
    features = numeric.get("indicator_features")
    for j in [] if features is None else np.asarray(features).tolist():
        rows[columns[j]] = 1
    for column, value in zip(columns, np.asarray(numeric.get("statistics", [])).tolist(),
                             strict=True):
        if isinstance(value, float) and math.isnan(value):
            rows[column] = 10 ** 9  # all rows
    return rows


def _restore(preprocessor, fitted: dict[str, Any]) -> None:
    parts = {name: (step, list(cols)) for name, step, cols in preprocessor.transformers_
             if name in _PARTS}
    if fitted["numeric"] is not None:
        step, columns = parts["numeric"]
        stored = fitted["numeric"]
        _expect(columns, stored["columns"], "numeric columns")
        imputer, scaler = step.named_steps["impute"], step.named_steps["scale"]
        features = None if imputer.indicator_ is None else imputer.indicator_.features_
        _expect(_as_list(features), _as_list(stored["indicator_features"]),
                "missing-indicator columns")
        imputer.statistics_ = _float_array(stored["statistics"], imputer.statistics_)
        for name in ("mean", "var", "scale"):
            setattr(scaler, f"{name}_", stored[name])
        scaler.n_samples_seen_ = stored["n_samples_seen"]
    else:
        _expect(parts["numeric"][1], [], "numeric columns")
    if fitted["categorical"] is not None:
        step, columns = parts["categorical"]
        stored = fitted["categorical"]
        _expect(columns, stored["columns"], "categorical columns")
        encoder = step.named_steps["encode"]
        _expect([_as_list(c) for c in encoder.categories_],
                [_as_list(c) for c in stored["categories"]], "categories")
        step.named_steps["impute"].statistics_ = np.asarray(stored["statistics"], dtype=object)
    else:
        _expect(parts["categorical"][1], [], "categorical columns")
    _expect(_as_list(preprocessor.get_feature_names_out()), fitted["feature_names_out"],
            "output names")


def _float_array(stored, like: np.ndarray) -> np.ndarray:
    values = np.asarray(stored)
    if values.shape != like.shape:
        raise ValueError(f"the stored clinical preprocessor's imputer holds {values.shape} "
                         f"statistics, the rebuilt one {like.shape}")
    return values


def _as_list(values) -> list:
    return [] if values is None else np.asarray(values).tolist()


def _expect(rebuilt, stored, what: str) -> None:
    if list(rebuilt) != list(stored):
        raise ValueError(f"the stored clinical preprocessor could not be rebuilt: its "
                         f"{what} are {list(stored)} in the file but {list(rebuilt)} after "
                         "rebuilding (a file from another petmtl or scikit-learn version?)")
