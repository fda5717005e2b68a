"""X (and masks) as NIfTI file paths: lazy loading, CV, sliding-window segmentation."""

import nibabel as nib
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_validate

from petmtl import MultiTaskPETEstimator

from .conftest import TINY, make_blob_volumes, network_batch_sizes

RAS_2MM = np.diag([2.0, 2.0, 2.0, 1.0])
PATHS = dict(TINY, max_epochs=1, input_shape=(16, 16, 16), spacing=2.0)


def write_cohort(folder, X, masks=None, affine=RAS_2MM):
    """Write volumes (and masks) as NIfTI; return the path lists (str)."""
    pets, mask_paths = [], []
    for i, volume in enumerate(X):
        pets.append(str(folder / f"pet_{i:03d}.nii.gz"))
        nib.save(nib.Nifti1Image(np.asarray(volume, dtype=np.float32), affine), pets[-1])
        if masks is not None:
            mask_paths.append(str(folder / f"mask_{i:03d}.nii.gz"))
            nib.save(nib.Nifti1Image(masks[i].astype(np.uint8), affine), mask_paths[-1])
    return pets, mask_paths


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    X, y, masks, pathology = make_blob_volumes(n_samples=8, size=16)
    pets, mask_paths = write_cohort(folder, X, masks)
    return X, y, masks, pathology, pets, mask_paths


@pytest.fixture(scope="module")
def fitted_pair(cohort):
    X, y, masks, pathology, pets, mask_paths = cohort
    arrays = MultiTaskPETEstimator(**PATHS).fit(X, y, masks=masks, pathology=pathology)
    paths = MultiTaskPETEstimator(**PATHS).fit(np.array(pets, dtype=object), y,
                                               masks=mask_paths, pathology=pathology)
    return arrays, paths


