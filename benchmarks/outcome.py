"""Outcome-prediction protocol: petmtl's networks against radiomics + logistic regression.

Protocol
--------
* Cohort: ``--cohort synthetic`` (default) draws
  ``petmtl.datasets.make_pet_cohort(120, shape=(48, 48, 48), spacing=4.0,
  random_state=--cohort-seed)``; ``--manifest file.csv`` reads a NIfTI cohort with
  ``petmtl.io.read_manifest`` (patients without an outcome are left out). The networks then
  read the files lazily with ``spacing=--spacing`` (default 2 mm) and
  ``input_shape=--shape`` (default 64^3); the radiomics features come from the reference
  masks read with ``petmtl.io.prepare_volume`` at the same spacing and window.
* Folds: ``StratifiedKFold(5, shuffle=True, random_state=seed)`` for each seed of
  ``--seeds`` (default 0 1); every model sees the same folds.
* Models (``--models``, all by default), see ``MODELS``:

  - ``default``: ``MultiTaskPETEstimator(base_width=8, depth=4, max_epochs=30,
    random_state=seed)``, everything else at its default (four tasks);
  - ``single_task``: the same with the outcome task alone, a plain 3-D CNN (``tasks=()``,
    ``outcome_features="global"``, ``outcome_descriptors=False``);
  - ``radiomics``: SUVmax, SUVmean, MTV (ml) and TLG of the reference mask
    (``petmtl.baselines``) -> log1p -> StandardScaler -> LogisticRegression (a median
    imputer fills patients without a mask).

  A ``MultiTaskPETEstimator`` gets the volumes (plus ``masks=``/``pathology=`` when its
  tasks need them); any other scikit-learn classifier gets the four radiomics features.
  ``--set name.param=value`` overrides a parameter (``set_params``, value read as a Python
  literal), e.g. ``--set default.lam=0.5 --set radiomics.logisticregression__C=0.1``.
* Per model and seed: out-of-fold decision scores, predicted labels, per-patient Dice of
  ``segment`` against the reference mask and predicted pathology, pooled over the folds;
  seconds to fit and to predict each fold.
* Report: pooled out-of-fold AUC with a stratified bootstrap 95 % interval (2000
  resamples) per seed and for the mean over seeds (patients resampled jointly), AUC per
  fold, balanced accuracy of ``predict``, folds predicting a single class, mean Dice,
  pathology accuracy, minutes per CV run; paired bootstrap differences in pooled AUC of
  every model against ``radiomics`` and ``single_task`` (per seed and seed mean) with a
  one-sided p-value. See ``outcome_stats.py``.
* Output: ``<out>/<run-name>.json`` (settings, environment, every per-patient prediction,
  all figures) and ``<out>/<run-name>.md`` (the tables, also printed). Each (model, seed,
  fold) result is cached in ``<out>/<run-name>.cache/`` under a key of the model's
  parameters, the fold, the cohort and the petmtl source code, so an interrupted run
  resumes where it stopped and a changed setting or library recomputes what it affects
  (results of other settings stay in the cache; give experiments their own
  ``--run-name`` so their JSON and Markdown do not replace the baseline's).

Commands (from the repository root)
-----------------------------------
::

    python benchmarks/outcome.py --quick --threads 1     # smoke run, about a minute
    python benchmarks/outcome.py                         # the full protocol (hours on a CPU)
    python benchmarks/outcome.py --manifest cohort/manifest.csv --spacing 2 --shape 64
    python benchmarks/outcome.py --models default radiomics --set default.lam=0.5 \\
        --run-name lam0.5

``--quick``: 24 patients of 24^3 at 8 mm, 2 folds, seed 0, networks with base_width 2,
depth 2 and 2 epochs (options given explicitly, e.g. ``--seeds 0 1``, win). On the
synthetic cohort the outcome depends on tumour, peritumoral and whole-image features: with
the default outcome noise the AUC of the true logit is about 0.90 and of its tumour part
about 0.70 (see ``make_pet_cohort``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from outcome_stats import comparisons, markdown, mean_over_seeds, pool, seed_summary
from sklearn.model_selection import StratifiedKFold

import petmtl
from petmtl import MultiTaskPETEstimator
from petmtl.baselines import (
    RADIOMIC_FEATURES,
    clinical_classifier,
    radiomic_features,
    radiomics_classifier,
    radiomics_clinical_classifier,
)
from petmtl.datasets import make_pet_cohort
from petmtl.io import load_mask, prepare_volume, read_manifest
from petmtl.metrics import dice_score

BUDGET = {"base_width": 8, "depth": 4, "max_epochs": 30}
QUICK_BUDGET = {"base_width": 2, "depth": 2, "max_epochs": 2}


def default_network(seed: int) -> MultiTaskPETEstimator:
    """The network as users get it, at the protocol's budget."""
    return MultiTaskPETEstimator(**BUDGET, random_state=seed)


