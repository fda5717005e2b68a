"""Predictions for whole PET files: every output from one read, masks on each file's grid.

:func:`collect_file_outputs` runs the network once per file (its crop window for the
image-level heads, sliding windows over the whole scan for the segmentation) and maps
segmentations back onto each file's own grid, writing them when asked;
:meth:`~petmtl._base.MultiTaskPETBase.predict_files` turns its raw outputs into public
quantities.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..io import DEFAULT_OVERLAP, write_dicom_seg, write_mask_like


def output_names(paths) -> list[str]:
    """A distinct output stem per PET file: its name, or ``folder_name`` when names repeat."""
    def stem(p):
        base = os.path.basename(p)
        for suffix in (".nii.gz", ".nii"):
            if base.lower().endswith(suffix):
                return base[: -len(suffix)]
        return base

    names = [stem(p) for p in paths]
    if len(set(names)) < len(names):  # e.g. patient folders all holding pet.nii.gz
        names = [f"{os.path.basename(os.path.dirname(os.path.abspath(p)))}_{n}"
                 for p, n in zip(paths, names, strict=True)]
    if len(set(names)) < len(names):
        raise ValueError("the PET files' names (and folders) are not unique, so their "
                         "output masks would overwrite each other; use distinct file names")
    return names


def check_output_dir(output_dir) -> str:
    """``output_dir`` as a str, which must be an existing folder."""
    output_dir = os.fspath(output_dir)
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(f"output_dir does not exist: {output_dir}")
    return output_dir


OUTPUT_FORMATS = {"nifti": "_seg.nii.gz", "dicom-seg": "_seg.dcm"}
"""How segmentations are written, and the end of each written file's name; ``"auto"``
writes a DICOM SEG for a PET given as a DICOM series folder and NIfTI otherwise."""


def file_formats(paths, output_format: str) -> list[str]:
    """The writing format of each PET file's mask (``"auto"`` resolved per file)."""
    if output_format not in (*OUTPUT_FORMATS, "auto"):
        raise ValueError(f"output_format must be one of {(*OUTPUT_FORMATS, 'auto')}, got "
                         f"{output_format!r}")
    if output_format == "auto":
        return ["dicom-seg" if os.path.isdir(p) else "nifti" for p in paths]
    if output_format == "dicom-seg":
        not_series = [p for p in paths if not os.path.isdir(p)]
        if not_series:
            raise ValueError(f"output_format='dicom-seg' needs each PET as a DICOM series "
                             f"folder (the SEG references it); got {not_series[0]!r}")
    return [output_format] * len(paths)


def finish_segmentation(probability, record, pet_path: str, *, threshold=None,
                        target=None, header=None, output_format: str = "nifti"):
    """Map a network-grid probability map onto the PET's grid; binarise and write it.

    Parameters
    ----------
    probability : ndarray
        Tumour probabilities on the network grid described by ``record``.
    record : GeometryRecord
    pet_path : str
        The PET file (its header is copied when writing; named in errors).
    threshold : float, optional
        Return ``probability >= threshold`` as uint8 instead of probabilities.
    target : str, optional
        Write the result there (atomically) and return the path instead.
    header : nibabel header, optional
        The PET's header, when already read (the PET file is then not opened again).
    output_format : {"nifti", "dicom-seg"}, default="nifti"
        A NIfTI file with the PET's header, or a DICOM SEG referencing the PET series
        (``pet_path`` is then a DICOM series folder; :func:`petmtl.io.write_dicom_seg`):
        binary with ``threshold``, fractional without.

    Returns
    -------
    ndarray or str
    """
    try:
        out = record.to_original(probability, order=1)
        if threshold is not None:
            out = (out >= threshold).astype(np.uint8)
        if target is not None and output_format == "dicom-seg":
            out = write_dicom_seg(out, pet_path, target)
        elif target is not None:
            out = write_mask_like(out, pet_path, target, reference_header=header,
                                  dtype=np.uint8 if threshold is not None else np.float32)
    except (ValueError, TypeError, OSError) as exc:
        if pet_path in str(exc):
            raise
        raise type(exc)(f"segmentation of {pet_path} failed: {exc}") from exc
    return out


