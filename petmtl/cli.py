"""The ``petmtl`` command line: fit, predict and evaluate from a CSV manifest.

Run ``petmtl --help`` or ``petmtl <command> --help`` for the details.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import sys
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from ._atomic import atomic_path
from ._outputs import finish_segmentation

MANIFEST_HELP = """\
The manifest is a CSV file with a header row and one patient per line:

  patient_id,pet_path,mask_path,pathology,outcome
  P001,images/P001_pet.nii.gz,images/P001_mask.nii.gz,adenocarcinoma,1
  P002,images/P002_pet.nii.gz,,squamous,0
  P003,images/P003_pet.nii.gz,images/P003_mask.nii.gz,,

pet_path: PET volume in SUV (.nii or .nii.gz); relative paths are read from the
manifest's folder. mask_path: binary tumour mask on the PET grid (may be empty).
pathology: class name (may be empty). outcome: binary label, e.g. 0/1 (empty or
-1 = unknown). Other column names can be chosen with --pet-column etc.
"""

EPILOG = f"""\
{MANIFEST_HELP}
examples:
  petmtl fit train.csv --model model.pt --set max_epochs=50 --set lam=0.3
  petmtl predict model.pt test.csv --out predictions.csv --masks-dir predicted_masks
  petmtl evaluate model.pt test.csv --json metrics.json
"""


class UserError(Exception):
    """An error in the user's input: reported in one line with exit code 2."""


# ------------------------------------------------------------------ helpers
def _atomic_write_text(path: str, text: str) -> str:
    with atomic_path(path, missing_folder_error=UserError) as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    return path


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if "," in text:  # --set tasks=reconstruction,segmentation
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if text.lower() in ("none", "null"):
            return None
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text


def _parse_settings(pairs: Sequence[str]) -> dict:
    from .estimator import MultiTaskPETEstimator

    valid = MultiTaskPETEstimator().get_params(deep=False)
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--set expects NAME=VALUE (e.g. --set lam=0.3), got {pair!r}")
        if name not in valid:
            raise UserError(f"--set {name}: unknown parameter; valid names: "
                            f"{', '.join(sorted(valid))}")
        settings[name] = _parse_value(value.strip())
    return settings


def _read_manifest(args):
    from .io import read_manifest

    return read_manifest(args.manifest, id_column=args.id_column, pet_column=args.pet_column,
                         mask_column=args.mask_column or None,
                         pathology_column=args.pathology_column or None,
                         outcome_column=args.outcome_column or None)


def _safe_name(patient_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(patient_id))


def _predict_rows(est, manifest, *, quiet: bool, masks_dir=None, threshold=0.5,
                  want_masks=False, reference_masks=False):
    """Per-patient outcome probability, label, pathology and (optionally) masks.

    Each PET file is read and run once for everything asked (see
    :meth:`petmtl.MultiTaskPETEstimator._predict_files`); with ``reference_masks`` the
    manifest's masks are read against that same read, under ``"reference"``.
    """
    n = len(manifest)
    has_pathology = "pathology" in est.tasks
    segment = masks_dir is not None or want_masks
    if segment and "segmentation" not in est.tasks:
        raise UserError("this model was trained without the segmentation task, so it "
                        "cannot predict masks")
    outputs = ["outcome", *(["pathology"] if has_pathology else []),
               *(["segmentation"] if segment else [])]
    targets = [None] * n
    if masks_dir is not None:
        targets = [os.path.join(masks_dir, f"{_safe_name(i)}_seg.nii.gz") for i in manifest.ids]
    out = {"proba": np.zeros(n), "label": np.empty(n, dtype=object),
           "pathology": np.empty(n, dtype=object), "masks": [None] * n,
           "reference": [None] * n}
    files = est._predict_files(list(manifest.X), outputs,
                               reference_masks=list(manifest.masks) if reference_masks else None)
    bar = tqdm(files, total=n, desc="petmtl predict", unit="patient", disable=quiet,
               file=sys.stderr)
    for i, item in enumerate(bar):
        out["proba"][i] = est._outcome_proba(item["outcome"])[0, 1]
        out["label"][i] = est.classes_[int(out["proba"][i] > 0.5)]
        if has_pathology:
            proba = est._pathology_proba(item["pathology"])[0]
            out["pathology"][i] = est.pathology_classes_[int(proba.argmax())]
        if segment:
            out["masks"][i] = finish_segmentation(item["segmentation"], item["record"],
                                                  manifest.X[i], threshold=threshold,
                                                  target=targets[i], header=item["header"])
        reference = item.get("reference_mask")
        out["reference"][i] = None if reference is None else np.asarray(reference)
    return out


