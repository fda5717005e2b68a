"""Peak RSS of ``fit`` on path input for 50 vs 200 volumes (not a timed test).

Writes N synthetic 64^3 PET volumes (and masks) as NIfTI to a temporary folder, then
fits ``MultiTaskPETEstimator`` on the file paths in a fresh subprocess per N (base
width 2, depth 2, one epoch) and reports that subprocess's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``). With lazy loading the peak should
not grow with N; an in-memory fit would add N * 1 MiB of float32 volumes.

Usage::

    python benchmarks/path_input_memory.py            # 50 and 200 volumes
    python benchmarks/path_input_memory.py --sizes 50 200 400
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
from petmtl import MultiTaskPETEstimator
folder, n = Path(sys.argv[1]), int(sys.argv[2])
pets = [str(folder / f"pet_{i:04d}.nii.gz") for i in range(n)]
masks = [str(folder / f"mask_{i:04d}.nii.gz") for i in range(n)]
y = np.arange(n) % 2
start = time.perf_counter()
est = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, batch_size=4,
                            tasks=("reconstruction", "segmentation"), spacing=2.0,
                            input_shape=(64, 64, 64), random_state=0)
est.fit(np.array(pets, dtype=object), y, masks=masks)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "peak_rss_mib": peak_kib / 1024,
                  "fit_seconds": time.perf_counter() - start}))
"""


def write_volumes(folder: Path, n: int, size: int = 64) -> None:
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    grid = np.indices((size,) * 3).transpose(1, 2, 3, 0)
    for i in range(n):
        pet = rng.normal(1.0, 0.1, (size,) * 3).astype(np.float32)
        centre = rng.integers(16, size - 16, 3)
        mask = (np.sum((grid - centre) ** 2, axis=-1) <= 36).astype(np.uint8)
        pet[mask > 0] += 4 + 4 * (i % 2)
        nib.save(nib.Nifti1Image(pet, affine), folder / f"pet_{i:04d}.nii.gz")
        nib.save(nib.Nifti1Image(mask, affine), folder / f"mask_{i:04d}.nii.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        write_volumes(folder, max(args.sizes))
        print(f"wrote {max(args.sizes)} volumes of 64^3 in {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        results = []
        for n in args.sizes:
            done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(n)],
                                  capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]))
        base = results[0]["peak_rss_mib"]
        for r in results[1:]:
            print(f"peak RSS {r['n']} vs {results[0]['n']} volumes: "
                  f"{r['peak_rss_mib']:.0f} MiB vs {base:.0f} MiB "
                  f"({r['peak_rss_mib'] - base:+.0f} MiB; the volumes alone are "
                  f"{(r['n'] - results[0]['n']) * 64 ** 3 * 4 / 2 ** 20:.0f} MiB more)")


if __name__ == "__main__":
    main()