def mask_targets(paths, output_dir, names=None, formats=None) -> list:
    """Where each file's mask is written: ``output_dir/<name>_seg.nii.gz`` (``.dcm`` where
    ``formats`` says ``"dicom-seg"``; None each without ``output_dir``); names default to
    :func:`output_names`."""
    formats = ["nifti"] * len(paths) if formats is None else formats
    if output_dir is None:
        if any(f != "nifti" for f in formats):
            raise ValueError("a DICOM SEG output is written to a file: give output_dir")
        return [None] * len(paths)
    output_dir = check_output_dir(output_dir)
    names = output_names(paths) if names is None else [str(n) for n in names]
    if len(names) != len(paths):
        raise ValueError(f"names must give one name per file ({len(paths)}); got {len(names)}")
    return [os.path.join(output_dir, f"{name}{OUTPUT_FORMATS[fmt]}")
            for name, fmt in zip(names, formats, strict=True)]


def collect_file_outputs(views, volumes, outputs: Sequence[str], *, batch_size: int,
                         threshold=None, targets=None, reference_masks=None,
                         overlap: float = DEFAULT_OVERLAP, verbose: int = 0,
                         formats=None, clinical=None) -> dict[str, list]:
    """Raw network outputs per file, the segmentation on each file's grid.

    Parameters
    ----------
    views : Views
        The networks and flips whose outputs are combined
        (:meth:`petmtl._forward.Views.predict_files`: image-level outputs view by view,
        the segmentation averaged).
    volumes : PathVolumes
    outputs : sequence of str
        Network outputs (``"outcome"``, ``"pathology"``, ``"features"``,
        ``"segmentation"``).
    batch_size : int
    threshold : float or None
        The segmentation as ``probability >= threshold`` (uint8), or probabilities.
    targets : list of (str or None), optional
        Where to write each segmentation (then its path is returned instead).
    reference_masks : sequence of (path or None), optional
        Masks read against the same PET read, returned under ``"reference_masks"``.
    overlap : float
    verbose : int, default=0
        >0 shows a progress bar over the files.
    formats : list of {"nifti", "dicom-seg"}, optional
        How each of ``targets`` is written (see :func:`finish_segmentation`; NIfTI by
        default).
    clinical : ndarray of shape (n, k), optional
        The files' preprocessed covariates, when T4 reads them.

    Returns
    -------
    dict of str to list
        One entry per file for each output asked (and ``"reference_masks"``).
    """
    targets = [None] * len(volumes) if targets is None else targets
    formats = ["nifti"] * len(volumes) if formats is None else formats
    collected: dict[str, list] = {name: [] for name in outputs}
    if reference_masks is not None:
        collected["reference_masks"] = []
    files = tqdm(views.predict_files(volumes, outputs, batch_size=batch_size,
                                     reference_masks=reference_masks, overlap=overlap,
                                     clinical=clinical),
                 total=len(volumes), desc="petmtl predict", unit="file", disable=not verbose)
    for path, target, fmt, item in zip(volumes.paths, targets, formats, files, strict=True):
        for name in outputs:
            if name == "segmentation":
                collected[name].append(finish_segmentation(
                    item["segmentation"], item["record"], path, threshold=threshold,
                    target=target, header=item["header"], output_format=fmt))
            else:
                collected[name].append(item[name])
        if reference_masks is not None:
            reference = item.get("reference_mask")
            collected["reference_masks"].append(
                None if reference is None else np.asarray(reference))
    return collected


