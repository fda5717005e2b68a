"""Past one process and one scan at a time: data-parallel fit, the preprocessing cache and
whole-body sliding-window segmentation, measured on this machine.

Sections (each in fresh subprocesses; ``--sections`` picks some):

``ddp``
    Fit throughput of the same estimator in 1 process (all threads) and in 2 gloo
    processes (1 thread each) at the same global batch, and of 1 process with 1 thread
    and the per-process batch (twice what each of the 2 computes, so the gap between
    half of it and the 2-process epoch is communication and waiting).
``cache``
    Seconds per epoch of a fit on NIfTI paths with a warm preprocessing cache against the
    same data as in-memory arrays, alternated in one process (120 scans of 96^3 at 2 mm,
    fitted at 4 mm in a 48^3 window); and peak RSS of a path-input fit with the cache on
    50 and on 200 files.
``wholebody``
    ``segment`` of a real whole-body scan (QIN-HEADNECK, 168x168x545 at 3.4x3.4x2.0 mm,
    resampled to 2 mm, 64^3 windows, a segmentation-only network of base width 8 and
    depth 4): this petmtl against an older checkout given by ``--old`` (e.g. a
    ``git worktree`` at the previous release), one after the other in this run, with
    seconds, peak RSS, windows per second, voxels per second and the fraction of the
    measured 3-D convolution roof.

Usage::

    python benchmarks/scale.py --out benchmarks/out --old /path/to/old/checkout
    torchrun --nproc_per_node=N benchmarks/scale.py --sections ddp-worker \
        --batch GLOBAL_BATCH [--size 96 --n-samples 160 --base-width 16]  # one fit, N ranks

Results: a table on stdout and ``<out>/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PETMTL_SHARED_DATA", ROOT.parent / "shared" / "data"))
QIN = SHARED / "wholebody-pet" / "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz"
DDP_PARAMS = dict(base_width=8, depth=4, batch_size=4, max_epochs=2, random_state=0,
                  spacing=4.0, early_stopping=False, refit_outcome=False)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(command, env=None) -> dict:
    """Run a worker command; it prints one JSON line last."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ ddp
def _ddp_worker(args) -> None:
    import torch

    from petmtl import MultiTaskPETEstimator
    from petmtl.datasets import make_pet_cohort

    torch.set_num_threads(args.threads)
    cohort = make_pet_cohort(args.n_samples, shape=(args.size,) * 3, spacing=4.0,
                             random_state=0)
    params = {**DDP_PARAMS, "batch_size": args.batch, "base_width": args.base_width}
    est = MultiTaskPETEstimator(**params)
    start = time.perf_counter()
    est.fit(cohort.X, cohort.y, masks=cohort.masks, pathology=cohort.pathology)
    total = time.perf_counter() - start
    rank = int(os.environ.get("RANK", 0))
    if rank == 0:
        epochs = [r["duration"] for r in est.history_]
        samples = len(cohort.X) - len(cohort.X) // 5
        print(json.dumps({"world_size": int(os.environ.get("WORLD_SIZE", 1)),
                          "device": str(est.device_), "global_batch": args.batch,
                          "fit_seconds": total, "epoch_seconds": epochs,
                          "samples_per_epoch": samples,
                          "samples_per_second": samples / float(np.median(epochs))}))


def section_ddp(args) -> dict:
    me = [sys.executable, __file__, "--sections", "ddp-worker"]
    one = _run([*me, "--threads", "2", "--batch", "4"])
    shard = _run([*me, "--threads", "1", "--batch", "2"])
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", __file__, "--sections", "ddp-worker", "--threads", "1",
                "--batch", "4"], env={"OMP_NUM_THREADS": "1"})
    epoch = {name: float(np.median(r["epoch_seconds"]))
             for name, r in (("1 process, 2 threads", one), ("2 processes, 1 thread", two),
                             ("1 process, 1 thread, batch 2", shard))}
    return {"epoch_seconds": epoch, "speed_2proc_over_1proc":
            epoch["1 process, 2 threads"] / epoch["2 processes, 1 thread"],
            # each of the 2 processes runs half of the batch-2 steps of the 1-thread run
            "communication_share_of_2proc_epoch":
            1 - epoch["1 process, 1 thread, batch 2"] / 2 / epoch["2 processes, 1 thread"]}


