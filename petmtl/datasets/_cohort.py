"""Drawing a synthetic cohort: :func:`make_pet_cohort` and the checks of its arguments."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._constraints import Boolean, Interval, Options, Shape, check_param, check_params
from .._optional import import_optional
from . import _phantom as ph
from ._clinical import clinical_frame, clinical_stream, combine_logits, draw_clinical
from ._descr import CLINICAL_DESCR, DESCR
from ._outcome import _survival_outcome, binary_outcome
from ._subjects import (
    _FEATURE_NAMES,
    _FEATURES,
    _draw_latent,
    _logit,
    render_cohort,
    volume_score,
)

__all__ = ["make_pet_cohort"]


def _real(description: str, low: float, high: float | None = None, *, closed="both"):
    return Interval(Real, low, high, closed=closed, description=description)


_FRACTION = _real("a real number >= 0 and <= 1", 0.0, 1.0)
_NON_NEGATIVE = _real("a real number >= 0", 0.0)
_SURVIVAL = {"censoring_rate": [Interval(Real, 0, 1, closed="left")],
             "follow_up": [Interval(Real, 0, None, closed="neither")]}
_CONSTRAINTS = {
    "n_samples": [Interval(Integral, 1, None, description="an int >= 1")],
    "shape": [Shape(3, 16, description="a sequence of 3 ints, each >= 16", type_error=True)],
    "spacing": [_real("a real number > 0", 0.0, closed="right")],
    "fwhm": [_NON_NEGATIVE], "image_noise": [_NON_NEGATIVE], "outcome_noise": [_NON_NEGATIVE],
    "missing_masks": [_FRACTION], "missing_outcome": [_FRACTION],
    "missing_pathology": [_FRACTION],
}


def _checked(**values) -> list:
    """Check the arguments against :data:`_CONSTRAINTS`; reals come back as floats."""
    out = []
    for name, value in values.items():
        if isinstance(value, Real) and not isinstance(value, (bool, Integral)):
            value = float(value)  # messages show 0.0 for spacing=0, as the value is used
        elif name != "n_samples" and isinstance(value, Integral) and not isinstance(value, bool):
            value = float(value)
        check_param(name, value, *_CONSTRAINTS[name], separator="; ")
        out.append(tuple(int(v) for v in value) if name == "shape" else value)
    return out


def make_pet_cohort(
    n_samples: int = 100,
    shape: Sequence[int] = (64, 64, 64),
    spacing: float = 2.0,
    *,
    fwhm: float = 6.5,
    image_noise: float = 0.15,
    outcome_noise: float = 0.4,
    missing_masks: float = 0.0,
    missing_outcome: float = 0.0,
    missing_pathology: float = 0.0,
    outcome: str = "binary",
    censoring_rate: float = 0.3,
    follow_up: float = 60.0,
    clinical: bool = False,
    return_features: bool = False,
    return_anatomy: bool = False,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Generate a synthetic cohort of thoracic FDG-PET volumes with masks and labels.

    Each subject has a lung or oesophageal primary tumour in a simple thoracic phantom,
    PET resolution and noise, a 40 %-SUVmax tumour mask, a pathology label and a binary
    (or time-to-event) outcome driven by tumour, peritumoral and global (whole-image)
    features. See ``DESCR`` of the result, or the Notes, for the exact mechanism.

    Parameters
    ----------
    n_samples : int, default=100
        Number of subjects (>= 1).
    shape : sequence of 3 int, default=(64, 64, 64)
        Volume shape ``(nx, ny, nz)`` along ``(x, y, z)`` (RAS+ voxel order, as returned
        by :func:`petmtl.io.prepare_volume`); every entry >= 16.
    spacing : float, default=2.0
        Isotropic voxel size in mm (> 0). The thorax is scaled to fill the transverse field of
        view ``shape * spacing`` (capped at adult size, about 35 x 25 cm); tumour sizes, the
        PSF and the peritumoral distances are in physical millimetres.
    fwhm : float, default=6.5
        Full width at half maximum (mm) of the Gaussian point-spread function; 0 disables it.
    image_noise : float, default=0.15
        Noise standard deviation at SUV 1 (variance proportional to the local SUV, as for
        Poisson counts); 0 gives noiseless images.
    outcome_noise : float, default=0.4
        Temperature of the logistic link: ``P(y = 1) = sigmoid(eta / outcome_noise)`` with
        ``eta`` the unit-variance latent logit. 0 makes ``y`` a deterministic ``eta > 0``.
    missing_masks, missing_outcome, missing_pathology : float, default=0.0
        Fractions in [0, 1] of subjects, chosen at random (``round(fraction * n_samples)``
        of them), whose mask, outcome or pathology is reported as unknown.
    outcome : {"binary", "survival"}, default="binary"
        ``"survival"``: ``y`` holds event times (months) drawn from a Weibull model with
        the same latent risk, censored, as a structured array (see Notes and
        :func:`petmtl.survival.make_survival_y`).
    censoring_rate : float in [0, 1), default=0.3
        Survival only: the expected fraction of censored patients, from administrative
        censoring at ``follow_up`` and exponential random censoring (drop-out) whose
        rate is set to reach this fraction (administrative censoring alone may exceed
        it).
    follow_up : float, default=60.0
        Survival only: end of follow-up in months (administrative censoring).
    clinical : bool, default=False
        Also draw clinical covariates (age, sex, ECOG, T stage, a tumour marker) with
        missing values, and give them 40 % of the outcome logit's variance (see Notes).
        The images, masks, pathology and outcome noise stay those of ``clinical=False``;
        the outcome changes with the logit. Needs pandas (``pip install
        petmtl[clinical]``).
    return_features : bool, default=False
        Also return the hidden features, the latent logit and the feature groups (and,
        with ``clinical``, the image and clinical parts of the logit).
    return_anatomy : bool, default=False
        Also return the pre-tumour organ label maps.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; the same seed gives identical arrays.

    Returns
    -------
    cohort : sklearn.utils.Bunch
        With keys:

        - ``X`` (ndarray of float32, shape (n_samples, nx, ny, nz)) PET volumes in SUV
          (g/ml), non-negative.
        - ``y`` (ndarray of int64, shape (n_samples,)) Outcome, 1 = poor outcome, 0 = good,
          -1 = unknown; with ``outcome="survival"`` a structured array of ``event``
          (bool) and ``time`` (float64, months; NaN = unknown).
        - ``masks`` (ndarray of uint8, shape (n_samples, nx, ny, nz)) Tumour (MTV) masks;
          all zero where ``mask_available`` is False.
        - ``mask_available`` (ndarray of bool, shape (n_samples,))
        - ``pathology`` (ndarray of object, shape (n_samples,)) ``"lung"``, ``"esophagus"``
          or None when unknown.
        - ``patient_id`` (ndarray of str, shape (n_samples,)) ``"sub-001"``, ``"sub-002"``,
          ...
        - ``spacing`` (tuple of 3 float) Voxel size in mm along (x, y, z).
        - ``feature_names`` (tuple of str) Names of the hidden features.
        - ``features`` (ndarray of float64, shape (n_samples, 9)) Hidden features (only with
          ``return_features``): tumour volume (ml, nominal volume of the tumour's core
          ellipsoid), tumour uptake (SUV, before texture, necrosis and PSF), heterogeneity,
          necrosis depth, peritumoral halo amplitude (SUV), number of satellite nodules,
          marrow SUV, liver SUV, number of distant nodes.
        - ``logit`` (ndarray of float64, shape (n_samples,)) Noiseless latent logit ``eta``
          (only with ``return_features``).
        - ``feature_groups`` (dict) ``{"tumour": [...], "peritumoral": [...], "global":
          [...]}`` feature names (only with ``return_features``).
        - ``anatomy`` (ndarray of uint8, shape (n_samples, nx, ny, nz)) Organ labels before
          the tumour is drawn (only with ``return_anatomy``).
        - ``anatomy_labels`` (dict) Organ name to label value (only with
          ``return_anatomy``).
        - ``clinical`` (pandas.DataFrame, only with ``clinical``) Covariates indexed by
          ``patient_id``: ``age`` (float, years), ``sex`` ("female"/"male"), ``ecog``
          (float 0-3, NaN = missing), ``t_stage`` ("T1"-"T4") and ``marker``
          ("negative"/"positive", NaN = missing).
        - ``image_logit``, ``clinical_logit`` (ndarray of float64, shape (n_samples,),
          only with ``clinical`` and ``return_features``) The unit-variance image and
          clinical parts of ``logit``: ``logit = sqrt(0.6) image_logit + sqrt(0.4)
          clinical_logit``.
        - ``DESCR`` (str) Description of the generating mechanism.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If an argument is out of range.

    See Also
    --------
    write_cohort : Save a cohort as NIfTI files and a manifest.

    Notes
    -----
    Volumes are in RAS+ voxel order (x, y, z): axis 0 runs from the patient's left to right,
    axis 1 from posterior to anterior, axis 2 from inferior to superior, the order
    :func:`petmtl.io.prepare_volume` returns for a canonicalised NIfTI file. Lungs, blood
    pool, myocardium, liver, marrow, trachea and oesophagus have realistic SUVs. The
    pathology is "lung" or "esophagus" with probability 1/2 and is independent of the
    outcome. The outcome follows a logistic model of nine hidden features:

    * tumour: volume, uptake, heterogeneity (necrosis has coefficient 0);
    * peritumoral (within 2-3 cm of the tumour): an inflammatory halo and satellite nodules;
    * global: marrow uptake, liver uptake and lymph nodes at least 3 cm from the tumour.

    Each feature is standardised with its known population distribution and
    ``eta = sum_j beta_j s_j / ||beta||``, so ``eta`` has mean 0 and variance 1 and the
    classes are balanced on average. With the default ``outcome_noise=0.4`` the AUC of the
    tumour part of ``eta`` is about 0.70, of the full ``eta`` about 0.90. The mask is the
    40 %-SUVmax threshold of the final image inside the dilated tumour support, kept to the
    connected component of the maximum. Volumes smaller than the tumour need are handled by
    shrinking the tumour (the returned features are the realised ones).

    With ``clinical=True`` each patient also has an age, a sex (no effect), an ECOG
    performance status (0-3, tied to age through a latent frailty), a T stage (T1-T4, the
    quartiles of a noisy copy of the tumour volume: information the image shares) and an
    HPV-like tumour marker (positive is protective, independent of the image). The
    clinical logit ``eta_c`` is a standardised combination of age, ECOG and the marker,
    and the outcome logit becomes ``sqrt(0.6) eta + sqrt(0.4) eta_c``: 40 % of its
    variance is visible only through the covariates. ECOG is missing for about 10 % of
    the patients (more often at T1-T2) and the marker for about 30 % (more often in
    older patients): missing at random given the observed covariates. The covariates
    are drawn from a random stream derived from ``random_state`` without consuming it.

    Examples
    --------
    >>> from petmtl.datasets import make_pet_cohort
    >>> cohort = make_pet_cohort(4, shape=(32, 32, 32), random_state=0)
    >>> cohort.X.shape, cohort.X.dtype.name, cohort.masks.dtype.name
    ((4, 32, 32, 32), 'float32', 'uint8')
    """
    n, shape, spacing, fwhm, image_noise, outcome_noise, *fractions = _checked(
        n_samples=n_samples, shape=shape, spacing=spacing, fwhm=fwhm, image_noise=image_noise,
        outcome_noise=outcome_noise, missing_masks=missing_masks,
        missing_outcome=missing_outcome, missing_pathology=missing_pathology)
    check_param("outcome", outcome, Options("binary", "survival"))
    check_param("clinical", clinical, Boolean())
    if outcome == "survival":
        check_params({"censoring_rate": censoring_rate, "follow_up": follow_up}, _SURVIVAL)
    if clinical:
        import_optional("pandas", "clinical", "make_pet_cohort(clinical=True)")
    rs = check_random_state(random_state)
    clinical_rng = clinical_stream(rs) if clinical else None  # leaves rs untouched

    latent = _draw_latent(rs, n)
    u_outcome = rs.random_sample(n)
    missing = []
    for frac in fractions:
        flag = np.zeros(n, bool)
        flag[rs.permutation(n)[: int(round(frac * n))]] = True
        missing.append(flag)

    X, masks, anatomy, features = render_cohort(latent, shape, spacing, fwhm, image_noise,
                                                return_anatomy)
    eta = image_logit = _logit(features)
    if clinical:
        drawn = draw_clinical(clinical_rng, volume_score(features))
        eta = combine_logits(image_logit, drawn["logit"])
    y = binary_outcome(eta, u_outcome, outcome_noise)
    y[missing[1]] = -1
    if outcome == "survival":
        y = _survival_outcome(eta, outcome_noise, censoring_rate, follow_up, rs, missing[1])
    masks[missing[0]] = 0
    pathology = np.where(latent["lung"], "lung", "esophagus").astype(object)
    pathology[missing[2]] = None
    width = max(3, len(str(n)))
    out = Bunch(
        X=X, y=y, masks=masks, mask_available=~missing[0], pathology=pathology,
        patient_id=np.array([f"sub-{i + 1:0{width}d}" for i in range(n)]),
        spacing=(spacing, spacing, spacing), feature_names=_FEATURE_NAMES, DESCR=DESCR)
    if clinical:
        out.clinical = clinical_frame(drawn, out.patient_id)
        out.DESCR = DESCR + CLINICAL_DESCR
    if return_features:
        out.features = features
        out.logit = eta
        out.feature_groups = {g: [f[0] for f in _FEATURES if f[1] == g]
                              for g in ("tumour", "peritumoral", "global")}
        if clinical:
            out.image_logit = image_logit
            out.clinical_logit = drawn["logit"]
    if return_anatomy:
        out.anatomy = anatomy
        out.anatomy_labels = dict(ph.LABELS)
    return out