def segment_files(views, volumes, *, batch_size: int, threshold=None, output_dir=None,
                  overlap: float = DEFAULT_OVERLAP, output_format: str = "nifti") -> list:
    """Segment whole files with sliding windows; return arrays or written paths.

    Each file is read once and resampled to the volumes' spacing (whole grid, no
    crop), covered by windows of ``volumes.volume_shape`` overlapping by ``overlap`` and
    Gaussian blending (``batch_size`` windows at a time), and the probability map is
    mapped back to the original grid (trilinear); with ``threshold`` it is binarised
    there. With ``output_dir``, ``<name>_seg.nii.gz`` is written atomically and only
    the paths are kept in memory.
    """
    formats = file_formats(volumes.paths, output_format)
    targets = mask_targets(volumes.paths, output_dir, None, formats)
    return collect_file_outputs(views, volumes, ("segmentation",), batch_size=batch_size,
                                threshold=threshold, targets=targets, overlap=overlap,
                                formats=formats)["segmentation"]


SHARED_FILE_OUTPUTS = ("pathology", "pathology_proba", "masks", "mask_proba", "features")
"""Outputs of :meth:`~petmtl._base.MultiTaskPETBase.predict_files` beside the outcome's."""

_TASK_OF = {"pathology": "pathology", "pathology_proba": "pathology",
            "masks": "segmentation", "mask_proba": "segmentation"}


def check_file_outputs(outputs, *, outcome_outputs: Sequence[str], default: Sequence[str],
                       tasks: Sequence[str], threshold: float) -> tuple[str, ...]:
    """The outputs asked of ``predict_files``, checked against the model's heads."""
    known = (*outcome_outputs, *SHARED_FILE_OUTPUTS)
    outputs = tuple(default) if outputs is None else (
        (outputs,) if isinstance(outputs, str) else tuple(outputs))
    unknown = [o for o in outputs if o not in known]
    if unknown:
        raise ValueError(f"outputs must be among {known}; got unknown {unknown}")
    for name in outputs:
        task = _TASK_OF.get(name)
        if task is not None and task not in tasks:
            raise ValueError(f"output {name!r} needs the {task!r} task, which this model "
                             f"was trained without (tasks={tuple(tasks)!r})")
    if "masks" in outputs and "mask_proba" in outputs:
        raise ValueError("outputs may hold 'masks' or 'mask_proba', not both")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    return outputs


def network_outputs_for(outputs: Sequence[str], outcome_outputs: Sequence[str]) -> list[str]:
    """The raw network outputs that the public ``outputs`` are computed from."""
    needed = (("outcome", any(n in outcome_outputs for n in outputs)),
              ("pathology", any(n in ("pathology", "pathology_proba") for n in outputs)),
              ("features", "features" in outputs),
              ("segmentation", any(n in ("masks", "mask_proba") for n in outputs)))
    return [name for name, wanted in needed if wanted]


def shared_file_outputs(raw: dict, outputs: Sequence[str], pathology_classes) -> dict:
    """The outputs other than the outcome's, from :func:`collect_file_outputs`' lists."""
    result = {}
    for name in outputs:
        if name in ("pathology", "pathology_proba"):
            proba = mean_class_probabilities(np.stack(raw["pathology"], axis=1))
            result[name] = (proba if name == "pathology_proba"
                            else pathology_classes[proba.argmax(axis=1)])
        elif name == "features":
            result[name] = np.stack(raw["features"])
        elif name in ("masks", "mask_proba"):
            result[name] = raw["segmentation"]
    if "reference_masks" in raw:
        result["reference_masks"] = raw["reference_masks"]
    return result


def class_probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from one logit (two classes) or one logit per class."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[None]
    if logits.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.column_stack([1.0 - p, p])
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def mean_class_probabilities(views: np.ndarray) -> np.ndarray:
    """Class probabilities averaged over views (first axis) of T3's logits (n, k)."""
    return np.mean([class_probabilities(view) for view in np.asarray(views)], axis=0)


def check_reference_masks(masks, n_files: int) -> list:
    if isinstance(masks, (str, bytes)) or not hasattr(masks, "__len__"):
        raise TypeError(f"masks must be a sequence of mask paths (None where absent), one "
                        f"per file; got {type(masks).__name__}")
    if len(masks) != n_files:
        raise ValueError(f"masks must hold one entry per file ({n_files}); got {len(masks)}")
    return [None if m is None or m == "" else m for m in masks]