# ---------------------------------------------------------------- cache
def _write_cohort_files(n: int, folder: Path) -> None:
    from petmtl.datasets import make_pet_cohort, write_cohort

    write_cohort(make_pet_cohort(n, shape=(96, 96, 96), spacing=2.0, random_state=0), folder)


def _write_cohort(n: int, folder: Path):
    """Write the cohort's files from a child process, so that the arrays it draws never
    count in this process's peak RSS; return the manifest read back."""
    import multiprocessing

    from petmtl.io import read_manifest

    child = multiprocessing.get_context("spawn").Process(target=_write_cohort_files,
                                                         args=(n, folder))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"writing the cohort failed (exit code {child.exitcode})")
    return read_manifest(folder / "manifest.csv")


def _epoch_seconds(est) -> float:
    return float(np.median([r["duration"] for r in est.history_]))


def _cache_worker(args) -> None:
    import torch

    from petmtl import MultiTaskPETEstimator
    from petmtl.io import prepare_volume

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _write_cohort(args.n_files, Path(tmp) / "cohort")
        params = dict(base_width=8, depth=4, max_epochs=2, random_state=0, spacing=4.0,
                      input_shape=(48, 48, 48), early_stopping=False, refit_outcome=False,
                      cache_dir=Path(tmp) / "cache")
        if args.rss_only:
            est = MultiTaskPETEstimator(**{**params, "max_epochs": 1})
            est.fit(list(manifest.X), manifest.y, masks=list(manifest.masks),
                    pathology=manifest.pathology)
            print(json.dumps({"n_files": args.n_files, "peak_rss_mib": _peak_rss_mib()}))
            return
        arrays = [prepare_volume(p, m, spacing=4.0, shape=(48, 48, 48), center="body")
                  for p, m in zip(manifest.X, manifest.masks, strict=True)]
        X = np.stack([a[0] for a in arrays])
        masks = np.stack([a[1] for a in arrays]).astype(np.uint8)
        paths, memory = [], []
        MultiTaskPETEstimator(**{**params, "max_epochs": 1}).fit(  # warms the cache
            list(manifest.X), manifest.y, masks=list(manifest.masks),
            pathology=manifest.pathology)
        for _ in range(2):  # alternated: A B A B
            est = MultiTaskPETEstimator(**params)
            paths.append(_epoch_seconds(est.fit(list(manifest.X), manifest.y,
                                                masks=list(manifest.masks),
                                                pathology=manifest.pathology)))
            est = MultiTaskPETEstimator(**params)
            memory.append(_epoch_seconds(est.fit(X, manifest.y, masks=masks,
                                                 pathology=manifest.pathology)))
        print(json.dumps({"paths_warm_cache_epoch_s": paths, "arrays_epoch_s": memory,
                          "speed_ratio": float(np.median(memory) / np.median(paths))}))


def section_cache(args) -> dict:
    me = [sys.executable, __file__, "--sections", "cache-worker", "--threads", "2"]
    result = _run([*me, "--n-files", "120"])
    result["peak_rss"] = [_run([*me, "--n-files", str(n), "--rss-only"]) for n in (50, 200)]
    return result


