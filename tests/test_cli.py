"""The petmtl command line end to end in a temporary folder."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from petmtl.cli import main

from .conftest import make_blob_volumes
from .test_path_input import write_cohort

FAST = ["--set", "base_width=2", "--set", "depth=2", "--set", "max_epochs=1",
        "--set", "input_shape=(16,16,16)", "--set", "random_state=0", "-q"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    images = folder / "images"
    images.mkdir()
    X, y, masks, pathology = make_blob_volumes(n_samples=8, size=16)
    pets, mask_paths = write_cohort(images, X, masks)
    manifest = folder / "cohort.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id", "pet_path", "mask_path", "pathology", "outcome"])
        for i, pet in enumerate(pets):
            mask = os.path.relpath(mask_paths[i], folder) if i != 3 else ""
            outcome = "" if i == 5 else ("relapse" if y[i] else "control")
            writer.writerow([f"P{i:02d}", os.path.relpath(pet, folder), mask, pathology[i],
                             outcome])
    model = folder / "model.pt"
    assert main(["fit", str(manifest), "--model", str(model), *FAST]) == 0
    return folder, manifest, model


def test_fit_predict_evaluate_end_to_end(workspace, capsys):
    folder, manifest, model = workspace
    assert model.is_file()
    out, masks_dir = folder / "predictions.csv", folder / "masks"
    assert main(["predict", str(model), str(manifest), "--out", str(out),
                 "--masks-dir", str(masks_dir), "-q"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["patient_id"] for r in rows] == [f"P{i:02d}" for i in range(8)]
    assert set(rows[0]) >= {"predicted_outcome", "probability_relapse", "predicted_pathology",
                            "predicted_mask_path"}
    assert {r["predicted_outcome"] for r in rows} <= {"control", "relapse"}
    assert sorted(os.listdir(masks_dir)) == [f"P{i:02d}_seg.nii.gz" for i in range(8)]
    metrics_path = folder / "metrics.json"
    capsys.readouterr()
    assert main(["evaluate", str(model), str(manifest), "--json", str(metrics_path),
                 "-q"]) == 0
    table = capsys.readouterr().out
    assert "auc" in table and "dice" in table and "pathology_accuracy" in table
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n_patients"] == 8 and metrics["n_outcomes"] == 7 and metrics["n_masks"] == 7
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["dice"] <= 1
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_predict_and_evaluate_open_each_file_once(workspace, tmp_path, monkeypatch):
    """Regression: predict read and ran each PET up to three times (outcome, pathology, mask)."""
    import collections

    import nibabel

    from petmtl.estimator import MultiTaskPETEstimator
    from petmtl.io import read_manifest

    folder, manifest, model = workspace
    cohort = read_manifest(manifest)
    opened = collections.Counter()
    original = nibabel.load
    monkeypatch.setattr(nibabel, "load", lambda path, *a, **k: (
        opened.update([os.path.abspath(path)]), original(path, *a, **k))[1])
    runs = collections.Counter()
    net_forward = type(MultiTaskPETEstimator.load(model).module_).forward

    def counted_forward(self, x, **kwargs):
        runs.update([kwargs.get("outputs") and tuple(kwargs["outputs"])])
        return net_forward(self, x, **kwargs)

    monkeypatch.setattr(type(MultiTaskPETEstimator.load(model).module_), "forward",
                        counted_forward)
    assert main(["predict", str(model), str(manifest), "--out", str(tmp_path / "p.csv"),
                 "--masks-dir", str(tmp_path / "m"), "-q"]) == 0
    assert opened == collections.Counter(os.path.abspath(p) for p in cohort.X)
    assert runs[("outcome", "pathology")] == len(cohort)  # one pass for both image heads
    opened.clear()
    assert main(["evaluate", str(model), str(manifest), "-q"]) == 0
    expected = [*cohort.X, *[m for m in cohort.masks if m is not None]]
    assert opened == collections.Counter(os.path.abspath(p) for p in expected)


def test_user_errors_exit_2_with_one_line(workspace, tmp_path, capsys):
    folder, manifest, model = workspace
    cases = [
        (["fit", str(tmp_path / "absent.csv"), "--model", str(tmp_path / "m.pt")],
         "absent.csv"),
        (["fit", str(manifest), "--model", str(tmp_path / "m.pt"), "--set", "lamda=0.3"],
         "unknown parameter"),
        (["fit", str(manifest), "--model", str(tmp_path / "m.pt"), "--set", "lam=2", "-q"],
         "lam must be in"),
        (["predict", str(tmp_path / "none.pt"), str(manifest), "--out", "x.csv"], "none.pt"),
        (["predict", str(model), str(manifest), "--out", str(tmp_path / "no" / "p.csv")],
         "folder does not exist"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "Traceback" not in err, err
        assert len(err.splitlines()) == 1, err
    duplicate = tmp_path / "dup.csv"
    text = manifest.read_text().splitlines()
    duplicate.write_text("\n".join([*text, text[1]]) + "\n")
    os.symlink(folder / "images", tmp_path / "images")
    assert main(["evaluate", str(model), str(duplicate)]) == 2
    assert "duplicate id" in capsys.readouterr().err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("\n".join([text[0], text[1].rsplit(",", 1)[0] + ",relapsed"]) + "\n")
    assert main(["evaluate", str(model), str(unknown), "-q"]) == 2
    assert "'relapsed' is not one of the model's classes" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_in_two_processes_writes_one_model(workspace, tmp_path, capsys):
    folder, manifest, _ = workspace
    model = tmp_path / "ddp.pt"
    assert main(["fit", str(manifest), "--model", str(model), "--nproc-per-node", "2",
                 *FAST]) == 0
    assert sorted(os.listdir(tmp_path)) == ["ddp.pt"]
    from petmtl import MultiTaskPETEstimator

    est = MultiTaskPETEstimator.load(model)
    assert len(est.history_) == 1 and est.predict(list(est_paths(manifest))).shape == (8,)


def est_paths(manifest):
    from petmtl.io import read_manifest

    return read_manifest(manifest).X


def test_help_explains_the_manifest_and_gives_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "patient_id,pet_path,mask_path,pathology,outcome" in text
    assert "petmtl fit train.csv --model model.pt" in text
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "--masks-dir" in capsys.readouterr().out


@pytest.mark.slow
def test_console_script_runs_in_a_subprocess(workspace):
    folder, manifest, model = workspace
    exe = shutil.which("petmtl")
    command = [exe] if exe else [sys.executable, "-m", "petmtl.cli"]
    out = folder / "sub.csv"
    done = subprocess.run([*command, "predict", str(model), str(manifest), "--out", str(out),
                           "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "8 predictions written" in done.stdout
    bad = subprocess.run([*command, "evaluate", str(model), str(folder / "nope.csv")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "nope.csv" in bad.stderr


@pytest.mark.slow
def test_a_time_and_event_manifest_trains_a_survival_model(tmp_path, capsys):
    from petmtl import MultiTaskPETSurvival
    from petmtl.datasets import make_pet_cohort, write_cohort

    cohort = make_pet_cohort(10, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             random_state=0)
    manifest = write_cohort(cohort, tmp_path / "cohort")
    model = tmp_path / "surv.pt"
    assert main(["fit", str(manifest), "--model", str(model), *FAST]) == 0
    assert "survival model written" in capsys.readouterr().out
    assert isinstance(MultiTaskPETSurvival.load(model), MultiTaskPETSurvival)
    out = tmp_path / "risks.csv"
    assert main(["predict", str(model), str(manifest), "--out", str(out), "--horizons", "12",
                 "24", "-q"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {"risk", "survival_12", "survival_24"} <= set(rows[0])
    assert all(1 >= float(r["survival_12"]) >= float(r["survival_24"]) >= 0 for r in rows)
    path = tmp_path / "metrics.json"
    assert main(["evaluate", str(model), str(manifest), "--json", str(path), "-q"]) == 0
    metrics = json.loads(path.read_text())
    assert metrics["cindex_low"] <= metrics["cindex"] <= metrics["cindex_high"]
    assert metrics["n_outcomes"] == 10 and "cindex" in capsys.readouterr().out
