"""Building the report: numbers, figures, page, files."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from . import _card_sections as cards
from . import _content as content_
from . import _figures as charts
from . import _images as images
from . import _sections as sections
from ._checklist import checklist
from ._html import Page, document
from ._model_card import model_card

__all__ = ["ReportResult", "build_report"]


@dataclass
class ReportResult:
    """The files :func:`build_report` wrote.

    Attributes
    ----------
    html : str
        The self-contained page (figures embedded).
    json : str
        Every number shown on the page.
    figures : list of str
        The figures as PNG files.
    content : dict
        The JSON's content.
    """

    html: str
    json: str
    figures: list
    content: dict


def clean(value):
    """``value`` as plain JSON data: numpy types become Python ones, NaN and inf None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _gradcam_patients(avg: dict, outcome, n: int) -> list[int]:
    rows = np.flatnonzero(outcome.known)
    order = rows[np.argsort(avg["petmtl"]["score"][rows], kind="stable")]
    high = list(order[::-1][: (n + 1) // 2])
    low = [i for i in order[: n // 2] if i not in high]
    return [int(i) for i in high + low]


def compute(run, *, n_resamples: int, random_state: int, n_gradcam: int, X,
            clinical=None) -> dict:
    """The report's numbers (before the images)."""
    import matplotlib

    survival = bool(run.settings["survival"])
    outcome = content_.Outcome(run.cohort, survival)
    avg = {name: content_.averaged(p) for name, p in run.predictions.items()}
    options = {"n_resamples": n_resamples, "random_state": random_state}
    card = model_card(run, plotting_version=matplotlib.__version__)
    out = {"title": "Validation report", "source": run.folder,
           "summary": content_.summary(run, outcome), "notes": [],
           "segmentation": content_.segmentation(avg, run),
           "subgroups": content_.subgroups(run, avg, outcome, options,
                                           content_.covariate_groups(run, clinical)),
           "model_card": card, "checklist": checklist(card, survival), "gradcam": None}
    if survival:
        out["survival"] = content_.survival_sections(avg, run, outcome)
    else:
        out["binary"] = content_.binary_sections(avg, outcome, options)
    if not images.has_images(run, X):
        out["notes"].append("Images (mask overlays, Grad-CAM) need the volumes: this run was "
                            "made on arrays, so pass X= (and masks=) to build_report.")
    elif n_gradcam > 0 and run.cohort.get("clinical") is not None and clinical is None:
        out["notes"].append("Grad-CAM is left out: the network reads clinical covariates "
                            "beside the image, and the run folder keeps none; pass the "
                            "covariates (clinical=) to explain its outcome.")
    elif n_gradcam > 0:  # the outcome: the positive class's probability, or the risk
        chosen = _gradcam_patients(avg, outcome, n_gradcam)
        out["gradcam"] = {"target": "outcome",
                          "patients": [{"index": i, "patient_id": run.cohort["ids"][i],
                                        "score": float(avg["petmtl"]["score"][i])}
                                       for i in chosen], "scales": []}
    return out


def _image_figures(run, content: dict, X, masks, clinical=None) -> dict:
    out = {}
    seg = content["segmentation"]
    if seg is not None and images.has_images(run, X) and (
            run.cohort.get("masks") is not None or masks is not None):
        cases = []
        for key in ("best", "median", "worst"):
            i = seg["cases"][key]["index"]
            volumes = images.case_volumes(run, images.fold_model(run, i), i, X, masks)
            cases.append({**volumes, "title": f"{key}: {run.cohort['ids'][i]}"})
        out["cases"] = charts.to_png(images.cases_figure(cases))
    g = content["gradcam"]
    if g is not None:
        rows = images.gradcam_rows(run, [p["index"] for p in g["patients"]],
                                   [p["patient_id"] for p in g["patients"]], X, g["target"],
                                   clinical)
        g["scales"] = list(rows[0]["maps"])
        out["gradcam"] = charts.to_png(images.gradcam_figure(rows))
    return out


def _chart_steps(run, content: dict) -> dict:
    """Name -> callable drawing one chart."""
    steps = {}
    if "binary" in content:
        b = content["binary"]
        steps.update(roc=lambda: charts.roc(b), calibration=lambda: charts.reliability(b),
                     decision=lambda: charts.decision(b, False))
    else:
        s = content["survival"]
        steps.update(td_auc=lambda: charts.td_auc(s),
                     survival_calibration=lambda: charts.survival_calibration(s),
                     decision=lambda: charts.decision(s, True),
                     risk_groups=lambda: charts.risk_groups(s))
    if content["segmentation"] is not None:
        steps["segmentation"] = lambda: charts.segmentation(content["segmentation"])
    if content["model_card"]["training"]["has_history"]:
        folds = [run.folds["petmtl"][(0, k)] for k in range(run.settings["n_splits"])]
        steps["history"] = lambda: charts.history(folds)
    return steps


def page_html(content: dict, figures: dict) -> str:
    """The report page."""
    page = Page(content)
    parts = [sections.performance(page)]
    if "binary" in content:
        parts += [sections.binary_discrimination(page, figures),
                  sections.binary_calibration(page, figures),
                  sections.decision(page, figures, "binary")]
    else:
        parts += [sections.survival_discrimination(page, figures),
                  sections.survival_calibration(page, figures),
                  sections.decision(page, figures, "survival"),
                  sections.risk_groups(page, figures)]
    if content["segmentation"] is not None:
        parts.append(sections.segmentation(page, figures))
    if content["gradcam"] is not None:
        parts.append(sections.gradcam(page, figures))
    parts += [cards.subgroups(page), cards.model_card(page, figures), cards.checklist(page)]
    notes = "".join(f'<p class="note">{page.txt(("notes", k))}</p>'
                    for k in range(len(content["notes"])))
    return document(content["title"], parts, sections.intro(page) + notes)


def build_report(source, out_dir=None, *, X=None, masks=None, n_gradcam: int = 2,
                 n_resamples: int = 1000, random_state: int = 0, verbose: int = 1,
                 clinical=None) -> ReportResult:
    """Write the validation report of a cross-validation (or evaluation) folder.

    The report is one self-contained HTML file (``report.html``, figures embedded as
    base64 PNG, no external resource), the figures as PNG files (``figures/``) and a JSON
    of every number shown (``report.json``). It holds: the headline metrics of every
    model with bootstrap intervals and paired differences; discrimination (ROC with a
    bootstrap band, or C-index and time-dependent AUC), calibration (reliability curve,
    slope and intercept, Brier score; or predicted against Kaplan-Meier survival at the
    horizons and the integrated Brier score), decision curves, Kaplan-Meier curves of
    predicted-risk halves and tertiles with numbers at risk and log-rank p (survival),
    segmentation (Dice and HD95, MTV Bland-Altman, per-patient table, best/median/worst
    coronal MIPs), Grad-CAM at every scale for a few patients, results by pathology and
    centre with a warning when centre and outcome are associated, a model card and a
    TRIPOD+AI checklist. Figures use each patient's out-of-fold prediction averaged over
    the repeats; images use the network of the fold that held the patient out. A run with
    clinical covariates lists them in the model card (types, missing values, distribution,
    preprocessing) and the checklist, and, given the covariates, has subgroups by each
    categorical one; its Grad-CAM explains the outcome the network gave from the image
    and the patient's covariates, so it needs them (left out with a note otherwise).

    Parameters
    ----------
    source : str or path-like
        The folder of :func:`petmtl.model_selection.cross_validate_cohort` (``petmtl
        cv``) or :func:`petmtl.model_selection.evaluate_model`.
    out_dir : str or path-like, optional
        Where to write the report; default ``<source>/report``.
    X, masks : optional
        The volumes and reference masks, for a run made on arrays (runs on NIfTI files
        read them from the paths they recorded); without them the images are left out.
    n_gradcam : int, default=2
        Patients shown with Grad-CAM (the highest and lowest predictions); 0 for none.
    n_resamples : int, default=1000
        Bootstrap resamples of the report's own intervals (ROC band, subgroups).
    random_state : int, default=0
        Seed of those resamples.
    verbose : int, default=1
        0: silent; 1: a progress bar over the steps.
    clinical : pandas.DataFrame, optional
        The run's covariates (one row per patient, in the run's order; checked against the
        digest in ``cv.json``), for subgroups by each categorical covariate of two to
        eight levels and for the Grad-CAM of a network that reads them. The run folder
        keeps no patient's covariate value.

    Returns
    -------
    ReportResult

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install petmtl[plots]``).
    FileNotFoundError
        If ``source`` holds no finished run.
    ValueError
        If ``clinical`` is not the table of covariates the run used.
    """
    from ..model_selection import read_cv_results

    charts.require_matplotlib()
    run = read_cv_results(source)
    out_dir = os.path.join(run.folder, "report") if out_dir is None else os.fspath(out_dir)
    os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
    with tqdm(total=3, desc="petmtl report", unit="step", disable=not verbose,
              file=sys.stderr) as bar:
        content = compute(run, n_resamples=n_resamples, random_state=random_state,
                          n_gradcam=n_gradcam, X=X, clinical=clinical)
        bar.update(1)
        steps = _chart_steps(run, content)
        bar.total += len(steps)
        figures = {}
        for name, draw in steps.items():
            figures[name] = charts.to_png(draw())
            bar.update(1)
        figures.update(_image_figures(run, content, X, masks, clinical))
        bar.update(1)
        content["figures"] = [f"figures/{name}.png" for name in figures]
        content = clean(content)
        html_text = page_html(content, figures)
        bar.update(1)
    return _write(out_dir, content, figures, html_text)


def _write(out_dir: str, content: dict, figures: dict, html_text: str) -> ReportResult:
    from ..model_selection._files import write_atomic

    paths = [write_atomic(os.path.join(out_dir, "figures", f"{name}.png"), png)
             for name, png in figures.items()]
    json_path = write_atomic(os.path.join(out_dir, "report.json"),
                             (json.dumps(content, indent=1) + "\n").encode("utf-8"))
    html_path = write_atomic(os.path.join(out_dir, "report.html"), html_text.encode("utf-8"))
    return ReportResult(html_path, json_path, paths, content)
