"""``petmtl report``: the validation report of a ``petmtl cv`` folder, or of a model on a
test manifest."""

from __future__ import annotations

import os
import sys

from ._common import UserError, fitted_covariates, is_survival, read_manifest

DESCRIPTION = (
    "Write a validation report: one self-contained HTML file (report.html, figures "
    "embedded), the figures as PNG files and report.json with every number shown. SOURCE "
    "is a folder written by 'petmtl cv', or a model file written by 'petmtl fit' followed "
    "by a labelled test MANIFEST (the model is then evaluated on it first; a model fitted "
    "with clinical covariates reads the same columns from it). A run with covariates gets "
    "subgroups by each categorical covariate, read from its manifest. Needs "
    "matplotlib (pip install petmtl[plots]).")
EXAMPLES = "petmtl report cv --out report\n  petmtl report model.pt test.csv --out report"


def add_report_parser(sub, formatter, epilog: str):
    """The ``report`` subcommand's parser (manifest column options are added by the caller)."""
    p = sub.add_parser("report", formatter_class=formatter, help="validation report of a cv "
                       "folder, or of a model on a test manifest", description=DESCRIPTION,
                       epilog=f"{epilog}\nexamples:\n  {EXAMPLES}\n")
    p.add_argument("source", help="folder of 'petmtl cv', or a model file")
    p.add_argument("manifest", nargs="?", default=None,
                   help="test manifest (with a model file)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="report folder (default: SOURCE/report for a cv folder; required "
                        "with a model file)")
    p.add_argument("--gradcam", type=int, default=2, metavar="N",
                   help="patients shown with Grad-CAM (default: %(default)s)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap resamples of the report's intervals (default: "
                        "%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    p.add_argument("--horizons", type=float, nargs="+", default=None, metavar="T",
                   help="survival, with a model file: horizons (default: quartiles of the "
                        "event times)")
    p.add_argument("--centre-column", default="centre",
                   help="with a model file: column of the centre (default: %(default)s)")
    p.add_argument("--suv-provenance", default=None, metavar="TEXT",
                   help="with a model file: how the SUV was obtained")
    p.set_defaults(func=cmd_report, group=None)
    return p


def _covariates(manifest, columns):
    """The covariate table of a manifest read with ``columns`` (None without)."""
    if not columns:
        return None
    from ..clinical import covariates_from_manifest

    return covariates_from_manifest(manifest, columns)


def _evaluate(args):
    """Evaluate the model file on the test manifest; return the evaluation folder and the
    covariates of the test patients (None without)."""
    from ..model_selection import evaluate_model
    from ..serialization import load
    from ._cv import cohort_extras, labels

    if args.manifest is None:
        raise UserError("a model file needs a test MANIFEST: petmtl report model.pt test.csv "
                        "--out DIR")
    if args.out is None:
        raise UserError("--out is required with a model file")
    est = load(args.source)
    clinical = fitted_covariates(est)
    manifest = read_manifest(args, clinical)
    covariates = _covariates(manifest, clinical)
    survival = hasattr(est, "survival_train_")
    if survival and not is_survival(manifest):
        raise UserError("the model predicts survival but the manifest has no time and event "
                        "columns")
    extras = cohort_extras(args, manifest)
    found = labels(manifest)
    tasks = tuple(est.get_params()["tasks"])
    run = evaluate_model(
        est, manifest.X, manifest.survival if survival else manifest.y,
        masks=found["masks"] if "segmentation" in tasks else None,
        pathology=found["pathology"], centre=extras["centre"],
        patient_ids=list(manifest.ids), horizons=args.horizons,
        out_dir=os.path.join(args.out, "evaluation"), n_resamples=args.resamples,
        random_state=args.seed, manifest=manifest.path,
        suv_provenance=extras["suv_provenance"], clinical=covariates)
    return run.folder, covariates


def _run_covariates(args, folder: str):
    """The covariates of a cv run, read again from the manifest it recorded (None when the
    run had none, or they cannot be read as they were: a note says why)."""
    from argparse import Namespace

    from ..clinical import covariates_from_manifest
    from ..model_selection._clinical import digest_table
    from ..model_selection._store import RunFolder

    cohort = RunFolder(folder).read_settings()["cohort"]
    if cohort.get("clinical") is None:
        return None
    names = [c["name"] for c in cohort["clinical"]["columns"]]
    path = cohort.get("manifest")
    if path is None:
        if not args.quiet:
            print("petmtl report: the run recorded no manifest to read its covariates from; "
                  "no subgroups by covariate (build_report(..., clinical=) adds them)",
                  file=sys.stderr)
        return None
    table = None
    try:
        manifest = read_manifest(Namespace(**{**vars(args), "manifest": path}), names)
        table = covariates_from_manifest(manifest, names)
        table = table.loc[[str(i) for i in cohort["ids"]]]
    except (OSError, TypeError, ValueError, KeyError):
        pass
    if table is None or digest_table(table.reset_index(drop=True)) != cohort[
            "fingerprint"].get("clinical"):
        if not args.quiet:
            print(f"petmtl report: the covariates of the run cannot be read again from its "
                  f"manifest {path} as they were; no subgroups by covariate",
                  file=sys.stderr)
        return None
    return table


def cmd_report(args) -> int:
    """Run ``petmtl report``."""
    from ..report import build_report
    from ..report._figures import require_matplotlib

    try:
        require_matplotlib()
    except ImportError as exc:
        raise UserError(str(exc)) from None
    if os.path.isdir(args.source):
        if args.manifest is not None:
            raise UserError("SOURCE is a cv folder; a manifest is only used with a model file")
        source = args.source
        covariates = _run_covariates(args, source)
    elif os.path.isfile(args.source):
        source, covariates = _evaluate(args)
    else:
        raise UserError(f"SOURCE not found: {args.source}")
    result = build_report(source, args.out, n_gradcam=args.gradcam,
                          n_resamples=args.resamples, random_state=args.seed,
                          verbose=0 if args.quiet else 1, clinical=covariates)
    print(f"petmtl report: {result.html} ({len(result.figures)} figures, numbers in "
          f"{os.path.basename(result.json)})")
    return 0