# ------------------------------------------------------------ wholebody
def _wholebody_worker(args) -> None:
    import torch

    import petmtl
    from petmtl import MultiTaskPETEstimator
    from petmtl.network import MultiTaskWNet

    torch.set_num_threads(args.threads)
    windows_run = [0]
    forward = MultiTaskWNet.forward

    def counting_forward(self, x, *a, **kw):
        if not self.training:
            windows_run[0] += len(x)
        return forward(self, x, *a, **kw)

    rng = np.random.default_rng(0)
    X = rng.normal(1.0, 0.2, (8, 16, 16, 16)).astype(np.float32)
    masks = (X > 1.3).astype(np.uint8)
    est = MultiTaskPETEstimator(base_width=8, depth=4, tasks=("segmentation",),
                                outcome_features="global", max_epochs=1, random_state=0)
    est.fit(X, np.arange(8) % 2, masks=masks)
    est.set_params(spacing=2.0, input_shape=(64, 64, 64))
    MultiTaskWNet.forward = counting_forward
    start = time.perf_counter()
    out = est.segment([str(QIN)])[0]
    seconds = time.perf_counter() - start
    print(json.dumps({"petmtl": petmtl.__file__, "seconds": seconds,
                      "peak_rss_mib": _peak_rss_mib(), "windows_run": windows_run[0],
                      "mask_voxels": int(out.sum()), "shape": list(out.shape)}))


def _roof_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    conv = torch.nn.Conv3d(32, 32, 3, padding=1).to(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 32, 64, 64, 64).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        conv(x)
        start = time.perf_counter()
        for _ in range(3):
            conv(x)
    seconds = (time.perf_counter() - start) / 3
    return 2 * 32 * 32 * 27 * x[0, 0].numel() * 2 / seconds / 1e9


def _window_flops() -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from petmtl.network import MultiTaskWNet

    net = MultiTaskWNet(8, 4, reconstruction=False, n_pathology_outputs=0,
                        outcome_features="global").eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(torch.zeros(1, 1, 64, 64, 64), outputs=("segmentation",))
    return counter.get_total_flops()


def section_wholebody(args) -> dict:
    if not QIN.is_file():
        return {"skipped": f"{QIN} not found (set PETMTL_SHARED_DATA)"}
    me = [__file__, "--sections", "wholebody-worker", "--threads", str(args.threads)]
    new = _run([sys.executable, *me])
    result = {"new": new}
    if args.old:
        result["old"] = _run([sys.executable, *me], env={"PYTHONPATH": str(args.old)})
        result["speedup"] = result["old"]["seconds"] / new["seconds"]
    import nibabel as nib

    zooms, shape = nib.load(QIN).header.get_zooms()[:3], nib.load(QIN).shape[:3]
    grid = [max(1, round(n * z / 2.0)) for n, z in zip(shape, zooms, strict=True)]
    starts = [len(range(0, max(g - 64, 0), 48)) + 1 for g in grid]  # overlap 0.25
    windows = int(np.prod(starts))
    flops = _window_flops() * new["windows_run"]  # windows of air are not run
    result.update(grid=grid, windows_at_overlap_0_25=windows,
                  voxels_per_second=float(np.prod(grid)) / new["seconds"],
                  achieved_gflops=flops / new["seconds"] / 1e9,
                  roof_gflops=_roof_gflops(args.threads))
    result["fraction_of_roof"] = result["achieved_gflops"] / result["roof_gflops"]
    return result


SECTIONS = {"ddp": section_ddp, "cache": section_cache, "wholebody": section_wholebody}
WORKERS = {"ddp-worker": _ddp_worker, "cache-worker": _cache_worker,
           "wholebody-worker": _wholebody_worker}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="ddp,cache,wholebody")
    parser.add_argument("--out", default="benchmarks/out")
    parser.add_argument("--old", default=None, help="an older petmtl checkout to compare")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--n-files", type=int, default=120)
    parser.add_argument("--rss-only", action="store_true")
    parser.add_argument("--size", type=int, default=48, help="ddp: cube side (4 mm voxels)")
    parser.add_argument("--n-samples", type=int, default=48, help="ddp: cohort size")
    parser.add_argument("--base-width", type=int, default=8, help="ddp: network width")
    args = parser.parse_args(argv)
    if args.sections in WORKERS:
        return WORKERS[args.sections](args)
    results = {}
    for name in args.sections.split(","):
        start = time.perf_counter()
        results[name] = SECTIONS[name](args)
        results[name]["section_seconds"] = time.perf_counter() - start
        print(name, json.dumps(results[name], indent=2), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "scale.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
