"""The clinical side of :func:`make_pet_cohort`: covariates, their missingness and logit.

Covariates are drawn from their own random stream, derived from the cohort's random state
without consuming it, so a cohort drawn with ``clinical=True`` has the same images, masks
and outcome noise as the one drawn with ``clinical=False``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .._optional import import_optional

COLUMNS = ("age", "sex", "ecog", "t_stage", "marker")
CLINICAL_SHARE = 0.4  # fraction of the variance of the outcome logit from the covariates

_AGE_MEAN, _AGE_SD = 65.0, 9.0
_ECOG_P = np.array([0.40, 0.35, 0.18, 0.07])  # ECOG 0, 1, 2, 3
_ECOG_CUTS = norm.ppf(np.cumsum(_ECOG_P)[:-1])
_ECOG_MEAN = float(_ECOG_P @ np.arange(4))
_ECOG_SD = float(np.sqrt(_ECOG_P @ np.arange(4) ** 2 - _ECOG_MEAN**2))
_FRAILTY_AGE = 0.5  # correlation of the latent frailty with age
_T_VOLUME = 0.8  # correlation of the latent T stage with the tumour-volume score
_MARKER_P = 0.35
# coefficients of the standardised age, ECOG and marker (positive = protective)
_BETA = np.array([0.40, 0.60, -0.70])
# Cov(z_age, z_ecog) by Stein's lemma: E[z 1(F > c)] = Cov(z, F) phi(c)
_RHO_AGE_ECOG = _FRAILTY_AGE * float(norm.pdf(_ECOG_CUTS).sum()) / _ECOG_SD
_CLINICAL_SD = float(np.sqrt(_BETA @ _BETA + 2 * _BETA[0] * _BETA[1] * _RHO_AGE_ECOG))
_ECOG_MISSING = {True: 0.15, False: 0.05}  # early (T1-T2) / advanced (T3-T4) patients
_MARKER_MISSING_AGE = 0.8  # log-odds of an untested marker per SD of age
_MARKER_MISSING_BIAS = -0.962  # gives a 30 % mean missing rate (Gauss-Hermite quadrature)


def clinical_stream(rs: np.random.RandomState) -> np.random.Generator:
    """A generator seeded from the state of ``rs``, leaving ``rs`` untouched."""
    _, keys, position, *_ = rs.get_state()
    return np.random.default_rng(np.random.SeedSequence(
        [int(k) for k in keys] + [int(position), 0x434C494E]))  # "CLIN"


def draw_clinical(rng: np.random.Generator, volume_score: np.ndarray) -> dict:
    """Complete covariates, their clinical logit and the missingness flags.

    ``volume_score`` is the unit-variance score of the tumour volume (shared with the
    image); everything else comes from ``rng``.
    """
    n = len(volume_score)
    age = np.clip(np.round(rng.normal(_AGE_MEAN, _AGE_SD, n)), 35.0, 90.0)
    z_age = (age - _AGE_MEAN) / _AGE_SD
    male = rng.random(n) < 0.6
    frailty = _FRAILTY_AGE * z_age + np.sqrt(1 - _FRAILTY_AGE**2) * rng.standard_normal(n)
    ecog = np.searchsorted(_ECOG_CUTS, frailty).astype(np.float64)
    t_latent = _T_VOLUME * volume_score + np.sqrt(1 - _T_VOLUME**2) * rng.standard_normal(n)
    t_stage = np.searchsorted(norm.ppf([0.25, 0.5, 0.75]), t_latent) + 1
    positive = rng.random(n) < _MARKER_P
    scores = np.column_stack([z_age, (ecog - _ECOG_MEAN) / _ECOG_SD,
                              (positive - _MARKER_P) / np.sqrt(_MARKER_P * (1 - _MARKER_P))])
    logit = scores @ _BETA / _CLINICAL_SD
    ecog_missing = rng.random(n) < np.where(t_stage <= 2, _ECOG_MISSING[True],
                                            _ECOG_MISSING[False])
    untested = 1.0 / (1.0 + np.exp(-(_MARKER_MISSING_BIAS + _MARKER_MISSING_AGE * z_age)))
    marker_missing = rng.random(n) < untested
    return {"age": age, "male": male, "ecog": ecog, "t_stage": t_stage, "positive": positive,
            "logit": logit, "ecog_missing": ecog_missing, "marker_missing": marker_missing}


def combine_logits(image_logit: np.ndarray, clinical_logit: np.ndarray) -> np.ndarray:
    """The outcome logit: unit variance, ``CLINICAL_SHARE`` of it from the covariates."""
    return (np.sqrt(1 - CLINICAL_SHARE) * image_logit
            + np.sqrt(CLINICAL_SHARE) * clinical_logit)


def clinical_frame(drawn: dict, patient_id):
    """The observed covariates as a DataFrame indexed by patient id (NaN = missing)."""
    pd = import_optional("pandas", "clinical", "make_pet_cohort(clinical=True)")
    ecog = np.where(drawn["ecog_missing"], np.nan, drawn["ecog"])
    marker = np.where(drawn["positive"], "positive", "negative").astype(object)
    marker[drawn["marker_missing"]] = np.nan
    return pd.DataFrame({
        "age": drawn["age"],
        "sex": np.where(drawn["male"], "male", "female").astype(object),
        "ecog": ecog,
        "t_stage": np.array([f"T{t}" for t in drawn["t_stage"]], dtype=object),
        "marker": marker,
    }, index=pd.Index(patient_id, name="patient_id"))
