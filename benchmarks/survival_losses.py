"""Cox training with small batches: the batch alone, a risk-set memory, or logistic hazard.

A mini-batch of 4 volumes is a risk set of at most 4 patients (a batch of 1 gives no
gradient). On a synthetic survival cohort this compares, on the same 5 stratified folds,
the out-of-fold Harrell C-index (pooled, with a stratified bootstrap 95 % interval) of
the survival task alone (a plain CNN, so that the loss alone differs) trained with:

* Cox over the batch only (``risk_set_memory=0``);
* Cox over the batch and a memory of the last 16 / 64 detached risk scores;
* the discrete-time logistic-hazard loss (10 bins), which needs no risk set;

each without the final linear refit of T4 (``refit_outcome=False``), so that the head
is what the loss trained, and then the default (Cox, memory 64) with the refit.

Usage: ``python benchmarks/survival_losses.py [--quick] [--threads 2]``; writes
``<out>/survival_losses.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from petmtl import MultiTaskPETSurvival
from petmtl.datasets import make_pet_cohort
from petmtl.metrics import bootstrap_interval, concordance_index_censored

CONFIGS = {
    "cox, batch only": dict(loss="cox", risk_set_memory=0, refit_outcome=False),
    "cox, memory 16": dict(loss="cox", risk_set_memory=16, refit_outcome=False),
    "cox, memory 64": dict(loss="cox", risk_set_memory=64, refit_outcome=False),
    "logistic hazard, 10 bins": dict(loss="logistic_hazard", n_time_bins=10,
                                     refit_outcome=False),
    "cox, memory 64, refit (default)": dict(loss="cox", risk_set_memory=64),
}


def _harrell(event, time, risk) -> float:
    return concordance_index_censored(event.astype(bool), time, risk)[0]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/out")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n, shape, spacing = (24, (16,) * 3, 12.0) if args.quick else (120, (24,) * 3, 8.0)
    cohort = make_pet_cohort(n, shape=shape, spacing=spacing, outcome="survival",
                             censoring_rate=0.35, random_state=0)
    event, times = cohort.y["event"], cohort.y["time"]
    splits = list(StratifiedKFold(2 if args.quick else 5, shuffle=True, random_state=0)
                  .split(cohort.X, event))
    base = MultiTaskPETSurvival(tasks=(), outcome_features="global", outcome_descriptors=False,
                                base_width=2 if args.quick else 8, depth=2 if args.quick else 3,
                                max_epochs=1 if args.quick else 20, spacing=spacing,
                                random_state=0)
    rows = []
    for name, params in CONFIGS.items():
        risk, start = np.zeros(n), time.perf_counter()
        for train, test in splits:
            est = clone(base).set_params(**params).fit(cohort.X[train], cohort.y[train])
            risk[test] = est.predict(cohort.X[test])
        c, low, high = bootstrap_interval(_harrell, event, times, risk, stratify=event,
                                          random_state=0)
        rows.append({"training": name, "cindex": c, "low": low, "high": high,
                     "seconds": time.perf_counter() - start})
        print(f"{name:34s} C {c:.3f} [{low:.3f}, {high:.3f}]  {rows[-1]['seconds']:.0f} s",
              flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "survival_losses.json").write_text(json.dumps(
        {"rows": rows, "n": n, "censored": float(1 - event.mean()), "shape": shape,
         "spacing": spacing}, indent=2))
    return rows


if __name__ == "__main__":
    main()
