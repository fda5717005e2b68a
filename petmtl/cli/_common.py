"""What the ``petmtl`` commands share: errors, settings, manifests, files and tables."""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Sequence

import numpy as np

from .._atomic import atomic_path
from .._labels import is_missing


class UserError(Exception):
    """An error in the user's input: reported in one line with exit code 2."""


def atomic_write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` through a temporary file (a missing folder: UserError)."""
    with atomic_path(path, missing_folder_error=UserError) as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    return path


def parse_value(text: str):
    """A ``--set`` value: a Python literal, a comma list, none/true/false, else the text."""
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


def parse_settings(pairs: Sequence[str], estimator_class) -> dict:
    """``--set NAME=VALUE`` pairs as parameters of ``estimator_class``."""
    valid = estimator_class().get_params(deep=False)
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--set expects NAME=VALUE (e.g. --set lam=0.3), got {pair!r}")
        if name not in valid:
            raise UserError(f"--set {name}: unknown parameter of {estimator_class.__name__}; "
                            f"valid names: {', '.join(sorted(valid))}")
        settings[name] = parse_value(value.strip())
    return settings


def read_manifest(args, clinical=()):
    """The manifest named on the command line, with its column options and the covariate
    columns ``clinical``."""
    from ..io import read_manifest as read

    return read(args.manifest, id_column=args.id_column, pet_column=args.pet_column,
                mask_column=args.mask_column or None,
                pathology_column=args.pathology_column or None,
                outcome_column=args.outcome_column or None,
                time_column=args.time_column or None, event_column=args.event_column or None,
                extra_columns=list(clinical) or None)


def clinical_columns(text: str | None) -> list[str]:
    """``--clinical age,sex,...`` as column names."""
    return [] if not text else [c.strip() for c in text.split(",") if c.strip()]


def model_input(manifest, clinical=()):
    """What a model's X is for a manifest: the PET paths, or with ``clinical`` covariate
    columns a table of the paths (column ``image``) and the covariates."""
    if not clinical:
        return list(manifest.X)
    from ..clinical import covariates_from_manifest

    table = covariates_from_manifest(manifest, list(clinical)).reset_index(drop=True)
    return table.assign(image=list(manifest.X))


def fitted_covariates(est) -> list[str]:
    """The covariate columns a fitted model reads (none without)."""
    preprocessor = getattr(est, "clinical_preprocessor_", None)
    return [] if preprocessor is None else [str(c) for c in preprocessor.feature_names_in_]


def is_survival(manifest) -> bool:
    """Whether the manifest carries a time-to-event outcome with a known entry."""
    return manifest.survival is not None and bool(np.isfinite(manifest.survival["time"]).any())


def safe_name(patient_id: str) -> str:
    """A file-name-safe version of a patient id."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(patient_id))


def encode_labels(values, classes, ids, what: str) -> np.ndarray:
    """Class index per row (-1 = unknown); a label the model never saw is a user error."""
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


def report(metrics: dict, json_path: str | None) -> None:
    """Print a metric table; with ``json_path`` also write it as JSON ('-': stdout)."""
    width = max(len(k) for k in metrics)
    print(f"{'metric':<{width}}  value")
    for key, value in metrics.items():
        text = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float)
                                            else str(value))
        print(f"{key:<{width}}  {text}")
    if json_path is not None:
        text = json.dumps(metrics, indent=2) + "\n"
        if json_path == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(json_path, text)
