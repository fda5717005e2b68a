"""The image side of :func:`make_pet_cohort`: latent subject parameters, rendering, logit."""

from __future__ import annotations

import numpy as np

from . import _phantom as ph

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


def render_cohort(latent, shape, spacing, fwhm, image_noise, return_anatomy):
    """Volumes, masks, organ labels (or None) and features of every subject, in (x, y, z)."""
    n = len(latent["seed"])
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
    return X, masks, anatomy, features


def _logit(features):
    scores = np.column_stack([f[3](features[:, j]) for j, f in enumerate(_FEATURES)])
    return scores @ _COEF / _COEF_NORM


def volume_score(features):
    """The unit-variance score of the tumour volume (the first feature)."""
    return _FEATURES[0][3](features[:, 0])
