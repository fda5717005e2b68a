"""The one way the network is run: input scaling, memory layout, autocast, batches, windows.

Training, validation, prediction, the command line and Grad-CAM all feed the network
through a :class:`Forward`, so they agree on how a PET volume becomes a network input;
:class:`Views` runs several of them (ensemble members) on several flips of the input
(test-time augmentation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._input import PathVolumes, iterate_files, prediction_loader
from ._runtime import resolve_memory_format
from .io import DEFAULT_OVERLAP, sliding_window_predict

PER_VOXEL = ("reconstruction", "segmentation")
AIR_SUV = 0.1
"""A sliding window whose every voxel is below this (SUV, air) is not run."""


@dataclass(frozen=True)
class InputScaling:
    """Intensity scaling of the network input: ``(x - shift) / scale``."""

    shift: float = 0.0
    scale: float = 1.0

    def __call__(self, x):
        """Scale raw intensities (e.g. SUV) to network units."""
        return (x - self.shift) / self.scale

    def invert(self, x):
        """Bring network units (e.g. a reconstruction) back to the input's units."""
        return x * self.scale + self.shift


def autocast_dtype(amp, device: torch.device) -> torch.dtype | None:
    """bf16 when ``amp`` is True, or when it is "auto" and the device is CUDA."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if amp else None


def _as_output(name: str, value: torch.Tensor) -> torch.Tensor:
    """A raw network output as returned: float, probabilities for the segmentation,
    per-voxel outputs without their channel axis."""
    value = value.float()
    if name == "segmentation":
        value = torch.sigmoid(value)
    if name in PER_VOXEL:
        value = value[:, 0]
    return value


def _to_numpy(name: str, value: torch.Tensor) -> np.ndarray:
    return _as_output(name, value).cpu().numpy()


@dataclass
class Forward:
    """A network with everything needed to feed it PET volumes.

    Parameters
    ----------
    module : torch.nn.Module
        The :class:`~petmtl.network.MultiTaskWNet`, on ``device`` in ``memory_format``.
    device : torch.device
    scaling : InputScaling
    memory_format : torch.memory_format
        Layout of the input batches (the network's own).
    autocast_dtype : torch.dtype or None
        Mixed-precision dtype, or None for full precision.
    """

    module: nn.Module
    device: torch.device
    scaling: InputScaling = InputScaling()
    memory_format: torch.memory_format = torch.contiguous_format
    autocast_dtype: torch.dtype | None = None

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """A raw (n, 1, x, y, z) batch on the device, scaled, in the network's layout."""
        image = self.scaling(image.to(self.device, non_blocking=True))
        return image.contiguous(memory_format=self.memory_format)

    def prepare_batch(self, batch: dict) -> dict:
        """A training batch on the device, its image prepared (labels only moved)."""
        moved = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        moved["image"] = self.prepare(batch["image"])
        return moved

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of this network (a no-op without mixed precision)."""
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                              enabled=self.autocast_dtype is not None)

    def __call__(self, image: torch.Tensor, outputs: Sequence[str] | None = None, *,
                 clinical: torch.Tensor | None = None) -> dict:
        """Run the network on a prepared batch under autocast (training or inference).

        ``outputs`` limits the branches run (see ``MultiTaskWNet.forward``); None runs all.
        ``clinical`` holds the batch's preprocessed covariates, when T4 reads them.
        """
        extra = {}
        if clinical is not None:  # only networks that read covariates are given them
            extra["clinical"] = clinical.to(self.device, non_blocking=True)
        single = len(image) == 1 and self.device.type == "cpu" and not self.module.training
        if single:
            # On a CPU, PyTorch convolves a batch of one volume with its reference kernel
            # (slow_conv3d) and two or more with oneDNN: measured on 64^3 volumes, two
            # copies of one volume run 3-10 times faster than the volume alone. In
            # evaluation mode the samples of a batch do not interact.
            image = torch.cat([image, image])
            extra = {name: torch.cat([value, value]) for name, value in extra.items()}
        with self.autocast():
            out = self.module(image, outputs=outputs, **extra)
        return {name: value[:1] for name, value in out.items()} if single else out

    @torch.inference_mode()
    def predict(self, volumes, outputs: Sequence[str], *, batch_size: int,
                clinical: np.ndarray | None = None, flip: tuple[int, ...] = ()
                ) -> dict[str, np.ndarray]:
        """Every requested output for ``volumes``, from one pass over them.

        Parameters
        ----------
        volumes : ndarray of shape (n, x, y, z) or PathVolumes
            Raw volumes; files are read by the volumes' DataLoader workers.
        outputs : sequence of str
            Among the network's outputs; segmentation comes as probabilities,
            per-voxel outputs without their channel axis.
        batch_size : int
        clinical : ndarray of shape (n, k), optional
            Preprocessed covariates, when T4 reads them.
        flip : tuple of int, default=()
            Spatial axes along which the volumes are mirrored before the pass (a view of
            test-time augmentation); per-voxel outputs are mirrored back.

        Returns
        -------
        dict of str to ndarray
            One array per output, first axis the samples. Each batch's outputs are
            moved to the CPU as soon as they are computed.
        """
        self.module.eval()
        dims = [2 + axis for axis in flip]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        for batch in prediction_loader(volumes, batch_size, clinical):
            image = batch["image"].flip(dims) if dims else batch["image"]
            result = self(self.prepare(image), outputs, clinical=batch.get("clinical"))
            for name in outputs:
                value = result[name]
                if dims and name in PER_VOXEL:
                    value = value.flip(dims)
                parts[name].append(_to_numpy(name, value))
        return {name: np.concatenate(values) for name, values in parts.items()}

    @torch.inference_mode()
    def segment_grid(self, image: np.ndarray, *, window: Sequence[int], batch_size: int,
                     overlap: float = DEFAULT_OVERLAP, flip: tuple[int, ...] = ()
                     ) -> np.ndarray:
        """Tumour probabilities over a whole grid with Gaussian-blended sliding windows.

        The grid is moved to the network's device once; windows, their predictions and
        the blended map stay there (:func:`petmtl.io.sliding_window_predict` on a
        tensor). Only the segmentation branch runs, in the network's memory layout and
        precision, ``batch_size`` windows at a time; windows entirely below
        :data:`AIR_SUV` (air outside the body) are not run and get probability 0.
        """
        self.module.eval()
        if self.device.type == "cpu":
            # about one 64^3 window per thread: measured 67 ms per window in batches of 2
            # against 92 ms in batches of 8 on 2 threads (larger batches leave the cache);
            # never one alone (see __call__)
            batch_size = min(batch_size, max(2, torch.get_num_threads()))

        def predict(windows: torch.Tensor) -> torch.Tensor:
            out = torch.zeros_like(windows)
            body = windows.flatten(1).amax(dim=1) >= AIR_SUV
            if body.any():
                batch = self.prepare(windows[body][:, None])
                out[body] = _as_output("segmentation",
                                       self(batch, ("segmentation",))["segmentation"])
            return out

        grid = torch.as_tensor(np.asarray(image, dtype=np.float32)).to(self.device)
        if flip:  # a test-time view: mirror the scan, and the probabilities back
            grid = grid.flip(list(flip))
        proba = sliding_window_predict(grid, predict, window, overlap=overlap,
                                       blend="gaussian", batch_size=batch_size)
        return (proba.flip(list(flip)) if flip else proba).cpu().numpy()



def flip_views(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every combination of mirrors along ``axes``, the unflipped input first.

    ``flip_views((0,))`` is ``[(), (0,)]``: the views of test-time flipping.
    """
    views = [()]
    for axis in axes:
        views += [(*view, axis) for view in views]
    return views


@dataclass
class Views:
    """Several networks (ensemble members) and input flips whose predictions are combined.

    Each member sees each flip of the input; per-voxel outputs (mirrored back) are
    averaged over every view, image-level outputs are returned view by view (first axis)
    for the estimator to combine and to measure their spread, and the ``"features"`` of
    the unflipped input are returned member by member, side by side.

    Parameters
    ----------
    forwards : sequence of Forward
        One per ensemble member (one for a single model).
    flips : sequence of tuple of int, default=((),)
        The views of the input (see :func:`flip_views`).
    """

    forwards: Sequence[Forward]
    flips: Sequence[tuple[int, ...]] = ((),)

    @property
    def n_views(self) -> int:
        """Members times flips."""
        return len(self.forwards) * len(self.flips)

    def _each(self):
        for forward in self.forwards:
            for flip in self.flips:
                yield forward, flip

    def predict(self, volumes, outputs: Sequence[str], *, batch_size: int,
                clinical: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every output of every view (see :meth:`Forward.predict`).

        Returns
        -------
        dict of str to ndarray
            Per-voxel outputs (n, x, y, z), the mean over the views; ``"features"``
            (n, members * n_features); every other output (n_views, n, ...).
        """
        views: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        for forward, flip in self._each():
            wanted = [name for name in outputs if name != "features" or not flip]
            out = forward.predict(volumes, wanted, batch_size=batch_size, clinical=clinical,
                                  flip=flip)
            for name in wanted:
                views[name].append(out[name])
        return _combine_views(views)

    @torch.inference_mode()
    def predict_files(self, volumes: PathVolumes, outputs: Sequence[str], *,
                      batch_size: int, reference_masks=None,
                      overlap: float = DEFAULT_OVERLAP, clinical: np.ndarray | None = None
                      ) -> Iterator[dict]:
        """Per file, every requested output of every view from one read of it.

        The image-level outputs (outcome, pathology, features) come from the
        ``volumes.volume_shape`` window that the volumes' crop rule places, in the forms
        of :meth:`predict` for one sample (first axis the views); the ``"segmentation"``
        probabilities come from sliding windows over the whole resampled grid, averaged
        over the views, and are returned on the network grid with the ``"record"`` that
        maps them back (:meth:`~petmtl.io.GeometryRecord.to_original`). With
        ``reference_masks`` (mask paths, None where absent) each item also holds
        ``"reference_mask"``, read against the same PET read.

        Without segmentation the windows of ``batch_size`` files go through the network
        together (only windows are held); with it, one file at a time, since each read
        holds the whole scan.
        """
        image_level = [name for name in outputs if name not in PER_VOXEL]
        segment = "segmentation" in outputs
        reads = iterate_files(volumes, window=bool(image_level), whole_grid=segment,
                              mask_paths=reference_masks)
        first = 0
        for chunk in _chunks(reads, 1 if segment else batch_size):
            rows = None if clinical is None else clinical[first:first + len(chunk)]
            first += len(chunk)
            levels = self._image_level(chunk, image_level, rows) if image_level else {}
            for j, item in enumerate(chunk):
                results = {key: item[key] for key in ("record", "header", "reference_mask")
                           if key in item}
                results.update({name: value[j] if name == "features" else value[:, j]
                                for name, value in levels.items()})
                if segment:
                    results["segmentation"] = np.mean([forward.segment_grid(
                        np.asarray(item["grid"]), window=volumes.volume_shape,
                        batch_size=batch_size, overlap=overlap, flip=flip)
                        for forward, flip in self._each()], axis=0)
                yield results

    def _image_level(self, chunk: list[dict], outputs: list[str],
                     clinical: np.ndarray | None) -> dict[str, np.ndarray]:
        """The image-level outputs of the windows of ``chunk``, combined over the views."""
        windows = torch.stack([torch.as_tensor(item["window"]) for item in chunk])[:, None]
        rows = None if clinical is None else torch.as_tensor(clinical)
        views: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        for forward, flip in self._each():
            dims = [2 + axis for axis in flip]
            wanted = [name for name in outputs if name != "features" or not flip]
            out = forward(forward.prepare(windows.flip(dims) if dims else windows), wanted,
                          clinical=rows)
            for name in wanted:
                views[name].append(_to_numpy(name, out[name]))
        return _combine_views(views)


def _chunks(items: Iterator[dict], size: int) -> Iterator[list[dict]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _combine_views(views: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    out = {}
    for name, values in views.items():
        if name in PER_VOXEL:
            out[name] = np.mean(values, axis=0) if len(values) > 1 else values[0]
        elif name == "features":
            out[name] = np.concatenate(values, axis=-1)
        else:
            out[name] = np.stack(values)
    return out


def forward_of(estimator, module: nn.Module | None = None) -> Forward:
    """The :class:`Forward` of a fitted estimator (or of ``module`` with its settings).

    Parameters
    ----------
    estimator : MultiTaskPETEstimator or MultiTaskPETSurvival
        Its network ``module_``, ``device_`` and input scaling (``intensity_shift_``,
        ``intensity_scale_``) and its ``memory_format`` and ``amp`` parameters.
    module : torch.nn.Module, optional
        Another network to feed the same way (e.g. during training).

    Returns
    -------
    Forward
    """
    device = estimator.device_
    return Forward(estimator.module_ if module is None else module, device,
                   InputScaling(estimator.intensity_shift_, estimator.intensity_scale_),
                   resolve_memory_format(estimator.memory_format, device),
                   autocast_dtype(estimator.amp, device))