def single_task_network(seed: int) -> MultiTaskPETEstimator:
    """The outcome task alone, a plain CNN (no PET descriptors), same budget."""
    return MultiTaskPETEstimator(**BUDGET, tasks=(), outcome_features="global",
                                 outcome_descriptors=False, random_state=seed)


def radiomics_model(seed: int):
    """Hand-crafted SUV features -> log1p -> StandardScaler -> LogisticRegression."""
    return radiomics_classifier(random_state=seed)


def burden_network(seed: int) -> MultiTaskPETEstimator:
    """The default network whose T4 also reads the whole-body lesion burden (SUV >= 2.5,
    the predicted tumour as the primary)."""
    return MultiTaskPETEstimator(**BUDGET, lesion_burden="suv2.5", random_state=seed)


def radiomics_burden_model(seed: int):
    """The four radiomics features and the lesion burden (SUV >= 2.5) -> LR."""
    return radiomics_classifier(random_state=seed)


def clinical_model(seed: int):
    """Clinical covariates alone -> clinical preprocessing -> LogisticRegression."""
    return clinical_classifier(random_state=seed)


def radiomics_clinical_model(seed: int):
    """The four radiomics features beside the covariates -> LogisticRegression."""
    return radiomics_clinical_classifier(random_state=seed)


def fused_network(seed: int, **params) -> MultiTaskPETEstimator:
    """The default network with the covariates in T4 (late fusion unless ``params``)."""
    return MultiTaskPETEstimator(**BUDGET, random_state=seed, **params)


MODELS = {"default": default_network, "single_task": single_task_network,
          "radiomics": radiomics_model, "burden": burden_network,
          "radiomics_burden": radiomics_burden_model, "clinical": clinical_model,
          "radiomics_clinical": radiomics_clinical_model,
          "fused_late": fused_network,
          "fused_film": lambda seed: fused_network(seed, clinical_fusion="film"),
          "fused_ema": lambda seed: fused_network(seed, weight_averaging="ema"),
          "fused_ensemble": lambda seed: fused_network(seed, n_members=3)}
"""Model name -> builder; what each model reads is in ``INPUTS``."""

INPUTS = {"radiomics": "radiomics", "radiomics_burden": "radiomics_burden",
          "clinical": "clinical", "radiomics_clinical": "radiomics_clinical",
          "fused_late": "table", "fused_film": "table", "fused_ema": "table",
          "fused_ensemble": "table"}
"""What a model is fitted on: the volumes (default), the radiomics features (with the
lesion burden), the covariates, radiomics and covariates side by side, or the table of
volumes and covariates."""

VARIANTS = {"fused_late": {"tta": {"tta": True}}}
"""Prediction-time variants of a fitted model, reported as ``<model>+<variant>``."""


@dataclass
class Cohort:
    """Patients, labels and inputs of one run."""

    ids: list
    X: np.ndarray  # volumes (n, D, H, W), or object array of PET paths
    y: np.ndarray
    masks: np.ndarray  # (n, D, H, W) uint8, or object array of mask paths / None
    pathology: np.ndarray
    features: np.ndarray  # (n, 4) radiomics features, NaN without a mask
    description: str
    fingerprint: dict
    clinical: object = None  # DataFrame of covariates (clinical cohorts)
    burden: np.ndarray | None = None  # (n, 8) lesion burden, SUV >= 2.5

    @property
    def paths(self) -> bool:
        return self.X.dtype == object


