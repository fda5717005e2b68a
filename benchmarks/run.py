"""Speed and memory benchmarks of petmtl's W-Net (issue 6).

One command prints, per configuration, the forward FLOPs per volume, the median
train-step time, training and inference throughput, peak memory, the achieved
GFLOP/s and its fraction of this machine's 3-D convolution roof, then the
overhead of ``MultiTaskPETEstimator.fit`` over a bare PyTorch loop::

    python benchmarks/run.py --quick              # CPU, a few minutes
    python benchmarks/run.py                      # CPU, more repeats
    python benchmarks/run.py --device cuda        # GPU: bf16, cudnn autotuning, paper size

Conventions
-----------
* FLOPs are those counted by ``torch.utils.flop_counter.FlopCounterMode`` for
  one forward pass (convolutions and matrix products, 2 FLOPs per
  multiply-add; norms, activations and the optimiser are not counted).
* A training step is counted as 3x the forward FLOPs (forward + the two
  backward products), so ``achieved = 3 * fwd_flops * batch / step_time``.
* The roof is the best forward throughput of a large 3x3x3 ``Conv3d``
  (contiguous and channels_last_3d, the better of the two) measured by this
  script in the same process settings.
* Wall-clock figures suffer when other processes share the cores. The script
  also records process CPU seconds per step: with ``--threads 1`` (no OpenMP
  threads spinning at barriers) "GFLOP per CPU-second" over the roof's
  "GFLOP per CPU-second" is a load-robust estimate of the fraction of roof.
* Every timed configuration runs in a fresh subprocess, so the peak memory is
  that configuration's own: process peak RSS on the CPU (``ru_maxrss``),
  ``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

CL = torch.channels_last_3d
FORMATS = {"contiguous": torch.contiguous_format, "channels_last": CL}
WEIGHTS = {"reconstruction": 0.7 / 3, "segmentation": 0.7 / 3, "pathology": 0.7 / 3,
           "outcome": 0.3}


@dataclass
class Config:
    """One network / input configuration."""

    name: str
    size: int
    base: int
    depth: int
    batch: int
    norm: str | None = "batch"


CPU_CONFIGS = [
    Config("tiny 16^3 b2 d2", 16, 2, 2, 4),
    Config("32^3 b8 d4", 32, 8, 4, 4),
    Config("64^3 b16 d4", 64, 16, 4, 2),
    Config("64^3 b16 d4 paper-norm", 64, 16, 4, 2, None),
]
GPU_CONFIGS = [
    Config("64^3 b16 d4", 64, 16, 4, 2),
    Config("paper 128^3 b64 d5", 128, 64, 5, 4, None),
]
PAPER = Config("paper 128^3 b64 d5", 128, 64, 5, 4, None)


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists(
        "/proc/loadavg") else "n/a"


def build(cfg: Config, device="cpu"):
    from petmtl.network import MultiTaskWNet

    return MultiTaskWNet(cfg.base, cfg.depth, norm=cfg.norm).to(device)


def make_batch(cfg: Config, device, memory_format, n=None) -> dict:
    n = cfg.batch if n is None else n
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, cfg.size, cfg.size, cfg.size, generator=g)
    mask = (torch.rand(x.shape, generator=g) > 0.9).float()
    known = torch.ones(n, dtype=torch.bool)
    batch = {"image": x, "mask": mask, "mask_known": known, "pathology_known": known,
             "pathology": torch.arange(n) % 2, "outcome": (torch.arange(n) + 1) % 2,
             "outcome_known": known}
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["image"] = batch["image"].contiguous(memory_format=memory_format)
    return batch


def forward_flops(cfg: Config, device="meta") -> tuple[int, int]:
    """Forward FLOPs for one volume and the parameter count (on the meta device)."""
    with torch.device(device):
        model = build(cfg, device).eval()
        x = torch.zeros(1, 1, cfg.size, cfg.size, cfg.size)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    return counter.get_total_flops(), sum(p.numel() for p in model.parameters())


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_time(fn, device, repeats: int, warmup: int, cpu: list | None = None) -> float:
    """Median wall time of ``fn``; the median process CPU time is appended to ``cpu``."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    if cpu is not None:
        cpu.append(statistics.median(cpu_times))
    return statistics.median(times)


