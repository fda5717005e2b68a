"""The ``petmtl`` command line: fit, predict and evaluate from a CSV manifest, and
convert DICOM folders into one.

Run ``petmtl --help`` or ``petmtl <command> --help`` for the details; ``petmtl cv``
and ``petmtl report`` validate a model on a cohort. A manifest with
``time`` and ``event`` columns trains and scores a :class:`~petmtl.MultiTaskPETSurvival`;
one with an ``outcome`` column a :class:`~petmtl.MultiTaskPETEstimator`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._common import UserError
from ._convert import add_parser as add_convert_parser
from ._cv import add_cv_parser
from ._evaluate import cmd_evaluate
from ._fit import cmd_fit
from ._predict import cmd_predict
from ._report import add_report_parser

__all__ = ["UserError", "build_parser", "main"]

MANIFEST_HELP = """\
The manifest is a CSV file with a header row and one patient per line:

  patient_id,pet_path,mask_path,pathology,outcome
  P001,images/P001_pet.nii.gz,images/P001_mask.nii.gz,adenocarcinoma,1
  P002,images/P002_pet.nii.gz,,squamous,0
  P003,images/P003_pet.nii.gz,images/P003_mask.nii.gz,,

pet_path: PET volume in SUV (.nii or .nii.gz) or a DICOM PET series folder (read
in SUVbw); relative paths are read from the manifest's folder. mask_path: binary
tumour mask on the PET grid (NIfTI, or a DICOM RTSTRUCT/SEG file; may be empty).
pathology: class name (may be empty). outcome: binary label, e.g. 0/1 (empty or
-1 = unknown). For a time-to-event outcome give time (e.g. months) and event
(1 = event, 0 = censored) columns instead of outcome: the model is then a survival
model. Other column names can be chosen with --pet-column etc.
"""

EPILOG = f"""\
{MANIFEST_HELP}
examples:
  petmtl fit train.csv --model model.pt --set max_epochs=50 --set lam=0.3
  petmtl predict model.pt test.csv --out predictions.csv --masks-dir predicted_masks
  petmtl evaluate model.pt test.csv --json metrics.json
  petmtl convert dicom/ --out cohort/
  petmtl cv cohort.csv --folds 5 --repeats 2 --out cv --compare radiomics
  petmtl report cv --out report
