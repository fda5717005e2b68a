"""How much of the synthetic cohort's outcome is visible in its images at a given resolution.

``make_pet_cohort`` draws the outcome from nine hidden features (tumour, peritumoral and
whole-image; see its ``DESCR``). This script asks two questions that bound what any model,
petmtl's or a radiomics pipeline, can reach on the outcome protocol of ``outcome.py``:

1. *Ceiling.* Pooled out-of-fold AUC of a logistic regression on groups of the hidden
   features themselves (perfect measurement), next to the radiomics baseline (SUVmax,
   SUVmean, MTV, TLG of the reference mask, ``petmtl.baselines``) on the same folds.
2. *Visibility.* For each hidden feature, how well generic image measures of the reference
   mask recover it: the cross-validated correlation of a ridge regression from those
   measures to the feature. The measures are petmtl's 21 PET descriptors
   (``petmtl.network.descriptors.PETDescriptors``), the mean SUV in shells 0-4, 4-8, 8-12,
   12-20 and 20-30 mm around the mask, and the number of focal hot spots (local maxima
   exceeding their 28 mm neighbourhood by 0.5, 1 or 1.5 SUV) more than 30 mm from the
   mask. The pooled AUC of a logistic regression on all of them is reported too.

Folds are ``StratifiedKFold(5, shuffle=True, random_state=0)``, as seed 0 of ``outcome.py``.

Commands (from the repository root; 4 mm: about 20 s per cohort, 2 mm: about 3 min)::

    python benchmarks/outcome_ceiling.py                       # cohorts 0-3, 48^3 at 4 mm
    python benchmarks/outcome_ceiling.py --spacing 2 --shape 96 --cohort-seeds 0
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from scipy import ndimage
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petmtl.baselines import radiomic_features, radiomics_classifier
from petmtl.datasets import make_pet_cohort
from petmtl.network.descriptors import PETDescriptors

GROUPS = {
    "tumour volume + uptake": ["tumour_volume_ml", "tumour_uptake_suv"],
    "tumour (4 features)": ["tumour_volume_ml", "tumour_uptake_suv", "tumour_heterogeneity",
                            "tumour_necrosis"],
    "tumour + peritumoral": ["tumour_volume_ml", "tumour_uptake_suv", "tumour_heterogeneity",
                             "tumour_necrosis", "peritumoral_uptake_suv",
                             "n_satellite_lesions"],
    "all nine": None,
}
SHELLS_MM = (0, 4, 8, 12, 20, 30)
PENALTIES = np.logspace(-4, 4, 10)  # inverse L2 strengths tried by the inner CV
LOGGED = ("tumour_volume_ml", "tumour_uptake_suv", "marrow_suv", "liver_suv")


def image_measures(volume: np.ndarray, mask: np.ndarray, spacing: float) -> np.ndarray:
    """Shell mean SUVs around the mask and counts of distant focal hot spots."""
    distance = ndimage.distance_transform_edt(~mask.astype(bool), sampling=spacing)
    shells = []
    for inner, outer in zip(SHELLS_MM[:-1], SHELLS_MM[1:], strict=True):
        shell = volume[(distance > inner) & (distance <= outer)]
        shells.append(shell.mean() if shell.size else np.nan)  # imputed by the models
    window = max(3, 2 * round(28 / (2 * spacing)) + 1)
    excess = volume - ndimage.uniform_filter(volume, window, mode="nearest")
    peaks = volume == ndimage.maximum_filter(volume, max(3, 2 * round(6 / spacing) + 1))
    candidates = peaks & (volume > 0.3) & (distance > 30)
    return np.array(shells + [float(np.sum(candidates & (excess > t))) for t in (0.5, 1, 1.5)])


def pooled_auc(model, features, y, folds) -> float:
    scores = cross_val_predict(model, features, y, cv=folds, method="decision_function")
    return float(roc_auc_score(y, scores))


def one_cohort(seed: int, n: int, shape: int, spacing: float) -> dict:
    cohort = make_pet_cohort(n, shape=(shape,) * 3, spacing=spacing, random_state=seed,
                             return_features=True)
    names = list(cohort.feature_names)
    hidden = cohort.features.copy()
    for name in LOGGED:
        hidden[:, names.index(name)] = np.log(hidden[:, names.index(name)])
    y, folds = cohort.y, StratifiedKFold(5, shuffle=True, random_state=0)
    logistic = GridSearchCV(  # L2 penalty chosen by inner 5-fold CV
        make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(),
                      LogisticRegression(max_iter=5000)),
        {"logisticregression__C": PENALTIES}, scoring="neg_log_loss", cv=5)
    row = {"true logit (no fit)": float(roc_auc_score(y, cohort.logit)),
           "radiomics (4 features)": pooled_auc(
               radiomics_classifier(), radiomic_features(cohort.X, cohort.masks, spacing), y,
               folds)}
    for group, members in GROUPS.items():
        columns = [names.index(m) for m in members] if members else list(range(len(names)))
        row[f"hidden: {group}"] = pooled_auc(logistic, hidden[:, columns], y, folds)
    volumes = torch.from_numpy(cohort.X)[:, None]
    masks = torch.from_numpy(cohort.masks.astype(np.float32))[:, None]
    with torch.no_grad():
        descriptors = torch.cat([PETDescriptors((spacing,) * 3)(volumes[i:i + 10],
                                                                masks[i:i + 10])
                                 for i in range(0, n, 10)]).numpy()
    measures = np.c_[descriptors, [image_measures(v, m, spacing)
                                   for v, m in zip(cohort.X, cohort.masks, strict=True)]]
    row["image measures (29)"] = pooled_auc(logistic, measures, y, folds)
    ridge = make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(),
                          RidgeCV(alphas=np.logspace(-2, 3, 12)))
    visible = {}
    for j, name in enumerate(names):
        recovered = cross_val_predict(ridge, measures, hidden[:, j],
                                      cv=KFold(5, shuffle=True, random_state=0))
        visible[name] = float(np.corrcoef(hidden[:, j], recovered)[0, 1])
    return {"auc": row, "visible": visible}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--n-samples", type=int, default=120)
    parser.add_argument("--shape", type=int, default=48)
    parser.add_argument("--spacing", type=float, default=4.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    results = [one_cohort(s, args.n_samples, args.shape, args.spacing)
               for s in args.cohort_seeds]
    seeds = " ".join(f"c{s}" for s in args.cohort_seeds)
    print(f"{args.n_samples} patients, {args.shape}^3 at {args.spacing:g} mm\n")
    print(f"| pooled out-of-fold AUC | {seeds} | mean |\n|---|{'---|' * len(results)}---|")
    for key in results[0]["auc"]:
        values = [r["auc"][key] for r in results]
        print(f"| {key} | {' '.join(f'{v:.3f}' for v in values)} | {np.mean(values):.3f} |")
    print(f"\n| hidden feature | cross-validated r from image measures ({seeds}) | mean |"
          f"\n|---|---|---|")
    for key in results[0]["visible"]:
        values = [r["visible"][key] for r in results]
        print(f"| {key} | {' '.join(f'{v:+.2f}' for v in values)} | {np.mean(values):+.2f} |")


if __name__ == "__main__":
    main()
