"""Shared fixtures: tiny volumes where the outcome and the tumour are plainly visible."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker is one process on a machine it shares with the others: one thread
    # per worker (and per subprocess it starts) avoids oversubscribing the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

SHARED_DATA = Path(os.environ.get(
    "PETMTL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
"""Real PET data (``../shared/data`` beside the project, or ``$PETMTL_SHARED_DATA``)."""

TINY = dict(base_width=2, depth=2, max_epochs=2, batch_size=4, random_state=0)


def one_torch_thread():
    """Body of a module fixture: one torch thread for the module's fits, then restored.

    Fits in subprocesses (parallel folds, the CLI) use one thread, so in-process reference
    fits use one too. Use as ``pytest.fixture(scope="module", autouse=True)(one_torch_thread)``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_blob_volumes(n_samples=16, size=16, seed=0, *, axis=2):
    """Noisy background with one spherical tumour per volume, in RAS+ order (x, y, z).

    The outcome is 1 when the tumour is bright (SUV +8) and 0 when dim (+4); the
    pathology is the half of the volume along ``axis`` that holds the tumour: "lower" or
    "upper" (axis 2, inferior-superior, by default), "posterior"/"anterior" (axis 1),
    "right"/"left" (axis 0, the axis the default augmentation mirrors).
    """
    names = (("right", "left"), ("posterior", "anterior"), ("lower", "upper"))[axis]
    rng = np.random.default_rng(seed)
    X = rng.normal(1.0, 0.1, (n_samples, size, size, size)).astype(np.float32)
    masks = np.zeros(X.shape, dtype=np.uint8)
    y = np.arange(n_samples) % 2
    grid = np.mgrid[:size, :size, :size]
    pathology = []
    for i in range(n_samples):
        centre = rng.integers(4, size - 4, 3)
        blob = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= 9
        masks[i] = blob
        X[i][blob] += 4 + 4 * y[i]
        pathology.append(names[int(centre[axis] >= size // 2)])
    return X, y, masks, np.array(pathology, dtype=object)


@pytest.fixture
def blobs():
    return make_blob_volumes()


@pytest.fixture
def tiny_params():
    return dict(TINY)


def wait_for_file(path: Path, proc, timeout: float) -> None:
    """Wait until ``path`` exists while the subprocess ``proc`` keeps running."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, f"{path.name} not written in time"
        time.sleep(0.05)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once per test session.

    A module fixture runs once in every pytest-xdist worker whose tests use it; for a
    costly subprocess run (a torchrun launch, a benchmark) the first worker makes the
    folder and the others wait for it and read it (pytest-xdist's documented pattern,
    with a file lock in the session's shared temporary folder). Treat it as read-only.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above every worker's own
    folder = base / f"made-once-{name}"
    with FileLock(f"{folder}.lock"):
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            make(folder)
            (folder / ".complete").touch()
    return folder


def network_batch_sizes(monkeypatch, *, training: bool) -> list[int]:
    """The sizes of the batches the network sees from now on, in training or in
    evaluation mode (a list that fills as the network runs)."""
    from petmtl.network import MultiTaskWNet

    sizes = []
    forward = MultiTaskWNet.forward

    def recording(self, x, **kwargs):
        if self.training == training:
            sizes.append(len(x))
        return forward(self, x, **kwargs)

    monkeypatch.setattr(MultiTaskWNet, "forward", recording)
    return sizes
