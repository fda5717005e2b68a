"""Whole-body lesion detection and burden measures (petmtl.pet.lesions/burden/transformer)."""

import itertools
import pickle

import numpy as np
import pytest
import sklearn
from scipy import ndimage
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petmtl.pet import (
    BURDEN_FEATURES,
    LesionBurden,
    body_extent,
    body_surface_area,
    detect_lesions,
    label_lesions,
    lesion_burden,
    lesion_threshold,
    liver_reference,
)

from .conftest import SHARED_DATA

WHOLE_BODY = SHARED_DATA / "wholebody-pet"


def two_cubes():
    """Background 1.0; a 2^3 cube of SUV 5 at voxels 2-3 and a 3^3 cube of SUV 8 at 10-12."""
    suv = np.ones((16, 16, 16), np.float32)
    suv[2:4, 2:4, 2:4] = 5.0
    suv[10:13, 2:5, 2:5] = 8.0
    return suv


# ------------------------------------------------------------------------ measures
def test_two_cubes_isotropic_hand_computed():
    suv = two_cubes()
    burden = lesion_burden(suv, suv > 2, spacing=2.0)
    # voxel = 8 mm^3 = 0.008 ml; 8 + 27 voxels
    assert burden["n_lesions"] == 2
    assert burden["TMTV_ml"] == pytest.approx(35 * 0.008)
    assert burden["TTLG"] == pytest.approx((8 * 5.0 + 27 * 8.0) * 0.008)
    # centroids (voxel units) (2.5, 2.5, 2.5) and (11, 3, 3): distance sqrt(8.5^2 + 0.5^2 * 2)
    assert burden["Dmax_mm"] == pytest.approx(2.0 * np.sqrt(8.5**2 + 0.5))
    # no primary: every lesion is "non-primary"; the hottest is the SUV-8 cube
    assert burden["hottest_nonprimary_SUVmax"] == pytest.approx(8.0)
    assert burden["hottest_nonprimary_ml"] == pytest.approx(27 * 0.008)
    assert np.isnan(burden["nearest_nonprimary_mm"]) and np.isnan(burden["SDmax"])
    # the whole 16^3 volume is body (SUV 1 >= 0.3): extent = diagonal of 32 mm sides
    assert burden["Dmax_body"] == pytest.approx(burden["Dmax_mm"] / (32.0 * np.sqrt(3)))
    # NIfTI data often come in Fortran order: same measures
    fortran = lesion_burden(np.asfortranarray(suv), np.asfortranarray(suv > 2), spacing=2.0)
    assert fortran.keys() == burden.keys()
    assert all(fortran[k] == pytest.approx(burden[k], nan_ok=True) for k in burden)


def test_primary_is_merged_with_the_lesions_it_touches():
    suv = two_cubes()
    suv[2:4, 12:14, 12:14] = 3.0  # a third, cooler lesion
    primary = np.zeros(suv.shape, bool)
    primary[10:12, 2:4, 2:4] = True  # a part of the SUV-8 cube: that cube is the primary
    burden = lesion_burden(suv, suv > 2, spacing=2.0, primary=primary)
    assert burden["n_lesions"] == 3
    assert burden["hottest_nonprimary_SUVmax"] == pytest.approx(5.0)
    assert burden["hottest_nonprimary_ml"] == pytest.approx(8 * 0.008)
    # nearest non-primary lesion to the primary centroid (11, 3, 3): the SUV-5 cube
    near = np.linalg.norm(np.subtract((11, 3, 3), (2.5, 2.5, 2.5)))
    far = np.linalg.norm(np.subtract((11, 3, 3), (2.5, 12.5, 12.5)))
    assert burden["nearest_nonprimary_mm"] == pytest.approx(2.0 * min(near, far))
    # a primary outside every lesion adds one lesion of its own volume
    extra = np.zeros(suv.shape, bool)
    extra[14, 14, 14] = True
    alone = lesion_burden(suv, suv > 2, spacing=2.0, primary=extra)
    assert alone["n_lesions"] == 4
    assert alone["TMTV_ml"] == pytest.approx((8 + 27 + 8 + 1) * 0.008)


