import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from petmtl import PAPER_PARAMS, MultiTaskPETEstimator
from petmtl.serialization import read_record

from .conftest import TINY


def fitted(blobs, **params):
    X, y, masks, pathology = blobs
    return MultiTaskPETEstimator(**{**TINY, **params}).fit(
        X, y, masks=masks, pathology=pathology)


def test_every_method_returns_the_documented_shapes(blobs):
    X, y, masks, pathology = blobs
    est = fitted(blobs)
    n, spatial = len(X), X.shape[1:]
    assert est.predict_proba(X).shape == (n, 2)
    assert set(est.predict(X)) <= set(est.classes_)
    assert est.decision_function(X).shape == (n,)
    seg = est.segment(X)
    assert seg.shape == (n, *spatial) and seg.dtype == np.uint8
    assert set(np.unique(seg)) <= {0, 1}
    assert est.segment_proba(X).dtype == np.float32
    assert est.reconstruct(X).shape == (n, *spatial)
    assert est.predict_pathology_proba(X).shape == (n, 2)
    assert set(est.predict_pathology(X)) <= set(est.pathology_classes_)
    assert est.transform(X).shape[0] == n
    assert est.n_features_in_ == int(np.prod(spatial))


def test_accepts_channel_axis_and_any_two_labels(blobs):
    X, y, masks, pathology = blobs
    labels = np.where(y == 1, "relapse", "no relapse")
    est = MultiTaskPETEstimator(**TINY).fit(X[:, None], labels, masks=masks,
                                             pathology=pathology)
    assert list(est.classes_) == ["no relapse", "relapse"]
    assert set(est.predict(X)) <= {"no relapse", "relapse"}


def test_odd_volume_shapes_keep_their_shape(blobs):
    X, y, masks, pathology = blobs
    X, masks = X[:, :13, :11, :7], masks[:, :13, :11, :7]
    est = MultiTaskPETEstimator(**{**TINY, "depth": 3}).fit(X, y, masks=masks,
                                                             pathology=pathology)
    assert est.segment(X).shape == X.shape
    assert est.reconstruct(X).shape == X.shape


def test_partly_annotated_cohort_trains_without_nan(blobs):
    X, y, masks, pathology = blobs
    y = y.copy()
    y[::3] = -1
    mask_list = [m if i % 2 else None for i, m in enumerate(masks)]
    pathology = pathology.copy()
    pathology[1::4] = None
    est = MultiTaskPETEstimator(**{**TINY, "max_epochs": 3}).fit(
        X, y, masks=mask_list, pathology=pathology)
    for record in est.history_:
        assert all(np.isfinite(v) for v in record.values())
    assert np.isfinite(est.predict_proba(X)).all()


def test_a_batch_without_any_mask_still_trains(blobs):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**{**TINY, "early_stopping": False}).fit(
        X, y, masks=[None] * len(X), pathology=pathology)
    assert all(r["train_segmentation"] == 0.0 for r in est.history_)
    assert np.isfinite(est.history_[-1]["train_loss"])


def test_history_logs_each_term_and_validation_metrics(blobs):
    est = fitted(blobs, max_epochs=3)
    record = est.history_[-1]
    for task in ("reconstruction", "segmentation", "pathology", "outcome"):
        assert f"train_{task}" in record and f"valid_{task}" in record
    for metric in ("valid_loss", "valid_auc", "valid_dice", "valid_pathology_accuracy"):
        assert metric in record
    assert [r["epoch"] for r in est.history_] == [1, 2, 3]
    assert 1 <= est.best_epoch_ <= 3


@pytest.mark.parametrize(("score", "key", "best"), [
    ("outcome", "valid_outcome", np.argmin), ("loss", "valid_loss", np.argmin),
    ("auc", "valid_auc", np.argmax)])
@pytest.mark.slow
def test_early_stopping_stops_and_restores_the_best_epoch(blobs, score, key, best):
    est = fitted(blobs, max_epochs=50, n_iter_no_change=2, learning_rate=1e-6,
                 early_stopping_score=score)
    assert len(est.history_) < 50
    values = [r[key] for r in est.history_]
    assert est.best_epoch_ == int(best(values)) + 1
    assert len(est.history_) - est.best_epoch_ == 2