def other_outcome(features: np.ndarray, names, weights: dict, seed: int) -> np.ndarray:
    """A binary outcome drawn from other weights of the cohort's hidden features.

    Each named feature is standardised over the cohort (after a log for volumes and
    uptakes), ``eta = sum(w * z) / ||w||`` and ``y ~ Bernoulli(sigmoid(eta / 0.4))`` with
    its own seed: a label the model was not developed on.
    """
    eta = np.zeros(len(features))
    for name, weight in weights.items():
        values = features[:, list(names).index(name)]
        if name in ("tumour_volume_ml", "tumour_uptake_suv", "marrow_suv", "liver_suv"):
            values = np.log(values)
        eta += weight * (values - values.mean()) / (values.std() or 1.0)
    eta /= np.sqrt(sum(w**2 for w in weights.values()))
    rng = np.random.default_rng(seed)
    return (rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta / 0.4))).astype(np.int64)


def synthetic_cohort(n: int, shape: int, spacing: float, seed: int,
                     outcome_weights: dict | None = None, clinical: bool = False) -> Cohort:
    """``make_pet_cohort(n, shape=(shape,) * 3, spacing=spacing, random_state=seed)``.

    With ``outcome_weights`` the outcome is redrawn by :func:`other_outcome`; with
    ``clinical`` the cohort has covariates (``clinical=True``) and their outcome.
    """
    c = make_pet_cohort(n, shape=(shape,) * 3, spacing=spacing, random_state=seed,
                        return_features=bool(outcome_weights), clinical=clinical)
    features = radiomic_features(c.X, c.masks, spacing)
    burden = radiomic_features(c.X, c.masks, spacing, burden="suv2.5")[:, 4:]
    desc = f"synthetic cohort: {n} patients, {shape}^3 at {spacing:g} mm, cohort seed {seed}"
    y = c.y
    if outcome_weights:
        y = other_outcome(c.features, c.feature_names, outcome_weights, seed + 1)
        desc += f", outcome redrawn from {outcome_weights}"
    table = None
    if clinical:
        table = c.clinical.reset_index(drop=True)
        desc += ", with clinical covariates (make_pet_cohort(clinical=True))"
    return Cohort(list(c.patient_id), c.X, y, c.masks, c.pathology, features, desc,
                  {"cohort": "synthetic", "n": n, "shape": shape, "spacing": spacing,
                   "cohort_seed": seed, "outcome_weights": outcome_weights,
                   "clinical": clinical}, table, burden)


def manifest_cohort(path: str, shape: int, spacing: float, crop: str, quick: bool) -> Cohort:
    """Labelled patients of a manifest; radiomics on the networks' window."""
    m = read_manifest(path)
    keep = np.flatnonzero(np.array([v != -1 for v in m.y.tolist()]))
    if quick:  # 12 patients of each class, for a smoke run
        keep = np.sort(np.concatenate([keep[m.y[keep] == c][:12] for c in np.unique(m.y[keep])]))
    pets, masks = [], []
    for i in keep:
        pet, mask, _ = prepare_volume(m.X[i], m.masks[i], spacing=spacing, shape=(shape,) * 3,
                                      center=crop)
        pets.append(pet)
        masks.append(mask)
    features = radiomic_features(pets, masks, spacing)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    desc = (f"manifest {path}: {len(keep)} of {len(m)} patients (labelled"
            f"{', quick subset' if quick else ''}), window {shape}^3 at {spacing:g} mm")
    y = np.array(m.y[keep].tolist())
    return Cohort(list(m.ids[keep]), m.X[keep], y, m.masks[keep], m.pathology[keep],
                  features, desc,
                  {"manifest": os.path.abspath(path), "sha256": digest, "rows": keep.tolist(),
                   "shape": shape, "spacing": spacing, "crop_center": crop})


