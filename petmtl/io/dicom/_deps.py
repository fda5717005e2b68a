"""Lazy imports of the optional DICOM libraries, with the extra to install named."""

from __future__ import annotations

_HINT = "pip install 'petmtl[dicom]'"


def import_pydicom():
    """Return the :mod:`pydicom` module, or raise an ImportError naming the extra.

    Returns
    -------
    module
    """
    try:
        import pydicom
    except ImportError as exc:
        raise ImportError(f"Reading DICOM needs pydicom, which is not installed: {_HINT}"
                          ) from exc
    return pydicom


def import_highdicom():
    """Return the :mod:`highdicom` module, or raise an ImportError naming the extra.

    Returns
    -------
    module
    """
    try:
        import highdicom
    except ImportError as exc:
        raise ImportError(f"Writing DICOM SEG needs highdicom, which is not installed: {_HINT}"
                          ) from exc
    return highdicom
