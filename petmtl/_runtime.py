"""Runtime settings of a fit: memory format, GPU autotuning and threads per worker."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator

import torch

from .exceptions import DeviceOutOfMemoryError

MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def resolve_memory_format(name: str, device: torch.device) -> torch.memory_format:
    """The ``torch.memory_format`` that the network and its inputs use.

    Parameters
    ----------
    name : {"auto", "channels_last", "contiguous"}
        ``"auto"`` picks ``channels_last_3d`` on the CPU (oneDNN's blocked
        convolutions run faster on NDHWC activations; see ``benchmarks/``) and
        on CUDA (cuDNN's NDHWC kernels, most so under bf16), and the contiguous
        NCDHW layout on any other device.
    device : torch.device

    Returns
    -------
    torch.memory_format
    """
    if name not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {MEMORY_FORMATS}, got {name!r}")
    if name == "channels_last" or (name == "auto" and device.type in ("cpu", "cuda")):
        return torch.channels_last_3d
    return torch.contiguous_format


def configure_device(device: torch.device) -> None:
    """Turn on cuDNN autotuning when training on CUDA.

    Volumes within a fit share one shape, so the one-off search for the fastest
    convolution algorithms is repaid from the second batch on.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _concurrent_dask_tasks() -> int:
    """Tasks that a dask worker in this process may run at once (1 outside dask)."""
    try:
        from distributed import Worker, get_worker
    except ImportError:
        return 1
    try:
        worker = get_worker()
    except ValueError:  # not running inside a dask task
        return 1
    # An in-process cluster (LocalCluster(processes=False)) runs several workers in
    # this process; each runs up to ``nthreads`` tasks at once on the same CPUs.
    workers = list(getattr(Worker, "_instances", ())) or [worker]
    return max(1, sum(int(getattr(w, "nthreads", 1) or 1) for w in workers))


def threads_per_fit() -> int | None:
    """Intra-op threads one fit should use, or None to keep torch's setting.

    Inside a dask task the CPUs available to the process are shared among the
    tasks that can run in it at once, so that e.g. two single-threaded workers
    of an in-process ``LocalCluster`` on two cores use one thread each. Dask
    worker *processes* already start with ``OMP_NUM_THREADS=1``, and joblib's
    default ``loky`` backend sets ``OMP_NUM_THREADS = cpu_count() // n_jobs`` in
    its workers, which torch honours, so nothing is changed there.
    """
    budget = max(1, _available_cpus() // _concurrent_dask_tasks())
    return budget if torch.get_num_threads() > budget else None


@contextlib.contextmanager
def limited_threads() -> Iterator[None]:
    """Apply :func:`threads_per_fit` for the duration of the block, then restore."""
    threads = threads_per_fit()
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(device) -> torch.device:
    """The ``torch.device`` for the estimator's ``device`` parameter.

    ``"auto"`` is CUDA when available, else the CPU; asking for CUDA on a machine
    without it raises a ValueError naming the parameter.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', "
                         f"got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine; "
                         "use device='auto' or 'cpu'")
    return resolved


@functools.cache
def _malloc_trim():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


def release_heap() -> None:
    """Give freed heap memory back to the operating system (glibc only; else a no-op).

    Reading a NIfTI file allocates and frees a few large buffers. glibc raises its
    mmap threshold after such frees and then keeps the freed heap instead of
    returning it, so without a trim the peak RSS of a fit on file paths grows with
    the number of files read (measured: +152 MiB from 50 to 200 files of 64^3).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextlib.contextmanager
def memory_guard(action: str, *, device, settings: str = "", shape=None) -> Iterator[None]:
    """Turn an out-of-memory error into a :class:`DeviceOutOfMemoryError` with advice.

    Parameters
    ----------
    action : str
        What was running ("fit", "prediction", ...).
    device : torch.device or str
    settings : str
        The hyper-parameters that set the memory use, quoted in the message
        (e.g. ``"batch_size=4, base_width=16, depth=4"``).
    shape : tuple of int, optional
        Spatial shape of the volumes.
    """
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not (isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower()
                or "can't allocate memory" in text):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        where = f" on volumes of shape {tuple(shape)}" if shape is not None else ""
        raise DeviceOutOfMemoryError(
            f"out of memory on device {str(device)!r} during {action}{where} with "
            f"{settings}. Use a smaller batch_size (prediction uses 2 x batch_size), a "
            f"smaller base_width or depth, or crop/resample the volumes to a smaller shape "
            f"(petmtl.io.prepare_volume); amp=True also halves activation memory on CUDA. "
            f"({text.splitlines()[0][:160]})") from None