def parse_overrides(items: list[str], names) -> dict[str, dict]:
    """``["default.lam=0.5"]`` -> ``{"default": {"lam": 0.5}}`` (values as literals)."""
    out: dict[str, dict] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        name, dot, param = target.partition(".")
        if not sep or not dot or not param:
            raise SystemExit(f"--set {item!r}: expected name.param=value")
        if name not in names:
            raise SystemExit(f"--set {item!r}: unknown model {name!r}; models: {list(names)}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(name, {})[param] = value
    return out


def build_model(name: str, seed: int, args):
    """The model ``name`` for ``seed`` with the run's settings and ``--set`` overrides."""
    est = MODELS[name](seed)
    if isinstance(est, MultiTaskPETEstimator):
        if args.quick:
            est.set_params(**QUICK_BUDGET)
        # files are resampled to spacing; for arrays it states their voxel size
        est.set_params(spacing=args.spacing)
        if args.manifest:
            est.set_params(input_shape=(args.shape,) * 3, crop_center=args.crop_center)
    est.set_params(**args.overrides.get(name, {}))
    if isinstance(est, MultiTaskPETEstimator):
        est._validate_params()  # a bad --set fails now, not at the first fit
    return est


def _radiomics_frame(cohort: Cohort, idx: np.ndarray):
    import pandas as pd

    return pd.DataFrame(cohort.features[idx], columns=list(RADIOMIC_FEATURES))


def _fit_inputs(est, cohort: Cohort, idx: np.ndarray, name: str = "default") -> tuple:
    kind = INPUTS.get(name, "images")
    if kind in ("clinical", "radiomics_clinical", "table") and cohort.clinical is None:
        raise SystemExit(f"model {name!r} needs covariates: run with --clinical")
    if kind == "radiomics":
        return cohort.features[idx], {}
    if kind == "radiomics_burden":
        return np.column_stack([cohort.features[idx], cohort.burden[idx]]), {}
    if kind == "clinical":
        return cohort.clinical.iloc[idx].reset_index(drop=True), {}
    if kind == "radiomics_clinical":
        return _radiomics_frame(cohort, idx).join(
            cohort.clinical.iloc[idx].reset_index(drop=True)), {}
    tasks = est.get_params()["tasks"]
    kwargs = {}
    if "segmentation" in tasks:
        kwargs["masks"] = cohort.masks[idx]
    if "pathology" in tasks:
        kwargs["pathology"] = cohort.pathology[idx]
    if kind == "table":
        return cohort.clinical.iloc[idx].reset_index(drop=True).assign(
            image=list(cohort.X[idx])), kwargs
    return cohort.X[idx], kwargs


def _dice(est, cohort: Cohort, X, test) -> list | None:
    if not isinstance(est, MultiTaskPETEstimator) or "segmentation" not in est.tasks:
        return None
    pred = est.segment(X)
    if not cohort.paths:
        return dice_score(cohort.masks[test], pred, per_sample=True).tolist()
    out = []
    for ref, seg in zip(cohort.masks[test], pred, strict=True):
        out.append(None if ref is None else dice_score(load_mask(ref).data[None], seg[None]))
    return out


def run_fold(est, cohort: Cohort, train: np.ndarray, test: np.ndarray,
             name: str = "default") -> dict:
    """Fit on ``train`` and return the out-of-fold predictions for ``test``."""
    X_train, kwargs = _fit_inputs(est, cohort, train, name)
    X_test, _ = _fit_inputs(est, cohort, test, name)
    start = time.perf_counter()
    est.fit(X_train, cohort.y[train], **kwargs)
    fitted = time.perf_counter()
    scores = np.asarray(est.decision_function(X_test), dtype=np.float64)
    labels = np.asarray(est.predict(X_test))
    dice = _dice(est, cohort, X_test, test)
    pathology = None
    if isinstance(est, MultiTaskPETEstimator) and "pathology" in est.tasks:
        pathology = est.predict_pathology(X_test).tolist()
    result = {"test": test.tolist(), "scores": scores.tolist(), "labels": labels.tolist(),
              "dice": dice, "pathology": pathology,
              "fit_seconds": fitted - start, "predict_seconds": time.perf_counter() - fitted,
              "single_class": bool(len(np.unique(labels)) < 2)}
    for variant, params in VARIANTS.get(name, {}).items():  # the same fit, predicted again
        start = time.perf_counter()
        est.set_params(**params)
        v_scores = np.asarray(est.decision_function(X_test), dtype=np.float64)
        v_labels = np.asarray(est.predict(X_test))
        result.setdefault("variants", {})[variant] = {
            "scores": v_scores.tolist(), "labels": v_labels.tolist(),
            "predict_seconds": time.perf_counter() - start,
            "single_class": bool(len(np.unique(v_labels)) < 2)}
    return result


def code_fingerprint() -> str:
    """Hash of petmtl's sources and the numeric libraries' versions."""
    digest = hashlib.sha256()
    for path in sorted(Path(petmtl.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    digest.update(f"{np.__version__} {sklearn.__version__} {torch.__version__}".encode())
    return digest.hexdigest()


def stable_repr(value) -> str:
    """``repr`` without the memory addresses of functions and objects, which change from
    one process to the next (e.g. the clinical preprocessor's column selectors)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _cache_key(est, name, seed, fold, test, cohort, code) -> str:
    params = {k: stable_repr(v) for k, v in sorted(est.get_params(deep=True).items())}
    blob = json.dumps([name, params, seed, fold, test.tolist(), cohort.fingerprint, code],
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, path)


def cached_fold(name, seed, fold, split, cohort, args, code) -> dict:
    """``run_fold`` unless the cache holds this (model, seed, fold) with the same key."""
    est = build_model(name, seed, args)
    train, test = split
    key = _cache_key(est, name, seed, fold, test, cohort, code)
    path = args.cache / f"{name}-seed{seed}-fold{fold}-{key[:16]}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            print(f"  {name} seed {seed} fold {fold}: cached", flush=True)
            return cached
    result = {"key": key, **run_fold(est, cohort, train, test, name)}
    _write_json(path, result)
    print(f"  {name} seed {seed} fold {fold}: fit {result['fit_seconds']:.1f} s", flush=True)
    return result


def evaluate(cohort: Cohort, args, code: str) -> dict:
    """Run (or resume) every model on every seed's folds; return the per-seed results."""
    results: dict = {name: {} for name in args.models}
    for seed in args.seeds:
        cv = StratifiedKFold(args.n_splits, shuffle=True, random_state=seed)
        splits = list(cv.split(np.zeros(len(cohort.y)), cohort.y))
        for name in args.models:
            folds = [cached_fold(name, seed, k, s, cohort, args, code)
                     for k, s in enumerate(splits)]
            results[name][seed] = {"folds": folds, "oof": pool(folds, len(cohort.y))}
            for variant in VARIANTS.get(name, {}):
                varied = [{**fold, **fold["variants"][variant], "dice": None,
                           "pathology": None} for fold in folds]
                results.setdefault(f"{name}+{variant}", {})[seed] = {
                    "folds": varied, "oof": pool(varied, len(cohort.y))}
    return results


def report(cohort: Cohort, results: dict, args, code: str) -> dict:
    """Every figure of the protocol plus the settings and per-patient predictions."""
    positive = np.unique(cohort.y)[1]
    models = {}
    for name, runs in results.items():
        for run in runs.values():
            run["summary"] = seed_summary(cohort.y, positive, cohort.pathology, run,
                                          args.n_resamples)
        base, _, variant = name.partition("+")
        models[name] = {
            "params": repr(build_model(base, args.seeds[0], args))
                      + (f" predicted with {VARIANTS[base][variant]}" if variant else ""),
            "seeds": {str(s): r for s, r in runs.items()},
            "mean_over_seeds": mean_over_seeds(cohort.y, positive, runs, args.seeds,
                                               args.n_resamples)}
    protocol = {k: v for k, v in vars(args).items() if k not in ("cache", "out")}
    return {
        "protocol": protocol,
        "environment": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "petmtl": petmtl.__version__, "torch": torch.__version__,
                        "sklearn": sklearn.__version__, "numpy": np.__version__,
                        "torch_threads": torch.get_num_threads(), "code_sha256": code,
                        "date": time.strftime("%Y-%m-%d %H:%M:%S")},
        "cohort": {"description": cohort.description, "ids": cohort.ids,
                   "y": cohort.y.tolist(), "positive_label": positive.item(),
                   "pathology": cohort.pathology.tolist(), "radiomics_names": RADIOMIC_FEATURES,
                   "radiomics": cohort.features.tolist()},
        "models": models,
        "comparisons": comparisons(cohort.y, positive, results, args.seeds, args.n_resamples),
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cohort", choices=["synthetic"], default="synthetic")
    p.add_argument("--manifest", help="NIfTI cohort CSV (petmtl.io.read_manifest)")
    p.add_argument("--n-samples", type=int, help="synthetic cohort size (120)")
    p.add_argument("--cohort-seed", type=int, default=0)
    p.add_argument("--shape", type=int, help="cube side: 48 synthetic, 64 manifest")
    p.add_argument("--spacing", type=float, help="mm: 4 synthetic, 2 manifest")
    p.add_argument("--crop-center", default="body", help="manifest: window centre")
    p.add_argument("--outcome-weights", type=ast.literal_eval, default=None,
                   help="synthetic: redraw y from these hidden-feature weights, e.g. "
                        "\"{'tumour_necrosis': 1, 'marrow_suv': 1}\"")
    p.add_argument("--clinical", action="store_true",
                   help="synthetic: draw clinical covariates and their outcome "
                        "(make_pet_cohort(clinical=True)) for the clinical and fused models")
    p.add_argument("--seeds", type=int, nargs="+", help="CV and network seeds (0 1)")
    p.add_argument("--n-splits", type=int, help="folds (5)")
    p.add_argument("--models", nargs="+", choices=list(MODELS),
                   help="default: default, single_task, radiomics (and with --clinical "
                        "clinical, radiomics_clinical and the fused_* networks)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="NAME.PARAM=VALUE")
    p.add_argument("--n-resamples", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="smoke run, about a minute")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--out", default="results/outcome")
    p.add_argument("--run-name")
    args = p.parse_args(argv)
    quick = {"n_samples": 24, "n_splits": 2, "seeds": [0], "shape": 24, "spacing": 8.0}
    full = {"n_samples": 120, "n_splits": 5, "seeds": [0, 1],
            "shape": 64 if args.manifest else 48, "spacing": 2.0 if args.manifest else 4.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:  # options given explicitly win over --quick
            setattr(args, key, value)
    if args.models is None:
        args.models = ["default", "single_task", "radiomics"] + (
            ["clinical", "radiomics_clinical", "fused_late", "fused_film", "fused_ema",
             "fused_ensemble"] if args.clinical else [])
    args.overrides = parse_overrides(args.overrides, MODELS)
    stem = Path(args.manifest).resolve().parent.name if args.manifest else args.cohort
    args.run_name = args.run_name or stem + ("-quick" if args.quick else "")
    return args


def main(argv=None) -> dict:
    """Run the protocol; return the report written to ``<out>/<run-name>.json``."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.models:  # fail on a bad --set now, not hours into the run
        build_model(name, args.seeds[0], args)
    out = Path(args.out)
    args.cache = out / f"{args.run_name}.cache"
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.manifest:
        cohort = manifest_cohort(args.manifest, args.shape, args.spacing, args.crop_center,
                                 args.quick)
    else:
        cohort = synthetic_cohort(args.n_samples, args.shape, args.spacing, args.cohort_seed,
                                  args.outcome_weights, args.clinical)
    print(cohort.description, flush=True)
    code = code_fingerprint()
    result = report(cohort, evaluate(cohort, args, code), args, code)
    table = markdown(result)
    _write_json(out / f"{args.run_name}.json", result)
    (out / f"{args.run_name}.md").write_text(table)
    print(table)
    return result


if __name__ == "__main__":
    main()
