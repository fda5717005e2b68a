"""The sections of the report page, each from its part of the report's JSON."""

from __future__ import annotations

import html
import re

from ._html import Page, figure, table

METRIC_NAMES = {"auc": "ROC AUC", "cindex": "Harrell's C-index"}


def intro(page: Page) -> str:
    """What was validated, on how many patients, and how."""
    s = ("summary",)
    kind = page.get(s + ("kind",))
    scheme = (f"{page.num(s + ('n_repeats',), 'd')} repeat(s) of "
              f"{page.num(s + ('n_splits',), 'd')}-fold cross-validation; every patient is "
              "predicted by the models of the folds that held it out"
              if kind == "cross-validation" else "evaluation of a fitted model on a test "
              "cohort")
    outcome = (f"{page.num(s + ('n_events',), 'd')} events"
               if "n_events" in page.get(s) else
               f"{page.num(s + ('n_positive',), 'd')} positive outcomes")
    return (f"<p>Model {page.txt(s + ('estimator',))}, {page.num(s + ('n_patients',), 'd')} "
            f"patients ({page.num(s + ('n_known',), 'd')} with a known outcome, {outcome}); "
            f"{scheme}. Run folder {page.txt(('source',))}.</p>")


def performance(page: Page) -> tuple[str, str, str]:
    """Headline metrics of every model and paired differences."""
    s = ("summary",)
    name = METRIC_NAMES[page.get(s + ("primary_metric",))]
    second = "integrated Brier score" if "n_events" in page.get(s) else "Brier score"
    pct = page.num(s + ("confidence_percent",), "d")
    rows = []
    for k, _ in enumerate(page.get(s + ("models",))):
        m = s + ("models", k)
        repeats = ", ".join(page.num(m + ("per_repeat", r)) for r in
                            range(len(page.get(m + ("per_repeat",)))))
        rows.append([page.txt(m + ("name",)), page.ci(m + ("primary",)), repeats,
                     page.num(m + ("secondary",))])
    body = table(["model", f"{name}, mean over repeats [CI]", "per repeat", second], rows)
    body = body.replace("[CI]", f"[{pct} % CI]")
    diffs = page.get(s + ("differences",))
    if diffs:
        rows = [[page.txt(s + ("differences", k, "model")),
                 page.txt(s + ("differences", k, "reference")),
                 page.ci(s + ("differences", k)),
                 page.num(s + ("differences", k, "p_value_one_sided"), ".3g")]
                for k in range(len(diffs))]
        body += ("<p>Paired bootstrap differences (the same resampled patients for both "
                 "models), with the one-sided p-value of 'no better':</p>"
                 + table(["model", "reference", f"difference in {name} [CI]", "p"], rows))
    body += (f'<p class="note">Intervals: {pct} % percentile bootstrap over patients '
             f"({page.num(s + ('n_resamples',), 'd')} resamples, within outcome classes or "
             "events).</p>")
    return "performance", "Performance", body


def _model_rows(page: Page, base, columns) -> list:
    rows = []
    for name in page.get(base + ("models",)):
        m = base + ("models", name)
        rows.append([html.escape(name), *[c(page, m) for c in columns]])
    return rows


def binary_discrimination(page: Page, figures: dict) -> tuple[str, str, str]:
    """ROC with its bootstrap band."""
    b = ("binary",)
    rows = _model_rows(page, b, [lambda p, m: p.num(m + ("auc",))])
    body = (figure(figures.get("roc"), "ROC curves", "ROC curve of the out-of-fold "
                   "probabilities (averaged over repeats) with a pointwise bootstrap band; "
                   "baselines without band.")
            + table(["model", "AUC of the averaged predictions"], rows))
    return "discrimination", "Discrimination", body