@pytest.mark.slow
def test_multiclass_pathology_changes_only_the_t3_branch(blobs):
    X, y, masks, _ = blobs
    three = np.array(["lung", "esophagus", "lymphoma", "lung"] * 4, dtype=object)
    est = MultiTaskPETEstimator(**TINY).fit(X, y, masks=masks, pathology=three)
    assert list(est.pathology_classes_) == ["esophagus", "lung", "lymphoma"]
    assert est.predict_pathology_proba(X).shape == (len(X), 3)
    binary = fitted(blobs)
    different = [name for name, p in est.module_.state_dict().items()
                 if p.shape != binary.module_.state_dict()[name].shape]
    assert different and all(name.startswith("pathology.") for name in different)


def test_disabled_heads_raise_a_clear_error(blobs):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY, tasks=("segmentation",)).fit(X, y, masks=masks)
    with pytest.raises(AttributeError, match="'pathology' task was disabled"):
        est.predict_pathology(X)
    with pytest.raises(AttributeError, match="'reconstruction' task was disabled"):
        est.reconstruct(X)
    assert est.segment(X).shape == X.shape


def test_unfitted_estimator_raises_not_fitted(blobs):
    with pytest.raises(NotFittedError):
        MultiTaskPETEstimator().predict(blobs[0])


@pytest.mark.parametrize(("params", "match"), [
    ({"lam": 1.5}, r"lam must be in \[0, 1\]"),
    ({"lam": "high"}, "lam must be a number"),
    ({"base_width": 0}, "base_width"),
    ({"depth": 1}, "depth"),
    ({"tasks": ("segmentation", "radiomics")}, "radiomics"),
    ({"tasks": "segmentation"}, "tasks must be a tuple"),
    ({"outcome_features": "local"}, "outcome_features"),
    ({"outcome_features": "both", "tasks": ("reconstruction",)}, "segmentation"),
    ({"norm": "layer"}, "norm"),
    ({"task_weights": {"recon": 1.0}}, "task_weights keys"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"device": "tpu"}, "device"),
    ({"intensity_scale": -1}, "intensity_scale"),
])
def test_invalid_parameters_are_named_in_fit(blobs, params, match):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**{**TINY, **params})
    with pytest.raises((ValueError, TypeError), match=match):
        est.fit(X, y, masks=masks, pathology=pathology)


@pytest.mark.parametrize(("change", "match"), [
    (lambda X, y, m, p: (X, y[:-1], m, p), "y has 15 entries but X has 16"),
    (lambda X, y, m, p: (X, np.arange(16) % 3, m, p), "Only binary classification"),
    (lambda X, y, m, p: (X, np.zeros(16), m, p), "two known outcome classes"),
    (lambda X, y, m, p: (X, y, m[:, :8], p), "masks must have X's shape"),
    (lambda X, y, m, p: (X, y, m * 2, p), r"masks\[0\] must be binary"),
    (lambda X, y, m, p: (X, y, None, p), "masks=None but the 'segmentation' task"),
    (lambda X, y, m, p: (X, y, m, None), "pathology=None but the 'pathology' task"),
    (lambda X, y, m, p: (X[..., 0, 0], y, m, p), "volume_shape|masks"),
    (lambda X, y, m, p: (np.where(X > 5, np.nan, X), y, m, p), "NaN"),
    (lambda X, y, m, p: (X[:, None, None], y, m, p), "dimension"),
    (lambda X, y, m, p: (X.astype(complex), y, m, p), "Complex"),
])
def test_bad_input_raises_errors_naming_the_argument(blobs, change, match):
    X, y, masks, pathology = change(*blobs)
    with pytest.raises((ValueError, TypeError), match=match):
        MultiTaskPETEstimator(**TINY).fit(X, y, masks=masks, pathology=pathology)


@pytest.mark.slow
def test_explicit_task_weights_override_lambda(blobs):
    weights = {"segmentation": 0.5, "outcome": 0.5}
    est = fitted(blobs, task_weights=weights)
    assert est.task_weights_ == {"reconstruction": 0.0, "segmentation": 0.5,
                                 "pathology": 0.0, "outcome": 0.5}
    assert fitted(blobs, lam=0.7).task_weights_["outcome"] == 0.7


