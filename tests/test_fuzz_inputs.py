"""Property-based fuzzing of every entry point with bad input.

Each bad input must end in a ValueError/TypeError (FileNotFoundError for missing
files, SystemExit(2)/exit code 2 for the CLI) whose message names the argument:
never a crash, a hang or a raw torch/numpy error. Valid inputs that slip through
the strategies must give well-formed output. Generated cases per run: the sum of
``max_examples`` below (``N_CASES``).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petmtl import MultiTaskPETEstimator
from petmtl.io import load_mask, load_pet, prepare_volume, read_manifest
from petmtl.metrics import dice_score

from .conftest import make_blob_volumes

EXAMPLES = {"X": 150, "y": 120, "masks": 100, "pathology": 100, "params": 200,
            "predict": 120, "nifti": 100, "manifest": 80, "cli": 80, "dice": 60}
N_CASES = sum(EXAMPLES.values())
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
TINY = dict(base_width=2, depth=2, max_epochs=1, batch_size=4, random_state=0)
EXPECTED = (ValueError, TypeError)
RNG = np.random.default_rng(0)
N, S = 4, 4
X_OK = RNG.normal(1.0, 0.1, (N, S, S, S)).astype(np.float32)
Y_OK = np.array([0, 1, 0, 1])
MASKS_OK = (RNG.random((N, S, S, S)) > 0.7).astype(np.uint8)
PATH_OK = np.array(["a", "b", "a", "b"], dtype=object)
Y_BAD = np.zeros(N, dtype=int)  # a single class: fit refuses it before training

DTYPES = ["int8", "int64", "uint8", "bool", "float16", "float32", "float64", "complex64",
          "object", "str"]


def fill(shape, dtype, seed, special=None):
    """A random array of ``shape``/``dtype``, optionally with NaN/Inf/None/text inside."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 2, shape)
    if dtype == "str":
        return base.astype(str)
    if dtype == "object":
        out = base.astype(object)
        if out.size and special is not None:
            out.flat[0] = {"nan": np.nan, "inf": np.inf, "none": None, "text": "x"}[special]
        return out
    if dtype == "bool":
        return base > 0
    if dtype.startswith("complex"):
        return (base + 1j * base).astype(dtype)
    if dtype.startswith(("int", "uint")):
        return np.abs(base).astype(dtype)
    out = base.astype(dtype)
    if out.size and special in ("nan", "inf"):
        out.flat[int(rng.integers(out.size))] = np.nan if special == "nan" else np.inf
    return out


shapes = st.lists(st.integers(0, 5), min_size=0, max_size=6).map(tuple)
specials = st.sampled_from([None, "nan", "inf", "none", "text"])


def assert_names(exc_info, name):
    message = str(exc_info.value)
    assert name in message, f"{type(exc_info.value).__name__} does not name {name!r}: {message}"


def is_valid_volumes(X) -> bool:
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind == "U":  # numbers (as text) are converted
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            return False
    if X.dtype.kind not in "biuf" or X.size == 0:
        return False
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        return False
    if X.ndim == 5:
        return X.shape[1] == 1 and min(X.shape) > 0
    return X.ndim in (2, 4) and min(X.shape) > 0


# ---------------------------------------------------------------- estimator
@settings(max_examples=EXAMPLES["X"], **SETTINGS)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), special=specials,
       seed=st.integers(0, 2**16), as_list=st.booleans())
def test_fuzz_fit_X(shape, dtype, special, seed, as_list):
    X = fill(shape, dtype, seed, special)
    n = shape[0] if shape else 0
    y = (np.arange(n) % 2) if n else Y_OK
    est = MultiTaskPETEstimator(**TINY, tasks=(), outcome_features="global")
    if is_valid_volumes(X):  # a valid X: make y the defect so no training runs
        y = np.zeros(n, dtype=int)
    # 1-D strings are read as NIfTI paths (path input): FileNotFoundError naming X[i]
    with pytest.raises((*EXPECTED, FileNotFoundError)) as info:
        est.fit(X.tolist() if as_list and X.ndim else X, y)
    assert_names(info, "X" if not is_valid_volumes(X) else "y")


label_values = st.one_of(st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
                         st.sampled_from(["a", "b", "", "c"]), st.none(), st.booleans(),
                         st.complex_numbers(max_magnitude=3))


@settings(max_examples=EXAMPLES["y"], **SETTINGS)
@given(values=st.lists(label_values, min_size=0, max_size=7), wrap=st.sampled_from(
    ["list", "object", "auto", "column", "matrix", "scalar"]))