"""


# ------------------------------------------------------------------ parser
def _add_manifest_columns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id-column", default="patient_id", help="default: %(default)s")
    p.add_argument("--pet-column", default="pet_path", help="default: %(default)s")
    p.add_argument("--mask-column", default="mask_path",
                   help="default: %(default)s ('' to ignore masks)")
    p.add_argument("--pathology-column", default="pathology",
                   help="default: %(default)s ('' to ignore)")
    p.add_argument("--outcome-column", default="outcome",
                   help="default: %(default)s ('' to ignore)")
    p.add_argument("--time-column", default="time", help="default: %(default)s ('' to ignore)")
    p.add_argument("--event-column", default="event",
                   help="default: %(default)s ('' to ignore)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


# name, function, one-line help, description, example, manifest help, threshold help
_COMMANDS = (
    ("fit", cmd_fit, "train a model on a manifest of NIfTI files",
     "Train a model on the patients of MANIFEST and write it to --model. Tasks follow the "
     "manifest: segmentation when masks are given, pathology when labels are given (override "
     "with --set tasks=...). Each PET is reoriented to RAS+, resampled to 2 mm and cropped to "
     "64^3 voxels around the body by default (--set spacing=..., --set input_shape=...).",
     "petmtl fit train.csv --model model.pt --set max_epochs=50 --set lam=0.3 "
     "--set input_shape=(48,48,48)", "CSV manifest of the training cohort", None),
    ("predict", cmd_predict, "predict outcomes (and masks) for a manifest",
     "Predict the outcome (and pathology) of every patient in MANIFEST with a model from "
     "'petmtl fit' and write a CSV: the probability and label of a binary outcome, or the "
     "risk and the survival at --horizons of a survival model. With --masks-dir, also "
     "write each predicted tumour mask as <patient_id>_seg.nii.gz on the PET's own grid "
     "(sliding windows over the whole scan). Each PET file is read once.",
     "petmtl predict model.pt test.csv --out predictions.csv --masks-dir masks",
     "CSV manifest (outcome/mask columns are not needed)",
     "tumour probability threshold for masks (default: %(default)s)"),
    ("evaluate", cmd_evaluate, "score a model on a labelled manifest",
     "Score a model on MANIFEST: outcome AUC and accuracy (patients with a known outcome), "
     "or Harrell's C-index with a 95 % bootstrap interval for a survival model, "
     "Dice of the predicted masks on each PET's grid (patients with a mask) and pathology "
     "accuracy. Prints a table.",
     "petmtl evaluate model.pt test.csv --json metrics.json",
     "CSV manifest with outcome (and masks/pathology)",
     "tumour probability threshold for Dice (default: %(default)s)"),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``petmtl`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="petmtl", formatter_class=fmt, epilog=EPILOG,
        description="Multi-task W-Net for outcome prediction in 3D PET: train a model on a "
                    "cohort of NIfTI files, predict outcomes (and tumour masks) for new "
                    "patients, and evaluate a model.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = {}
    for name, func, summary, description, example, manifest, threshold in _COMMANDS:
        p = sub.add_parser(name, formatter_class=fmt, help=summary, description=description,
                           epilog=f"{MANIFEST_HELP}\nexample:\n  {example}\n")
        p.set_defaults(func=func)
        if name != "fit":
            p.add_argument("model", help="model file written by 'petmtl fit'")
        p.add_argument("manifest", help=manifest)
        if threshold is not None:
            p.add_argument("--threshold", type=float, default=0.5, help=threshold)
        _add_manifest_columns(p)
        commands[name] = p
    commands["fit"].add_argument("--model", required=True,
                                 help="output model file (e.g. model.pt)")
    commands["fit"].add_argument(
        "--clinical", default=None, metavar="COLUMNS",
        help="manifest columns of clinical covariates for T4, comma-separated (e.g. "
             "age,sex,ecog,t_stage); numeric columns are scaled, others one-hot encoded, "
             "missing values imputed with an indicator. predict and evaluate read the "
             "same columns from their manifests")
    commands["fit"].add_argument(
        "--nproc-per-node", type=int, default=1, metavar="N",
        help="train data-parallel in N processes on this machine (one per GPU, or gloo "
             "on CPUs) through torch.distributed.run; --set batch_size is the global batch "
             "(default: %(default)s)")
    commands["fit"].add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="estimator parameter, repeatable, e.g. --set lam=0.3 --set max_epochs=5 "
             "--set num_workers=4 (see help(petmtl.MultiTaskPETEstimator))")
    commands["predict"].add_argument("--out", required=True, help="output CSV of predictions")
    commands["predict"].add_argument("--masks-dir", default=None,
                                     help="folder for predicted masks")
    commands["predict"].add_argument(
        "--masks-format", choices=("auto", "nifti", "dicom-seg"), default="auto",
        help="how --masks-dir masks are written: 'auto' (default) writes a DICOM SEG that "
             "references the series for a PET given as a DICOM folder and NIfTI on the "
             "PET's grid for a NIfTI file")
    commands["predict"].add_argument(
        "--horizons", type=float, nargs="+", default=None, metavar="T",
        help="survival models: times at which to write the predicted survival (default: "
             "the quartiles of the training event times)")
    commands["evaluate"].add_argument(
        "--json", default=None, metavar="FILE",
        help="also write the metrics as JSON ('-' for standard output)")
    add_convert_parser(sub)
    for add in (add_cv_parser, add_report_parser):
        _add_manifest_columns(add(sub, fmt, MANIFEST_HELP))
    return parser


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    if "Original Traceback" in str(exc):  # raised in a DataLoader worker
        return lines[-1]
    return lines[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``petmtl`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a user error (reported in one line on standard error).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (UserError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f"petmtl {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"petmtl {args.command}: interrupted", file=sys.stderr)
        return 130
