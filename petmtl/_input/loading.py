"""Torch datasets and loaders over checked input, and the input's intensity statistics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .._runtime import release_heap
from ..io import load_mask, load_pet, prepare_loaded_volume
from .volumes import PathVolumes


def read_file(reader, i: int):
    """Item ``i`` of a :class:`petmtl.io.NiftiVolumeDataset`, errors naming the file.

    A file that is decoded and resampled hands its freed heap back to the system
    (:func:`petmtl.io.prepare_volume`); a hit of the preprocessing cache does not, because
    trimming after every small read made the next training step fault its memory in again
    (measured: a warm-cache epoch 0.83x the speed of arrays with a trim per read).
    """
    try:
        return reader[i]
    except Exception as exc:
        names = [p for p in (reader.pet_paths[i], reader.mask_paths[i]) if p is not None]
        if any(n in str(exc) for n in names) or not isinstance(
                exc, (ValueError, TypeError, OSError)):
            raise
        raise type(exc)(f"{reader.pet_paths[i]}: {exc}") from exc


class TaskDataset(Dataset):
    """Volumes with their (possibly missing) task labels, one dict of tensors per item.

    Each item holds ``"image"`` (1, x, y, z) float32 and, when masks are given,
    ``"mask"`` (1, x, y, z) with ``"mask_known"``; every entry of ``targets`` adds
    ``name`` and ``name_known``. Unknown values are stored as 0 with their flag False.

    Parameters
    ----------
    volumes : ndarray of shape (n, x, y, z) or PathVolumes
        float32 volumes (not copied), or files read when an item is requested.
    indices : array-like of int, optional
        Subset of the samples to serve (default: all).
    masks : ndarray, optional
        uint8 masks like ``volumes``, or with :class:`PathVolumes` an object array of
        mask paths.
    mask_known : ndarray of bool, optional
    targets : mapping of str to (values, known), optional
        Per-sample label arrays (unknown entries already 0) and their known flags.
    clinical : ndarray of shape (n, k), optional
        Preprocessed clinical covariates, served as ``"clinical"`` (float32 (k,)).
    """

    def __init__(self, volumes, indices=None, *, masks=None, mask_known=None,
                 targets: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 clinical: np.ndarray | None = None):
        self.volumes = volumes
        self.indices = np.arange(len(volumes)) if indices is None else np.asarray(indices)
        self.masks, self.mask_known = masks, mask_known
        self.targets = dict(targets or {})
        self.clinical = None if clinical is None else np.asarray(clinical, np.float32)
        self.reader = None
        if isinstance(volumes, PathVolumes):
            mask_paths = None if masks is None else [
                m if k else None for m, k in zip(masks, mask_known, strict=True)]
            self.reader = volumes.reader(mask_paths)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        i = int(self.indices[item])
        known = self.masks is not None and bool(self.mask_known[i])
        if self.reader is not None:
            image, mask, _ = read_file(self.reader, i)
        else:
            image, mask = self.volumes[i], self.masks[i] if known else None
        sample = {"image": torch.from_numpy(np.ascontiguousarray(image))[None]}
        if self.masks is not None:
            sample["mask"] = (torch.from_numpy(mask.astype(np.float32))[None] if known
                              else torch.zeros_like(sample["image"]))
            sample["mask_known"] = torch.tensor(known)
        for name, (values, flags) in self.targets.items():
            sample[name] = torch.as_tensor(values[i])
            sample[f"{name}_known"] = torch.tensor(bool(flags[i]))
        if self.clinical is not None:
            sample["clinical"] = torch.from_numpy(self.clinical[i])
        return sample


def _worker_options(volumes) -> dict:
    # path input is read by worker processes; arrays in the main process
    workers = getattr(volumes, "num_workers", 0)
    return {"num_workers": workers, "persistent_workers": workers > 0}


def training_loaders(train: TaskDataset, valid: TaskDataset | None, *, batch_size: int,
                     seed: int, rank: int = 0, world_size: int = 1, pin_memory: bool = False):
    """Shuffled training loader and ordered validation loader (None without a split).

    Every epoch shuffles the training samples with ``seed + epoch`` (call
    ``loader.sampler.set_epoch(epoch)``) and cuts the permutation into global batches of
    ``batch_size``; with ``world_size`` processes, process ``rank`` takes every
    ``world_size``-th sample of each, so the global batches are those of one process.
    The validation samples are shared the same way (``shared_by_processes`` of the
    validation dataset), unless they are fewer than the processes.
    """
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} must be a multiple of the number of "
                         f"processes ({world_size}): it is the global batch, shared by them")
    local = batch_size // world_size
    options = _worker_options(train.volumes)
    sampler = DistributedSampler(train, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed, drop_last=False)
    # A last batch of a single volume cannot be batch-normalised in training mode.
    lone_last_batch = len(sampler) > local and len(sampler) % local == 1
    train_loader = DataLoader(train, batch_size=local, sampler=sampler, pin_memory=pin_memory,
                              drop_last=lone_last_batch, **options)
    valid_loader = None
    if valid is not None and len(valid) > 0:
        # a validation set smaller than the number of processes is evaluated whole by each
        shared = len(valid) >= world_size
        indices = valid.indices[rank::world_size] if shared else valid.indices
        shard = TaskDataset(valid.volumes, indices, masks=valid.masks,
                            mask_known=valid.mask_known, targets=valid.targets,
                            clinical=valid.clinical)
        shard.shared_by_processes = shared and world_size > 1
        valid_loader = DataLoader(shard, batch_size=2 * local, shuffle=False,
                                  pin_memory=pin_memory, **options)
    return train_loader, valid_loader


def prediction_loader(volumes, batch_size: int, clinical: np.ndarray | None = None
                      ) -> DataLoader:
    """Ordered batches of ``{"image": ...}`` (and ``"clinical"``) over ndarray or
    :class:`PathVolumes` input."""
    return DataLoader(TaskDataset(volumes, clinical=clinical), batch_size=batch_size,
                      num_workers=getattr(volumes, "num_workers", 0))


class FileReads(Dataset):
    """One read per file of :class:`PathVolumes`, serving every grid a prediction needs.

    Item ``i`` is a dict with, as asked: ``"window"`` (the network window of the
    volumes' crop rule), ``"grid"`` and ``"record"`` (the whole resampled volume and
    its :class:`~petmtl.io.GeometryRecord`, with ``"header"``, the file's NIfTI header, to
    write results on its grid), and ``"reference_mask"`` (the mask file
    ``mask_paths[i]`` on the PET's original grid, checked against it; None where absent).
    """

    def __init__(self, volumes: PathVolumes, *, window: bool = True, whole_grid: bool = False,
                 mask_paths=None):
        self.volumes, self.window, self.whole_grid = volumes, window, whole_grid
        self.mask_paths = mask_paths

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i: int) -> dict:
        path = self.volumes.paths[i]
        try:
            return self._read(i, path)
        except (ValueError, TypeError, OSError) as exc:
            if path in str(exc):
                raise
            raise type(exc)(f"{path}: {exc}") from exc
        finally:
            release_heap()

    def _read(self, i: int, path: str) -> dict:
        pet = load_pet(path)
        options = self.volumes.prepare_options()
        item = {}
        if self.window:
            item["window"] = prepare_loaded_volume(
                pet, shape=self.volumes.volume_shape, **options)[0]
        if self.whole_grid:
            item["grid"], _, item["record"] = prepare_loaded_volume(pet, shape=None, **options)
            item["header"] = pet.header
        if self.mask_paths is not None:
            mask_path = self.mask_paths[i]
            item["reference_mask"] = (None if mask_path is None
                                      else load_mask(mask_path, reference=pet).data)
        return item


class _Windows(Dataset):
    """The network windows of a reader's files (through its cache)."""

    def __init__(self, reader):
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        return np.asarray(read_file(self.reader, i)[0])


def iterate_files(volumes: PathVolumes, **reads) -> Iterator[dict]:
    """Yield :class:`FileReads` items in order, read by the volumes' DataLoader workers."""
    loader = DataLoader(FileReads(volumes, **reads), batch_size=None, shuffle=False,
                        num_workers=volumes.num_workers)
    yield from loader


def intensity_scaling(volumes, scale) -> tuple[float, float]:
    """Input scaling ``(shift, scale)``: inputs are fed as ``(x - shift) / scale``.

    ``scale="auto"`` standardises with the mean and standard deviation of all
    training voxels, a number divides by it, and None leaves the values as they are.
    For file input the statistics are streamed one file at a time over the files'
    network windows (Chan et al.'s parallel update of float64 mean and sum of squared
    deviations), so only one volume is in memory at a time.
    """
    if scale is None:
        return 0.0, 1.0
    if scale != "auto":
        return 0.0, float(scale)
    if isinstance(volumes, PathVolumes) and volumes.cache:  # reads fill the cache
        loader = DataLoader(_Windows(volumes.reader()), batch_size=None, shuffle=False,
                            num_workers=volumes.num_workers)
        images = iter(loader)
    elif isinstance(volumes, PathVolumes):
        images = (item["window"] for item in iterate_files(volumes))
    else:
        images = iter(volumes)
    count, mean, m2 = 0, 0.0, 0.0
    for image in images:
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


__all__ = ["FileReads", "TaskDataset", "intensity_scaling", "iterate_files", "prediction_loader",
           "read_file", "training_loaders"]