def test_fuzz_fit_y(values, wrap):
    if wrap == "scalar":
        y = values[0] if values else 3
    elif wrap == "list":
        y = values
    elif wrap == "object":
        y = np.array(values, dtype=object)
    elif wrap == "column":
        y = np.array(values, dtype=object)[:, None]
    elif wrap == "matrix":
        y = np.array(values * 2, dtype=object).reshape(2, -1) if values else np.zeros((2, 2))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                y = np.asarray(values)
            except (ValueError, TypeError):
                y = values
    est = MultiTaskPETEstimator(**TINY, tasks=(), outcome_features="global")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X_OK, y)
    except EXPECTED as exc:
        assert "y" in str(exc), str(exc)
        return
    # a valid y slipped through: the fit ran and must give usable predictions
    assert len(est.classes_) == 2
    assert np.isfinite(est.predict_proba(X_OK)).all()


@settings(max_examples=EXAMPLES["masks"], **SETTINGS)
@given(kind=st.sampled_from(["shape", "values", "nan", "dtype", "list_len", "list_item",
                             "none_item_bad", "scalar", "ragged"]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_fuzz_fit_masks(kind, dtype, seed):
    rng = np.random.default_rng(seed)
    masks = {
        "shape": lambda: np.zeros((N, S, S, S + 1), dtype=np.uint8),
        "values": lambda: rng.integers(2, 5, (N, S, S, S)),
        "nan": lambda: np.where(MASKS_OK == 1, np.nan, 0.0),
        "dtype": lambda: fill((N, S, S, S), dtype, seed) if dtype not in (
            "bool", "uint8") else np.full((N, S, S, S), 3.5),
        "list_len": lambda: list(MASKS_OK[:-1]) + [None] * 0 + [None, None],
        "list_item": lambda: [None, MASKS_OK[1][:2], MASKS_OK[2], MASKS_OK[3]],
        "none_item_bad": lambda: [None, "mask.nii", MASKS_OK[2], MASKS_OK[3]],
        "scalar": lambda: 1,
        "ragged": lambda: [MASKS_OK[0], MASKS_OK[1][:2], MASKS_OK[2], MASKS_OK[3]],
    }[kind]()
    est = MultiTaskPETEstimator(**TINY, tasks=("segmentation",))
    with pytest.raises(EXPECTED) as info:
        est.fit(X_OK, Y_OK, masks=masks)
    assert_names(info, "masks")


@settings(max_examples=EXAMPLES["pathology"], **SETTINGS)
@given(values=st.lists(label_values, min_size=0, max_size=6),
       wrap=st.sampled_from(["list", "object", "matrix", "scalar"]))
def test_fuzz_fit_pathology(values, wrap):
    if wrap == "scalar":
        pathology = values[0] if values else "a"
    elif wrap == "matrix":
        pathology = np.zeros((N, 2))
    else:
        pathology = values if wrap == "list" else np.array(values, dtype=object)
    est = MultiTaskPETEstimator(**TINY, tasks=("pathology",), outcome_features="global")
    try:
        est.fit(X_OK, Y_BAD, pathology=pathology)
    except EXPECTED as exc:
        assert "pathology" in str(exc) or str(exc).startswith("y "), str(exc)
    else:  # pragma: no cover - Y_BAD always fails
        raise AssertionError("fit accepted a single-class y")


class _Opaque:
    """An object of a type that no parameter accepts."""


# Values that no parameter of the estimator accepts (its documentation says so for each):
# these must be refused by name, whatever the parameter.
NEVER_VALID = [float("nan"), float("inf"), -float("inf"), {"bogus": 1}, _Opaque()]
PARAM_VALUES = st.sampled_from([-1, 0, 1, 2, 0.5, 1.5, -0.5, True, False, None, "auto", "x",
                                (), (4, 4, 4), [1], {"outcome": -1}, 10**30, 1e-300,
                                *NEVER_VALID])
PARAMS = sorted(MultiTaskPETEstimator().get_params())


@settings(max_examples=EXAMPLES["params"], **SETTINGS)
@given(name=st.sampled_from(PARAMS), value=PARAM_VALUES)
def test_fuzz_hyper_parameters(name, value):
    """A bad value is refused by name; a valid one lets fit reach the defect in y.

    Fitting every valid value would take too long (``max_epochs=10**30`` is valid), so y
    holds a single class; for the values that no parameter accepts, an error about y
    would mean that the value slipped through, and fails the test.
    """
    params = {**TINY, "tasks": ("segmentation",), name: value}
    est = MultiTaskPETEstimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EXPECTED) as info:
            est.fit(X_OK, Y_BAD, masks=MASKS_OK)  # y is the defect when the value is valid
    message = str(info.value)
    if any(value is bad for bad in NEVER_VALID):
        assert name in message, f"{name}={value!r} was accepted: {message}"
    else:
        assert name in message or message.startswith("y ") or "y must" in message, message


# --------------------------------------------------------------- prediction
@pytest.fixture(scope="module")
def fitted():
    X, y, masks, pathology = make_blob_volumes(n_samples=8, size=10, seed=2)
    return MultiTaskPETEstimator(**TINY).fit(X, y, masks=masks, pathology=pathology)


METHODS = ["predict", "predict_proba", "decision_function", "segment", "segment_proba",
           "predict_pathology", "predict_pathology_proba", "reconstruct", "transform"]


@settings(max_examples=EXAMPLES["predict"], **SETTINGS)
@given(method=st.sampled_from(METHODS), shape=shapes, dtype=st.sampled_from(DTYPES),
       special=specials, seed=st.integers(0, 2**16))
def test_fuzz_prediction_methods(fitted, method, shape, dtype, special, seed):
    X = fill(shape, dtype, seed, special)
    if X.ndim == 4 and X.size:  # keep valid volumes tiny but real
        X = X[:2, :9, :9, :9]
    try:
        out = getattr(fitted, method)(X)
    except (*EXPECTED, FileNotFoundError) as exc:  # 1-D strings are read as NIfTI paths
        assert "X" in str(exc) or "features" in str(exc), str(exc)
        return
    out = np.asarray(out)
    assert is_valid_volumes(X)
    assert len(out) == len(X)
    if out.dtype.kind == "f":
        assert np.isfinite(out).all()


@settings(max_examples=EXAMPLES["dice"], **SETTINGS)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), special=specials,
       seed=st.integers(0, 2**16))
