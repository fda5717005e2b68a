"""Speed of the whole-body lesion-burden measures (``petmtl.pet``).

Times, best of three, on one thread:

* the measures of a given label map, and detection + measures by each threshold rule, on
  the real whole-body scan ``QIN-HEADNECK-01-0139`` (168 x 168 x 545 voxels of 3.39 x 3.39
  x 2.03 mm; ``../shared/data/wholebody-pet``, or ``--data``), with its 11-lesion label
  map's primary (label 1) as the primary;
* ``LesionBurden.transform`` per volume on synthetic cohorts of 48^3 at 4 mm and 64^3 at
  2 mm (``make_pet_cohort``), reference masks as primaries.

PERCIST needs a liver reference, which the real scan lacks, so it is timed on the
synthetic volumes only. Command (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/lesion_burden_speed.py
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np

from petmtl.datasets import make_pet_cohort
from petmtl.pet import LesionBurden, detect_lesions, lesion_burden, liver_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wholebody-pet"


def best_of(function, repeats: int = 3):
    """Shortest wall time (s) of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def whole_body(folder: Path) -> None:
    import nibabel as nib

    image = nib.load(folder / "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz")
    suv = np.asarray(image.dataobj, dtype=np.float32)
    labels = np.asarray(nib.load(folder / "QIN-HEADNECK-01-0139_mask.nii.gz").dataobj)
    spacing = tuple(float(s) for s in image.header.get_zooms()[:3])
    primary = labels == 1
    print(f"whole body {suv.shape} at {spacing} mm")
    seconds, burden = best_of(lambda: lesion_burden(suv, labels, spacing, primary=primary))
    print(f"  label map -> measures: {seconds * 1000:.0f} ms; "
          + ", ".join(f"{k} {v:.4g}" for k, v in burden.items()))
    for rule in ("suv2.5", "suv4.0", "suvmax41"):
        detect, found = best_of(lambda rule=rule: detect_lesions(suv, spacing, rule=rule))
        measure, burden = best_of(lambda found=found: lesion_burden(suv, found, spacing,
                                                                    primary=primary))
        print(f"  {rule}: detection {detect * 1000:.0f} ms + measures {measure * 1000:.0f} ms"
              f" ({burden['n_lesions']} lesions, TMTV {burden['TMTV_ml']:.0f} ml)")


def synthetic() -> None:
    for shape, spacing in ((48, 4.0), (64, 2.0)):
        cohort = make_pet_cohort(8, shape=(shape,) * 3, spacing=spacing, return_anatomy=True,
                                 random_state=0)
        liver = cohort.anatomy == cohort.anatomy_labels["liver"]
        reference = [liver_reference(x, m, spacing) for x, m in zip(cohort.X, liver,
                                                                    strict=True)]
        for rule in ("suv2.5", "suv4.0", "percist", "suvmax41"):
            burden = LesionBurden(spacing, rule).fit(cohort.X)
            seconds, _ = best_of(partial(burden.transform, cohort.X, masks=cohort.masks,
                                         reference=reference))
            print(f"{shape}^3 at {spacing:g} mm, {rule}: {seconds / 8 * 1000:.1f} ms per volume")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if (args.data / "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz").exists():
        whole_body(args.data)
    else:
        print(f"no whole-body scan at {args.data}; skipped")
    synthetic()


if __name__ == "__main__":
    main()
