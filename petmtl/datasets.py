"""Synthetic thoracic FDG-PET cohorts for examples, tests and benchmarks.

:func:`make_pet_cohort` draws a cohort of 3-D PET volumes (SUV, g/ml) of lung or oesophageal
cancer with 40 %-SUVmax tumour masks, a pathology label and a binary outcome that depends on
tumour, peritumoral and whole-image features, so that the multi-scale design of the W-Net
(Amyar et al.) has something to find. :func:`write_cohort` saves such a cohort as NIfTI files
plus a ``manifest.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from . import _phantom as ph
from ._constraints import Interval, Options, Shape, check_param, check_params
from .io import write_manifest, write_nifti

__all__ = ["make_pet_cohort", "write_cohort"]

# name, group, coefficient, standardisation (maps the feature to a unit-variance score)
_FEATURES = (
    ("tumour_volume_ml", "tumour", 0.40,
     lambda v: (np.log(3000.0 * v / (4 * np.pi)) / 3 - np.log(8.0)) / 0.3),
    ("tumour_uptake_suv", "tumour", 0.30, lambda v: np.log(v / 10.0) / 0.35),
    ("tumour_heterogeneity", "tumour", 0.30, lambda v: (v - 0.25) / (0.4 / np.sqrt(12))),
    ("tumour_necrosis", "tumour", 0.0, lambda v: v),
    ("peritumoral_uptake_suv", "peritumoral", 0.50, lambda v: (v - 0.75) / (1.5 / np.sqrt(12))),
    ("n_satellite_lesions", "peritumoral", 0.40, lambda v: v - 1.0),
    ("marrow_suv", "global", 0.40, lambda v: np.log(v / 1.7) / 0.18),
    ("liver_suv", "global", 0.25, lambda v: np.log(v / 2.2) / 0.10),
    ("n_distant_nodes", "global", 0.45, lambda v: (v - 1.2) / np.sqrt(1.2)),
)
_FEATURE_NAMES = tuple(f[0] for f in _FEATURES)
_COEF = np.array([f[2] for f in _FEATURES])
_COEF_NORM = float(np.sqrt(np.sum(_COEF**2)))
# Normalised boxes (w, v, |u|) where distant lymph nodes may appear.
_NODE_REGIONS = (
    ((-0.2, -0.35, 0.0), (0.9, 0.3, 0.3)),  # mediastinal / hilar
    ((0.2, -0.1, 0.65), (0.9, 0.3, 0.8)),  # axillary
    ((0.8, -0.3, 0.2), (0.95, 0.1, 0.45)),  # supraclavicular
    ((-0.95, -0.55, 0.0), (-0.7, -0.35, 0.25)),  # coeliac / para-aortic
)

DESCR = """\
Synthetic thoracic FDG-PET cohort (petmtl.datasets.make_pet_cohort)
===================================================================

Each subject is a float32 volume in SUV (g/ml) with isotropic voxels, in NIfTI voxel order
after canonicalisation to RAS+: axis 0 = x (patient's left to right), axis 1 = y (posterior
to anterior), axis 2 = z (inferior to superior), as returned by petmtl.io.prepare_volume.

Anatomy: elliptic body (soft tissue SUV 0.5-0.8) filling the transverse field of view
(capped at adult size), two lungs (SUV 0.2-0.4) whose lower caps are the diaphragm domes,
mediastinal blood pool, descending aorta and cardiac cavities (SUV ~1.4-1.9, always below
0.85 x liver), myocardium (SUV 1.2-8, log-uniform), liver under the right dome
(SUV 2.2 x exp(0.1 N)), vertebral bodies (marrow SUV 1.7 x exp(0.18 N)), trachea (air)
and oesophagus (SUV 1.0-1.8) behind it.

Tumour: pathology "lung" (centre inside a lung) or "esophagus" (on the oesophageal axis,
elongated along z) with probability 1/2 each. Equivalent radius 8 mm x exp(0.3 N) in
[4, 20] mm, an ellipsoid plus 1-3 ellipsoidal lobes, uptake 10 x exp(0.35 N) SUV in
[4, 35] modulated by a smooth random texture of relative amplitude U(0.05, 0.45)
(heterogeneity) and, more often in large tumours, a necrotic core.
Peritumoral (within 2-3 cm): an inflammatory halo adding U(0, 1.5) x exp(-d / 6 mm) SUV at
distance d <= 20 mm from the tumour, and Poisson(1) satellite nodules 10-20 mm beyond it.
Global: Poisson(1.2) lymph-node hot spots (mediastinal, hilar, axillary, supraclavicular,
coeliac) at least 30 mm beyond the tumour, marrow and liver uptake.

