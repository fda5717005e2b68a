"""File-path input for the estimator: validation, streamed intensity statistics and
sliding-window segmentation mapped back to each file's original grid.

X given as a sequence of NIfTI paths is never loaded at once: fit and predict read
it through a :class:`torch.utils.data.DataLoader` over
:class:`petmtl._data.PathVolumes`, so memory follows the batch, not the cohort.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._data import PathVolumes
from ._validation import check_masks as _check_array_masks
from ._validation import check_volumes
from .io import sliding_window_predict, write_mask_like
from .training import autocast_dtype

_PATH_TYPES = (str, os.PathLike)


def is_path_input(X) -> bool:
    """True when X is a non-empty list/tuple/1-D array whose first entry is a path."""
    if isinstance(X, _PATH_TYPES):
        raise TypeError(f"X must be a sequence of PET file paths or an array of volumes, got "
                        f"a single path {os.fspath(X)!r}; wrap it in a list")
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and isinstance(X[0], _PATH_TYPES)
    if isinstance(X, np.ndarray) and X.dtype.kind in "UO" and X.ndim == 1 and X.size > 0:
        return isinstance(X[0], _PATH_TYPES)
    return False


def check_paths(X, name: str = "X") -> np.ndarray:
    """Object array of existing file paths (str); errors name the entry."""
    out = np.empty(len(X), dtype=object)
    for i, p in enumerate(X):
        if not isinstance(p, _PATH_TYPES) or not os.fspath(p):
            raise TypeError(f"{name}[{i}] must be a PET file path (str or os.PathLike) like "
                            f"the other entries, got {p!r}")
        p = os.fspath(p)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{name}[{i}]: PET file not found: {p}")
        out[i] = p
    return out


def check_input(X, estimator):
    """Arrays -> float32 (n, D, H, W) as before; paths -> :class:`PathVolumes`."""
    if not is_path_input(X):
        return check_volumes(X, estimator.volume_shape)
    return PathVolumes(check_paths(X), spacing=estimator.spacing,
                       shape=estimator.input_shape, center=estimator.crop_center,
                       num_workers=estimator.num_workers)


def _is_missing(m) -> bool:
    if m is None or (isinstance(m, str) and m == ""):
        return True
    return isinstance(m, numbers.Real) and not isinstance(m, bool) and bool(np.isnan(m))


def check_masks(X, masks, n_samples: int, spatial):
    """Dispatch: array masks for array X; mask paths (None / "" / NaN = none) for paths."""
    if not isinstance(X, PathVolumes):
        if masks is not None and is_path_input(list(masks) if isinstance(masks, tuple)
                                               else masks):
            raise TypeError("masks are file paths but X holds arrays; pass X as PET file "
                            "paths too, or masks as arrays")
        return _check_array_masks(masks, n_samples, spatial)
    if isinstance(masks, _PATH_TYPES) or not hasattr(masks, "__len__"):
        raise TypeError(f"masks must be a sequence of mask file paths (None or '' where "
                        f"missing) matching X, got {type(masks).__name__}")
    if len(masks) != n_samples:
        raise ValueError(f"masks has {len(masks)} entries but X has {n_samples} files; "
                         "they must match")
    paths = np.empty(n_samples, dtype=object)
    known = np.zeros(n_samples, dtype=bool)
    for i, m in enumerate(masks):
        if _is_missing(m):
            continue
        if not isinstance(m, _PATH_TYPES):
            raise TypeError(f"masks[{i}] must be a mask file path, None or '' since X holds "
                            f"file paths, got {type(m).__name__}")
        if not os.path.isfile(m):
            raise FileNotFoundError(f"masks[{i}]: mask file not found: {os.fspath(m)} "
                                    f"(for {X.paths[i]})")
        paths[i], known[i] = os.fspath(m), True
    return paths, known


class _Images(Dataset):
    def __init__(self, volumes: PathVolumes, shape="default"):
        self.volumes, self.shape = volumes, shape

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i):
        return self.volumes.load(i, shape=self.shape)


def _iterate(volumes: PathVolumes, shape="default"):
    """Yield ``(image, record)`` per file, read by the volumes' DataLoader workers."""
    loader = DataLoader(_Images(volumes, shape), batch_size=None, shuffle=False,
                        num_workers=volumes.num_workers)
    for image, _, record in loader:
        yield np.asarray(image), record