@pytest.mark.slow
def test_same_random_state_gives_identical_models_and_clone_too(blobs):
    X = blobs[0]
    a, b = fitted(blobs, max_epochs=3), fitted(blobs, max_epochs=3)
    for (name, pa), pb in zip(a.module_.state_dict().items(), b.module_.state_dict().values(),
                              strict=True):
        assert torch.equal(pa, pb), name
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = clone(a).fit(X, blobs[1], masks=blobs[2], pathology=blobs[3])
    np.testing.assert_array_equal(a.segment_proba(X), c.segment_proba(X))
    np.testing.assert_array_equal(a.transform(X), c.transform(X))
    different = fitted(blobs, max_epochs=3, random_state=1)
    assert not np.array_equal(a.predict_proba(X), different.predict_proba(X))


def test_fit_does_not_touch_the_global_torch_rng(blobs):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fitted(blobs)
    assert torch.equal(torch.rand(3), expected)


def test_clone_and_pickle_round_trips_predict_identically(blobs):
    X = blobs[0]
    est = fitted(blobs)
    params = clone(est).get_params()
    assert params == est.get_params()
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict_proba(X), restored.predict_proba(X))
    np.testing.assert_array_equal(est.segment(X), restored.segment(X))
    assert pickle.loads(pickle.dumps(MultiTaskPETEstimator())).get_params() == \
        MultiTaskPETEstimator().get_params()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only machine")
@pytest.mark.slow
def test_gpu_fitted_model_unpickles_on_a_cpu_only_machine(blobs):
    X = blobs[0]
    est = fitted(blobs)
    expected = est.predict_proba(X)
    est.device_ = torch.device("cuda")  # what a GPU fit records
    restored = pickle.loads(pickle.dumps(est))
    assert restored.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in restored.module_.parameters())
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


def test_transform_feeds_a_pipeline(blobs):
    X, y, masks, pathology = blobs
    pipe = make_pipeline(MultiTaskPETEstimator(**{**TINY, "tasks": ("reconstruction",),
                                                  "outcome_features": "global"}),
                         LogisticRegression())
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)


def test_verbose_shows_a_progress_bar(blobs, capsys):
    fitted(blobs, verbose=1, max_epochs=2)
    err = capsys.readouterr().err
    assert "petmtl fit" in err and "loss" in err


def test_volume_shape_reads_flattened_volumes(blobs):
    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(**TINY, volume_shape=X.shape[1:]).fit(
        X.reshape(len(X), -1), y, masks=masks, pathology=pathology)
    assert est.segment(X.reshape(len(X), -1)).shape == X.shape


def test_object_array_of_masks_without_missing_entries_is_accepted(blobs):
    """Regression: a CV fold of a partly annotated cohort may hold no None at all."""
    X, y, masks, pathology = blobs
    as_objects = np.empty(len(masks), dtype=object)
    as_objects[:] = list(masks)
    est = MultiTaskPETEstimator(**TINY).fit(X, y, masks=as_objects, pathology=pathology)
    assert est.segment(X).shape == X.shape


def test_without_early_stopping_every_epoch_runs_and_no_validation_is_done(blobs):
    """Regression: early_stopping=False validated on the training set and stopped early."""
    est = fitted(blobs, early_stopping=False, max_epochs=4, n_iter_no_change=1,
                 learning_rate=1e-6)
    assert len(est.history_) == 4 and est.best_epoch_ == 4
    assert not any(key.startswith("valid_") for key in est.history_[-1])


def test_everything_after_lam_is_keyword_only():
    assert MultiTaskPETEstimator(0.5).lam == 0.5
    with pytest.raises(TypeError):
        MultiTaskPETEstimator(0.5, None)


def test_paper_params_describe_the_papers_network():
    est = MultiTaskPETEstimator(**PAPER_PARAMS)
    assert (est.base_width, est.depth, est.norm, est.segmentation_prior) == (64, 5, None, None)
    est.pathology_classes_ = np.array(["esophagus", "lung"])
    est.intensity_shift_, est.intensity_scale_ = 0.0, 1.0
    est.n_outcome_outputs_ = 1
    with torch.device("meta"):
        network = est._build_module()
    # encoder 56.5 M; T3 flattens its 4^3 map of a 128^3 input, as the paper does
    assert sum(p.numel() for p in network.parameters()) == 129_736_516
    assert network.encoder.widths == [64, 128, 256, 512, 1024]