def test_anisotropic_spacing_and_sdmax():
    suv = two_cubes()
    spacing = (2.0, 3.0, 5.0)
    primary = np.zeros(suv.shape, bool)
    primary[2:4, 2:4, 2:4] = True
    burden = lesion_burden(suv, suv > 2, spacing=spacing, primary=primary, height_cm=180.0,
                           weight_kg=80.0)
    voxel_ml = 2.0 * 3.0 * 5.0 / 1000.0
    assert burden["TMTV_ml"] == pytest.approx(35 * voxel_ml)
    distance = np.sqrt((8.5 * 2.0) ** 2 + (0.5 * 3.0) ** 2 + (0.5 * 5.0) ** 2)
    assert burden["Dmax_mm"] == pytest.approx(distance)
    assert burden["nearest_nonprimary_mm"] == pytest.approx(distance)
    # Mosteller: sqrt(180 * 80 / 3600) = 2 m^2; SDmax = Dmax (m) / BSA
    assert body_surface_area(180.0, 80.0) == pytest.approx(2.0)
    assert burden["SDmax"] == pytest.approx(distance / 1000.0 / 2.0)
    assert burden["Dmax_body"] == pytest.approx(
        distance / np.sqrt((16 * 2.0) ** 2 + (16 * 3.0) ** 2 + (16 * 5.0) ** 2))


def test_empty_volume_and_single_lesion():
    suv = np.ones((12, 12, 12))
    empty = lesion_burden(suv, np.zeros(suv.shape, bool), spacing=2.0)
    assert empty["n_lesions"] == 0
    assert empty["TMTV_ml"] == empty["TTLG"] == empty["Dmax_mm"] == empty["Dmax_body"] == 0
    assert empty["hottest_nonprimary_SUVmax"] == empty["hottest_nonprimary_ml"] == 0
    assert np.isnan(empty["nearest_nonprimary_mm"])
    assert empty.keys() == set(BURDEN_FEATURES) | {"SDmax"}
    suv[3:5, 3:5, 3:5] = 6.0
    one = lesion_burden(suv, suv > 2, spacing=2.0, primary=suv > 2)
    assert one["n_lesions"] == 1 and one["Dmax_mm"] == 0.0
    assert one["hottest_nonprimary_SUVmax"] == 0.0 and np.isnan(one["nearest_nonprimary_mm"])
    assert lesion_burden(suv, suv > 2, spacing=2.0, primary=np.zeros(suv.shape))[
        "hottest_nonprimary_SUVmax"] == 6.0  # an empty primary mask is no primary


def test_label_map_lesions_are_taken_as_labelled():
    suv = two_cubes()
    labels = np.zeros(suv.shape, np.int16)
    labels[2:4, 2:4, 2:4] = 3
    labels[10:13, 2:5, 2:5] = 3  # one lesion in two pieces
    labels[12, 12, 12] = 7
    burden = lesion_burden(suv, labels, spacing=1.0)
    assert burden["n_lesions"] == 2
    # the same voxels as a binary mask: three components
    assert lesion_burden(suv, labels > 0, spacing=1.0)["n_lesions"] == 3


