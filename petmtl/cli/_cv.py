"""``petmtl cv``: repeated cross-validation of a manifest, with baselines on the same folds."""

from __future__ import annotations

import csv
import sys

from ._common import UserError, clinical_columns, is_survival, parse_settings, read_manifest

DESCRIPTION = (
    "Cross-validate a model on the patients of MANIFEST: stratified folds (or folds "
    "grouped by a column, --group centre) repeated with different seeds; every model (the "
    "network and the baselines of --compare) sees the same folds. Writes to --out every "
    "out-of-fold prediction per patient (predictions.csv), pooled metrics with bootstrap "
    "95 % intervals and paired differences to each baseline (metrics.json) and each "
    "fold's network. A killed run continues at the next unfinished fold when the same "
    "command is run again. Then 'petmtl report DIR' writes the validation report. A "
    "'centre' column (--centre-column) gives per-centre results; a 'suv_provenance' "
    "column (or --suv-provenance) says how the SUV was obtained. --clinical names "
    "manifest columns of clinical covariates: the network reads them beside the image, "
    "their preprocessing is learnt on each fold's training patients, and the clinical and "
    "radiomics+clinical baselines can be compared; the run folder keeps no patient's "
    "covariate value.")
EXAMPLE = ("petmtl cv cohort.csv --folds 5 --repeats 2 --out cv --compare radiomics "
           "--set max_epochs=30 --set input_shape=(48,48,48)")


