"""Tests for petmtl.datasets (synthetic PET cohorts and their NIfTI export)."""

import csv

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petmtl.datasets import make_pet_cohort, write_cohort

SMALL = (24, 32, 32)


@pytest.fixture(scope="module")
def cohort():
    """Default geometry with features and anatomy, shared by the read-only tests."""
    return make_pet_cohort(16, random_state=3, return_features=True, return_anatomy=True)


@pytest.fixture(scope="module")
def big_cohort():
    """Many small subjects for the statistical (outcome) tests."""
    return make_pet_cohort(400, shape=(32, 32, 32), random_state=0, return_features=True)


def test_shapes_and_dtypes():
    c = make_pet_cohort(3, shape=SMALL, spacing=2.5, random_state=0)
    assert c.X.shape == (3, *SMALL) and c.X.dtype == np.float32
    assert c.masks.shape == (3, *SMALL) and c.masks.dtype == np.uint8
    assert set(np.unique(c.masks)) <= {0, 1}
    assert c.y.shape == (3,) and np.issubdtype(c.y.dtype, np.integer)
    assert set(c.y) <= {0, 1}
    assert c.mask_available.dtype == bool and c.mask_available.all()
    assert c.pathology.dtype == object and set(c.pathology) <= {"lung", "esophagus"}
    assert c.spacing == (2.5, 2.5, 2.5)
    assert list(c.patient_id) == ["sub-001", "sub-002", "sub-003"]
    assert isinstance(c.DESCR, str) and "40 %" in c.DESCR
    assert "features" not in c and "anatomy" not in c
    assert np.isfinite(c.X).all() and (c.X >= 0).all()


def test_features_returned(cohort):
    assert cohort.features.shape == (16, len(cohort.feature_names))
    assert cohort.logit.shape == (16,)
    groups = cohort.feature_groups
    assert set(groups) == {"tumour", "peritumoral", "global"}
    assert sorted(sum(groups.values(), [])) == sorted(cohort.feature_names)
    assert cohort.anatomy.shape == cohort.X.shape and cohort.anatomy.dtype == np.uint8


def test_suv_plausibility(cohort):
    lab = cohort.anatomy_labels
    for x, a, m in zip(cohort.X, cohort.anatomy, cohort.masks, strict=True):
        med = {k: float(np.median(x[(a == v) & (m == 0)])) for k, v in lab.items()
               if k in ("lung", "blood_pool", "liver", "soft_tissue")}
        assert 0.1 < med["lung"] < med["blood_pool"] < med["liver"] < 3.5
        assert 0.3 < med["soft_tissue"] < 1.0
        assert np.median(x[a == lab["background"]]) < 0.05
    suvmax = np.array([x[m > 0].max() for x, m in zip(cohort.X, cohort.masks, strict=True)])
    assert (suvmax > 2.5).all() and (suvmax < 40).all()
    assert 5 < np.median(suvmax) < 16


def test_masks_are_40_percent_suvmax_components(cohort):
    for x, m in zip(cohort.X, cohort.masks, strict=True):
        values = x[m > 0]
        assert values.size > 0
        assert values.min() >= 0.4 * values.max()
        assert ndimage.label(m)[1] == 1
        # The maximum of the mask is a local tumour maximum: neighbours outside are lower.
        ring = ndimage.binary_dilation(m, iterations=1) & (m == 0)
        assert x[ring].max() < values.max()


def test_pathology_location(cohort):
    lab = cohort.anatomy_labels
    for a, m, p in zip(cohort.anatomy, cohort.masks, cohort.pathology, strict=True):
        centroid = np.argwhere(m).mean(axis=0)
        if p == "lung":
            assert a[tuple(np.round(centroid).astype(int))] == lab["lung"]
        else:
            oes = np.argwhere(a == lab["oesophagus"])
            dist_mm = np.min(np.linalg.norm(oes - centroid, axis=1)) * 2.0
            assert dist_mm <= 4.0
            # oesophagus: near the midline (x = axis 0), posterior half of the body (y = axis 1)
            assert abs(centroid[0] - 31.5) * 2.0 < 15.0 and centroid[1] < 31.5
    assert set(cohort.pathology) == {"lung", "esophagus"}