def test_connectivity_of_binary_masks():
    mask = np.zeros((6, 6, 6), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # corner contact only
    mask[4, 4, 4] = mask[4, 4, 5] = True  # face contact
    assert label_lesions(mask, 1.0, connectivity=26).max() == 2
    assert label_lesions(mask, 1.0, connectivity=18).max() == 3
    assert label_lesions(mask, 1.0, connectivity=6).max() == 3
    suv = np.ones(mask.shape)
    assert lesion_burden(suv, mask, 1.0, connectivity=6)["n_lesions"] == 3


def test_measure_errors_name_the_argument():
    suv = np.ones((8, 8, 8))
    with pytest.raises(ValueError, match="lesions must have the shape of suv"):
        lesion_burden(suv, np.zeros((8, 8, 7)), 1.0)
    with pytest.raises(ValueError, match="probability map"):
        lesion_burden(suv, np.full(suv.shape, 0.3), 1.0)
    with pytest.raises(ValueError, match="primary must have the shape"):
        lesion_burden(suv, suv > 2, 1.0, primary=np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="both height_cm and weight_kg"):
        lesion_burden(suv, suv > 2, 1.0, height_cm=170.0)
    with pytest.raises(ValueError, match="connectivity must be one of"):
        lesion_burden(suv, suv > 2, 1.0, connectivity=8)
    with pytest.raises(ValueError, match="spacing"):
        lesion_burden(suv, suv > 2, (1.0, 2.0))


def test_body_extent_ignores_air_and_specks():
    suv = np.zeros((40, 30, 20))
    suv[5:25, 10:20, :] = 0.6  # body: 20 x 10 x 20 voxels
    suv[38, 2, 2] = 0.5  # a noise speck in the air
    expected = np.sqrt((20 * 2.0) ** 2 + (10 * 3.0) ** 2 + (20 * 4.0) ** 2)
    assert body_extent(suv, (2.0, 3.0, 4.0)) == pytest.approx(expected)
    assert body_extent(np.zeros((4, 4, 4)), 1.0) == 0.0


# ----------------------------------------------------------------------- detection
def test_fixed_thresholds_and_minimum_volume():
    suv = np.ones((20, 20, 20))
    suv[2:5, 2:5, 2:5] = 6.0  # 27 voxels
    suv[12:14, 12:14, 12:14] = 3.0  # 8 voxels, between 2.5 and 4
    suv[17, 17, 17] = 9.0  # 1 voxel
    labels = detect_lesions(suv, 2.0, rule="suv2.5", min_volume_ml=0.0)
    assert labels.max() == 3
    assert detect_lesions(suv, 2.0, rule="suv4.0", min_volume_ml=0.0).max() == 2
    assert detect_lesions(suv, 2.0, rule=5.5, min_volume_ml=0.0).max() == 2
    # voxel 0.008 ml: the 1-voxel lesion (0.008 ml) and 8-voxel one (0.064 ml)
    assert detect_lesions(suv, 2.0, rule="suv2.5", min_volume_ml=0.01).max() == 2
    assert detect_lesions(suv, 2.0, rule="suv2.5", min_volume_ml=0.064).max() == 2
    assert detect_lesions(suv, 2.0, rule="suv2.5", min_volume_ml=0.065).max() == 1
    region = np.ones(suv.shape, bool)
    region[:10] = False
    assert detect_lesions(suv, 2.0, rule="suv2.5", region=region, min_volume_ml=0).max() == 2


def test_suvmax41_rule_on_a_known_profile():
    suv = np.full((30, 9, 9), 0.5)
    # lesion A: peak 10, a shell of 5 (>= 4.1 kept) and 3 (seeded, but < 41 % of 10)
    suv[2:9, 2:7, 2:7] = 3.0
    suv[3:8, 3:6, 3:6] = 5.0
    suv[5, 4, 4] = 10.0
    # lesion B: peak 4 (41 % = 1.64) inside a halo of 2.0, below the seed threshold 2.5
    suv[15:22, 2:7, 2:7] = 2.0
    suv[17:20, 3:6, 3:6] = 4.0
    labels = detect_lesions(suv, 1.0, rule="suvmax41", min_volume_ml=0.0, margin_mm=3.0)
    a, b = labels[5, 4, 4], labels[18, 4, 4]
    assert a != b and labels.max() == 2
    assert np.count_nonzero(labels == a) == 5 * 3 * 3  # the SUV-5 block with its peak
    # B grows into the 2.0 halo (>= 1.64), within 3 mm of the seed's box only
    assert np.count_nonzero(labels == b) == 7 * 5 * 5
    # fixed SUV 2.5 sees the whole 3.0 shell of A, and B without its halo
    fixed = detect_lesions(suv, 1.0, rule="suv2.5", min_volume_ml=0.0)
    assert sorted(np.bincount(fixed.ravel())[1:]) == [27, 7 * 5 * 5]


def test_percist_and_reference_thresholds():
    suv = np.full((40, 40, 40), 0.5)
    liver = np.zeros(suv.shape, bool)
    liver[2:38, 2:38, 2:38] = True
    suv[liver] = 2.0
    suv[3:6, 3:6, 3:6] = 9.0  # a hot lesion in a corner of the liver, far from the VOI
    # 3-cm VOI at the deepest point (the centre) sees only the SUV-2.0 parenchyma
    assert liver_reference(suv, liver, 2.0) == (2.0, 0.0)
    whole = suv[liver]
    assert liver_reference(suv, liver, 2.0, diameter_mm=None) == pytest.approx(
        (whole.mean(), whole.std()))
    assert lesion_threshold(suv, "percist", reference=liver, spacing=2.0) == pytest.approx(3.0)
    assert lesion_threshold(suv, "percist", reference=(2.0, 0.25)) == pytest.approx(3.5)
    blood = np.zeros(suv.shape, bool)
    blood[39, 39, 10:14] = True  # outside the liver
    suv[39, 39, 10:14] = [1.0, 2.0, 2.5, 2.5]  # mean 2, population SD sqrt(0.375)
    assert lesion_threshold(suv, "reference", reference=blood) == pytest.approx(
        2.0 + 2.0 * np.sqrt(0.375))
    assert lesion_threshold(suv, "suvmax41", seed_suv=3.0) == 3.0
    labels = detect_lesions(suv, 2.0, rule="percist", reference=liver, min_volume_ml=0.0)
    assert labels.max() == 1 and np.count_nonzero(labels) == 27
    with pytest.raises(ValueError, match="needs reference="):
        detect_lesions(suv, 2.0, rule="percist")
    with pytest.raises(ValueError, match="reference is an empty mask"):
        lesion_threshold(suv, "reference", reference=np.zeros(suv.shape))
    with pytest.raises(ValueError, match="liver is an empty mask"):
        liver_reference(suv, np.zeros(suv.shape), 2.0)
    with pytest.raises(ValueError, match=r"rule must be one of .*'suv2.5'"):
        detect_lesions(suv, 2.0, rule="suv3")


# --------------------------------------------------------------------- transformer
def test_transformer_in_a_pipeline_with_routed_masks():
    rng = np.random.default_rng(0)
    X = rng.normal(1.0, 0.05, (12, 16, 16, 16))
    masks = np.zeros(X.shape, np.uint8)
    y = np.arange(12) % 2
    for i in range(12):
        X[i, 2:5, 2:5, 2:5] = 8.0
        masks[i, 2:5, 2:5, 2:5] = 1
        if y[i]:  # a node far from the primary
            X[i, 11:14, 11:14, 11:14] = 5.0
    burden = LesionBurden(spacing=4.0, rule="suv2.5")
    features = burden.fit_transform(X, masks=masks)
    assert list(burden.get_feature_names_out()) == list(BURDEN_FEATURES)
    assert features.shape == (12, len(BURDEN_FEATURES))
    np.testing.assert_array_equal(features[:, 0], 1 + y)
    assert np.isnan(features[y == 0, -1]).all() and (features[y == 1, -1] > 0).all()
    with sklearn.config_context(enable_metadata_routing=True):
        model = make_pipeline(clone(burden).set_transform_request(masks=True),
                              SimpleImputer(add_indicator=True, keep_empty_features=True),
                              StandardScaler(), LogisticRegression())
        model.fit(X, y, masks=masks)
        assert (model.predict(X, masks=masks) == y).all()
    again = pickle.loads(pickle.dumps(burden))
    np.testing.assert_array_equal(again.transform(X, masks=masks), features)


def test_transformer_rules_mask_and_validation():
    X = np.ones((2, 16, 16, 16))
    X[:, 2:5, 2:5, 2:5] = 6.0
    lesions = np.zeros(X.shape, np.uint8)
    lesions[1, 2:4, 2:4, 2:4] = 1
    out = LesionBurden(2.0, "mask").fit(X).transform(X, lesions=lesions)
    np.testing.assert_array_equal(out[:, 0], [0, 1])
    assert out[1, 1] == pytest.approx(8 * 0.008)
    with pytest.raises(ValueError, match="needs lesions="):
        LesionBurden(2.0, "mask").fit(X).transform(X)
    with pytest.raises(ValueError, match="rule must be one of"):
        LesionBurden(2.0, "otsu").fit(X)
    with pytest.raises(ValueError, match="min_volume_ml must be a number >= 0"):
        LesionBurden(min_volume_ml=-1).fit(X)
    with pytest.raises(ValueError, match=r"X must hold 3-D volumes.*\(2, 16, 16\)"):
        LesionBurden().fit(X[:, 0])
    with pytest.raises(ValueError, match=r"masks must have one entry per volume \(2\)"):
        LesionBurden().fit(X).transform(X, masks=lesions[:1])
    reference = np.array([[1.0, 0.1], [1.0, 0.1]])  # PERCIST threshold 1.7
    percist = LesionBurden(4.0, "percist").fit(X).transform(X, reference=reference)
    np.testing.assert_array_equal(percist[:, 0], [1, 1])


# ------------------------------------------------------------------ real whole body
def _independent_burden(suv, labels, spacing):
    """Reference values: one label at a time, scipy's centre of mass, explicit pairs."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    ids = [k for k in np.unique(labels) if k]
    volume = {k: np.count_nonzero(labels == k) * voxel_ml for k in ids}
    suvmax = {k: float(suv[labels == k].max()) for k in ids}
    centre = {k: np.multiply(ndimage.center_of_mass(labels == k), spacing) for k in ids}
    pairs = [np.linalg.norm(centre[a] - centre[b]) for a, b in itertools.combinations(ids, 2)]
    hottest = max(ids[1:], key=lambda k: suvmax[k])
    return {
        "n_lesions": len(ids), "TMTV_ml": sum(volume.values()),
        "TTLG": sum(float(suv[labels == k].sum()) * voxel_ml for k in ids),
        "Dmax_mm": max(pairs), "hottest_nonprimary_SUVmax": suvmax[hottest],
        "hottest_nonprimary_ml": volume[hottest],
        "nearest_nonprimary_mm": min(np.linalg.norm(centre[k] - centre[1]) for k in ids[1:]),
    }


def test_whole_body_label_map_against_independent_values():
    nib = pytest.importorskip("nibabel")
    pet_path = WHOLE_BODY / "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz"
    if not pet_path.exists():
        pytest.skip(f"shared whole-body data not found at {WHOLE_BODY}")
    image = nib.load(pet_path)
    suv = np.asarray(image.dataobj, dtype=np.float32)
    labels = np.asarray(nib.load(WHOLE_BODY / "QIN-HEADNECK-01-0139_mask.nii.gz").dataobj)
    spacing = tuple(float(s) for s in image.header.get_zooms()[:3])
    burden = lesion_burden(suv, labels, spacing, primary=labels == 1)
    expected = _independent_burden(suv, labels, spacing)
    assert expected["n_lesions"] == 11
    for name, value in expected.items():
        assert burden[name] == pytest.approx(value, rel=1e-6), name
