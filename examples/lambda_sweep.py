"""
Lambda sweep with GridSearchCV (paper Table 4)
==============================================

The outcome loss weight lambda trades the outcome task T4 against the auxiliary tasks
(:func:`petmtl.losses.task_weights` shares ``1 - lambda`` equally between reconstruction,
segmentation and pathology). This example cross-validates lambda in {0.1, 0.3, 0.5, 0.7, 0.9}
with :class:`~sklearn.model_selection.GridSearchCV`, scoring the outcome AUC and accuracy and
the Dice coefficient of the segmentation on every test fold. The Dice scorer
(:data:`petmtl.metrics.dice_scorer`) receives the test fold's masks through scikit-learn's
metadata routing, and ``set_fit_request`` routes the masks and pathology labels to ``fit``.

Run ``python examples/lambda_sweep.py --out results``: 72 synthetic patients of 24^3
voxels (4 mm), 3 stratified folds, up to 12 epochs per fit (15 fits), about 15-30 minutes on
two busy CPU cores. ``--quick`` runs 3 lambdas, 2 folds and 1 epoch in seconds. Writes
``lambda_sweep.json``, ``lambda_sweep.csv`` and ``lambda_sweep.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import sklearn
from sklearn.model_selection import GridSearchCV, StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent)) if "__file__" in globals() else None
from _common import format_table, make_parser, pyplot, save_figure, setup, write_json  # noqa: E402

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.datasets import make_pet_cohort  # noqa: E402
from petmtl.metrics import dice_scorer  # noqa: E402

SCORING = {"auc": "roc_auc", "accuracy": "accuracy", "dice": dice_scorer}


def main(argv=None) -> list[dict]:
    """Run the sweep; return one row per lambda (mean and std of each score)."""
    parser = make_parser(__doc__, cohort_size=True)
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    n = args.n_samples or (16 if quick else 72)
    shape = (16, 16, 16) if quick else (24, 24, 24)
    lambdas = [0.1, 0.5, 0.9] if quick else [0.1, 0.3, 0.5, 0.7, 0.9]
    folds = 2 if quick else 3
    epochs = args.epochs or (1 if quick else 12)

    cohort = make_pet_cohort(n, shape=shape, spacing=4.0, random_state=args.random_state)
    est = MultiTaskPETEstimator(base_width=2 if quick else 4, depth=2 if quick else 3,
                                max_epochs=epochs, n_iter_no_change=6,
                                random_state=args.random_state)
    start = time.perf_counter()
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_fit_request(masks=True, pathology=True)
        search = GridSearchCV(est, {"lam": lambdas}, scoring=SCORING, refit=False,
                              cv=StratifiedKFold(folds, shuffle=True,
                                                 random_state=args.random_state),
                              error_score="raise")
        search.fit(cohort.X, cohort.y, masks=cohort.masks, pathology=cohort.pathology)
    seconds = time.perf_counter() - start

    res = search.cv_results_
    rows = []
    for i, lam in enumerate(res["param_lam"]):
        row = {"lambda": float(lam)}
        for name in SCORING:
            row[name] = float(res[f"mean_test_{name}"][i])
            row[f"{name}_std"] = float(res[f"std_test_{name}"][i])
        rows.append(row)
    print(f"GridSearchCV over lambda: {n} patients, {folds}-fold CV, {epochs} epochs max, "
          f"{seconds:.0f} s")
    print(format_table(rows))
    best = max(rows, key=lambda r: r["auc"])
    print(f"best lambda by AUC: {best['lambda']}")
    write_json(out / "lambda_sweep.json", {"rows": rows, "n_samples": n, "folds": folds,
                                           "epochs": epochs, "shape": list(shape),
                                           "seconds": round(seconds, 1)})
    with open(out / "lambda_sweep.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(rows[0]) + "\n")
        fh.writelines(",".join(f"{v:.4f}" for v in r.values()) + "\n" for r in rows)
    _plot(rows, out / "lambda_sweep.png")
    return rows


def _plot(rows, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    lam = [r["lambda"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, marker in (("auc", "o"), ("accuracy", "s"), ("dice", "^")):
        ax.errorbar(lam, [r[name] for r in rows], yerr=[r[f"{name}_std"] for r in rows],
                    marker=marker, capsize=3, label=name)
    ax.set(xlabel="lambda (outcome loss weight)", ylabel="cross-validated score",
           title="Effect of lambda (cf. paper Table 4)", ylim=(0, 1))
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