def test_other_geometries():
    c = make_pet_cohort(4, shape=(16, 20, 24), spacing=3.5, random_state=1)
    assert c.X.shape == (4, 16, 20, 24)
    assert (c.masks.reshape(4, -1).sum(axis=1) > 0).all()
    c = make_pet_cohort(2, shape=(64, 64, 40), spacing=5.0, fwhm=0, image_noise=0,
                        random_state=1)
    assert (c.masks.reshape(2, -1).sum(axis=1) > 0).all()


def test_determinism():
    a = make_pet_cohort(3, shape=SMALL, random_state=7, return_features=True)
    b = make_pet_cohort(3, shape=SMALL, random_state=7, return_features=True)
    for key in ("X", "y", "masks", "features", "pathology"):
        np.testing.assert_array_equal(a[key], b[key])
    c = make_pet_cohort(3, shape=SMALL, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(a.X, c.X)
    d = make_pet_cohort(3, shape=SMALL, random_state=8)
    assert not np.array_equal(a.X, d.X)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, r"n_samples must be an int >= 1; got 0"),
        ({"n_samples": 2.0}, TypeError, r"n_samples must be an int >= 1; got 2\.0"),
        ({"n_samples": True}, TypeError, r"n_samples must be an int"),
        ({"shape": (64, 64)}, ValueError, r"shape must be a sequence of 3 ints.*length 2"),
        ({"shape": (64, 8, 64)}, ValueError, r"shape must be .* >= 16; got \(64, 8, 64\)"),
        ({"shape": 64}, TypeError, r"shape must be a sequence of 3 ints"),
        ({"shape": (64, 64.0, 64)}, TypeError, r"shape must be a sequence of 3 ints"),
        ({"spacing": 0}, ValueError, r"spacing must be a real number > 0; got 0\.0"),
        ({"spacing": "2"}, TypeError, r"spacing must be a real number > 0; got '2'"),
        ({"spacing": float("nan")}, ValueError, r"spacing must be a real number > 0"),
        ({"missing_masks": 1.5}, ValueError,
         r"missing_masks must be a real number >= 0 and <= 1; got 1\.5"),
        ({"missing_outcome": -0.1}, ValueError, r"missing_outcome must be .* >= 0"),
        ({"missing_pathology": None}, TypeError, r"missing_pathology must be"),
        ({"outcome_noise": -1}, ValueError, r"outcome_noise must be a real number >= 0"),
        ({"fwhm": -1}, ValueError, r"fwhm must be"),
        ({"image_noise": -1}, ValueError, r"image_noise must be"),
    ],
)
def test_argument_validation(kwargs, error, match):
    args = {"n_samples": 1, "shape": (16, 16, 16), **kwargs}
    with pytest.raises(error, match=match):
        make_pet_cohort(**args)


def test_missing_fractions():
    c = make_pet_cohort(40, shape=(16, 16, 16), missing_masks=0.25, missing_outcome=0.5,
                        missing_pathology=0.1, random_state=0)
    assert (~c.mask_available).sum() == 10
    assert not c.masks[~c.mask_available].any()
    assert c.masks[c.mask_available].reshape(30, -1).any(axis=1).all()
    assert (c.y == -1).sum() == 20 and set(c.y[c.y >= 0]) <= {0, 1}
    assert sum(p is None for p in c.pathology) == 4
    full = make_pet_cohort(40, shape=(16, 16, 16), missing_masks=1.0, random_state=0)
    assert not full.mask_available.any()


def test_outcome_balanced_and_noiseless_link():
    c = make_pet_cohort(60, shape=(16, 16, 16), outcome_noise=0.0, random_state=2,
                        return_features=True)
    np.testing.assert_array_equal(c.y, (c.logit > 0).astype(int))


def test_outcome_learnable(big_cohort):
    c = big_cohort
    assert 0.35 < c.y.mean() < 0.65
    assert abs(c.logit.mean()) < 0.2 and 0.8 < c.logit.std() < 1.2
    names = list(c.feature_names)
    feats = c.features.copy()
    for name in ("tumour_volume_ml", "tumour_uptake_suv", "marrow_suv", "liver_suv"):
        feats[:, names.index(name)] = np.log(feats[:, names.index(name)])
    tumour = [names.index(f) for f in c.feature_groups["tumour"]]

    def cv_auc(x):
        model = make_pipeline(StandardScaler(), LogisticRegression())
        return cross_val_score(model, x, c.y, cv=5, scoring="roc_auc").mean()

    auc_tumour, auc_all = cv_auc(feats[:, tumour]), cv_auc(feats)
    assert 0.6 < auc_tumour < auc_all - 0.05
    assert auc_all > 0.8