def test_paths_fit_and_predict_like_the_arrays_they_hold(cohort, fitted_pair):
    X, _, _, _, pets, _ = cohort
    arrays, paths = fitted_pair
    # the files hold exactly what the loader produces (RAS+, 2 mm, 16^3), so the two fits agree
    np.testing.assert_allclose(paths.intensity_shift_, arrays.intensity_shift_, rtol=1e-9)
    np.testing.assert_allclose(paths.intensity_scale_, arrays.intensity_scale_, rtol=1e-6)
    assert paths.volume_shape_ == (16, 16, 16)
    np.testing.assert_allclose(paths.decision_function(pets), arrays.decision_function(X),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(paths.predict_pathology_proba(pets),
                               arrays.predict_pathology_proba(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(paths.predict(pets), paths.predict(X))
    assert paths.transform(pets).shape == arrays.transform(X).shape
    assert paths.reconstruct(pets).shape == (len(pets), 16, 16, 16)
    seg = paths.segment(pets)
    assert isinstance(seg, list) and seg[0].shape == (16, 16, 16) and seg[0].dtype == np.uint8
    np.testing.assert_allclose(paths.segment_proba(pets[:1])[0], paths.segment_proba(X[:1])[0],
                               atol=1e-5)


def test_predict_files_gives_every_head_from_one_read_per_file(cohort, fitted_pair, tmp_path,
                                                               monkeypatch):
    from petmtl._input import loading

    _, y, _, _, pets, mask_paths = cohort
    _, est = fitted_pair
    reads = []
    original = loading.load_pet
    monkeypatch.setattr(loading, "load_pet", lambda path: (reads.append(path),
                                                           original(path))[1])
    out = est.predict_files(pets, outputs=("proba", "label", "pathology", "masks",
                                           "features"), masks=mask_paths)
    assert sorted(reads) == sorted(pets)  # one read of each file for all of it
    monkeypatch.undo()
    np.testing.assert_allclose(out["proba"], est.predict_proba(pets), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out["label"], est.predict(pets))
    np.testing.assert_array_equal(out["pathology"], est.predict_pathology(pets))
    np.testing.assert_allclose(out["features"], est.transform(pets), rtol=1e-4, atol=1e-5)
    for mask, expected in zip(out["masks"], est.segment(pets), strict=True):
        np.testing.assert_array_equal(mask, expected)
    for reference, path in zip(out["reference_masks"], mask_paths, strict=True):
        np.testing.assert_array_equal(reference, nib.load(path).get_fdata().astype(np.uint8))
    default = est.predict_files(pets[:2])
    assert sorted(default) == ["label", "pathology", "proba"]
    written = est.predict_files(pets[:2], outputs="masks", output_dir=tmp_path,
                                names=["a", "b"])["masks"]
    assert written == [str(tmp_path / "a_seg.nii.gz"), str(tmp_path / "b_seg.nii.gz")]


@pytest.mark.parametrize("tta", [False, True])
def test_predict_files_runs_the_windows_of_several_files_together(cohort, fitted_pair,
                                                                  monkeypatch, tta):
    """Without masks, the image-level heads see the files' windows in batches (one
    volume at a time ran several times slower on a CPU), with the same results."""
    import copy

    pets = cohort[4]
    est = copy.deepcopy(fitted_pair[1]).set_params(tta=tta)
    sizes = network_batch_sizes(monkeypatch, training=False)
    out = est.predict_files(pets[:7], outputs=("proba", "pathology_proba", "features"))
    monkeypatch.undo()
    assert max(sizes) == min(2 * est.batch_size, 7)
    np.testing.assert_allclose(out["proba"], est.predict_proba(pets[:7]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["pathology_proba"], est.predict_pathology_proba(pets[:7]),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["features"], est.transform(pets[:7]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(outputs=("risk",)), ValueError, "outputs must be among"),
    (dict(outputs=("masks", "mask_proba")), ValueError, "not both"),
    (dict(threshold=2.0), ValueError, "threshold"),
    (dict(outputs=("proba",), times=[12.0]), ValueError, "times is for survival"),
    (dict(masks=["a.nii.gz"]), ValueError, "one entry per file"),
])
def test_predict_files_refuses_what_it_cannot_do(cohort, fitted_pair, kwargs, error, match):
    _, _, _, _, pets, _ = cohort
    with pytest.raises(error, match=match):
        fitted_pair[1].predict_files(pets, **kwargs)
    with pytest.raises(TypeError, match="file paths"):
        fitted_pair[0].predict_files(cohort[0])


@pytest.mark.slow
def test_missing_masks_and_workers(cohort):
    X, y, masks, pathology, pets, mask_paths = cohort
    partial = [m if i % 3 else (None if i % 2 else "") for i, m in enumerate(mask_paths)]
    est = MultiTaskPETEstimator(**{**PATHS, "num_workers": 1}).fit(
        pets, y, masks=partial, pathology=pathology)
    assert np.isfinite(est.history_[0]["train_loss"])
    assert est.predict_proba(pets).shape == (len(pets), 2)


def test_cross_validate_splits_path_arrays(cohort):
    _, y, _, _, pets, _ = cohort
    est = MultiTaskPETEstimator(**{**PATHS, "tasks": ("reconstruction",),
                                   "outcome_features": "global"})
    scores = cross_validate(est, np.array(pets, dtype=object), y, cv=StratifiedKFold(2),
                            scoring="accuracy")
    assert len(scores["test_score"]) == 2


def test_sliding_window_covers_a_volume_larger_than_the_input(tmp_path, fitted_pair):
    _, est = fitted_pair
    rng = np.random.default_rng(1)
    big = rng.normal(1.0, 0.1, (40, 24, 20)).astype(np.float32)
    big[20:24, 10:14, 8:12] += 8
    (pet,), _ = write_cohort(tmp_path, [big])
    proba = est.segment_proba([pet])[0]
    assert proba.shape == big.shape and proba.dtype == np.float32
    assert np.all((proba >= 0) & (proba <= 1))
    (written,) = est.segment([pet], output_dir=tmp_path)
    assert written.endswith("pet_000_seg.nii.gz")
    img = nib.load(written)
    assert img.shape == big.shape
    np.testing.assert_allclose(img.affine, RAS_2MM)
    np.testing.assert_array_equal(np.asarray(img.dataobj), (proba >= 0.5).astype(np.uint8))


def test_errors_name_the_file_or_entry(tmp_path, cohort, fitted_pair):
    _, y, _, pathology, pets, mask_paths = cohort
    _, est = fitted_pair
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    with pytest.raises(Exception, match="broken.nii.gz"):
        est.predict([pets[0], str(bad)])
    with pytest.raises(FileNotFoundError, match=r"X\[1\].*absent.nii.gz"):
        est.predict([pets[0], str(tmp_path / "absent.nii.gz")])
    with pytest.raises(FileNotFoundError, match=r"masks\[2\]"):
        MultiTaskPETEstimator(**PATHS).fit(
            pets, y, masks=[*mask_paths[:2], "nope.nii.gz", *mask_paths[3:]],
            pathology=pathology)
    with pytest.raises(TypeError, match="single path"):
        est.predict(pets[0])
    with pytest.raises(ValueError, match="output_dir needs X as PET file paths"):
        est.segment(np.zeros((1, 16, 16, 16), np.float32), output_dir=tmp_path)


@pytest.mark.parametrize("params, match", [
    ({"input_shape": (16, 16)}, "input_shape"),
    ({"spacing": -1.0}, "spacing"),
    ({"crop_center": "middle"}, "crop_center"),
    ({"num_workers": -1}, "num_workers"),
])
def test_new_parameters_are_validated(cohort, params, match):
    _, y, _, pathology, pets, mask_paths = cohort
    with pytest.raises((ValueError, TypeError), match=match):
        MultiTaskPETEstimator(**{**PATHS, **params}).fit(pets, y, masks=mask_paths,
                                                         pathology=pathology)


@pytest.mark.slow
def test_nearest_neighbour_resampling_reaches_the_files(cohort):
    """The paper's k-NN resampling to the network grid, through the estimator."""
    from petmtl.io import prepare_volume

    _, y, _, _, pets, _ = cohort
    params = {**PATHS, "tasks": (), "outcome_features": "global", "spacing": 3.0}
    means = {}
    for interpolation in ("linear", "nearest"):
        est = MultiTaskPETEstimator(**params, interpolation=interpolation).fit(pets, y)
        windows = [prepare_volume(p, spacing=3.0, shape=(16, 16, 16), center="body",
                                  interpolation=interpolation)[0] for p in pets]
        assert est.intensity_shift_ == pytest.approx(np.mean(windows), rel=1e-6)
        means[interpolation] = est.intensity_shift_
    assert means["linear"] != pytest.approx(means["nearest"], rel=1e-6)


@pytest.mark.slow
def test_cache_dir_prepares_each_file_once_and_rereads_a_changed_one(cohort, tmp_path,
                                                                     monkeypatch):
    import collections
    import os
    import shutil

    import petmtl.io._geometry as geometry

    X, y, masks, pathology, pets, mask_paths = cohort
    folder = tmp_path / "pets"
    folder.mkdir()
    pets = [shutil.copy(p, folder) for p in pets]  # files this test may rewrite
    reads = collections.Counter()
    original = geometry.load_pet
    monkeypatch.setattr(geometry, "load_pet", lambda path, *a, **k: (
        reads.update([os.path.basename(os.fspath(path))]), original(path, *a, **k))[1])
    params = {**PATHS, "max_epochs": 2, "cache_dir": tmp_path / "cache"}
    first = MultiTaskPETEstimator(**params).fit(pets, y, masks=mask_paths,
                                                pathology=pathology)
    assert reads  # the cold cache read the files
    reads.clear()
    again = MultiTaskPETEstimator(**params).fit(pets, y, masks=mask_paths,
                                                pathology=pathology)
    assert not reads  # every epoch of a second fit reads the prepared windows
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))
    nib.save(nib.Nifti1Image(X[0] * 3.0, RAS_2MM), pets[0])
    stat = os.stat(pets[0])  # a modification time certainly newer than the cached one's
    os.utime(pets[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = MultiTaskPETEstimator(**params).fit(pets, y, masks=mask_paths,
                                                  pathology=pathology)
    assert set(reads) == {os.path.basename(pets[0])}  # only the changed file is read
    assert changed.intensity_shift_ > first.intensity_shift_
