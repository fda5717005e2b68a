"""
From the scanner: DICOM PET and RTSTRUCT to SUV, a fit, and a DICOM SEG back
============================================================================

A hospital export is a tree of DICOM files, not SUV NIfTI. This example takes two real
FDG-PET crops as the scanner wrote them (GE Discovery ST, Units GML, DecayCorrection
ADMIN; TCIA Soft-tissue-Sarcoma, CC BY 3.0, see the data's README) with their tumour
RTSTRUCTs, and

1. converts the tree with :func:`petmtl.io.convert_dicom_tree` (SUV NIfTI, masks on the
   PET grids and a manifest; what was skipped and why is printed) and shows from the
   provenance record how each SUV was computed;
2. fits :class:`petmtl.MultiTaskPETEstimator` directly on the DICOM series folders and the
   RTSTRUCT files (``cache_dir``: each series is decoded and converted once);
3. writes the predicted tumour probabilities back as a DICOM SEG referencing each PET
   series (:func:`petmtl.io.write_dicom_seg`, which 3D Slicer or OHIF overlay on the PET)
   and reads it back with :func:`petmtl.io.read_dicom_mask`.

Two patients cannot validate a model: the Dice reported is in-sample, a check that the
files go in and come back on the right grid. The data have no outcome, so the outcome
weight is 0 and ``y`` is a placeholder (as in the real-data example).

Run ``python examples/dicom_to_fit.py ../shared/data/dicom/sts-pet-dicom --out results``
(needs ``pip install 'petmtl[dicom]'``): 6 mm voxels, 24^3 windows, 40 epochs, 10-20
seconds on two CPU cores; ``--quick`` uses 8 mm, 16^3 and one epoch. Writes
``dicom_to_fit.json``, ``dicom_to_fit.png``, the converted cohort and the SEG files.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent)) if "__file__" in globals() else None
from _common import (  # noqa: E402
    format_table,
    make_parser,
    pyplot,
    save_figure,
    setup,
    tumour_slice,
    write_json,
)

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.io import (  # noqa: E402
    convert_dicom_tree,
    read_dicom_mask,
    read_pet_dicom,
    read_suv_provenance,
    write_dicom_seg,
)
from petmtl.metrics import dice_score  # noqa: E402


def main(argv=None) -> dict:
    """Convert, fit on the DICOM folders, write and re-read SEG; return the summary."""
    parser = make_parser(__doc__)
    parser.add_argument("data", help="folder of patients with image/ (PET DICOM) and "
                                     "mask/RS.dcm, e.g. ../shared/data/dicom/sts-pet-dicom")
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    start = time.perf_counter()
    data = Path(args.data)
    patients = sorted(p for p in data.iterdir() if (p / "image").is_dir())
    if not patients:
        raise ValueError(f"no <patient>/image folder in {str(data)!r}")

    report = convert_dicom_tree(data, out / "converted")
    print(report)
    rows = []
    for row in report.converted:
        record = read_suv_provenance(row["pet_path"])
        rows.append({"patient": row["patient_id"], "units": record["units"],
                     "suv_type_in_file": record.get("suv_type_in_file", ""),
                     "decay_correction": record.get("decay_correction", "not needed"),
                     "slopes": record["attributes"]["RescaleSlope (0028,1053)"]
                     .get("n_distinct", 1)})
    print("\nHow SUV was computed (from each image's provenance record):")
    print(format_table(rows))

    folders = [str(p / "image") for p in patients]
    rtstructs = [str(p / "mask" / "RS.dcm") for p in patients]
    spacing, shape = (8.0, (16, 16, 16)) if quick else (6.0, (24, 24, 24))
    est = MultiTaskPETEstimator(
        tasks=("segmentation",), outcome_features="global",
        task_weights={"segmentation": 1.0, "outcome": 0.0}, base_width=2 if quick else 8,
        depth=2, max_epochs=1 if quick else 40, early_stopping=False, augment=not quick,
        spacing=spacing, input_shape=shape, crop_center="center",
        cache_dir=str(out / "cache"), random_state=args.random_state)
    placeholder_y = np.arange(len(folders)) % 2  # no outcome in these data; weight 0
    est.fit(folders, placeholder_y, masks=rtstructs)
    probabilities = est.segment_proba(folders)

    dice, seg_files, shown = {}, [], []
    for patient, folder, rtstruct, proba in zip(patients, folders, rtstructs,
                                                probabilities, strict=True):
        seg = write_dicom_seg(proba, folder, out / f"{patient.name}_seg.dcm",
                              segment_labels="tumour (petmtl probability)")
        pet = read_pet_dicom(folder)
        predicted = np.asarray(read_dicom_mask(seg, pet).dataobj)
        reference = np.asarray(read_dicom_mask(rtstruct, pet).dataobj)
        dice[patient.name] = float(dice_score(reference[None], predicted[None]))
        seg_files.append(str(seg))
        shown.append((np.asarray(pet.dataobj), reference, predicted))
        print(f"{patient.name}: SEG {seg} read back on the PET grid {pet.shape}; "
              f"in-sample Dice {dice[patient.name]:.3f}")
    summary = {"n_patients": len(patients), "converted": len(report.converted),
               "skipped": [list(s) for s in report.skipped], "provenance": rows,
               "dice": dice, "dice_mean": float(np.mean(list(dice.values()))),
               "seg_files": seg_files, "spacing_mm": spacing, "shape": list(shape),
               "seconds": round(time.perf_counter() - start, 1)}
    write_json(out / "dicom_to_fit.json", summary)
    _plot(shown, [p.name for p in patients], out / "dicom_to_fit.png")
    return summary


def _plot(shown, names, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 4))
    for ax, (pet, reference, predicted), name in zip(np.atleast_1d(axes), shown, names,
                                                     strict=True):
        z = tumour_slice(reference, pet)
        ax.imshow(pet[:, :, z].T, cmap="gray_r")  # DICOM rows down, columns right
        for m, colour in ((reference, "tab:green"), (predicted, "tab:red")):
            if m[:, :, z].any():
                ax.contour(m[:, :, z].T, levels=[0.5], colors=colour)
        ax.set_title(f"{name}: SUVbw, RTSTRUCT (green), SEG read back (red)", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
