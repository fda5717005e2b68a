"""Safe model files: round trip, checkpoints, future versions and tampered files."""

import json
import os
import pickle

import numpy as np
import pytest
import torch

from petmtl import MultiTaskPETEstimator
from petmtl.serialization import (
    FORMAT_VERSION,
    estimator_from_state,
    estimator_state,
    load,
    read_checkpoint,
    read_record,
    save,
    save_checkpoint,
)

from .conftest import TINY


@pytest.fixture(scope="module")
def fitted_model():
    from .conftest import make_blob_volumes

    X, y, masks, pathology = make_blob_volumes(n_samples=8, size=16)
    labels = np.where(y == 1, "relapse", "control").astype(object)
    est = MultiTaskPETEstimator(**{**TINY, "max_epochs": 1}).fit(
        X, labels, masks=masks, pathology=pathology)
    return est, X


def test_save_load_round_trip_predicts_identically(fitted_model, tmp_path):
    est, X = fitted_model
    path = est.save(tmp_path / "model.pt")
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind
    back = MultiTaskPETEstimator.load(path)
    np.testing.assert_array_equal(back.decision_function(X), est.decision_function(X))
    np.testing.assert_array_equal(back.segment_proba(X), est.segment_proba(X))
    np.testing.assert_array_equal(back.predict_pathology(X), est.predict_pathology(X))
    assert back.get_params() == est.get_params()
    assert back.classes_.dtype == est.classes_.dtype
    assert back.classes_.tolist() == ["control", "relapse"]
    assert back.pathology_classes_.tolist() == est.pathology_classes_.tolist()
    assert back.history_ == est.history_
    assert back.volume_shape_ == est.volume_shape_ and isinstance(back.volume_shape_, tuple)
    assert back.task_weights_ == est.task_weights_
    assert (back.intensity_shift_, back.intensity_scale_) == (est.intensity_shift_,
                                                              est.intensity_scale_)
    assert back.best_epoch_ == est.best_epoch_
    assert back.device_ == torch.device("cpu")


def test_file_is_plain_tensors_and_json(fitted_model, tmp_path):
    est, _ = fitted_model
    path = save(est, tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "petmtl" and raw["format_version"] == FORMAT_VERSION
    meta = json.loads(raw["metadata"])
    assert meta["params"]["lam"] == est.lam
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())


def test_integer_classes_keep_their_dtype(tmp_path):
    from .conftest import make_blob_volumes

    X, y, masks, pathology = make_blob_volumes(n_samples=6, size=16)
    est = MultiTaskPETEstimator(**{**TINY, "max_epochs": 1, "tasks": ("segmentation",)})
    est.fit(X, y * 3 + 2, masks=masks)
    back = load(save(est, tmp_path / "m.pt"))
    assert back.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.pathology_classes_ is None


def test_unfitted_estimator_round_trips_its_params(tmp_path):
    est = MultiTaskPETEstimator(lam=0.2, tasks=("segmentation",), volume_shape=(4, 4, 4))
    back = load(save(est, tmp_path / "m.pt"))
    assert back.get_params() == est.get_params()
    assert not hasattr(back, "module_")


def test_future_format_version_fails_clearly(fitted_model, tmp_path):
    est, _ = fitted_model
    path = save(est, tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = FORMAT_VERSION + 1
    torch.save(raw, path)
    with pytest.raises(ValueError, match=r"format version 2.*upgrade petmtl"):
        load(path)


def test_not_a_model_file_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load(tmp_path / "absent.pt")
    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="bad.pt"):
        load(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not a petmtl model file"):
        load(other)


class _Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_tampered_file_is_refused_without_running_its_payload(fitted_model, tmp_path):
    est, _ = fitted_model
    path = save(est, tmp_path / "model.pt")
    marker = tmp_path / "pwned"
    raw = torch.load(path, weights_only=True)
    raw["metadata"] = _Payload(marker)
    torch.save(raw, path)
    with pytest.raises(ValueError, match="refusing to load.*nothing in it was executed"):
        load(path)
    assert not marker.exists()
    # the payload is real: plain unpickling would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_deprecated_checkpoint_and_state_functions_still_work_with_a_warning(
        fitted_model, tmp_path):
    est, X = fitted_model
    optimizer = torch.optim.AdamW(est.module_.parameters(), lr=1e-3)
    training_state = {"epoch": 3, "rng": torch.get_rng_state(), "best": (0.5, 2)}
    with pytest.warns(FutureWarning, match="save_checkpoint is deprecated"):
        path = save_checkpoint(tmp_path / "ckpt.pt", est,
                               optimizer_state=optimizer.state_dict(),
                               training_state=training_state)
    record = read_record(path)  # the supported way to read everything in the file
    assert record.format_version == FORMAT_VERSION
    assert record.training_state["epoch"] == 3
    assert torch.equal(record.training_state["rng"], training_state["rng"])
    with pytest.warns(FutureWarning, match="read_checkpoint is deprecated"):
        ckpt = read_checkpoint(path)
    np.testing.assert_array_equal(ckpt.estimator.decision_function(X), est.decision_function(X))
    assert ckpt.training_state["epoch"] == 3 and ckpt.optimizer_state is not None
    with pytest.warns(FutureWarning, match="estimator_state is deprecated"):
        state = estimator_state(est)
    with pytest.warns(FutureWarning, match="estimator_from_state is deprecated"):
        back = estimator_from_state(state)
    np.testing.assert_array_equal(back.decision_function(X), est.decision_function(X))
    assert isinstance(load(path), MultiTaskPETEstimator)


def test_load_refuses_a_file_of_another_estimator_class(fitted_model, tmp_path):
    from petmtl import MultiTaskPETSurvival

    est, _ = fitted_model
    path = save(est, tmp_path / "binary.pt")
    with pytest.raises(ValueError, match="holds a 'MultiTaskPETEstimator', expected a "
                                         "MultiTaskPETSurvival"):
        MultiTaskPETSurvival.load(path)


def test_pickle_keeps_working(fitted_model):
    est, X = fitted_model
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.decision_function(X), est.decision_function(X))