def roof(device, quick: bool) -> dict:
    """GFLOP/s of a large 3x3x3 Conv3d forward (best memory format)."""
    if torch.device(device).type == "cuda":
        shape, channels, dtype = (4, 128, 64, 64, 64), 128, torch.bfloat16
    else:
        shape, channels, dtype = (2, 32, 64, 64, 64), 32, torch.float32
    out = {}
    for name, fmt in FORMATS.items():
        conv = torch.nn.Conv3d(channels, channels, 3, padding=1).to(device, dtype)
        conv = conv.to(memory_format=fmt)
        x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
        with torch.no_grad():
            with FlopCounterMode(display=False) as counter:
                conv(x)
            cpu: list = []
            t = median_time(lambda conv=conv, x=x: conv(x), device, 3 if quick else 7, 2, cpu)
        out[name] = counter.get_total_flops() / t / 1e9
        out[f"{name}_per_cpu_s"] = counter.get_total_flops() / cpu[0] / 1e9
    out["roof"] = max(out["contiguous"], out["channels_last"])
    out["roof_per_cpu_s"] = max(out["contiguous_per_cpu_s"], out["channels_last_per_cpu_s"])
    return out


def peak_memory_mb(device) -> float:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_config(cfg: Config, fmt_name: str, device: str, quick: bool, compile_: bool) -> dict:
    """Time one configuration (meant to run in its own subprocess)."""
    from petmtl.losses import multitask_loss

    torch.manual_seed(0)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    fmt = FORMATS[fmt_name]
    model = build(cfg, device).to(memory_format=fmt)
    net = torch.compile(model) if compile_ else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    host = make_batch(cfg, "cpu", fmt)
    if cuda:
        host = {k: v.pin_memory() for k, v in host.items()}
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    def train_step():
        batch = {k: v.to(device, non_blocking=True) for k, v in host.items()}
        with amp:
            outputs = net(batch["image"])
        loss, _ = multitask_loss(outputs, batch, WEIGHTS, dice_smooth=1.0, seg_bce_weight=0.5)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    repeats, warmup = (3, 1) if quick else (7, 2)
    if cfg.size >= 64 and not cuda:
        repeats = 3 if quick else 5
    model.train()
    cpu: list = []
    step = median_time(train_step, device, repeats, warmup, cpu)
    infer_x = make_batch(cfg, "cpu", fmt, n=2 * cfg.batch)["image"]
    if cuda:
        infer_x = infer_x.pin_memory()
    model.eval()

    def infer():
        with torch.inference_mode(), amp:
            net(infer_x.to(device, non_blocking=True))["outcome"].float().cpu()

    infer_t = median_time(infer, device, repeats, 1)
    flops, params = forward_flops(cfg)
    achieved = 3 * flops * cfg.batch / step / 1e9
    return {"config": asdict(cfg), "format": fmt_name, "compile": compile_,
            "params": params, "fwd_gflop_per_volume": flops / 1e9, "step_s": step,
            "train_vol_s": cfg.batch / step, "infer_vol_s": 2 * cfg.batch / infer_t,
            "achieved_gflops": achieved, "peak_mb": peak_memory_mb(device),
            "step_cpu_s": cpu[0], "gflop_per_cpu_s": 3 * flops * cfg.batch / cpu[0] / 1e9,
            "threads": torch.get_num_threads(), "load": load()}


