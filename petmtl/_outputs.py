"""Segmentations of whole NIfTI files: back onto each file's own grid, optionally written."""

from __future__ import annotations

import os

import numpy as np

from .io import write_mask_like


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


def finish_segmentation(probability, record, pet_path: str, *, threshold=None,
                        target=None, header=None):
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
        Write the result there as NIfTI (atomically) and return the path instead.
    header : nibabel header, optional
        The PET's header, when already read (the PET file is then not opened again).

    Returns
    -------
    ndarray or str
    """
    try:
        out = record.to_original(probability, order=1)
        if threshold is not None:
            out = (out >= threshold).astype(np.uint8)
        if target is not None:
            out = write_mask_like(out, pet_path, target, reference_header=header,
                                  dtype=np.uint8 if threshold is not None else np.float32)
    except (ValueError, TypeError, OSError) as exc:
        if pet_path in str(exc):
            raise
        raise type(exc)(f"segmentation of {pet_path} failed: {exc}") from exc
    return out


def segment_files(forward, volumes, *, batch_size: int, threshold=None, output_dir=None,
                  names=None, overlap: float = 0.25) -> list:
    """Segment whole files with sliding windows; return arrays or written paths.

    Each file is read once and resampled to the volumes' spacing (whole grid, no
    crop), covered by windows of ``volumes.volume_shape`` overlapping by ``overlap`` and
    Gaussian blending (``batch_size`` windows at a time), and the probability map is
    mapped back to the original grid (trilinear); with ``threshold`` it is binarised
    there. With ``output_dir``, ``<name>_seg.nii.gz`` is written atomically and only
    the paths are kept in memory.
    """
    targets = [None] * len(volumes)
    if output_dir is not None:
        output_dir = check_output_dir(output_dir)
        names = output_names(volumes.paths) if names is None else list(names)
        targets = [os.path.join(output_dir, f"{name}_seg.nii.gz") for name in names]
    results = []
    files = forward.predict_files(volumes, ("segmentation",), batch_size=batch_size,
                                  overlap=overlap)
    for path, target, item in zip(volumes.paths, targets, files, strict=True):
        results.append(finish_segmentation(item["segmentation"], item["record"], path,
                                           threshold=threshold, target=target,
                                           header=item["header"]))
    return results
