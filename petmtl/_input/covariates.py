"""Clinical covariates beside the volumes: X as a table of the images and the covariates.

A pandas DataFrame given as X holds each patient's PET in one column (``image_column``:
file paths or arrays) and clinical covariates in the others. A table splits with its rows
inside ``cross_validate``, ``GridSearchCV`` and ``Pipeline`` like any X, and brings the
covariates back at prediction: that is why petmtl takes covariates this way rather than
as a separate argument. The covariates are preprocessed by
:func:`petmtl.clinical.clinical_preprocessor`, learnt in ``fit`` on the training rows.
"""

from __future__ import annotations

import numpy as np

from ..clinical import check_covariates, clinical_preprocessor
from .volumes import is_path_input


def split_table(X, image_column: str):
    """The images and the covariates of ``X`` (covariates None unless X is a table).

    Parameters
    ----------
    X : pandas.DataFrame or any X the estimators take
        A table: the PET volumes (paths, or arrays of one shape) in ``image_column`` and
        covariates in its other columns. A table of numbers only, without that column,
        is read as an array (flattened volumes, see ``volume_shape``).
    image_column : str

    Returns
    -------
    images : X itself, or the table's images (an object array of paths, or the stacked
        volumes)
    covariates : pandas.DataFrame or None
        The other columns (None when the table has no other column).
    """
    if not (hasattr(X, "columns") and hasattr(X, "iloc")):
        return X, None
    if image_column not in X.columns and all(_is_numeric(X[c]) for c in X.columns):
        return X.to_numpy(), None  # a numeric table: flattened volumes, as an array
    if image_column not in X.columns:
        raise ValueError(f"X is a table but has no column {image_column!r} (image_column) "
                         f"holding the PET volumes or their paths; its columns are "
                         f"{list(X.columns)}")
    cells = list(X[image_column])
    if is_path_input(cells):
        images = np.array(cells, dtype=object)
    else:
        try:
            images = np.stack([np.asarray(cell, dtype=np.float32) for cell in cells])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X[{image_column!r}] must hold file paths or volumes of one "
                             f"shape (one per row); {exc}") from None
    covariates = X.drop(columns=[image_column])
    return images, (covariates if covariates.shape[1] else None)


def fit_covariates(covariates, categorical=None):
    """A :func:`~petmtl.clinical.clinical_preprocessor` fitted on ``covariates``, and the
    preprocessed training matrix.

    Parameters
    ----------
    covariates : pandas.DataFrame or None
    categorical : sequence of str, optional
        The categorical columns; None: every column of a non-numeric dtype.

    Returns
    -------
    preprocessor : ColumnTransformer or None
    matrix : ndarray of float32, shape (n, k), or None
    """
    if covariates is None:
        return None, None
    if categorical is None:
        preprocessor = clinical_preprocessor()
    else:
        categorical = list(categorical)
        absent = [c for c in categorical if c not in covariates.columns]
        if absent:
            raise ValueError(f"clinical_categorical names {absent}, which X does not have as "
                             f"covariate columns; its covariates are "
                             f"{list(covariates.columns)}")
        numeric = [c for c in covariates.columns if c not in categorical]
        text = [c for c in numeric if not _is_numeric(covariates[c])]
        if text:
            raise ValueError(f"covariate column(s) {text} hold non-numeric values but are not "
                             f"in clinical_categorical={categorical}; add them to it (or "
                             "leave clinical_categorical=None to treat every non-numeric "
                             "column as categorical)")
        preprocessor = clinical_preprocessor(numeric, categorical)
    matrix = preprocessor.fit_transform(covariates)
    return preprocessor, np.asarray(matrix, dtype=np.float32)


def _is_numeric(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def covariate_matrix(preprocessor, covariates) -> np.ndarray | None:
    """The preprocessed covariates of new patients for a model fitted with ``preprocessor``.

    The table is checked first (:func:`petmtl.clinical.check_covariates`): an absent
    training column, a numeric column holding text or an unseen category is named.

    Raises
    ------
    ValueError
        If covariates are given to a model fitted without, or missing for one fitted with.
    """
    if preprocessor is None:
        if covariates is not None:
            raise ValueError(f"X has covariate columns {list(covariates.columns)} but this "
                             "model was fitted without clinical covariates; pass only the "
                             "images (or refit with the covariates)")
        return None
    if covariates is None:
        names = list(getattr(preprocessor, "feature_names_in_", []))
        raise ValueError(f"this model was fitted with clinical covariates {names}: pass X as "
                         "a table of the images (image_column) and those columns")
    check_covariates(preprocessor, covariates)
    return np.asarray(preprocessor.transform(covariates), dtype=np.float32)