def binary_calibration(page: Page, figures: dict) -> tuple[str, str, str]:
    """Reliability curve, calibration slope and intercept, Brier score."""
    b = ("binary",)

    def slope(p, m):
        return "n/a" if p.get(m + ("calibration",)) is None else (
            f"{p.num(m + ('calibration', 'slope'))} [{p.num(m + ('calibration', 'slope_low'))}"
            f", {p.num(m + ('calibration', 'slope_high'))}]")

    def intercept(p, m):
        return "n/a" if p.get(m + ("calibration",)) is None else (
            f"{p.num(m + ('calibration', 'intercept'))} ["
            f"{p.num(m + ('calibration', 'intercept_low'))}, "
            f"{p.num(m + ('calibration', 'intercept_high'))}]")

    rows = _model_rows(page, b, [slope, intercept, lambda p, m: p.num(m + ("brier",))])
    r = b + ("reliability",)
    bins = [[page.num(r + ("predicted", k)), page.num(r + ("observed", k)),
             f"[{page.num(r + ('low', k))}, {page.num(r + ('high', k))}]",
             page.num(r + ("count", k), "d")] for k in range(len(page.get(r + ("count",))))]
    body = (figure(figures.get("calibration"), "reliability curve",
                   f"Observed frequency against mean predicted probability in "
                   f"{page.num(b + ('reliability_bins',), 'd')} quantile bins (Wilson "
                   "intervals).")
            + table(["model", "calibration slope [CI]", "calibration intercept [CI]",
                     "Brier score"], rows)
            + table(["mean predicted", "observed", "interval", "patients"], bins)
            + '<p class="note">Slope: logistic regression of the outcome on the logit of '
              "the prediction (ideal one); intercept: calibration-in-the-large, the "
              "logit as offset (ideal zero); Wald intervals.</p>")
    return "calibration", "Calibration", body


def decision(page: Page, figures: dict, key: str) -> tuple[str, str, str]:
    """Net benefit table at a few thresholds, and the decision curve."""
    b = (key,)
    thresholds = page.get(b + ("net_benefit_thresholds",))
    rows = [[html.escape(name), *[page.num(b + ("models", name, "net_benefit_at", k))
                                  for k in range(len(thresholds))]]
            for name in page.get(b + ("models",))]
    rows.append(["treat all", *[page.num(b + ("treat_all_at", k))
                                for k in range(len(thresholds))]])
    head = ["threshold", *[page.num(b + ("net_benefit_thresholds", k), ".2f")
                           for k in range(len(thresholds))]]
    horizon = ("" if key == "binary" else
               f" at time {page.num(b + ('decision_horizon',), '.4g')}")
    body = (figure(figures.get("decision"), "decision curve",
                   f"Net benefit{horizon} against treating everyone and no one.")
            + _plain_table([head, *rows]))
    return "decision", "Decision curve", body


def survival_discrimination(page: Page, figures: dict) -> tuple[str, str, str]:
    """C-index and time-dependent AUC."""
    b = ("survival",)
    rows = _model_rows(page, b, [lambda p, m: p.num(m + ("cindex",)),
                                 lambda p, m: p.num(m + ("td_auc", "mean_auc"))])
    body = (figure(figures.get("td_auc"), "time-dependent AUC",
                   "Cumulative/dynamic AUC of the averaged risk over time.")
            + table(["model", "C-index of the averaged risk", "mean time-dependent AUC"],
                    rows))
    return "discrimination", "Discrimination", body


def survival_calibration(page: Page, figures: dict) -> tuple[str, str, str]:
    """Predicted against Kaplan-Meier survival at the horizons."""
    b = ("survival", "models", "petmtl", "calibration")
    rows = []
    for h in range(len(page.get(b))):
        c = b + (h,)
        for g in range(len(page.get(c + ("count",)))):
            rows.append([page.num(c + ("horizon",), ".4g"), page.num(c + ("predicted", g)),
                         f"{page.num(c + ('observed', g))} [{page.num(c + ('low', g))}, "
                         f"{page.num(c + ('high', g))}]", page.num(c + ("count", g), "d")])
    body = (figure(figures.get("survival_calibration"), "survival calibration",
                   "Mean predicted survival against the Kaplan-Meier estimate in tertiles of "
                   "predicted survival, at each horizon.")
            + table(["time", "mean predicted", "Kaplan-Meier [CI]", "patients"], rows))
    return "calibration", "Calibration", body


def risk_groups(page: Page, figures: dict) -> tuple[str, str, str]:
    """Kaplan-Meier curves of risk groups, numbers at risk and log-rank p."""
    body = figure(figures.get("risk_groups"), "risk groups",
                  "Kaplan-Meier curves of predicted-risk halves and tertiles, with "
                  "log-log Greenwood bands and the numbers at risk.")
    for key in ("halves", "tertiles"):
        g = ("survival", "risk_groups", key)
        at = page.get(g + ("at",))
        rows = [[f"group {html.escape(chr(ord('A') + k))} (n = "
                 f"{page.num(g + ('groups', k, 'n'), 'd')})",
                 *[page.num(g + ("groups", k, "n_at_risk_table", j), "d")
                   for j in range(len(at))]] for k in range(len(page.get(g + ("groups",))))]
        head = ["at risk at time", *[page.num(g + ("at", j), ".4g") for j in range(len(at))]]
        body += (f"<h3>Risk {key}</h3><p>Log-rank p = {page.num(g + ('logrank_p',), '.3g')} "
                 f"(chi-square {page.num(g + ('logrank_statistic',), '.3f')}); group A has "
                 "the lowest predicted risk.</p>" + _plain_table([head, *rows]))
    return "risk-groups", "Risk groups", body


