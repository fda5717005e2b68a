"""Drawing helpers of the phantom of :func:`petmtl.datasets.make_pet_cohort`.

Everything here works on arrays ordered ``(z, y, x)`` with isotropic voxels of ``spacing`` mm.
World coordinates are millimetres from the centre of the field of view, RAS+ (``x`` towards
the patient's right, ``y`` anterior, ``z`` superior). Organs are drawn on bounding boxes or on
2-D transverse masks broadcast along ``z`` so that one 64^3 subject takes a few milliseconds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Anatomy label values (pre-tumour organ map).
LABELS = {
    "background": 0,
    "soft_tissue": 1,
    "lung": 2,
    "blood_pool": 3,
    "myocardium": 4,
    "liver": 5,
    "bone_marrow": 6,
    "oesophagus": 7,
    "airway": 8,
}
# Organs with physiological uptake that an expert excludes from a tumour delineation.
_PHYSIOLOGICAL = np.array([LABELS["myocardium"], LABELS["liver"], LABELS["bone_marrow"]])


class Grid:
    """Voxel-centre coordinates (mm) of an ``(x, y, z)`` grid centred on the field of view."""

    def __init__(self, shape: tuple[int, int, int], spacing: float):
        self.shape = tuple(shape)
        self.spacing = float(spacing)
        self.axes = [(np.arange(n) - (n - 1) / 2.0) * self.spacing for n in self.shape]
        self.half = np.array([(n - 1) / 2.0 * self.spacing for n in self.shape])

    def box(self, centre, half_extent):
        """Return the slices and open coordinate vectors of a clipped bounding box."""
        slices, coords = [], []
        for ax, c, h in zip(self.axes, centre, half_extent, strict=True):
            lo = int(np.clip(np.floor((c - h - ax[0]) / self.spacing), 0, len(ax)))
            hi = int(np.clip(np.ceil((c + h - ax[0]) / self.spacing) + 1, lo, len(ax)))
            slices.append(slice(lo, hi))
            coords.append(ax[lo:hi])
        z, y, x = coords
        return tuple(slices), (z[:, None, None], y[None, :, None], x[None, None, :])


def _ellipsoid_r2(coords, centre, semi):
    """Squared normalised ellipsoid radius on open (broadcastable) coordinates."""
    z, y, x = coords
    return (
        ((z - centre[0]) / semi[0]) ** 2
        + ((y - centre[1]) / semi[1]) ** 2
        + ((x - centre[2]) / semi[2]) ** 2
    )


def paint_ellipsoid(img, grid, centre, semi, value, where=None, op="set"):
    """Paint ``value`` inside an axis-aligned ellipsoid; return (slices, boolean box mask)."""
    sl, coords = grid.box(centre, semi)
    inside = _ellipsoid_r2(coords, centre, semi) <= 1.0
    if where is not None:
        inside &= where[sl]
    sub = img[sl]
    if op == "max":
        np.maximum(sub, np.where(inside, np.float32(value), 0), out=sub)
    else:
        sub[inside] = value
    return sl, inside


def draw_anatomy(grid: Grid, rng: np.random.Generator, suv: dict):
    """Draw the thorax; return ``(activity, labels, geometry)``.

    The body is an elliptic cylinder filling ~92 % x 72 % of the transverse field of view
    (capped at 35 x 25 cm); organs are placed in coordinates normalised by the body semi-axes
    ``a`` (x), ``b`` (y) and by ``c`` (half the thorax length, at most 15 cm) in z.
    """
    d, h, w = grid.shape
    lz, ly, lx = (n * grid.spacing for n in grid.shape)
    j = rng.uniform(0.94, 1.0, size=2)
    a, b = min(0.46 * lx, 175.0) * j[0], min(0.36 * ly, 125.0) * j[1]
    c = min(lz / 2.0, 150.0)
    zz, yy, xx = grid.axes
    y2, x2 = yy[:, None], xx[None, :]
    act = np.zeros(grid.shape, np.float32)
    lab = np.zeros(grid.shape, np.uint8)

    def disc(xc, yc, r):
        return (x2 - xc) ** 2 + (y2 - yc) ** 2 <= r * r

    def zrange(lo, hi):
        return slice(int(np.searchsorted(zz, lo)), int(np.searchsorted(zz, hi, side="right")))

    def paint2d(mask2d, zsl, name, value):
        act[zsl, mask2d] = value
        lab[zsl, mask2d] = LABELS[name]

    body = (x2 / a) ** 2 + (y2 / b) ** 2 <= 1.0
    body3d = np.broadcast_to(body, grid.shape)
    paint2d(body, slice(None), "soft_tissue", suv["soft_tissue"])
    geo = {"a": a, "b": b, "c": c, "body": body, "lungs": []}
    # Lungs: ellipsoids whose lower caps are the diaphragm domes (right one slightly higher).
    for side, au in ((1.0, 0.38), (-1.0, 0.34)):
        centre = (c * (0.35 + 0.05 * side), 0.02 * b, side * 0.47 * a)
        semi = (c * rng.uniform(0.95, 1.05), 0.62 * b, au * a)
        sl, inside = paint_ellipsoid(act, grid, centre, semi, suv["lung"], where=body3d)
        lab[sl][inside] = LABELS["lung"]
        geo["lungs"].append((centre, semi))
    # Mediastinal fat between the lungs; great vessels (blood pool) are drawn into it below.
    med = ((x2 + 0.02 * a) / (0.17 * a)) ** 2 + ((y2 - 0.05 * b) / (0.55 * b)) ** 2 <= 1.0
    paint2d(med, zrange(-0.7 * c, np.inf), "soft_tissue", suv["soft_tissue"])
    # Liver under the right dome.
    sl, inside = paint_ellipsoid(
        act, grid, (-1.05 * c, 0.0, 0.3 * a), (0.55 * c, 0.8 * b, 0.65 * a),
        suv["liver"], where=body3d)
    lab[sl][inside] = LABELS["liver"]
    # Heart: anterior, to the left, on the diaphragm; myocardial shell around a blood pool.
    hc = (-0.4 * c, 0.45 * b, -0.1 * a)
    hs = (0.35 * c, 0.38 * b, 0.33 * a)
    sl, coords = grid.box(hc, hs)
    r2 = _ellipsoid_r2(coords, hc, hs)
    for r2_max, name in ((1.0, "myocardium"), (0.62**2, "blood_pool")):
        inside = r2 <= r2_max
        act[sl][inside] = suv[name]
        lab[sl][inside] = LABELS[name]
    # Ascending aorta, superior vena cava, aortic arch, descending aorta.
    pool = suv["blood_pool"]
    paint2d(disc(0.02 * a, 0.2 * b, 0.1 * b), zrange(-0.1 * c, 0.65 * c), "blood_pool", pool)
    paint2d(disc(0.12 * a, 0.15 * b, 0.06 * b), zrange(-0.1 * c, np.inf), "blood_pool", pool)
    sl, inside = paint_ellipsoid(act, grid, (0.65 * c, -0.15 * b, -0.06 * a),
                                 (0.1 * b, 0.45 * b, 0.1 * b), pool)
    lab[sl][inside] = LABELS["blood_pool"]
    paint2d(disc(-0.15 * a, -0.5 * b, 0.09 * b), zrange(-np.inf, 0.65 * c), "blood_pool", pool)
    # Trachea (above the carina), oesophagus behind it, vertebral bodies.
    paint2d(disc(0.0, 0.0, 0.08 * b), zrange(0.3 * c, np.inf), "airway", suv["airway"])
    oes = (-0.04 * a, -0.25 * b)
    paint2d(disc(*oes, 0.06 * b), slice(None), "oesophagus", suv["oesophagus"])
    paint2d(disc(0.0, -0.75 * b, 0.17 * b), slice(None), "bone_marrow", suv["bone_marrow"])
    geo["oesophagus"] = oes
    return act, lab, geo


def inside_body(geo, grid, points, margin_mm):
    """Which ``points`` (m, 3) in (z, y, x) mm lie inside the body and the field of view."""
    points = np.atleast_2d(points)
    in_fov = np.all(np.abs(points) <= grid.half - margin_mm, axis=1)
    ell = (points[:, 2] / geo["a"]) ** 2 + (points[:, 1] / geo["b"]) ** 2 <= 0.85**2
    return in_fov & ell


def place_tumour(grid, geo, rng, pathology, semi):
    """Draw a tumour centre (z, y, x) in a lung or on the oesophagus, fitted in the FOV."""
    c = geo["c"]
    if pathology == "lung":
        centre_l, semi_l = geo["lungs"][0 if rng.random() < 0.55 else 1]
        t = rng.uniform(-0.55, 0.55)
        q = np.sqrt(1.0 - t * t) * 0.55 * np.sqrt(rng.random())
        th = rng.uniform(0, 2 * np.pi)
        centre = np.array([centre_l[0] + t * semi_l[0],
                           centre_l[1] + q * np.sin(th) * semi_l[1],
                           centre_l[2] + q * np.cos(th) * semi_l[2]])
    else:
        xo, yo = geo["oesophagus"]
        centre = np.array([rng.uniform(-0.7, 0.5) * c, yo + rng.normal(0, 1.5),
                           xo + rng.normal(0, 1.5)])
    return centre


def draw_tumour(act, lab, grid, rng, centre, semi, uptake, heterogeneity, necrosis):
    """Paint a lobulated, heterogeneous tumour; return its support box (slices, mask)."""
    s = grid.spacing
    semi = np.asarray(semi, float)
    ext = 1.25 * semi
    sl, coords = grid.box(centre, ext)
    r2 = _ellipsoid_r2(coords, centre, semi)
    support = r2 <= 1.0
    for _ in range(rng.integers(1, 4)):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        lc = centre + 0.7 * semi * d
        support |= _ellipsoid_r2(coords, lc, semi * rng.uniform(0.35, 0.6, 3)) <= 1.0
    tex = ndimage.gaussian_filter(
        rng.standard_normal(support.shape, dtype=np.float32), max(2.0 / s, 0.6), mode="wrap")
    tex /= max(float(tex.std()), 1e-6)
    val = uptake * np.clip(1.0 + heterogeneity * tex, 0.25, None)
    if necrosis > 0:
        val *= 1.0 - necrosis * np.exp(-r2 / (2 * 0.4**2))
    sub = act[sl]
    sub[support] = val[support]
    return sl, support


def add_halo(act, lab, grid, sl, support, amplitude, decay_mm=6.0, reach_mm=20.0):
    """Add peritumoral inflammation ``amplitude * exp(-d / decay)`` for 0 < d <= reach."""
    big, _ = _grow(grid, sl, reach_mm)
    local = np.zeros([b.stop - b.start for b in big], bool)
    local[tuple(slice(a.start - b.start, a.stop - b.start) for a, b in zip(sl, big, strict=True))]\
        = support
    dist = ndimage.distance_transform_edt(~local, sampling=grid.spacing)
    tissue = lab[big] > 0
    shell = (dist > 0) & (dist <= reach_mm) & tissue
    act[big][shell] += np.float32(amplitude) * np.exp(-dist[shell] / decay_mm).astype(np.float32)
    return big, dist


def _grow(grid, sl, margin_mm):
    m = int(np.ceil(margin_mm / grid.spacing)) + 1
    big = tuple(slice(max(a.start - m, 0), min(a.stop + m, n))
                for a, n in zip(sl, grid.shape, strict=True))
    return big, m


def sphere_positions(grid, geo, rng, n, centre, rmin, rmax, regions=None, tries=64):
    """Draw ``n`` hot-spot centres at a distance in [rmin, rmax] mm of ``centre``.

    If ``regions`` (normalised boxes) is given, candidates come from those boxes instead and
    only ``rmin`` applies. Candidates outside the body are rejected; if too few are valid the
    farthest-from-violation candidates are used so that exactly ``n`` are returned.
    """
    if n == 0:
        return np.zeros((0, 3))
    a, b, c = geo["a"], geo["b"], geo["c"]
    if regions is None:
        d = rng.normal(size=(tries, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        pts = centre + d * rng.uniform(rmin, rmax, (tries, 1))
    else:
        reg = np.asarray(regions)[rng.integers(0, len(regions), tries)]
        u = rng.uniform(reg[:, 0, :], reg[:, 1, :])  # (w, v, u) in normalised units
        pts = u * np.array([c, b, a])
        pts[:, 2] *= rng.choice([-1.0, 1.0], tries)
    dist = np.linalg.norm(pts - centre, axis=1)
    inb = inside_body(geo, grid, pts, 4.0)
    ok = inb & (dist >= rmin)
    order = np.lexsort((-dist, ~inb, ~ok))
    return pts[order[:n]]


def tumour_mask(img, lab, grid, sl, support, dilation_mm):
    """40 %-SUVmax MTV inside the dilated support, excluding physiological organs."""
    big, _ = _grow(grid, sl, dilation_mm)
    local = np.zeros([b.stop - b.start for b in big], bool)
    inner = tuple(slice(a.start - b.start, a.stop - b.start) for a, b in zip(sl, big, strict=True))
    local[inner] = support
    dist = ndimage.distance_transform_edt(~local, sampling=grid.spacing)
    region = (dist <= dilation_mm) & (local | ~np.isin(lab[big], _PHYSIOLOGICAL))
    vals = np.where(region, img[big], -np.inf)
    peak = np.unravel_index(int(np.argmax(vals)), vals.shape)
    cand = vals >= 0.4 * vals[peak]
    comps, _ = ndimage.label(cand)
    mask = np.zeros(grid.shape, np.uint8)
    mask[big] = comps == comps[peak]
    return mask


def pet_physics(act, grid, rng, fwhm_mm, noise):
    """Poisson-like noise (variance proportional to activity), Gaussian PSF, clip at 0."""
    sigma = fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / grid.spacing
    if sigma > 0:
        # Noise is injected before the PSF; rescale so that the *final* variance is
        # noise**2 * local SUV (divide by the L2 norm of the discrete separable kernel).
        x = np.arange(-int(3 * sigma + 0.5), int(3 * sigma + 0.5) + 1)
        k = np.exp(-0.5 * (x / sigma) ** 2)
        k /= k.sum()
        gain = float(np.sum(k**2)) ** 1.5
    else:
        gain = 1.0
    if noise > 0:
        eps = rng.standard_normal(act.shape, dtype=np.float32)
        eps *= np.sqrt(act) * np.float32(noise / gain)
        act = act + eps
    if sigma > 0:
        act = ndimage.gaussian_filter(act, sigma, truncate=3.0, mode="nearest")
    np.maximum(act, 0, out=act)
    return act