def test_validation_split_can_keep_the_pathology_balanced(tmp_path):
    from .conftest import make_blob_volumes

    X, y, masks, _ = make_blob_volumes(n_samples=20, size=12, seed=3)
    pathology = np.array(["lung"] * 10 + ["esophagus"] * 10, dtype=object)
    y = np.r_[np.ones(8, int), np.zeros(12, int)]  # outcome unrelated to the pathology
    path = tmp_path / "run.ckpt"
    MultiTaskPETEstimator(**{**TINY, "max_epochs": 1}, validation_fraction=0.4,
                          validation_stratify="pathology", checkpoint_path=path).fit(
        X, y, masks=masks, pathology=pathology)
    valid = read_record(path).training_state["split"]["valid"].numpy()
    assert len(valid) == 8 and sorted(pathology[valid]) == ["esophagus"] * 4 + ["lung"] * 4
    with pytest.raises(ValueError, match="validation_stratify='pathology' needs pathology"):
        MultiTaskPETEstimator(**TINY, tasks=("segmentation",),
                              validation_stratify="pathology").fit(X, y, masks=masks)


@pytest.mark.slow
def test_a_pickled_fitted_estimator_carries_its_weights_once(blobs):
    """Regression: every fitted estimator pickled the optimizer and a second weight copy."""
    import io

    X, y, masks, pathology = blobs
    est = MultiTaskPETEstimator(base_width=8, depth=3, max_epochs=2, random_state=0).fit(
        X, y, masks=masks, pathology=pathology)
    weights = io.BytesIO()
    torch.save(est.module_.state_dict(), weights)
    assert len(pickle.dumps(est)) <= 1.15 * weights.tell()
    warm = clone(est).set_params(warm_start=True).fit(X, y, masks=masks, pathology=pathology)
    assert len(pickle.dumps(warm)) > 2 * weights.tell()  # the optimizer state, to continue


@pytest.mark.parametrize("augment", [(0, 0), (3,), (1.0,), "lr"])
def test_augment_axes_are_checked(augment):
    X, y = np.ones((4, 8, 8, 8), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises((ValueError, TypeError), match="augment must be a bool or a tuple"):
        MultiTaskPETEstimator(tasks=(), outcome_features="global", augment=augment).fit(X, y)


def test_device_is_checked_before_the_data():
    with pytest.raises(ValueError, match="device"):
        MultiTaskPETEstimator(device="tpu").fit("not a volume", None)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' but CUDA is not available"):
            MultiTaskPETEstimator(device="cuda").fit("not a volume", None)


@pytest.mark.slow
def test_the_default_refit_makes_t4_a_linear_model_of_its_features(blobs):
    """With refit_outcome (the default) the outcome logit is exactly linear in the feature
    vector T4 reads; T4's trained dense layers are not. Checked on more volumes than
    features, so that a linear fit could not be exact by chance."""
    X, y, masks, pathology = blobs
    refit = fitted(blobs, max_epochs=2)
    dense = fitted(blobs, max_epochs=2, refit_outcome=False)
    assert not hasattr(dense, "outcome_refit_")
    info = refit.outcome_refit_
    assert info["n_samples"] == len(X) and len(info["cv_losses"]) == 8
    assert info["penalty"] in (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
    rng = np.random.default_rng(5)
    probe = np.concatenate([X + rng.normal(0, 0.3, X.shape).astype(np.float32)
                            for _ in range(8)])
    residuals = {}
    for name, est in (("refit", refit), ("dense", dense)):
        features = est.transform(probe).astype(np.float64)
        assert len(probe) > 2 * features.shape[1]
        design = np.column_stack([features, np.ones(len(probe))])
        logit = est.decision_function(probe)
        solution = np.linalg.lstsq(design, logit, rcond=None)[0]
        residuals[name] = np.abs(design @ solution - logit).max() / np.abs(logit).max()
    assert residuals["refit"] < 1e-4 < 1e-2 < residuals["dense"], residuals