def test_outcome_related_to_image_features(big_cohort):
    c = big_cohort
    suvmax = np.array([x[m > 0].max() for x, m in zip(c.X, c.masks, strict=True)])
    mtv = c.masks.reshape(len(c.y), -1).sum(axis=1) * 8.0
    x = np.log(np.column_stack([suvmax, mtv]))
    model = make_pipeline(StandardScaler(), LogisticRegression())
    assert cross_val_score(model, x, c.y, cv=5, scoring="roc_auc").mean() > 0.6


def test_write_cohort(tmp_path):
    c = make_pet_cohort(5, shape=(16, 20, 24), spacing=3.0, missing_masks=0.4,
                        missing_outcome=0.4, missing_pathology=0.4, random_state=4)
    manifest = write_cohort(c, tmp_path / "out")
    assert manifest == tmp_path / "out" / "manifest.csv"
    with open(manifest, newline="") as fh:
        header = fh.readline().strip()
        fh.seek(0)
        rows = list(csv.DictReader(fh))
    assert header == "patient_id,pet_path,mask_path,pathology,outcome"
    assert [r["patient_id"] for r in rows] == list(c.patient_id)
    for i, row in enumerate(rows):
        assert not row["pet_path"].startswith("/")
        pet = nib.load(manifest.parent / row["pet_path"])
        np.testing.assert_allclose(np.diag(pet.affine)[:3], [3.0, 3.0, 3.0])
        assert nib.aff2axcodes(pet.affine) == ("R", "A", "S")
        np.testing.assert_array_equal(np.asarray(pet.dataobj), c.X[i])
        if c.mask_available[i]:
            mask = nib.load(manifest.parent / row["mask_path"])
            np.testing.assert_array_equal(mask.get_fdata(), c.masks[i])
            np.testing.assert_array_equal(mask.affine, pet.affine)
        else:
            assert row["mask_path"] == ""
        assert row["pathology"] == (c.pathology[i] or "")
        assert row["outcome"] == ("" if c.y[i] < 0 else str(c.y[i]))
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = ["manifest.csv"] + [f"{p}_pet.nii.gz" for p in c.patient_id] + [
        f"{p}_mask.nii.gz" for p, ok in zip(c.patient_id, c.mask_available, strict=True) if ok]
    assert written == sorted(expected)


def test_write_cohort_requires_keys(tmp_path):
    with pytest.raises(KeyError, match="'masks'"):
        write_cohort({"X": np.zeros((1, 16, 16, 16))}, tmp_path)


def test_axis_order_is_ras_voxel_order(tmp_path):
    """Arrays are (x, y, z) RAS+: liver on the right (+x), heart on the left, spine posterior,
    and prepare_volume / load_pet give back exactly X[i] from the written files."""
    from petmtl.io import load_pet, prepare_volume

    c = make_pet_cohort(2, shape=(32, 40, 48), spacing=4.0, random_state=5,
                        return_anatomy=True)
    lab = c.anatomy_labels
    for a in c.anatomy:
        centre = (np.array(a.shape) - 1) / 2.0
        liver = np.argwhere(a == lab["liver"]).mean(axis=0)
        heart = np.argwhere(a == lab["myocardium"]).mean(axis=0)
        marrow = np.argwhere(a == lab["bone_marrow"]).mean(axis=0)
        assert liver[0] > centre[0] > heart[0]  # x: left -> right
        assert marrow[1] < centre[1] < heart[1]  # y: posterior -> anterior
        assert liver[2] < centre[2]  # z: inferior -> superior (liver below the thorax centre)
    manifest = write_cohort(c, tmp_path)
    for i, pid in enumerate(c.patient_id):
        path = manifest.parent / f"{pid}_pet.nii.gz"
        pet, mask, _ = prepare_volume(path, manifest.parent / f"{pid}_mask.nii.gz",
                                      shape=None, spacing=None)
        np.testing.assert_array_equal(pet, c.X[i])
        np.testing.assert_array_equal(mask, c.masks[i])
        np.testing.assert_array_equal(np.asarray(load_pet(path).data), c.X[i])
