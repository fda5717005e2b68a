"""
Task ablation: the 15 configurations of the paper's Table 1
===========================================================

Which auxiliary tasks help the outcome prediction, and do the global (multi-scale encoder /
decoder) features, the tumour features (a CNN on the PET gated by the predicted tumour) or
both work best? This example cross-validates the paper's 15 configurations of tasks (T1
reconstruction, T2 segmentation, T3 pathology; T4 outcome is always on) and outcome
features on the same folds of one synthetic cohort and prints a table laid out like Table 1:
Dice (segmentation), pathology accuracy, outcome accuracy and AUC. The paper's "T3 & T4"
row with neither feature family is ``tasks=("pathology",), outcome_features="tumor"``: without
segmentation the tumour branch has no gate and reads the whole image (a plain image CNN).

Run ``python examples/task_ablation.py --out results``: 60 patients of 24^3 voxels (4 mm),
3 folds, up to 10 epochs per fit (45 fits), about 20-40 minutes on two busy CPU cores.
``--quick`` runs every configuration on 12 tiny volumes, 2 folds and 1 epoch in about
20 seconds. Writes ``task_ablation.json``, ``task_ablation.csv`` and ``task_ablation.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
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
from petmtl.datasets import make_pet_cohort  # noqa: E402

# (reconstruction, segmentation, pathology), outcome_features: the rows of Table 1.
CONFIGURATIONS = [
    ((True, False, False), "global"),
    ((True, False, True), "global"),
    *[((True, True, False), f) for f in ("global", "tumor", "both")],
    *[((False, True, False), f) for f in ("global", "tumor", "both")],
    *[((False, True, True), f) for f in ("global", "tumor", "both")],
    ((False, False, True), "tumor"),
    *[((True, True, True), f) for f in ("global", "tumor", "both")],
]
_NAMES = ("reconstruction", "segmentation", "pathology")


def describe(flags, features) -> dict:
    """Table 1 notation of a configuration: task list and ticks for the feature families."""
    tasks = " & ".join([f"T{i + 1}" for i, on in enumerate(flags) if on] + ["T4"])
    gated = flags[1]  # tumour features need the segmentation gate
    return {"tasks": tasks,
            "global": "yes" if features in ("global", "both") else "no",
            "tumor": "yes" if features in ("tumor", "both") and gated else "no"}


def main(argv=None) -> list[dict]:
    """Run the ablation; return one row per configuration."""
    parser = make_parser(__doc__, cohort_size=True)
    parser.add_argument("--folds", type=int, default=None)
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    n = args.n_samples or (12 if quick else 60)
    shape = (16, 16, 16) if quick else (24, 24, 24)
    folds = args.folds or (2 if quick else 3)
    epochs = args.epochs or (1 if quick else 10)

    cohort = make_pet_cohort(n, shape=shape, spacing=4.0, random_state=args.random_state)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=args.random_state)
                  .split(cohort.X, cohort.y))
    rows = []
    start = time.perf_counter()
    for flags, features in CONFIGURATIONS:
        tasks = tuple(name for name, on in zip(_NAMES, flags, strict=True) if on)
        est = MultiTaskPETEstimator(
            tasks=tasks, outcome_features=features, base_width=2 if quick else 4,
            depth=2 if quick else 3, max_epochs=epochs, n_iter_no_change=5,
            random_state=args.random_state)
        t0 = time.perf_counter()
        per_fold = [fold_scores(est, cohort, train, test) for train, test in splits]
        row = {**describe(flags, features), "tasks_param": list(tasks),
               "outcome_features": features, **summarise(per_fold),
               "seconds": round(time.perf_counter() - t0, 1)}
        rows.append(row)
        print(f"{row['tasks']:<18} global={row['global']:<3} tumor={row['tumor']:<3} "
              f"AUC={row['auc']:.3f} acc={row['accuracy']:.3f} dice={row['dice']:.3f} "
              f"({row['seconds']:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    print(f"\nTask ablation: {n} patients, {folds}-fold CV, {epochs} epochs max, "
          f"{seconds:.0f} s\n")
    print(format_table(rows, ["tasks", "global", "tumor", "dice", "pathology_accuracy",
                              "accuracy", "auc", "auc_std"]))
    write_json(out / "task_ablation.json", {"rows": rows, "n_samples": n, "folds": folds,
                                            "epochs": epochs, "shape": list(shape),
                                            "seconds": round(seconds, 1)})
    columns = ["tasks", "global", "tumor", "outcome_features", "dice", "pathology_accuracy",
               "accuracy", "auc", "auc_std"]
    with open(out / "task_ablation.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(columns) + "\n")
        for r in rows:
            fh.write(",".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])
                              for c in columns) + "\n")
    _plot(rows, out / "task_ablation.png")
    return rows


def _plot(rows, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    labels = [f"{r['tasks']} ({r['outcome_features']})" for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(y - 0.2, [r["auc"] for r in rows], height=0.4, xerr=[r["auc_std"] for r in rows],
            label="outcome AUC", capsize=2)
    ax.barh(y + 0.2, np.nan_to_num([r["dice"] for r in rows]), height=0.4, label="Dice")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set(xlim=(0, 1), xlabel="cross-validated score", title="Task ablation (cf. Table 1)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
