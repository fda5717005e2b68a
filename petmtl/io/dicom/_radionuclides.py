"""Half-lives of PET radionuclides, to read RadionuclideCodeSequence when the half-life is
missing and to check it when both are given."""

from __future__ import annotations

import re

# Half-lives in seconds (NNDC evaluated values).
HALF_LIFE_S = {
    "F-18": 109.77 * 60,
    "C-11": 20.364 * 60,
    "N-13": 9.965 * 60,
    "O-15": 122.24,
    "Ga-68": 67.71 * 60,
    "Rb-82": 1.2575 * 60,
    "Cu-64": 12.701 * 3600,
    "Zr-89": 78.41 * 3600,
    "I-124": 4.1760 * 86400,
    "Ge-68": 270.95 * 86400,
}
_ELEMENTS = {"fluorine": "F", "carbon": "C", "nitrogen": "N", "oxygen": "O", "gallium": "Ga",
             "rubidium": "Rb", "copper": "Cu", "zirconium": "Zr", "iodine": "I",
             "germanium": "Ge"}
_SYMBOLS = {v.lower(): v for v in _ELEMENTS.values()}
# SNOMED codes of CID 4020 (both the legacy SRT and the SCT code of each nuclide).
_CODES = {"C-111A1": "F-18", "77004003": "F-18", "C-105A1": "C-11", "40565003": "C-11",
          "C-107A1": "N-13", "21576001": "N-13", "C-B1038": "O-15", "129504001": "O-15",
          "C-131A3": "Ga-68", "35337001": "Ga-68", "C-159A2": "Rb-82", "79197006": "Rb-82",
          "3932008": "Cu-64", "63360001": "Zr-89", "40937006": "I-124",
          "53315004": "Ge-68"}


def nuclide_from_code(code_value: str | None, code_meaning: str | None) -> str | None:
    """The nuclide (e.g. ``'F-18'``) a RadionuclideCodeSequence item names, or None.

    The code value is looked up first; otherwise the meaning is parsed (``'^18^Fluorine'``,
    ``'Fluorine-18'``, ``'18F'``, ...).

    Parameters
    ----------
    code_value : str or None
    code_meaning : str or None

    Returns
    -------
    str or None
        A key of :data:`HALF_LIFE_S`, or None when the nuclide is not known here.
    """
    if code_value and code_value.strip() in _CODES:
        return _CODES[code_value.strip()]
    if not code_meaning:
        return None
    masses = re.findall(r"\d+", code_meaning)
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", code_meaning)]
    symbols = [_ELEMENTS[w] for w in words if w in _ELEMENTS]
    symbols += [_SYMBOLS[w] for w in words if w in _SYMBOLS and len(words) == 1]
    if len(masses) != 1 or len(set(symbols)) != 1:
        return None
    name = f"{symbols[0]}-{int(masses[0])}"
    return name if name in HALF_LIFE_S else None
