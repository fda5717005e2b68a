"""Subgroups, model card and checklist sections of the report page."""

from __future__ import annotations

from ._html import Page, figure, table
from ._sections import METRIC_NAMES, placeholders


def subgroups(page: Page) -> tuple[str, str, str]:
    """The primary metric by pathology, centre and categorical covariate, with the
    confounding check."""
    s = ("subgroups",)
    metric = METRIC_NAMES[page.get(("summary", "primary_metric"))]
    count = "events" if "n_events" in page.get(("summary",)) else "positive"
    body = ""
    for key, title in (("pathology", "By pathology"), ("centre", "By centre")):
        if key not in page.get(s):
            continue
        rows = []
        for k in range(len(page.get(s + (key,)))):
            r = s + (key, k)
            rows.append([page.txt(r + ("level",)), page.num(r + ("n",), "d"),
                         page.num(r + (f"n_{'events' if count == 'events' else 'positive'}",),
                                  "d"), page.ci(r)])
        body += f"<h3>{title}</h3>" + table(["group", "patients", count, f"{metric} [CI]"],
                                            rows)
    for k in range(len(page.get(s).get("covariates") or [])):
        c = s + ("covariates", k)
        rows = [[page.txt(c + ("rows", j, "level")), page.num(c + ("rows", j, "n"), "d"),
                 page.num(c + ("rows", j, f"n_{'events' if count == 'events' else 'positive'}"),
                          "d"), page.ci(c + ("rows", j))]
                for j in range(len(page.get(c + ("rows",))))]
        body += (f"<h3>By {page.txt(c + ('name',))}</h3>"
                 + table(["group", "patients", count, f"{metric} [CI]"], rows))
    a = s + ("association",)
    if page.get(a) is not None:
        text = (f"Centre and outcome: {page.txt(a + ('test',))}, p = "
                f"{page.num(a + ('p_value',), '.3g')}.")
        if page.get(a + ("confounded",)):
            body += ('<p class="warning"><strong>Warning: centre and outcome are '
                     f"associated.</strong> {text} A model can score by recognising the centre "
                     "(scanner, reconstruction, population) rather than the disease; compare "
                     "the per-centre results and validate with folds grouped by centre "
                     "(<code>--group centre</code>).</p>")
        else:
            body += f"<p>{text} No association flagged.</p>"
    if not body:
        body = "<p>No pathology, centre or categorical covariate was given.</p>"
    body += ('<p class="note">Out-of-fold predictions averaged over repeats; bootstrap '
             "intervals; n/a where the metric is undefined (a single class or no event).</p>")
    return "subgroups", "Subgroups", body


def _data_rows(page: Page) -> list:
    d = ("model_card", "data")
    rows = []
    for key, label in (("n_patients", "patients"), ("n_outcome_known", "known outcome"),
                       ("n_outcome_missing", "unknown outcome"), ("n_positive", "positive"),
                       ("n_events", "events"), ("n_censored", "censored"),
                       ("censored_fraction", "censored fraction"),
                       ("follow_up_median", "median follow-up"),
                       ("follow_up_max", "longest follow-up"), ("n_masks", "reference masks"),
                       ("n_masks_missing", "patients without a mask"),
                       ("n_pathology_missing", "patients without pathology")):
        if key in page.get(d):
            rows.append([label, page.auto(d + (key,))])
    for key, label in (("pathology", "pathology"), ("centres", "centre")):
        values = page.get(d + (key,))
        for k in range(len(values or [])):
            rows.append([f"{label} {page.txt(d + (key, k, 'label'))}",
                         page.num(d + (key, k, "n"), "d")])
    return rows


def _summary_cell(page: Page, path) -> str:
    if page.get(path + ("type",)) == "numeric":
        return (f"median {page.num(path + ('median',), '.4g')} (quartiles "
                f"{page.num(path + ('q1',), '.4g')} to {page.num(path + ('q3',), '.4g')})")
    return ", ".join(f"{page.txt(path + ('levels', j, 'label'))}: "
                     f"{page.num(path + ('levels', j, 'n'), 'd')}"
                     for j in range(len(page.get(path + ("levels",)))))