# ----------------------------------------------------------------- commands
def _cmd_fit(args) -> int:
    from .estimator import MultiTaskPETEstimator

    settings = _parse_settings(args.set)
    manifest = _read_manifest(args)
    has_masks = any(m is not None for m in manifest.masks)
    has_pathology = any(p is not None for p in manifest.pathology)
    if "tasks" not in settings:
        tasks = ["reconstruction"]
        if has_masks:
            tasks.append("segmentation")
        if has_pathology:
            tasks.append("pathology")
        settings["tasks"] = tuple(tasks)
        if not has_masks and "outcome_features" not in settings:
            settings["outcome_features"] = "global"
        if not args.quiet:
            print(f"petmtl fit: tasks {settings['tasks']} (from the manifest's columns) "
                  "plus the outcome", file=sys.stderr)
    settings.setdefault("verbose", 0 if args.quiet else 1)
    est = MultiTaskPETEstimator(**settings)
    tasks = tuple(est.tasks)
    est.fit(manifest.X, manifest.y,
            masks=manifest.masks if "segmentation" in tasks else None,
            pathology=manifest.pathology if "pathology" in tasks else None)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.model))):
        raise UserError(f"--model: folder does not exist for {args.model}")
    est.save(args.model)
    print(f"petmtl fit: model written to {args.model} ({len(manifest)} patients, "
          f"best epoch {est.best_epoch_} of {len(est.history_)})")
    return 0


def _cmd_predict(args) -> int:
    from .serialization import load

    est = load(args.model)
    manifest = _read_manifest(args)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UserError(f"--out: folder does not exist for {args.out}")
    if args.masks_dir is not None:
        os.makedirs(args.masks_dir, exist_ok=True)
    rows = _predict_rows(est, manifest, quiet=args.quiet, masks_dir=args.masks_dir,
                         threshold=args.threshold)
    positive = est.classes_[1]
    header = ["patient_id", "pet_path", "predicted_outcome", f"probability_{positive}"]
    if "pathology" in est.tasks:
        header.append("predicted_pathology")
    if args.masks_dir is not None:
        header.append("predicted_mask_path")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for i, pid in enumerate(manifest.ids):
        row = [pid, manifest.X[i], rows["label"][i], f"{rows['proba'][i]:.6f}"]
        if "pathology" in est.tasks:
            row.append(rows["pathology"][i])
        if args.masks_dir is not None:
            row.append(rows["masks"][i])
        writer.writerow(row)
    _atomic_write_text(args.out, buffer.getvalue())
    print(f"petmtl predict: {len(manifest)} predictions written to {args.out}")
    return 0


def _encode_labels(values, classes, ids, what: str) -> np.ndarray:
    """Class index per row (-1 = unknown); a label the model never saw is a user error."""
    from ._labels import is_missing

    lookup = {c.item() if isinstance(c, np.generic) else c: k for k, c in enumerate(classes)}
    lookup.update({str(c): k for c, k in list(lookup.items())})
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if is_missing(v):
            continue
        key = v.item() if isinstance(v, np.generic) else v
        if key not in lookup and str(key) not in lookup:
            raise UserError(f"patient_id {ids[i]!r}: {what} {v!r} is not one of the model's "
                            f"classes {[str(c) for c in classes]}")
        codes[i] = lookup.get(key, lookup.get(str(key)))
    return codes


