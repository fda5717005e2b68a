"""petmtl.report.build_report and ``petmtl report``: contents, numbers, rendering."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from petmtl import MultiTaskPETEstimator, MultiTaskPETSurvival
from petmtl.cli import main
from petmtl.datasets import make_pet_cohort, write_cohort
from petmtl.model_selection import cross_validate_cohort
from petmtl.report import build_report

from .conftest import one_torch_thread
from .test_cv_cli import SETTINGS, add_columns

pytest.importorskip("matplotlib", reason="the report needs the plots extra")

TINY = dict(base_width=2, depth=2, max_epochs=1, refit_outcome=False)
NO_MASKS = dict(tasks=("reconstruction", "pathology"), outcome_features="global",
                outcome_descriptors=False)
LABELS = ("HD95",)  # a name, not a number
BUILD_SECONDS = 30.0


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


class _Text(HTMLParser):
    """Spans of values (key, format, text) and the page's other visible text."""

    def __init__(self):
        super().__init__()
        self.values, self.other, self._stack, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("style", "script", "title"):
            self._skip += 1
        if tag == "span" and "data-key" in attrs:
            self._stack.append([attrs["data-key"], attrs["data-format"], ""])
        elif tag == "span":
            self._stack.append(None)

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self._skip -= 1
        if tag == "span":
            entry = self._stack.pop()
            if entry is not None:
                self.values.append(tuple(entry))

    def handle_data(self, data):
        if self._skip:
            return
        open_values = [e for e in self._stack if e is not None]
        if open_values:
            open_values[-1][2] += data
        else:
            self.other.append(data)


def _lookup(content, key: str):
    for part in key.split("/"):
        content = content[int(part)] if isinstance(content, list) else content[part]
    return content


def check_numbers(result) -> int:
    """Every value on the page equals the JSON; the rest of the page holds no number."""
    content = json.loads(Path(result.json).read_text())
    parser = _Text()
    parser.feed(Path(result.html).read_text())
    for key, fmt, text in parser.values:
        value = _lookup(content, key)
        expected = ("n/a" if value is None else str(value) if fmt == "s"
                    else format(value, fmt))
        assert text == expected, (key, text, expected)
    rest = " ".join(parser.other)
    for label in LABELS:
        rest = rest.replace(label, "")
    assert not re.search(r"\d", rest), re.findall(r".{30}\d.{30}", rest)[:3]
    return len(parser.values)


def _build(folder, **kwargs):
    start = time.perf_counter()
    result = build_report(folder, n_resamples=100, verbose=0, **kwargs)
    return result, time.perf_counter() - start


@pytest.fixture(scope="module")
def binary_cohort():
    cohort = make_pet_cohort(24, shape=(16, 16, 16), spacing=8.0, random_state=0)
    # centres that follow the outcome: the report must warn
    cohort.centre = np.where(cohort.y == 1, "A", "B").astype(object)
    cohort.centre[:3] = "B"
    return cohort


@pytest.fixture(scope="module")
def binary_with_masks(binary_cohort, tmp_path_factory):
    c = binary_cohort
    out = tmp_path_factory.mktemp("binary_masks")
    cross_validate_cohort(MultiTaskPETEstimator(**TINY), c.X, c.y, masks=c.masks,
                          pathology=c.pathology, centre=c.centre, n_splits=2, n_repeats=2,
                          compare=["radiomics"], out_dir=out, spacing=8.0, n_resamples=50,
                          verbose=0)
    return out


@pytest.mark.slow
def test_binary_report_with_masks_and_centres(binary_with_masks, binary_cohort):
    c = binary_cohort
    result, seconds = _build(binary_with_masks, X=c.X, masks=c.masks)
    assert seconds < BUILD_SECONDS
    assert check_numbers(result) > 200
    names = {Path(p).stem for p in result.figures}
    assert {"roc", "calibration", "decision", "segmentation", "cases", "gradcam",
            "history"} <= names
    content = result.content
    assert content["subgroups"]["association"]["confounded"]
    assert "Warning: centre and outcome are associated" in Path(result.html).read_text()
    assert {r["level"] for r in content["subgroups"]["centre"]} == {"A", "B"}
    assert [m["name"] for m in content["summary"]["models"]] == ["petmtl", "radiomics"]
    metrics = json.loads((binary_with_masks / "metrics.json").read_text())
    assert content["summary"]["models"][0]["primary"] == metrics["models"]["petmtl"]["auc"][
        "mean"]
    assert {e["status"] for e in content["checklist"]} == {"pre-filled", "for the authors"}
    assert content["model_card"]["suv_provenance"] == "not recorded"


def test_binary_report_without_masks_or_centres(binary_cohort, tmp_path):
    c = binary_cohort
    cross_validate_cohort(MultiTaskPETEstimator(**TINY, **NO_MASKS), c.X, c.y,
                          pathology=c.pathology, n_splits=2, n_repeats=1, out_dir=tmp_path,
                          spacing=8.0, n_resamples=50, verbose=0)
    result, seconds = _build(tmp_path, X=c.X)
    assert seconds < BUILD_SECONDS
    check_numbers(result)
    assert result.content["segmentation"] is None
    assert "centre" not in result.content["subgroups"]
    assert result.content["gradcam"]["target"] == "outcome"
    assert {Path(p).stem for p in result.figures} == {"roc", "calibration", "decision",
                                                      "history", "gradcam"}


