"""``petmtl convert``: DICOM folders to SUV NIfTI, masks and a manifest."""

from __future__ import annotations

import argparse

from ._common import UserError

DESCRIPTION = """\
Walk DICOM_ROOT (one patient or many, any folder layout) and convert every PET series
to SUV NIfTI (images/<patient_id>_pet.nii.gz) by the rules of the SUV manual (Vacha et
al. 2026: Units, DecayCorrection, dose, times, vendor tags), each RTSTRUCT or DICOM SEG
that refers to a series to a mask on its grid (masks/<patient_id>_mask.nii.gz), and
write a manifest for 'petmtl fit'. Series that cannot be converted are skipped and
listed with the reason; nothing is converted by guesswork. Needs
pip install 'petmtl[dicom]'.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``convert`` on the ``petmtl`` subcommand parsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction

    Returns
    -------
    argparse.ArgumentParser
    """
    p = sub.add_parser(
        "convert", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="convert DICOM PET (and RTSTRUCT/SEG) folders to SUV NIfTI and a manifest",
        description=DESCRIPTION,
        epilog="example:\n  petmtl convert dicom/ --out cohort/ && petmtl fit "
               "cohort/manifest.csv --model model.pt\n")
    p.set_defaults(func=cmd_convert)
    p.add_argument("dicom_root", metavar="DICOM_ROOT", help="folder tree holding the DICOM")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--suv", default="bw",
                   choices=["bw", "lbm", "lbmjanma", "lbmjames128", "bsa", "ibw", "bqml"],
                   help="SUV normalisation ('lbm' = Janmahasatian) or 'bqml' "
                        "(default: %(default)s)")
    p.add_argument("--roi", action="append", default=None, metavar="NAME_OR_NUMBER",
                   help="ROI/segment to take from masks holding several (repeat for their "
                        "union); without it such masks are skipped")
    p.add_argument("--resample-irregular", action="store_true",
                   help="resample unevenly spaced or tilted series onto a regular grid "
                        "instead of skipping them")
    p.add_argument("--manifest", default="manifest.csv",
                   help="manifest file name inside --out (default: %(default)s)")
    return p


def _roi(values):
    if values is None:
        return None
    parsed = [int(v) if v.strip().lstrip("-").isdigit() else v for v in values]
    return parsed[0] if len(parsed) == 1 else parsed


def cmd_convert(args) -> int:
    """Run ``petmtl convert``."""
    import os

    from ..io import convert_dicom_tree

    if not os.path.isdir(args.dicom_root):
        raise UserError(f"DICOM_ROOT is not a folder: {args.dicom_root}")
    try:
        report = convert_dicom_tree(
            args.dicom_root, args.out, suv=args.suv, roi=_roi(args.roi),
            irregular="resample" if args.resample_irregular else "error",
            manifest_name=args.manifest)
    except ImportError as exc:
        raise UserError(str(exc)) from None
    print(report)
    if not report.converted:
        raise UserError(f"no PET series could be converted under {args.dicom_root}")
    return 0