def test_fuzz_dice_score(shape, dtype, special, seed):
    truth = fill(shape, dtype, seed, special)
    pred = (np.random.default_rng(seed).random(truth.shape) > 0.5).astype(np.uint8) \
        if truth.ndim else np.zeros((1, 2, 2, 2), dtype=np.uint8)
    try:
        score = dice_score(truth, pred)
    except EXPECTED as exc:
        assert "masks" in str(exc), str(exc)
        return
    assert 0.0 <= score <= 1.0


# -------------------------------------------------------------------- files
def _valid_nifti_bytes(seed: int) -> bytes:
    data = np.random.default_rng(seed).random((4, 5, 6)).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    return img.to_bytes()


@settings(max_examples=EXAMPLES["nifti"], **SETTINGS)
@given(kind=st.sampled_from(["random", "truncated", "gz_truncated", "gz_garbage", "empty",
                             "header_only", "bitflip"]),
       seed=st.integers(0, 2**16), cut=st.floats(0, 1),
       reader=st.sampled_from(["load_pet", "load_mask", "prepare_volume"]))
def test_fuzz_corrupt_nifti(kind, seed, cut, reader):
    rng = np.random.default_rng(seed)
    good = _valid_nifti_bytes(seed)
    blob = {
        "random": lambda: rng.bytes(int(rng.integers(0, 800))),
        "truncated": lambda: good[: int(cut * (len(good) - 1))],
        "gz_truncated": lambda: gzip.compress(good)[: int(cut * len(gzip.compress(good)))],
        "gz_garbage": lambda: gzip.compress(rng.bytes(400)),
        "empty": lambda: b"",
        "header_only": lambda: good[:348],
        "bitflip": lambda: bytes(b ^ (0xFF if i in (0, 40, 42, 70, 76) else 0)
                                 for i, b in enumerate(good)),
    }[kind]()
    suffix = ".nii.gz" if kind.startswith("gz") else ".nii"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "pet" + suffix)
        with open(path, "wb") as handle:
            handle.write(blob)
        call = {"load_pet": lambda: load_pet(path), "load_mask": lambda: load_mask(path),
                "prepare_volume": lambda: prepare_volume(path, spacing=4.0,
                                                         shape=(4, 4, 4))}[reader]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
        except EXPECTED as exc:
            assert path in str(exc) or "pet" in str(exc), str(exc)
        # a bit-flipped file can still be a readable image: then reading it is fine


MANIFEST_CELLS = st.sampled_from(["", "p1", "p1", "pet.nii.gz", "missing.nii", "0", "1", "-1",
                                  "2", "a", "b", "x,y", '"q"', "é", "\t", " "])