def test_report_of_an_array_run_without_the_volumes_leaves_images_out(binary_with_masks,
                                                                      tmp_path):
    result, _ = _build(binary_with_masks, out_dir=tmp_path)
    check_numbers(result)
    assert not {"cases", "gradcam"} & {Path(p).stem for p in result.figures}
    assert "pass X=" in result.content["notes"][0]


@pytest.fixture(scope="module")
def survival_nifti(tmp_path_factory):
    """A survival cohort on NIfTI files, cross-validated by ``petmtl cv``."""
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             random_state=5)
    root = tmp_path_factory.mktemp("survival_nifti")
    manifest = write_cohort(cohort, root / "data")
    add_columns(manifest, suv_provenance=["body-weight SUV (scanner)"] * 18)
    out = root / "cv"
    assert main(["cv", str(manifest), "--folds", "3", "--repeats", "1", "--out", str(out),
                 "--compare", "radiomics", "--resamples", "30", "-q", *SETTINGS]) == 0
    return manifest, out


def test_survival_report_with_masks_from_the_command_line(survival_nifti, capsys):
    _, out = survival_nifti
    start = time.perf_counter()
    assert main(["report", str(out), "--resamples", "100", "-q"]) == 0
    assert time.perf_counter() - start < BUILD_SECONDS
    assert "report.html" in capsys.readouterr().out

    class Result:
        html, json = out / "report" / "report.html", out / "report" / "report.json"

    check_numbers(Result)
    content = json.loads(Result.json.read_text())
    names = {Path(p).stem for p in content["figures"]}
    assert {"td_auc", "survival_calibration", "decision", "risk_groups", "segmentation",
            "cases", "gradcam", "history"} <= names
    groups = content["survival"]["risk_groups"]["tertiles"]
    assert sum(g["n"] for g in groups["groups"]) == 18
    assert [g["n_at_risk_table"][0] for g in groups["groups"]] == [g["n"] for g in
                                                                   groups["groups"]]
    assert content["gradcam"]["target"] == "outcome"  # the predicted risk
    assert content["model_card"]["suv_provenance"] == "body-weight SUV (scanner)"
    assert content["model_card"]["input"] == "NIfTI files"


def test_survival_report_without_masks_with_centres(tmp_path):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             random_state=6)
    centre = np.array(["north", "south", "west"] * 6, dtype=object)
    cross_validate_cohort(MultiTaskPETSurvival(**TINY, tasks=("reconstruction",),
                                               outcome_features="global",
                                               outcome_descriptors=False),
                          cohort.X, cohort.y, centre=centre, n_splits=2, n_repeats=1,
                          out_dir=tmp_path, spacing=8.0, n_resamples=50, verbose=0)
    result, seconds = _build(tmp_path, X=cohort.X)
    assert seconds < BUILD_SECONDS
    check_numbers(result)
    assert result.content["segmentation"] is None  # no masks
    assert result.content["gradcam"]["target"] == "outcome"  # the risk, without T2 too
    assert result.content["subgroups"]["association"]["test"] == "log-rank test"
    assert len(result.content["subgroups"]["centre"]) == 3


@pytest.mark.slow
def test_report_of_a_model_on_a_test_manifest(tmp_path, capsys):
    train = make_pet_cohort(16, shape=(16, 16, 16), spacing=8.0, random_state=7)
    test = make_pet_cohort(12, shape=(16, 16, 16), spacing=8.0, random_state=8)
    manifest = write_cohort(test, tmp_path / "test")
    add_columns(manifest, centre=["a", "b"] * 6)
    model = MultiTaskPETEstimator(**TINY, spacing=(8.0, 8.0, 8.0), input_shape=(16, 16, 16),
                                  random_state=0)  # spacing per axis: a tuple
    model.fit(train.X, train.y, masks=train.masks, pathology=train.pathology)
    model.save(tmp_path / "model.pt")
    assert main(["report", str(tmp_path / "model.pt"), str(manifest), "--out",
                 str(tmp_path / "report"), "--resamples", "50", "-q"]) == 0

    class Result:
        html = tmp_path / "report" / "report.html"
        json = tmp_path / "report" / "report.json"

    check_numbers(Result)
    content = json.loads(Result.json.read_text())
    assert content["summary"]["kind"] == "holdout" and content["summary"]["n_patients"] == 12
    assert {"cases", "gradcam"} <= {Path(p).stem for p in content["figures"]}
    assert main(["report", str(tmp_path / "model.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "needs a test MANIFEST" in capsys.readouterr().err


def test_the_report_needs_matplotlib(binary_with_masks, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install petmtl\[plots\]"):
        build_report(binary_with_masks, verbose=0)
    assert main(["report", str(binary_with_masks)]) == 2
    assert "pip install petmtl[plots]" in capsys.readouterr().err


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_the_report_renders_in_a_headless_browser(binary_with_masks, binary_cohort,
                                                  tmp_path):
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="playwright (test extra) is not installed")
    executable = _browser()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium)")
    result, _ = _build(binary_with_masks, out_dir=tmp_path / "report", X=binary_cohort.X,
                       masks=binary_cohort.masks)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=flags,
            viewport={"width": 1200, "height": 900})
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(Path(result.html).as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, "
                                   "i.naturalWidth, i.naturalHeight])")
            shot = page.screenshot(full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert len(images) == len(result.figures)
    assert all(done and w > 0 and h > 0 for done, w, h in images)
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(shot)).convert("L"), dtype=float)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005  # text and lines drawn