def clinical(page: Page) -> str:
    """The covariates: types, missingness, distribution and preprocessing."""
    c = ("model_card", "clinical")
    if page.get(c) is None:
        return ""
    rows = []
    for k in range(len(page.get(c + ("columns",)))):
        p = c + ("columns", k)
        rows.append([page.txt(p + ("name",)), page.txt(p + ("type",)),
                     f"{page.num(p + ('n_missing',), 'd')} "
                     f"({page.num(p + ('missing_fraction',), '.0%')})",
                     _summary_cell(page, p), page.txt(p + ("handling",))])
    compare = page.get(("model_card", "validation", "compare"))
    baselines = (", and the clinical baselines use the same preprocessing"
                 if {"clinical", "radiomics+clinical"} & set(compare) else "")
    return ("<h3>Clinical covariates</h3>"
            f"<p>The network reads the covariates beside the image features in its outcome "
            f"head ({page.txt(c + ('fusion',))} fusion); their preprocessing is learnt on "
            f"{page.txt(c + ('learnt_on',))}{baselines}.</p>"
            + table(["covariate", "type", "missing", "distribution", "preprocessing"], rows))


def model_card(page: Page, figures: dict) -> tuple[str, str, str]:
    """Parameters, data, covariates, training, validation, software and SUV provenance."""
    c = ("model_card",)
    params = [[page.txt(c + ("parameters", k, "name")), page.txt(c + ("parameters", k, "value"))]
              for k in range(len(page.get(c + ("parameters",))))]
    software = [[page.txt(c + ("software", k, "name")), page.txt(c + ("software", k, "version"))]
                for k in range(len(page.get(c + ("software",))))]
    v = c + ("validation",)
    validation = [[name, page.auto(v + (key,))] for key, name in (
        ("kind", "scheme"), ("n_splits", "folds"), ("n_repeats", "repeats"),
        ("grouped", "grouped by centre"), ("random_state", "seed"),
        ("n_resamples", "bootstrap resamples"))]
    t = c + ("training",)
    epochs = ", ".join(f"{page.auto(t + ('best_epochs', k))} of {page.num(t + ('epochs', k), 'd')}"
                       for k in range(len(page.get(t + ("epochs",)))))
    body = (f"<p>Estimator {page.txt(c + ('estimator',))}. SUV: "
            f"{page.txt(c + ('suv_provenance',))}. Manifest: {page.txt(c + ('manifest',))}.</p>"
            "<h3>Data</h3>" + table(["", "value"], _data_rows(page)) + clinical(page)
            + "<h3>Training</h3>"
            + f"<p>Best epoch of each fold's network (first repeat): {epochs}.</p>"
            + figure(figures.get("history"), "training history",
                     "Total loss per epoch of each fold's network, training (solid) and "
                     "validation (dashed).")
            + "<h3>Validation</h3>" + table(["", "value"], validation)
            + "<h3>Parameters</h3>" + table(["parameter", "value"], params)
            + "<h3>Software</h3>" + table(["package", "version"], software))
    return "model-card", "Model card", body


def checklist(page: Page) -> tuple[str, str, str]:
    """The TRIPOD+AI checklist, pre-filled items and those left for the authors."""
    rows = []
    for k, entry in enumerate(page.get(("checklist",))):
        p = ("checklist", k)
        status = page.txt(p + ("status",))
        if entry["status"] != "pre-filled":
            status = f'<span class="authors">{status}</span>'
        rows.append([page.txt(p + ("item",)), page.txt(p + ("topic",)), status,
                     placeholders(page, p, entry["text"])])
    body = ("<p>Items of the TRIPOD+AI statement (Collins and colleagues, BMJ) in short; "
            "check them against the published checklist.</p>"
            + table(["item", "topic", "status", "what the run recorded"], rows))
    return "checklist", "TRIPOD+AI checklist", body
