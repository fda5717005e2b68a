"""
Multi-task vs single-task vs hand-crafted radiomics
===================================================

Is the multi-task W-Net better than a single-task network, and than classical radiomics?
On the same cross-validation folds of one synthetic cohort this example compares:

* **MTL**: all four tasks, tumour + multi-scale global features (the paper's model);
* **STL outcome CNN**: the outcome task alone, a 3D CNN encoder with global average pooling
  (``tasks=(), outcome_features="global"``);
* **STL U-Net**: segmentation alone (``tasks=("segmentation",)`` with loss weights
  ``{"segmentation": 1, "outcome": 0}``: the outcome head is built but never trained, so its
  AUC is meaningless and not reported), for the Dice comparison of the paper's Table 2;
* **Radiomics**: SUVmax, SUVmean, MTV and TLG of the reference (40 %-SUVmax) masks
  (:func:`petmtl.baselines.radiomic_features`) in a ``Pipeline`` of a log transform, a
  ``StandardScaler`` and a ``LogisticRegression`` (:func:`petmtl.baselines.radiomics_classifier`).

Run ``python examples/mtl_vs_stl.py --out results``: 72 patients of 24^3 voxels (4 mm), 3
folds, up to 12 epochs per network fit, about 10-20 minutes on two busy CPU cores.
``--quick`` runs in seconds. Writes ``mtl_vs_stl.json`` and ``mtl_vs_stl.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent)) if "__file__" in globals() else None
from _common import (  # noqa: E402
    fold_scores,
    format_table,
    make_parser,
    pyplot,
    save_figure,
    setup,
    summarise,
    write_json,
)

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.baselines import radiomic_features, radiomics_classifier  # noqa: E402
from petmtl.datasets import make_pet_cohort  # noqa: E402


def main(argv=None) -> list[dict]:
    """Run the comparison; return one row per model."""
    parser = make_parser(__doc__, cohort_size=True)
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    n = args.n_samples or (16 if quick else 72)
    shape = (16, 16, 16) if quick else (24, 24, 24)
    folds = 2 if quick else 3
    epochs = args.epochs or (1 if quick else 12)

    cohort = make_pet_cohort(n, shape=shape, spacing=4.0, random_state=args.random_state)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=args.random_state)
                  .split(cohort.X, cohort.y))
    common = dict(base_width=2 if quick else 4, depth=2 if quick else 3, max_epochs=epochs,
                  n_iter_no_change=6, random_state=args.random_state)
    networks = {
        "MTL (T1-T4, tumour + global)": MultiTaskPETEstimator(**common),
        "STL outcome CNN (T4 only)": MultiTaskPETEstimator(tasks=(), outcome_features="global",
                                                           **common),
        "STL U-Net (T2 only)": MultiTaskPETEstimator(
            tasks=("segmentation",), outcome_features="global",
            task_weights={"segmentation": 1.0, "outcome": 0.0}, **common),
    }
    rows = []
    start = time.perf_counter()
    for name, est in networks.items():
        t0 = time.perf_counter()
        row = {"model": name, **summarise([fold_scores(est, cohort, tr, te)
                                           for tr, te in splits])}
        if "U-Net" in name:  # untrained outcome head
            row.update(auc=float("nan"), auc_std=float("nan"), accuracy=float("nan"),
                       accuracy_std=float("nan"))
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"{name}: done in {row['seconds']:.0f} s", flush=True)

    features = radiomic_features(cohort.X, cohort.masks, cohort.spacing)
    per_fold = []
    for train, test in splits:
        model = radiomics_classifier().fit(features[train], cohort.y[train])
        per_fold.append({
            "auc": float(roc_auc_score(cohort.y[test],
                                       model.decision_function(features[test]))),
            "accuracy": float(accuracy_score(cohort.y[test], model.predict(features[test]))),
            "dice": float("nan"), "pathology_accuracy": float("nan")})
    rows.append({"model": "Radiomics (SUVmax, SUVmean, MTV, TLG + LogReg)",
                 **summarise(per_fold), "seconds": 0.0})
    seconds = time.perf_counter() - start

    print(f"\nMTL vs STL vs radiomics: {n} patients, {folds}-fold CV (same folds), "
          f"{epochs} epochs max, {seconds:.0f} s\n")
    print(format_table(rows, ["model", "auc", "auc_std", "accuracy", "dice",
                              "pathology_accuracy"]))
    write_json(out / "mtl_vs_stl.json", {"rows": rows, "n_samples": n, "folds": folds,
                                         "epochs": epochs, "shape": list(shape),
                                         "seconds": round(seconds, 1)})
    _plot(rows, out / "mtl_vs_stl.png")
    return rows


def _plot(rows, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x - 0.2, np.nan_to_num([r["auc"] for r in rows]), 0.4,
           yerr=np.nan_to_num([r["auc_std"] for r in rows]), capsize=3, label="outcome AUC")
    ax.bar(x + 0.2, np.nan_to_num([r["dice"] for r in rows]), 0.4, label="Dice")
    ax.set_xticks(x, [r["model"].split(" (")[0] for r in rows])
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set(ylim=(0, 1), ylabel="cross-validated score", title="MTL vs STL vs radiomics")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