def _plain_table(rows) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tbody>{body}</tbody></table>"


def placeholders(page: Page, path, text: str) -> str:
    """``text`` with each ``{name}`` replaced by the value at ``path + ('values', name)``."""
    parts = re.split(r"\{(\w+)\}", text)
    return "".join(html.escape(p) if k % 2 == 0 else page.auto(tuple(path) + ("values", p))
                   for k, p in enumerate(parts))


def segmentation(page: Page, figures: dict) -> tuple[str, str, str]:
    """Dice, HD95, MTV agreement, the per-patient table and the best/median/worst cases."""
    g = ("segmentation",)
    body = (f"<p>Patients with a reference mask: {page.num(g + ('n',), 'd')}. Dice median "
            f"{page.num(g + ('dice_median',))} (quartiles {page.num(g + ('dice_q1',))} to "
            f"{page.num(g + ('dice_q3',))}); HD95 median {page.num(g + ('hd95_median',), '.1f')}"
            f" mm ({page.num(g + ('n_hd95_undefined',), 'd')} patients with an empty "
            "predicted mask have no HD95).</p>")
    if page.get(g + ("bland_altman",)) is not None:
        ba = g + ("bland_altman",)
        body += (f"<p>MTV, predicted minus reference: bias {page.num(ba + ('bias',), '.2f')} "
                 f"ml, limits of agreement {page.num(ba + ('lower',), '.2f')} to "
                 f"{page.num(ba + ('upper',), '.2f')} ml ({page.num(ba + ('n',), 'd')} "
                 "patients).</p>")
    body += figure(figures.get("segmentation"), "segmentation metrics",
                   "Dice and HD95 of the out-of-fold masks (averaged over repeats), and the "
                   "Bland-Altman plot of the metabolic tumour volume.")
    if "cases" in figures:
        names = ", ".join(f"{k} {page.txt(g + ('cases', k, 'patient_id'))} (Dice "
                          f"{page.num(g + ('cases', k, 'dice'))})" for k in
                          ("best", "median", "worst"))
        body += figure(figures["cases"], "best, median and worst cases",
                       f"Coronal maximum intensity projections: {names}; reference mask "
                       "green, predicted red, by the network of the fold that held the "
                       "patient out.")
    rows = []
    for k in range(len(page.get(g + ("patients",)))):
        p = g + ("patients", k)
        rows.append([page.txt(p + ("patient_id",)), page.num(p + ("fold",), "d"),
                     page.num(p + ("dice",)), page.num(p + ("hd95",), ".1f"),
                     page.num(p + ("mtv_reference_ml",), ".2f"),
                     page.num(p + ("mtv_predicted_ml",), ".2f")])
    body += ("<details><summary>Per-patient table</summary>"
             + table(["patient", "fold (first repeat)", "Dice", "HD95 (mm)",
                      "reference MTV (ml)", "predicted MTV (ml)"], rows) + "</details>")
    return "segmentation", "Segmentation", body


def gradcam(page: Page, figures: dict) -> tuple[str, str, str]:
    """Grad-CAM of the outcome at every scale for a few patients."""
    g = ("gradcam",)
    names = ", ".join(f"{page.txt(g + ('patients', k, 'patient_id'))} (prediction "
                      f"{page.num(g + ('patients', k, 'score'))})"
                      for k in range(len(page.get(g + ("patients",)))))
    scales = ", ".join(page.txt(g + ("scales", k)) for k in range(len(page.get(g + ("scales",)))))
    body = figure(figures.get("gradcam"), "Grad-CAM",
                  f"Grad-CAM of the outcome head at each scale ({scales}) for {names} (highest and "
                  "lowest predictions), by the network of the fold that held each patient "
                  "out; coronal maximum projections, hot is important.")
    return "gradcam", "Grad-CAM", body