PET physics: noise with variance image_noise**2 x SUV (before the PSF, rescaled so this
holds after it), Gaussian PSF (FWHM fwhm mm), values clipped at 0.

Mask: 40 % of the tumour SUVmax inside the tumour support dilated by max(fwhm, 2 voxels),
excluding myocardium, liver and marrow, kept to the connected component of the SUVmax.

Outcome (1 = poor outcome): every feature f_j is mapped to a unit-variance score s_j
(log for volume, uptake, marrow and liver; centred counts; uniform -> z) and
eta = sum_j beta_j s_j / ||beta|| with beta = 0.40 volume, 0.30 uptake, 0.30 heterogeneity,
0 necrosis, 0.50 peritumoral uptake, 0.40 satellites, 0.40 marrow, 0.25 liver, 0.45 nodes.
P(y = 1) = 1 / (1 + exp(-eta / outcome_noise)) (y = [eta > 0] when outcome_noise = 0), so
classes are balanced on average. With outcome_noise = 0.4 the AUC of eta is ~0.90, of its
tumour part alone ~0.70 and of tumour + peritumoral parts ~0.80.
"""


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


def _draw_latent(rs, n):
    """Subject-level parameters drawn once, vectorised, from the master random state."""
    z = rs.standard_normal((5, n))
    lung = rs.random_sample(n) < 0.5
    liver = 2.2 * np.exp(0.10 * z[3])
    big = rs.random_sample(n) < 1.0 / (1.0 + np.exp(-(1.5 * z[0] - 0.5)))
    return {
        "lung": lung,
        "radius": np.clip(8.0 * np.exp(0.3 * z[0]), 4.0, 20.0),
        "elongation": np.where(lung, rs.uniform(0.8, 1.25, n), rs.uniform(1.4, 2.2, n)),
        "uptake": np.clip(10.0 * np.exp(0.35 * z[1]), 4.0, 35.0),
        "heterogeneity": rs.uniform(0.05, 0.45, n),
        "necrosis": np.where(big, rs.uniform(0.3, 0.8, n), 0.0),
        "halo": rs.uniform(0.0, 1.5, n),
        "n_sat": np.minimum(rs.poisson(1.0, n), 5),
        "marrow": 1.7 * np.exp(0.18 * z[2]),
        "liver": liver,
        "n_nodes": np.minimum(rs.poisson(1.2, n), 6),
        "soft_tissue": rs.uniform(0.5, 0.8, n),
        "lung_suv": rs.uniform(0.2, 0.4, n),
        "blood_pool": np.minimum(1.65 * np.exp(0.08 * z[4]), 0.85 * liver),
        "myocardium": np.exp(rs.uniform(np.log(1.2), np.log(8.0), n)),
        "oesophagus": rs.uniform(1.0, 1.8, n),
        "seed": rs.randint(0, 2**31 - 1, n),
    }


def _render(grid, p, fwhm, image_noise):
    """Render one subject; return (image, mask, labels, realised feature vector)."""
    rng = np.random.default_rng(p["seed"])
    suv = {"soft_tissue": p["soft_tissue"], "lung": p["lung_suv"], "liver": p["liver"],
           "blood_pool": p["blood_pool"], "myocardium": p["myocardium"], "airway": 0.05,
           "oesophagus": p["oesophagus"], "bone_marrow": p["marrow"]}
    act, lab, geo = ph.draw_anatomy(grid, rng, suv)
    dil = max(fwhm, 2.0 * grid.spacing)
    e = p["elongation"]
    semi = p["radius"] * np.array([e ** (2 / 3), e ** (-1 / 3), e ** (-1 / 3)])
    room = grid.half - grid.spacing - dil  # keep the tumour and its mask region in the FOV
    semi *= min(1.0, float(np.min(room / (1.25 * semi))))
    centre = ph.place_tumour(grid, geo, rng, "lung" if p["lung"] else "esophagus", semi)
    lim = np.maximum(grid.half - grid.spacing - dil - 1.25 * semi, 0.0)
    centre = np.clip(centre, -lim, lim)
    sl, support = ph.draw_tumour(act, lab, grid, rng, centre, semi, p["uptake"],
                                 p["heterogeneity"], p["necrosis"])
    ph.add_halo(act, lab, grid, sl, support, p["halo"])
    ext = 1.25 * float(semi.max())
    body3d = np.broadcast_to(geo["body"], grid.shape)
    sats = ph.sphere_positions(grid, geo, rng, int(p["n_sat"]), centre, ext + 14.0, ext + 24.0)
    for q in sats:
        r = rng.uniform(2.5, 4.0)
        ph.paint_ellipsoid(act, grid, q, (r, r, r), rng.uniform(2.5, 5.0), body3d, op="max")
    nodes = ph.sphere_positions(grid, geo, rng, int(p["n_nodes"]), centre, ext + 30.0, np.inf,
                                regions=_NODE_REGIONS)
    for q in nodes:
        r = rng.uniform(3.0, 6.0)
        ph.paint_ellipsoid(act, grid, q, (r, r, r), rng.uniform(3.0, 7.0), body3d, op="max")
    img = ph.pet_physics(act, grid, rng, fwhm, image_noise)
    mask = ph.tumour_mask(img, lab, grid, sl, support, dil)
    feats = [4.0 / 3.0 * np.pi * float(np.prod(semi)) / 1000.0, p["uptake"],
             p["heterogeneity"], p["necrosis"], p["halo"], p["n_sat"], p["marrow"],
             p["liver"], p["n_nodes"]]
    return img, mask, lab, np.array(feats, float)


def _logit(features):
    scores = np.column_stack([f[3](features[:, j]) for j, f in enumerate(_FEATURES)])
    return scores @ _COEF / _COEF_NORM


def _censoring_rate(times: np.ndarray, follow_up: float, target: float) -> float:
    """Exponential drop-out rate that censors a ``target`` fraction with the follow-up."""
    def censored(rate):
        return np.mean(np.where(times > follow_up, 1.0, 1.0 - np.exp(-rate * times)))

    if censored(0.0) >= target:
        return 0.0
    low, high = 0.0, 1.0
    while censored(high) < target:
        high *= 2.0
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if censored(mid) < target else (low, mid)
    return high


def _survival_outcome(eta, outcome_noise, censoring_rate, follow_up, rs, missing):
    """Weibull event times (shape 1.5, median 24 months at eta = 0), censored."""
    from .survival import make_survival_y

    log_hazard_ratio = 0.6 / max(outcome_noise, 0.05) * eta
    scale = 24.0 / np.log(2.0) ** (1 / 1.5)
    times = scale * (-np.log(rs.random_sample(len(eta))) * np.exp(-log_hazard_ratio)) ** (
        1 / 1.5)
    rate = _censoring_rate(times, follow_up, censoring_rate)
    drop_out = rs.exponential(1.0 / rate, len(eta)) if rate > 0 else np.full(len(eta), np.inf)
    observed = np.minimum(np.minimum(times, drop_out), follow_up)
    event = (times <= drop_out) & (times <= follow_up)
    return make_survival_y(np.where(missing, None, event).tolist(),
                           np.where(missing, np.nan, observed))


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
    return_features : bool, default=False
        Also return the hidden features, the latent logit and the feature groups.
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
    if outcome == "survival":
        check_params({"censoring_rate": censoring_rate, "follow_up": follow_up}, _SURVIVAL)
    rs = check_random_state(random_state)

    latent = _draw_latent(rs, n)
    u_outcome = rs.random_sample(n)
    missing = []
    for frac in fractions:
        flag = np.zeros(n, bool)
        flag[rs.permutation(n)[: int(round(frac * n))]] = True
        missing.append(flag)

    grid = ph.Grid(shape[::-1], spacing)  # the phantom draws (z, y, x); returned as (x, y, z)
    X = np.empty((n, *shape), np.float32)
    masks = np.zeros((n, *shape), np.uint8)
    anatomy = np.empty((n, *shape), np.uint8) if return_anatomy else None
    features = np.empty((n, len(_FEATURES)))
    for i in range(n):
        p = {k: v[i] for k, v in latent.items()}
        img, mask, lab, features[i] = _render(grid, p, fwhm, image_noise)
        X[i], masks[i] = img.T, mask.T
        if anatomy is not None:
            anatomy[i] = lab.T

    eta = _logit(features)
    if outcome_noise > 0:
        y = (u_outcome < 1.0 / (1.0 + np.exp(-eta / outcome_noise))).astype(np.int64)
    else:
        y = (eta > 0).astype(np.int64)
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
    if return_features:
        out.features = features
        out.logit = eta
        out.feature_groups = {g: [f[0] for f in _FEATURES if f[1] == g]
                              for g in ("tumour", "peritumoral", "global")}
    if return_anatomy:
        out.anatomy = anatomy
        out.anatomy_labels = dict(ph.LABELS)
    return out


def write_cohort(cohort: Mapping, folder: str | os.PathLike) -> Path:
    """Write a cohort as NIfTI files plus a ``manifest.csv``; return the manifest path.

    For each subject ``<id>_pet.nii.gz`` (float32 SUV) and, when its mask is available,
    ``<id>_mask.nii.gz`` (uint8) are written into ``folder`` (created if needed). The NIfTI
    voxel axes are the array axes (x, y, z), i.e. ``X[n]`` unchanged, with the affine
    ``diag(spacing, spacing, spacing, 1)`` translated so that the volume centre is at the
    origin: RAS+ millimetres, sform/qform code 1. Files are written under a temporary name
    and then renamed, so a reader never sees a partial file.

    Parameters
    ----------
    cohort : Mapping
        A result of :func:`make_pet_cohort` (needs ``X``, ``masks``, ``spacing``, ``y``,
        ``pathology``; ``mask_available`` and ``patient_id`` are used when present).
    folder : str or path-like
        Output directory.

    Returns
    -------
    manifest : pathlib.Path
        Path of ``manifest.csv`` with columns ``patient_id,pet_path,mask_path,pathology,
        outcome`` (``time,event`` in place of ``outcome`` for a survival cohort): paths
        relative to the manifest's folder, empty cells for a missing mask, pathology or
        outcome (``y == -1``, or a NaN time).

    Raises
    ------
    KeyError
        If ``cohort`` lacks a required key.
    ValueError
        If the arrays have inconsistent lengths or ``X`` is not 4-D.

    Examples
    --------
    >>> import tempfile
    >>> from petmtl.datasets import make_pet_cohort, write_cohort
    >>> cohort = make_pet_cohort(2, shape=(16, 16, 16), random_state=0)
    >>> write_cohort(cohort, tempfile.mkdtemp()).name
    'manifest.csv'
    """
    for key in ("X", "masks", "spacing", "y", "pathology"):
        if key not in cohort:
            raise KeyError(f"cohort must have a {key!r} entry (as made by make_pet_cohort).")
    X = np.asarray(cohort["X"])
    n = len(X)
    if X.ndim != 4:
        raise ValueError(f"cohort['X'] must have shape (n, nx, ny, nz); got {X.shape}.")
    avail = np.asarray(cohort.get("mask_available", np.ones(n, bool)), bool)
    ids = cohort.get("patient_id")
    if ids is None:
        ids = [f"sub-{i + 1:0{max(3, len(str(n)))}d}" for i in range(n)]
    y, pathology = np.asarray(cohort["y"]), np.asarray(cohort["pathology"], object)
    if not len(cohort["masks"]) == len(avail) == len(ids) == len(y) == len(pathology) == n:
        raise ValueError("cohort arrays X, masks, mask_available, patient_id, y and pathology "
                         "must all have the same length.")
    spacing = np.broadcast_to(np.asarray(cohort["spacing"], float), (3,))  # (x, y, z)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.array(X.shape[1:]) - 1) / 2.0 * spacing
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pets, masks = [], []
    for i in range(n):
        pets.append(write_nifti(np.asarray(X[i], np.float32), affine,
                                folder / f"{ids[i]}_pet.nii.gz"))
        masks.append(write_nifti(np.asarray(cohort["masks"][i], np.uint8), affine,
                                 folder / f"{ids[i]}_mask.nii.gz") if avail[i] else None)
    manifest = folder / "manifest.csv"
    if y.dtype.names is not None:  # a survival cohort: time and event columns
        labels = {"time": y["time"].tolist(),
                  "event": [None if np.isnan(t) else bool(e) for e, t in zip(
                      y["event"], y["time"], strict=True)]}
    else:
        labels = {"outcome": [int(v) for v in y]}
    write_manifest(manifest, [str(i) for i in ids], pets, masks,
                   [None if p is None else str(p) for p in pathology], **labels)
    return manifest