def _cmd_evaluate(args) -> int:
    from sklearn.metrics import roc_auc_score

    from .metrics import dice_score
    from .serialization import load

    est = load(args.model)
    manifest = _read_manifest(args)
    with_masks = "segmentation" in est.tasks and any(m is not None for m in manifest.masks)
    rows = _predict_rows(est, manifest, quiet=args.quiet, want_masks=with_masks,
                         threshold=args.threshold, reference_masks=with_masks)
    y = _encode_labels(manifest.y, est.classes_, manifest.ids, "outcome")
    known = y >= 0
    metrics: dict[str, float | int | None] = {"n_patients": len(manifest),
                                              "n_outcomes": int(known.sum())}
    both = known.any() and len(np.unique(y[known])) == 2
    metrics["auc"] = float(roc_auc_score(y[known], rows["proba"][known])) if both else None
    metrics["accuracy"] = (float(np.mean((rows["proba"][known] > 0.5) == y[known]))
                           if known.any() else None)
    metrics["dice"] = None
    if with_masks:
        scores = [dice_score(truth[None], predicted[None], per_sample=True)[0]
                  for truth, predicted in zip(rows["reference"], rows["masks"], strict=True)
                  if truth is not None]
        metrics["dice"] = float(np.mean(scores))
        metrics["n_masks"] = len(scores)
    metrics["pathology_accuracy"] = None
    if "pathology" in est.tasks:
        codes = _encode_labels(manifest.pathology, est.pathology_classes_, manifest.ids,
                               "pathology")
        ok = codes >= 0
        if ok.any():
            predicted = _encode_labels(rows["pathology"], est.pathology_classes_, manifest.ids,
                                       "pathology")
            metrics["pathology_accuracy"] = float(np.mean(predicted[ok] == codes[ok]))
    width = max(len(k) for k in metrics)
    print(f"{'metric':<{width}}  value")
    for key, value in metrics.items():
        text = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float)
                                            else str(value))
        print(f"{key:<{width}}  {text}")
    if args.json is not None:
        text = json.dumps(metrics, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            _atomic_write_text(args.json, text)
    return 0


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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


# name, function, one-line help, description, example, manifest help, threshold help
_COMMANDS = (
    ("fit", _cmd_fit, "train a model on a manifest of NIfTI files",
     "Train a model on the patients of MANIFEST and write it to --model. Tasks follow the "
     "manifest: segmentation when masks are given, pathology when labels are given (override "
     "with --set tasks=...). Each PET is reoriented to RAS+, resampled to 2 mm and cropped to "
     "64^3 voxels around the body by default (--set spacing=..., --set input_shape=...).",
     "petmtl fit train.csv --model model.pt --set max_epochs=50 --set lam=0.3 "
     "--set input_shape=(48,48,48)", "CSV manifest of the training cohort", None),
    ("predict", _cmd_predict, "predict outcomes (and masks) for a manifest",
     "Predict the outcome (and pathology) of every patient in MANIFEST with a model from "
     "'petmtl fit' and write a CSV. With --masks-dir, also write each predicted tumour mask "
     "as <patient_id>_seg.nii.gz on the PET's own grid (sliding windows over the whole "
     "scan). Each PET file is read once.",
     "petmtl predict model.pt test.csv --out predictions.csv --masks-dir masks",
     "CSV manifest (outcome/mask columns are not needed)",
     "tumour probability threshold for masks (default: %(default)s)"),
    ("evaluate", _cmd_evaluate, "score a model on a labelled manifest",
     "Score a model on MANIFEST: outcome AUC and accuracy (patients with a known outcome), "
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
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="estimator parameter, repeatable, e.g. --set lam=0.3 --set max_epochs=5 "
             "--set num_workers=4 (see help(petmtl.MultiTaskPETEstimator))")
    commands["predict"].add_argument("--out", required=True, help="output CSV of predictions")
    commands["predict"].add_argument("--masks-dir", default=None,
                                     help="folder for predicted masks")
    commands["evaluate"].add_argument(
        "--json", default=None, metavar="FILE",
        help="also write the metrics as JSON ('-' for standard output)")
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
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UserError, ValueError, TypeError, OSError) as exc:
        print(f"petmtl {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"petmtl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
