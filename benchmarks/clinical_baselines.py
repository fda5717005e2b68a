"""Clinical, radiomics and lesion-burden baselines on the synthetic cohort with covariates.

Protocol
--------
* Cohorts: ``make_pet_cohort(120, shape=(48, 48, 48), spacing=4.0, clinical=True,
  random_state=S)`` for each development seed S of ``--cohort-seeds`` (default 10 11).
  Seeds 12-19 are reserved for the final evaluation and refused without
  ``--final-evaluation``.
* Folds: ``StratifiedKFold(5, shuffle=True, random_state=S)`` on cohort S; out-of-fold
  probabilities of every model on the same folds, pooled over the folds and the cohorts.
* Models (logistic regressions of ``petmtl.baselines``):

  - ``clinical``: the covariates alone (``clinical_classifier``: median imputation with
    missing indicators and standardisation of age and ECOG, one-hot of sex, T stage and
    marker with a "missing" level);
  - ``radiomics``: SUVmax, SUVmean, MTV, TLG of the reference mask
    (``radiomics_classifier``);
  - ``radiomics + clinical`` (``radiomics_clinical_classifier``);
  - ``radiomics + burden (RULE)``: the four numbers and the eight whole-image lesion-burden
    measures of ``petmtl.pet.LesionBurden(4.0, RULE)`` with the reference mask as the
    primary, for RULE in suv2.5, suv4.0, percist and suvmax41 (``radiomics_classifier``);
  - ``radiomics + burden (RULE) + clinical`` (``radiomics_clinical_classifier``).

  Lesions are searched in the body without the myocardium, liver and vertebral marrow
  (the phantom's organ labels standing in for the organ segmentation or the reader's
  clicks that remove physiological uptake); ``--no-exclusion`` searches everywhere.
  PERCIST's reference is the 3-cm VOI in the liver label (``petmtl.pet.liver_reference``).
* Report: pooled AUC, balanced accuracy (threshold 0.5) and Brier score, each with a
  stratified bootstrap 95 % interval (2000 resamples, ``petmtl.metrics``), the AUC per
  cohort; paired bootstrap differences in pooled AUC; the AUC of the cohorts' true logit
  and of its image and clinical parts (the ceiling, no fit); per rule, how many non-primary
  lesions were found per patient against the distant nodes and satellite nodules drawn,
  and the Spearman correlation of their number with the number of distant nodes.

Command (from the repository root; about a minute on one core)::

    python benchmarks/clinical_baselines.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from petmtl.baselines import (
    RADIOMIC_FEATURES,
    clinical_classifier,
    radiomic_features,
    radiomics_classifier,
    radiomics_clinical_classifier,
)
from petmtl.datasets import make_pet_cohort
from petmtl.metrics import bootstrap_interval, paired_bootstrap_difference
from petmtl.pet import BURDEN_FEATURES, LesionBurden, liver_reference

RULES = ("suv2.5", "suv4.0", "percist", "suvmax41")
RESERVED = range(12, 20)
PHYSIOLOGICAL = ("myocardium", "liver", "bone_marrow")
N_RESAMPLES = 2000


def burden_table(cohort, rule: str, exclude: bool):
    """Lesion-burden measures of every volume, the reference mask as the primary."""
    labels = cohort.anatomy_labels
    region = cohort.anatomy > 0
    if exclude:
        region &= ~np.isin(cohort.anatomy, [labels[name] for name in PHYSIOLOGICAL])
    reference = None
    if rule == "percist":
        reference = [liver_reference(x, a == labels["liver"], cohort.spacing)
                     for x, a in zip(cohort.X, cohort.anatomy, strict=True)]
    return LesionBurden(cohort.spacing, rule).fit_transform(
        cohort.X, masks=cohort.masks, region=list(region), reference=reference)


def one_cohort(seed: int, exclude: bool, n: int = 120, shape: int = 48,
               spacing: float = 4.0) -> dict:
    """Out-of-fold probabilities of every model, and the true logits, on cohort ``seed``."""
    import pandas as pd

    cohort = make_pet_cohort(n, shape=(shape,) * 3, spacing=spacing, clinical=True,
                             return_features=True, return_anatomy=True, random_state=seed)
    index = cohort.clinical.index
    radiomics = pd.DataFrame(radiomic_features(cohort.X, cohort.masks, cohort.spacing),
                             columns=list(RADIOMIC_FEATURES), index=index)
    tables = {"clinical": cohort.clinical, "radiomics": radiomics,
              "radiomics + clinical": pd.concat([radiomics, cohort.clinical], axis=1)}
    models = {"clinical": clinical_classifier(), "radiomics": radiomics_classifier(),
              "radiomics + clinical": radiomics_clinical_classifier()}
    columns = list(RADIOMIC_FEATURES) + list(BURDEN_FEATURES)
    names = list(cohort.feature_names)
    nodes = cohort.features[:, names.index("n_distant_nodes")]
    drawn = nodes + cohort.features[:, names.index("n_satellite_lesions")]
    found = {"drawn": drawn}
    for rule in RULES:
        burden = pd.DataFrame(burden_table(cohort, rule, exclude), columns=list(BURDEN_FEATURES),
                              index=index)
        others = burden["n_lesions"].to_numpy() - cohort.masks.any(axis=(1, 2, 3))
        found[rule] = (others, spearmanr(others, nodes).statistic)
        with_burden = pd.concat([radiomics, burden], axis=1)
        tables[f"radiomics + burden ({rule})"] = with_burden
        models[f"radiomics + burden ({rule})"] = radiomics_classifier()
        tables[f"radiomics + burden ({rule}) + clinical"] = pd.concat(
            [with_burden, cohort.clinical], axis=1)
        models[f"radiomics + burden ({rule}) + clinical"] = radiomics_clinical_classifier(
            radiomic_columns=columns)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    proba = {}
    for name, model in models.items():
        data = tables[name]
        data = data if "clinical" in name else data.to_numpy()
        proba[name] = cross_val_predict(model, data, cohort.y, cv=folds,
                                        method="predict_proba")[:, 1]
    truth = {"true logit": cohort.logit, "image part": cohort.image_logit,
             "clinical part": cohort.clinical_logit}
    return {"y": cohort.y, "proba": proba, "truth": truth, "found": found}


def _interval(metric, y, score) -> str:
    estimate, low, high = bootstrap_interval(metric, y, score, stratify=y,
                                             n_resamples=N_RESAMPLES, random_state=0)
    return f"{estimate:.3f} [{low:.3f}, {high:.3f}]"


def _balanced_accuracy(y, p):
    return balanced_accuracy_score(y, p >= 0.5)


def report(results: dict, seeds) -> str:
    """Markdown tables of the pooled metrics, paired differences and the ceiling."""
    y = np.concatenate([results[s]["y"] for s in seeds])
    names = list(results[seeds[0]]["proba"])
    pooled = {n: np.concatenate([results[s]["proba"][n] for s in seeds]) for n in names}
    lines = [f"{len(y)} patients ({len(seeds)} cohorts), 5 stratified folds per cohort, "
             "pooled out-of-fold; bootstrap 95 % intervals", "",
             f"| model | AUC | balanced accuracy | Brier | "
             f"{' | '.join(f'AUC c{s}' for s in seeds)} |",
             f"|---|---|---|---|{'---|' * len(seeds)}"]
    for n in names:
        per_seed = " | ".join(f"{roc_auc_score(results[s]['y'], results[s]['proba'][n]):.3f}"
                              for s in seeds)
        lines.append(f"| {n} | {_interval(roc_auc_score, y, pooled[n])} | "
                     f"{_interval(_balanced_accuracy, y, pooled[n])} | "
                     f"{_interval(brier_score_loss, y, pooled[n])} | {per_seed} |")
    pairs = [("radiomics + clinical", "clinical"), ("radiomics + clinical", "radiomics")]
    pairs += [(f"radiomics + burden ({r})", "radiomics") for r in RULES]
    pairs += [(f"radiomics + burden ({r}) + clinical", "radiomics + clinical") for r in RULES]
    lines += ["", "| paired difference in pooled AUC | difference [95 % CI] | p (A <= B) |",
              "|---|---|---|"]
    for a, b in pairs:
        diff, low, high, p = paired_bootstrap_difference(
            roc_auc_score, y, pooled[a], pooled[b], stratify=y, n_resamples=N_RESAMPLES,
            random_state=0)
        lines.append(f"| {a} - {b} | {diff:+.3f} [{low:+.3f}, {high:+.3f}] | {p:.3f} |")
    lines += ["", f"| ceiling (no fit) | pooled AUC | "
              f"{' | '.join(f'AUC c{s}' for s in seeds)} |", f"|---|---|{'---|' * len(seeds)}"]
    for key in results[seeds[0]]["truth"]:
        score = np.concatenate([results[s]["truth"][key] for s in seeds])
        per_seed = " | ".join(f"{roc_auc_score(results[s]['y'], results[s]['truth'][key]):.3f}"
                              for s in seeds)
        lines.append(f"| {key} | {_interval(roc_auc_score, y, score)} | {per_seed} |")
    lines += ["", "| non-primary lesions found per patient (Spearman with distant nodes) | "
              + " | ".join(f"c{s}" for s in seeds) + " |", f"|---|{'---|' * len(seeds)}",
              "| distant nodes + satellites drawn | " + " | ".join(
                  f"{results[s]['found']['drawn'].mean():.2f}" for s in seeds) + " |"]
    for rule in RULES:
        cells = [results[s]["found"][rule] for s in seeds]
        lines.append(f"| {rule} | " + " | ".join(f"{n.mean():.2f} ({rho:+.2f})"
                                                 for n, rho in cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort-seeds", type=int, nargs="+", default=[10, 11])
    parser.add_argument("--final-evaluation", action="store_true",
                        help="allow the reserved cohort seeds 12-19")
    parser.add_argument("--no-exclusion", action="store_true",
                        help="search lesions in the whole image (physiological uptake too)")
    args = parser.parse_args(argv)
    reserved = [s for s in args.cohort_seeds if s in RESERVED]
    if reserved and not args.final_evaluation:
        parser.error(f"cohort seeds {reserved} are reserved for the final evaluation "
                     "(seeds 12-19); development runs use seeds 10 and 11")
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    start = time.perf_counter()
    results = {s: one_cohort(s, not args.no_exclusion) for s in args.cohort_seeds}
    text = report(results, args.cohort_seeds)
    print(text)
    print(f"\n{time.perf_counter() - start:.0f} s")
    return text


if __name__ == "__main__":
    main()