def intensity_parameters(volumes: PathVolumes) -> tuple[float, float]:
    """Mean and standard deviation of all voxels of the files' crops, streamed.

    One pass over the files (through the DataLoader workers) combines each crop's
    float64 mean and sum of squared deviations (Chan et al.'s parallel update), so
    only one crop is in memory at a time. The crops are the documented network
    windows computed without masks (``crop_center='auto'`` falls back to the body).
    """
    count, mean, m2 = 0, 0.0, 0.0
    for image, _ in _iterate(volumes):
        values = np.asarray(image, dtype=np.float64).ravel()
        n_b, mean_b = values.size, float(values.mean())
        m2_b = float(((values - mean_b) ** 2).sum())
        delta = mean_b - mean
        total = count + n_b
        mean += delta * n_b / total
        m2 += m2_b + delta * delta * count * n_b / total
        count = total
    var = m2 / count if count else 0.0
    return mean, float(np.sqrt(var)) if var > 0 else 1.0


def _window_predictor(estimator):
    module, device = estimator.module_, estimator.device_
    dtype = autocast_dtype(estimator.amp, device)

    @torch.inference_mode()
    def predict(windows: np.ndarray) -> np.ndarray:
        image = torch.from_numpy(windows)[:, None].to(device)
        image = (image - estimator.intensity_shift_) / estimator.intensity_scale_
        with torch.autocast(device.type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            out = module(image)["segmentation"]
        return torch.sigmoid(out.float())[:, 0].cpu().numpy()

    return predict


def _output_names(paths) -> list[str]:
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


def segment_paths(estimator, X, *, threshold=None, output_dir=None, names=None):
    """Segment whole files with sliding windows; return arrays or written paths.

    Each file is resampled to ``spacing`` (whole grid, no crop), covered by windows of
    ``input_shape`` with 50 % overlap and Gaussian blending (``batch_size * 2``
    windows at a time), and the probability map is mapped back to the original grid
    (trilinear) with its :class:`~petmtl.io.GeometryRecord`; with ``threshold`` it is
    binarised there. With ``output_dir``, ``<name>_seg.nii.gz`` is written atomically
    next to nothing else and only the paths are kept in memory.
    """
    if not is_path_input(X):
        if output_dir is not None:
            raise ValueError("output_dir needs X as PET file paths (masks are written on "
                             "each file's original grid); got arrays")
        return None
    volumes = check_input(X, estimator)
    if output_dir is not None:
        output_dir = os.fspath(output_dir)
        if not os.path.isdir(output_dir):
            raise FileNotFoundError(f"output_dir does not exist: {output_dir}")
        names = _output_names(volumes.paths) if names is None else list(names)
    predict = _window_predictor(estimator)
    batch = 2 * estimator.batch_size
    results = []
    estimator.module_.eval()
    for i, (image, record) in enumerate(_iterate(volumes, shape=None)):
        path = volumes.paths[i]
        try:
            proba = sliding_window_predict(image, predict, volumes.volume_shape,
                                           overlap=0.5, blend="gaussian", batch_size=batch)
            out = record.to_original(proba, order=1)
            if threshold is not None:
                out = (out >= threshold).astype(np.uint8)
            if output_dir is not None:
                target = os.path.join(output_dir, f"{names[i]}_seg.nii.gz")
                out = write_mask_like(out, path, target,
                                      dtype=np.uint8 if threshold is not None else np.float32)
        except (ValueError, TypeError, OSError) as exc:
            if path in str(exc):
                raise
            raise type(exc)(f"segmentation of {path} failed: {exc}") from exc
        results.append(out)
    return results


def scaling_parameters(X, scale) -> tuple[float, float]:
    """Input scaling ``(shift, scale)``: inputs are fed as ``(x - shift) / scale``.

    ``scale="auto"`` standardises with the mean and standard deviation of all
    training voxels (streamed one file at a time for path input), a number divides
    by it, and None leaves the values as they are.
    """
    if scale is None:
        return 0.0, 1.0
    if scale != "auto":
        return 0.0, float(scale)
    if not isinstance(X, np.ndarray):
        return intensity_parameters(X)
    flat = X.reshape(len(X), -1)
    mean = float(np.mean([row.mean(dtype=np.float64) for row in flat]))
    var = float(np.mean([((row - mean) ** 2).mean(dtype=np.float64) for row in flat]))
    return mean, float(np.sqrt(var)) if var > 0 else 1.0