def in_subprocess(cfg: Config, fmt: str, device: str, quick: bool, compile_: bool) -> dict:
    """Run :func:`run_config` in a fresh interpreter so its peak memory is its own."""
    payload = json.dumps({"cfg": asdict(cfg), "fmt": fmt, "device": device, "quick": quick,
                          "compile": compile_})
    proc = subprocess.run([sys.executable, __file__, "--_worker", payload],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"config": asdict(cfg), "format": fmt, "error": proc.stderr.strip()[-400:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------- estimator vs bare loop
def bare_loop(cfg: Config, X, y, masks, pathology, epochs: int, seed: int) -> float:
    """A hand-written loop: same network, optimiser, data, split and validation pass."""
    from sklearn.model_selection import train_test_split

    from petmtl.losses import multitask_loss

    start = time.perf_counter()
    idx = np.arange(len(X))
    train, valid = train_test_split(idx, test_size=int(0.2 * len(X)), stratify=y,
                                    random_state=seed)
    shift, scale = float(X.mean()), float(X.std())
    data = {"image": torch.from_numpy(X)[:, None], "mask": torch.from_numpy(masks)[:, None].float(),
            "outcome": torch.from_numpy(y).long(),
            "pathology": torch.from_numpy(np.unique(pathology, return_inverse=True)[1]).long()}
    ones = torch.ones(len(X), dtype=torch.bool)
    data.update(mask_known=ones, outcome_known=ones, pathology_known=ones)
    torch.manual_seed(seed)
    model = build(cfg).to(memory_format=CL)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def take(rows):
        batch = {k: v[rows] for k, v in data.items()}
        batch["image"] = ((batch["image"] - shift) / scale).contiguous(memory_format=CL)
        return batch

    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.from_numpy(train)[torch.randperm(len(train), generator=g)]
        for rows in order.split(cfg.batch):
            batch = take(rows)
            loss, _ = multitask_loss(model(batch["image"]), batch, WEIGHTS, dice_smooth=1.0,
                                     seg_bce_weight=0.5)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            for rows in torch.from_numpy(valid).split(2 * cfg.batch):
                batch = take(rows)
                multitask_loss(model(batch["image"]), batch, WEIGHTS, dice_smooth=1.0,
                               seg_bce_weight=0.5)
    return time.perf_counter() - start


def estimator_vs_loop(cfg: Config, n: int, epochs: int, rounds: int) -> dict:
    """Alternate estimator fits and bare loops (A/B/A/B...) in this process."""
    from petmtl import MultiTaskPETEstimator
    from petmtl.datasets import make_pet_cohort

    cohort = make_pet_cohort(n, shape=(cfg.size,) * 3, random_state=0)
    X = np.asarray(cohort.X, dtype=np.float32)
    y = np.asarray(cohort.y)
    masks = np.asarray(cohort.masks, dtype=np.uint8)
    pathology = np.asarray(cohort.pathology)
    est = MultiTaskPETEstimator(base_width=cfg.base, depth=cfg.depth, batch_size=cfg.batch,
                                max_epochs=epochs, n_iter_no_change=epochs + 1, augment=False,
                                verbose=1, random_state=0)
    times = {"estimator": [], "bare": []}
    cpu = {"estimator": [], "bare": []}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the progress bar is drawn, then discarded
    for i in range(rounds + 1):  # round 0 warms up both and is not timed
        stderr, sys.stderr = sys.stderr, devnull
        try:
            start, cpu_start = time.perf_counter(), time.process_time()
            est.fit(X, y, masks=masks, pathology=pathology)
            times["estimator"].append(time.perf_counter() - start)
            cpu["estimator"].append(time.process_time() - cpu_start)
        finally:
            sys.stderr = stderr
        cpu_start = time.process_time()
        times["bare"].append(bare_loop(cfg, X, y, masks, pathology, epochs, 0))
        cpu["bare"].append(time.process_time() - cpu_start)
        if i == 0:
            times = {"estimator": [], "bare": []}
            cpu = {"estimator": [], "bare": []}
    devnull.close()
    per_epoch = {k: statistics.median(v) / epochs for k, v in times.items()}
    return {"config": asdict(cfg), "n": n, "epochs": epochs, "rounds": rounds,
            "estimator_s_per_epoch": per_epoch["estimator"],
            "bare_s_per_epoch": per_epoch["bare"],
            "ratio": per_epoch["estimator"] / per_epoch["bare"],
            "pairwise_ratios": [a / b for a, b in zip(times["estimator"], times["bare"],
                                                      strict=True)],
            "cpu_ratio": statistics.median(cpu["estimator"]) / statistics.median(cpu["bare"]),
            "load": load()}


def path_vs_memory(size: int, n: int, epochs: int, rounds: int, workers: int) -> dict:
    """Training throughput with NIfTI paths (DataLoader workers) vs in-memory arrays."""
    import csv
    import tempfile
    from pathlib import Path

    from petmtl import MultiTaskPETEstimator
    from petmtl.datasets import make_pet_cohort, write_cohort

    spacing = 2.0
    cohort = make_pet_cohort(n, shape=(size,) * 3, spacing=spacing, random_state=0)
    common = dict(base_width=16, depth=4, batch_size=2, max_epochs=epochs, early_stopping=False,
                  augment=False, random_state=0)
    times = {"memory": [], "paths": []}
    with tempfile.TemporaryDirectory() as folder:
        manifest = write_cohort(cohort, folder)
        with open(manifest, newline="") as fh:
            rows = list(csv.DictReader(fh))
        pet = [str(Path(folder) / r["pet_path"]) for r in rows]
        masks = [str(Path(folder) / r["mask_path"]) for r in rows]
        from_paths = MultiTaskPETEstimator(spacing=spacing, input_shape=(size,) * 3,
                                           crop_center="center", num_workers=workers, **common)
        in_memory = MultiTaskPETEstimator(**common)
        for _ in range(rounds):
            start = time.perf_counter()
            in_memory.fit(cohort.X, cohort.y, masks=cohort.masks, pathology=cohort.pathology)
            times["memory"].append(time.perf_counter() - start)
            start = time.perf_counter()
            from_paths.fit(pet, cohort.y, masks=masks, pathology=cohort.pathology)
            times["paths"].append(time.perf_counter() - start)
    vol_s = {k: n * epochs / statistics.median(v) for k, v in times.items()}
    return {"size": size, "n": n, "epochs": epochs, "rounds": rounds, "num_workers": workers,
            "memory_vol_s": vol_s["memory"], "paths_vol_s": vol_s["paths"],
            "ratio": vol_s["paths"] / vol_s["memory"], "load": load()}


# ------------------------------------------------------------------- report
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def print_table(rows: list[dict], roof: dict, unit: str) -> None:
    roof_gflops, roof_cpu = roof["roof"], roof["roof_per_cpu_s"]
    scale = 1e3 if unit == "TFLOP/s" else 1
    print(f"| config | format | batch | fwd GFLOP/vol | step s | train vol/s | infer vol/s "
          f"| peak MB | {unit} | % roof | step CPU-s | % roof per CPU-s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["config"]
        if "error" in r:
            print(f"| {c['name']} | {r['format']} | {c['batch']} | error: {r['error'][-120:]} |")
            continue
        print(f"| {c['name']}{' (compiled)' if r['compile'] else ''} | {r['format']} "
              f"| {c['batch']} | {r['fwd_gflop_per_volume']:.3f} | {r['step_s']:.3f} "
              f"| {r['train_vol_s']:.2f} | {r['infer_vol_s']:.2f} | {r['peak_mb']:.0f} "
              f"| {r['achieved_gflops'] / scale:.2f} "
              f"| {100 * r['achieved_gflops'] / roof_gflops:.0f}% | {r['step_cpu_s']:.3f} "
              f"| {100 * r['gflop_per_cpu_s'] / roof_cpu:.0f}% | {r['load']} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (< ~10 min on CPU)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--formats", default="contiguous,channels_last")
    parser.add_argument("--configs", default=None,
                        help="comma-separated substrings selecting configurations")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--skip-ab", action="store_true", help="skip estimator vs bare loop")
    parser.add_argument("--skip-paths", action="store_true",
                        help="skip NIfTI path input vs in-memory arrays")
    parser.add_argument("--json", default=None, help="also write all results to this file")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's, one per core)")
    parser.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the subprocesses
    if args._worker:
        p = json.loads(args._worker)
        print(json.dumps(run_config(Config(**p["cfg"]), p["fmt"], p["device"], p["quick"],
                                    p["compile"])))
        return 0

    cuda = torch.device(args.device).type == "cuda"
    results = {"machine": machine(), "load_start": load(), "command": " ".join(sys.argv)}
    print(f"# machine: {json.dumps(results['machine'])}")
    print(f"# load at start: {results['load_start']}")

    flops, params = forward_flops(PAPER)
    results["paper"] = {"params": params, "fwd_gflop_per_volume": flops / 1e9}
    print(f"# paper network (base 64, depth 5, norm=None, 4 tasks) on 128^3: {params:,} "
          f"parameters, {flops / 1e9:.1f} GFLOP forward per volume")

    results["roof"] = roof(args.device, args.quick)
    unit = "TFLOP/s" if cuda else "GFLOP/s"
    scale = 1e3 if cuda else 1
    print("# roof (3x3x3 Conv3d forward): " + ", ".join(
        f"{k} {v / scale:.2f} {unit}" for k, v in results["roof"].items()))

    configs = GPU_CONFIGS if cuda else CPU_CONFIGS
    if args.configs:
        keys = args.configs.split(",")
        configs = [c for c in configs if any(k in c.name for k in keys)]
    rows = []
    for cfg in configs:
        for fmt in args.formats.split(","):
            for compile_ in ([False, True] if args.compile else [False]):
                rows.append(in_subprocess(cfg, fmt, args.device, args.quick, compile_))
                print(f"#   done {cfg.name} {fmt}{' compiled' if compile_ else ''} "
                      f"(load {load()})", flush=True)
    results["rows"] = rows
    print()
    print_table(rows, results["roof"], unit)

    if not cuda and not args.skip_ab:
        cfg = Config("32^3 b8 d4", 32, 8, 4, 4)
        ab = estimator_vs_loop(cfg, n=20 if args.quick else 40, epochs=2 if args.quick else 3,
                               rounds=3 if args.quick else 5)
        results["estimator_vs_bare"] = ab
        print()
        print(f"# estimator fit vs bare loop ({cfg.name}, batch {cfg.batch}, n={ab['n']}, "
              f"{ab['epochs']} epochs with validation, {ab['rounds']} alternating rounds): "
              f"{ab['estimator_s_per_epoch']:.3f} vs {ab['bare_s_per_epoch']:.3f} s/epoch, "
              f"ratio {ab['ratio']:.3f}, in CPU time {ab['cpu_ratio']:.3f} (pairwise "
              f"{', '.join(f'{r:.3f}' for r in ab['pairwise_ratios'])}; load {ab['load']})")
    if not cuda and not args.skip_paths:
        pv = path_vs_memory(64, n=8, epochs=1, rounds=2 if args.quick else 3, workers=2)
        results["paths_vs_memory"] = pv
        print(f"# NIfTI paths (num_workers={pv['num_workers']}) vs in-memory arrays, 64^3 "
              f"b16 d4 batch 2, n={pv['n']}: {pv['paths_vol_s']:.3f} vs "
              f"{pv['memory_vol_s']:.3f} training vol/s, ratio {pv['ratio']:.3f} "
              f"(load {pv['load']})")
    results["load_end"] = load()
    print(f"# load at end: {results['load_end']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