@settings(max_examples=EXAMPLES["manifest"], **SETTINGS)
@given(header=st.lists(st.sampled_from(["patient_id", "pet_path", "mask_path", "outcome",
                                         "pathology", "other", ""]), max_size=6),
       rows=st.lists(st.lists(MANIFEST_CELLS, max_size=6), max_size=5),
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_fuzz_read_manifest(header, rows, raw):
    with tempfile.TemporaryDirectory() as folder:
        open(os.path.join(folder, "pet.nii.gz"), "wb").close()
        path = os.path.join(folder, "cohort.csv")
        with open(path, "wb") as handle:
            if raw is not None:
                handle.write(raw)
            else:
                text = "\n".join(",".join(r) for r in [header, *rows])
                handle.write(text.encode("utf-8"))
        try:
            manifest = read_manifest(path)
        except FileNotFoundError as exc:
            assert "not found" in str(exc)
        except EXPECTED as exc:
            assert path in str(exc) or "column" in str(exc) or "line" in str(exc), str(exc)
        else:
            assert len(manifest) == len(manifest.ids)


# ---------------------------------------------------------------------- CLI
CLI_TOKENS = st.sampled_from(["fit", "predict", "evaluate", "--model", "--out", "--set",
                              "max_epochs=1", "lam=2", "bogus=1", "lam", "=", "--threshold",
                              "-1", "nan", "cohort.csv", "missing.csv", "model.pt", "--json",
                              "--quiet", "--help-me", "", "tasks=,", "input_shape=(0,1)"])


@settings(max_examples=EXAMPLES["cli"], **SETTINGS)
@given(argv=st.lists(CLI_TOKENS, max_size=7))
def test_fuzz_cli_arguments(argv):
    from petmtl.cli import main

    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "cohort.csv"), "w") as handle:
            handle.write("patient_id,pet_path,outcome\np1,missing.nii.gz,1\n")
        with open(os.path.join(folder, "model.pt"), "wb") as handle:
            handle.write(b"not a model")
        cwd, errors = os.getcwd(), io.StringIO()
        os.chdir(folder)
        try:
            try:
                with contextlib.redirect_stderr(errors):
                    code = main(list(argv))
            except SystemExit as exc:  # argparse usage errors
                assert exc.code in (0, 2)
                return
        finally:
            os.chdir(cwd)
    # nothing here can succeed (no readable PET file, no model): a one-line error, no trace
    assert code == 2, errors.getvalue()
    lines = errors.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"petmtl {argv[0]}: error: "), lines


# ------------------------------------------- regressions found by the fuzzing
@pytest.mark.parametrize("X", [np.float32(0.0), 3, np.zeros(5), [1.0, 2.0]])
def test_regression_scalar_and_1d_X_name_X(X):
    with pytest.raises(ValueError, match=r"^X: Expected 2D array"):
        MultiTaskPETEstimator(**TINY, tasks=(), outcome_features="global").fit(X, [0, 1])


@pytest.mark.parametrize("name, value", [
    ("lam", float("nan")), ("dropout", float("nan")), ("learning_rate", float("inf")),
    ("weight_decay", float("inf")), ("dice_smooth", float("nan")),
    ("seg_bce_weight", float("inf")), ("intensity_scale", float("inf")),
    ("task_weights", {"outcome": float("nan")}), ("validation_fraction", float("nan")),
])
def test_regression_non_finite_hyper_parameters_are_refused(name, value):
    est = MultiTaskPETEstimator(**{**TINY, name: value})
    with pytest.raises(ValueError, match=name):
        est.fit(X_OK, Y_OK, masks=MASKS_OK, pathology=PATH_OK)


def test_regression_complex_label_in_a_list_names_y():
    with pytest.raises(TypeError, match="^y must not hold complex"):
        MultiTaskPETEstimator(**TINY, tasks=(), outcome_features="global").fit(
            X_OK, [0, 0, 0.0, 0j])


@pytest.mark.parametrize("value", [-1, 3.0, "abc"])
def test_regression_volume_shape_not_a_sequence(value):
    """Used to fail with a raw ``object of type 'int' has no len()``."""
    with pytest.raises(ValueError, match="volume_shape"):
        MultiTaskPETEstimator(**TINY, volume_shape=value).fit(X_OK, Y_OK, masks=MASKS_OK,
                                                              pathology=PATH_OK)


def test_regression_nifti_with_a_bad_datatype_code(tmp_path):
    good = bytearray(_valid_nifti_bytes(0))
    for i in (0, 40, 42, 70, 76):
        good[i] ^= 0xFF
    path = tmp_path / "pet.nii"
    path.write_bytes(bytes(good))
    with pytest.raises(ValueError, match=str(path)):
        load_pet(path)


def test_regression_manifest_that_is_not_utf8(tmp_path):
    path = tmp_path / "cohort.csv"
    path.write_bytes(b"\x80patient_id,pet_path\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_manifest(path)


@pytest.mark.parametrize("value", [-1, 2.5, None])
def test_regression_tasks_not_a_sequence(value):
    """Used to fail with a raw ``'int' object is not iterable``."""
    with pytest.raises(TypeError, match="tasks"):
        MultiTaskPETEstimator(**TINY, tasks=value).fit(X_OK, Y_OK)
