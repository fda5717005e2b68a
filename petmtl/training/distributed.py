"""Data-parallel training over processes: ``torchrun`` launches, gloo on CPUs, NCCL on GPUs.

A fit inside ``torchrun --nproc_per_node=N`` (or with ``distributed=True`` and an
initialised process group) trains one network per process on a shard of every global
batch; :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so the
processes keep identical weights, and the loop averages the batch-norm statistics after
every epoch (:meth:`ProcessGroup.average_buffers`). Validation outputs are gathered from
every process before the metrics are computed, so every process takes the same
early-stopping decision, and only the first process writes checkpoints and shows progress.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by ``torchrun``."""
    return all(v in os.environ for v in ("RANK", "WORLD_SIZE")) and \
        int(os.environ["WORLD_SIZE"]) > 1


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a data-parallel fit.

    Attributes
    ----------
    rank, world_size : int
    local_rank : int
        Index of the process on its machine (its GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that writes checkpoints and shows progress."""
        return self.rank == 0

    def shard(self, indices):
        """This process's share of ``indices`` (every ``world_size``-th from ``rank``)."""
        return indices[self.rank::self.world_size]

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate ``tensor`` (first axis of any length) from every process, in rank order.

        Shards are interleaved back (``shard``'s inverse) when they hold every
        ``world_size``-th item: item ``i`` of process ``r`` is global item
        ``i * world_size + r``.
        """
        if self.world_size == 1:
            return tensor
        if tensor.dtype == torch.bool:  # not every backend gathers booleans
            return self.gather(tensor.to(torch.uint8)).bool()
        n = torch.tensor([len(tensor)], device=tensor.device)
        sizes = [torch.zeros_like(n) for _ in range(self.world_size)]
        dist.all_gather(sizes, n)
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype,
                             device=tensor.device)
        padded[: len(tensor)] = tensor
        parts = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        total = sum(int(s.item()) for s in sizes)
        out = torch.zeros((total, *tensor.shape[1:]), dtype=tensor.dtype,
                          device=tensor.device)
        for r, (part, size) in enumerate(zip(parts, sizes, strict=True)):
            out[r::self.world_size][: int(size.item())] = part[: int(size.item())]
        return out

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        """Sum a dict of numbers over every process (same keys everywhere)."""
        if self.world_size == 1:
            return dict(values)
        names = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in names], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return dict(zip(names, tensor.cpu().tolist(), strict=True))


    def average_buffers(self, module: torch.nn.Module) -> None:
        """Give every process the mean of the floating-point buffers of ``module``.

        Gradients are averaged at every step, so the processes keep identical weights;
        batch-norm running statistics, however, are updated by each process from its
        own share of the batch (on CPUs, and by the last step before an epoch ends on
        GPUs too). Averaging them after every epoch ends each process with the same
        network. Integer buffers (batch counters) are the same everywhere already.
        """
        if self.world_size == 1:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer.data)
                buffer.data /= self.world_size


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper (or the module itself)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


def process_group(setting, device: torch.device) -> ProcessGroup:
    """The process group of a fit: joined (and created if needed) or a single process.

    Parameters
    ----------
    setting : {"auto", True, False}
        "auto": data-parallel inside a ``torchrun`` launch of several processes, or when
        a process group of several processes is already initialised. True requires one.
    device : torch.device
        NCCL is used for CUDA devices, gloo otherwise.

    Returns
    -------
    ProcessGroup
    """
    if setting is False:
        return ProcessGroup()
    initialised = dist.is_available() and dist.is_initialized()
    if not initialised and not launched_by_torchrun():
        if setting is True:
            raise ValueError("distributed=True but no process group is initialised and this "
                             "process was not started by torchrun (RANK and WORLD_SIZE are "
                             "not set); launch with `torchrun --nproc_per_node=N` or use "
                             "distributed='auto'")
        return ProcessGroup()
    if not initialised:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    world = dist.get_world_size()
    if world == 1:
        return ProcessGroup()
    return ProcessGroup(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)))