def add_cv_parser(sub, formatter, epilog: str):
    """The ``cv`` subcommand's parser (manifest column options are added by the caller)."""
    p = sub.add_parser("cv", formatter_class=formatter, help="cross-validate a model on a "
                       "manifest, with baselines on the same folds", description=DESCRIPTION,
                       epilog=f"{epilog}\nexample:\n  {EXAMPLE}\n")
    p.add_argument("manifest", help="CSV manifest of the cohort (with outcomes)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the run (resumed "
                   "when it holds the same run)")
    p.add_argument("--folds", type=int, default=5, help="folds per repeat (default: "
                   "%(default)s)")
    p.add_argument("--repeats", type=int, default=2, help="repeats (default: %(default)s)")
    p.add_argument("--compare", default="", metavar="NAMES",
                   help="baselines on the same folds, comma-separated: radiomics, "
                        "clinical, radiomics+clinical (these two need --clinical), "
                        "single-task")
    p.add_argument("--clinical", default=None, metavar="COLUMNS",
                   help="manifest columns of clinical covariates, comma-separated (e.g. "
                        "age,sex,ecog,t_stage); numeric columns are scaled, others one-hot "
                        "encoded, missing values imputed with an indicator, on each fold's "
                        "training patients")
    p.add_argument("--group", default=None, metavar="COLUMN",
                   help="keep the patients of each value of this column (e.g. centre) in "
                        "one fold")
    p.add_argument("--centre-column", default="centre",
                   help="column of the centre, for per-centre results (default: "
                        "%(default)s; ignored when absent)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="estimator parameter, repeatable (as for 'petmtl fit')")
    p.add_argument("--seed", type=int, default=0, help="seed of folds, networks and "
                   "bootstrap (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="fit N folds at once in separate processes (memory grows with N)")
    p.add_argument("--horizons", type=float, nargs="+", default=None, metavar="T",
                   help="survival: times of the predicted survival (default: quartiles of "
                        "the event times)")
    p.add_argument("--resamples", type=int, default=2000,
                   help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--suv-provenance", default=None, metavar="TEXT",
                   help="how the SUV was obtained, for the model card")
    p.set_defaults(func=cmd_cv)
    return p


def read_columns(path: str, id_column: str, ids, names) -> dict:
    """Extra manifest columns, one value per patient of ``ids`` (None for empty cells)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        rows = {(row.get(id_column) or "").strip(): row for row in reader}
    return {name: [(rows[str(i)].get(name) or "").strip() or None for i in ids]
            for name in names if name and name in header}


def cohort_extras(args, manifest) -> dict:
    """Centre, groups and SUV provenance from the manifest's extra columns and options."""
    wanted = [args.centre_column, args.group, "suv_provenance"]
    columns = read_columns(args.manifest, args.id_column, manifest.ids, wanted)
    if args.group and args.group not in columns:
        raise UserError(f"--group {args.group}: the manifest has no such column")
    provenance = args.suv_provenance
    if provenance is None and "suv_provenance" in columns:
        values = sorted({v for v in columns["suv_provenance"] if v})
        provenance = "; ".join(values) or None
    return {"centre": columns.get(args.centre_column),
            "groups": columns.get(args.group) if args.group else None,
            "suv_provenance": provenance}


def build_estimator(args, manifest):
    """The estimator the manifest calls for, with the ``--set`` parameters."""
    from .. import MultiTaskPETEstimator, MultiTaskPETSurvival
    from ._fit import default_tasks

    survival = is_survival(manifest)
    estimator_class = MultiTaskPETSurvival if survival else MultiTaskPETEstimator
    settings = parse_settings(args.set, estimator_class)
    if "tasks" not in settings:
        default_tasks(manifest, settings, quiet=True)
        if not args.quiet:
            print(f"petmtl cv: tasks {settings['tasks']} (from the manifest's columns) plus "
                  "the outcome", file=sys.stderr)
    settings["verbose"] = 0
    return estimator_class(**settings), survival


def labels(manifest) -> dict:
    """Masks and pathology of the manifest, None when no patient has one."""
    masks = manifest.masks if any(m is not None for m in manifest.masks) else None
    pathology = (manifest.pathology if any(p is not None for p in manifest.pathology)
                 else None)
    return {"masks": masks, "pathology": pathology}


def print_summary(metrics: dict, out: str) -> None:
    """The primary metric of every model and the paired differences."""
    main = metrics["primary_metric"]
    name = {"auc": "AUC", "cindex": "C-index"}[main]
    print(f"petmtl cv: results in {out} (predictions.csv, metrics.json)")
    width = max(14, *(len(model) + 2 for model in metrics["models"]))
    print(f"{'model':<{width}}{name} mean over repeats [95 % CI]")
    for model, values in metrics["models"].items():
        m = values[main]["mean"]
        print(f"{model:<{width}}{m['estimate']:.3f} [{m['low']:.3f}, {m['high']:.3f}]")
    for d in metrics["differences"]:
        print(f"{d['model']} - {d['reference']}: {d['estimate']:+.3f} [{d['low']:+.3f}, "
              f"{d['high']:+.3f}], one-sided p = {d['p_value_one_sided']:.3f}")
    print(f"next: petmtl report {out}")


def cmd_cv(args) -> int:
    """Run ``petmtl cv``."""
    from ..model_selection import cross_validate_cohort

    clinical = clinical_columns(args.clinical)
    manifest = read_manifest(args, clinical)
    estimator, survival = build_estimator(args, manifest)
    extras = cohort_extras(args, manifest)
    covariates = None
    if clinical:
        from ..clinical import covariates_from_manifest

        covariates = covariates_from_manifest(manifest, clinical)
    y = manifest.survival if survival else manifest.y
    if not args.quiet:
        print(f"petmtl cv: {len(manifest)} patients, {args.repeats} x {args.folds} folds, "
              f"models: petmtl{''.join(', ' + c for c in args.compare.split(',') if c)}",
              file=sys.stderr)
    result = cross_validate_cohort(
        estimator, manifest.X, y, **labels(manifest), groups=extras["groups"],
        centre=extras["centre"], patient_ids=list(manifest.ids), n_splits=args.folds,
        n_repeats=args.repeats, compare=args.compare, out_dir=args.out,
        random_state=args.seed, horizons=args.horizons, n_resamples=args.resamples,
        n_jobs=args.jobs, verbose=0 if args.quiet else 1, manifest=manifest.path,
        suv_provenance=extras["suv_provenance"], clinical=covariates)
    print_summary(result.metrics, result.out_dir)
    return 0
