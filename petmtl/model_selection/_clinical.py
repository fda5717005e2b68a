"""Clinical covariates in a cross-validation run: checked once, split with the rows, summarised.

The covariates are a pandas DataFrame, one row per patient in the order of X. The run
gives the petmtl estimator X as a table of the images (column ``image_column``) and the
covariates, fold by fold, and the clinical baselines the covariates alone or beside the
radiomic features. The run folder keeps no patient's covariate value: ``cv.json`` holds
the column names and types, per-column missing counts, the levels of categorical columns
with their counts and the quartiles of numeric ones, and a SHA-256 digest of the table
that recognises the same covariates when a run is resumed.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from .._optional import import_optional
from ..clinical import as_levels

NUMERIC, CATEGORICAL = "numeric", "categorical"


def check_clinical(clinical, n: int, *, image_column: str, patient_ids=None):
    """The covariate table of a run, with a fresh 0..n-1 index (None without covariates).

    Parameters
    ----------
    clinical : pandas.DataFrame or None
        One row per patient, in the order of X.
    n : int
        Number of patients.
    image_column : str
        The estimator's ``image_column``, which no covariate may be named.
    patient_ids : sequence of str, optional
        The ids given by the user: a table indexed by these ids in another order is
        refused (its rows would be matched to the wrong patients).

    Returns
    -------
    pandas.DataFrame or None

    Raises
    ------
    TypeError
        If ``clinical`` is not a DataFrame or a column name is not a str.
    ValueError
        If it has no column, another number of rows than X, a column named
        ``image_column``, or its index holds the patient ids in another order.
    """
    if clinical is None:
        return None
    if not (hasattr(clinical, "columns") and hasattr(clinical, "iloc")):
        raise TypeError(f"clinical must be a pandas DataFrame of covariates (one row per "
                        f"patient, in the order of X), got {type(clinical).__name__}")
    if clinical.shape[1] == 0:
        raise ValueError("clinical has no column; pass None for a run without covariates")
    if len(clinical) != n:
        raise ValueError(f"clinical has {len(clinical)} rows but X has {n} patients; they "
                         "must match, in the same order")
    names = list(clinical.columns)
    if not all(isinstance(c, str) for c in names):
        raise TypeError(f"clinical's column names must be str, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"clinical has duplicate column names: {names}")
    if image_column in names:
        raise ValueError(f"clinical has a column {image_column!r}, the estimator's "
                         "image_column that holds the PET volumes; rename the covariate or "
                         "set the estimator's image_column to another name")
    if patient_ids is not None:
        index = [str(v) for v in clinical.index]
        ids = [str(v) for v in patient_ids]
        if index != ids and sorted(index) == sorted(ids):
            raise ValueError("clinical is indexed by the patient ids but in another order "
                             "than patient_ids; reorder it, e.g. clinical.loc[patient_ids]")
    return clinical.reset_index(drop=True)


def covariate_kinds(table, categorical=None) -> dict[str, str]:
    """How the estimator's preprocessing treats each column: numeric or categorical.

    The rule of :func:`petmtl.clinical.clinical_preprocessor` as the estimators apply it:
    the columns of ``categorical`` (the estimator's ``clinical_categorical``) are
    categorical and the others numeric; without it, numeric dtypes are numeric and every
    other column categorical.
    """
    if categorical is not None:
        chosen = set(categorical)
        return {c: CATEGORICAL if c in chosen else NUMERIC for c in table.columns}
    from sklearn.compose import make_column_selector

    numeric = set(make_column_selector(dtype_include="number")(table))
    return {c: NUMERIC if c in numeric else CATEGORICAL for c in table.columns}


def fitted_kinds(preprocessor) -> dict[str, str]:
    """Numeric or categorical per column of a fitted clinical preprocessor."""
    out = {}
    for name, _, columns in preprocessor.transformers_:
        if name in (NUMERIC, CATEGORICAL):
            out.update({str(c): name for c in columns})
    return {str(c): out[str(c)] for c in preprocessor.feature_names_in_ if str(c) in out}


def _missing(values: np.ndarray) -> np.ndarray:
    return np.array([isinstance(v, float) and math.isnan(v) for v in values], dtype=bool)


def _numeric_summary(values) -> dict:
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"covariate {values.name!r} is numeric for the estimator but holds "
                         f"text such as {list(values[:3])}") from None
    known = numbers[np.isfinite(numbers)]
    out = {"n_missing": int(np.isnan(numbers).sum())}
    if len(known):
        q1, median, q3 = np.percentile(known, [25, 50, 75])
        out.update(median=float(median), q1=float(q1), q3=float(q3))
    else:
        out.update(median=None, q1=None, q3=None)
    return out


def _categorical_summary(values) -> dict:
    levels = as_levels(np.asarray(values, dtype=object).reshape(-1, 1)).ravel()
    missing = _missing(levels)
    known = [str(v) for v in levels[~missing]]
    return {"n_missing": int(missing.sum()),
            "levels": [{"label": k, "n": known.count(k)} for k in sorted(set(known))]}


def summarize(table, kinds: dict[str, str]) -> dict:
    """What ``cv.json`` keeps about the covariates: no patient's value.

    Returns
    -------
    dict
        ``n`` and ``columns``: for each covariate its ``name``, ``type``, ``n_missing``
        and, numeric, the ``median``, ``q1`` and ``q3`` of the known values or,
        categorical, the ``levels`` with their counts.
    """
    columns = []
    for name in table.columns:
        kind = kinds[name]
        values = table[name]
        entry = {"name": name, "type": kind}
        entry.update(_numeric_summary(values) if kind == NUMERIC
                     else _categorical_summary(values))
        columns.append(entry)
    return {"n": len(table), "columns": columns}


def settings_entry(kinds: dict[str, str]) -> list[str]:
    """The covariates as the run's settings record them: ``name:type`` in column order."""
    return [f"{name}:{kind}" for name, kind in kinds.items()]


def _cell(value):
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (bool, int, float, str)) else repr(value)


def digest_table(table) -> str:
    """SHA-256 of a covariate table: column names, dtypes and every value."""
    blob = {"columns": [str(c) for c in table.columns],
            "dtypes": [str(t) for t in table.dtypes],
            "values": [[_cell(v) for v in table[c].tolist()] for c in table.columns]}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def model_table(images, covariates, image_column: str):
    """X as a table: ``images`` (paths or volumes) in ``image_column``, then the covariates.

    Parameters
    ----------
    images : sequence
        One PET (a path or an array) per row of ``covariates``.
    covariates : pandas.DataFrame
    image_column : str

    Returns
    -------
    pandas.DataFrame
    """
    import_optional("pandas", "clinical", "clinical covariates")
    cells = np.empty(len(images), dtype=object)
    for i, image in enumerate(images):
        cells[i] = image
    table = covariates.reset_index(drop=True).copy()
    table.insert(0, image_column, cells)
    return table
