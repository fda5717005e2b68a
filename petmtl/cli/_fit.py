"""``petmtl fit``: the estimator and tasks that the manifest's columns call for."""

from __future__ import annotations

import os
import subprocess
import sys

from ._common import (
    UserError,
    clinical_columns,
    is_survival,
    model_input,
    parse_settings,
    read_manifest,
)


def default_tasks(manifest, settings: dict, quiet: bool) -> None:
    has_masks = any(m is not None for m in manifest.masks)
    has_pathology = any(p is not None for p in manifest.pathology)
    tasks = ["reconstruction"]
    if has_masks:
        tasks.append("segmentation")
    if has_pathology:
        tasks.append("pathology")
    settings["tasks"] = tuple(tasks)
    if not has_masks and "outcome_features" not in settings:
        settings["outcome_features"] = "global"
    if not quiet:
        print(f"petmtl fit: tasks {settings['tasks']} (from the manifest's columns) "
              "plus the outcome", file=sys.stderr)


def _launch(args) -> int:
    """Run this same ``petmtl fit`` in ``--nproc-per-node`` processes with torchrun."""
    argv = list(args.argv)
    for i, a in enumerate(argv):  # drop --nproc-per-node N / --nproc-per-node=N
        if a == "--nproc-per-node":
            del argv[i:i + 2]
            break
        if a.startswith("--nproc-per-node="):
            del argv[i]
            break
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={args.nproc_per_node}", "-m", "petmtl.cli", *argv]
    if not args.quiet:
        print(f"petmtl fit: {args.nproc_per_node} processes: {' '.join(command)}",
              file=sys.stderr)
    return subprocess.call(command)


def cmd_fit(args) -> int:
    """Run ``petmtl fit``: a survival model when the manifest has time and event columns."""
    from .. import MultiTaskPETEstimator, MultiTaskPETSurvival
    from ..training import launched_by_torchrun

    if args.nproc_per_node > 1 and not launched_by_torchrun():
        return _launch(args)

    clinical = clinical_columns(args.clinical)
    manifest = read_manifest(args, clinical)
    survival = is_survival(manifest)
    estimator_class = MultiTaskPETSurvival if survival else MultiTaskPETEstimator
    settings = parse_settings(args.set, estimator_class)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.model))):
        raise UserError(f"--model: folder does not exist for {args.model}")
    if "tasks" not in settings:
        default_tasks(manifest, settings, args.quiet)
    settings.setdefault("verbose", 0 if args.quiet else 1)
    est = estimator_class(**settings)
    tasks = tuple(est.tasks)
    if clinical:  # the table of model_input holds the PET paths in column "image"
        est.set_params(image_column="image")
    est.fit(model_input(manifest, clinical), manifest.survival if survival else manifest.y,
            masks=manifest.masks if "segmentation" in tasks else None,
            pathology=manifest.pathology if "pathology" in tasks else None)
    if int(os.environ.get("RANK", 0)) == 0:  # one process writes the model
        est.save(args.model)
        kind = "survival model" if survival else "model"
        print(f"petmtl fit: {kind} written to {args.model} ({len(manifest)} patients, "
              f"best epoch {est.best_epoch_} of {len(est.history_)})")
    return 0
