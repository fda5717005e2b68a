"""Reading and writing cohort manifests (CSV files listing PET/mask paths and outcomes)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._atomic import atomic_path
from .._labels import MISSING
from ._volume import PathLike


@dataclass(eq=False)
class Manifest:
    """A cohort read from a CSV manifest, ready for a scikit-learn style ``fit(X, y)``.

    Parameters
    ----------
    ids : ndarray of object (str), shape (n,)
        Patient identifiers.
    X : ndarray of object (str), shape (n,)
        Absolute paths of the PET files.
    y : ndarray of shape (n,)
        Outcome labels: int64 if every given label is an integer, otherwise an object array of
        the label strings. Missing outcomes are the int ``-1`` (unlabelled, as in
        scikit-learn's semi-supervised convention).
    masks : ndarray of object, shape (n,)
        Absolute mask paths, or None where no mask is given.
    pathology : ndarray of object, shape (n,)
        Pathology strings, or None where empty.
    path : str or None
        The CSV file.
    """

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    pathology: np.ndarray
    path: str | None = None

    def __len__(self) -> int:
        return len(self.ids)


def _object_array(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _resolve(value: str, base: str) -> str:
    p = os.path.expanduser(value)
    if not os.path.isabs(p):
        p = os.path.join(base, p)
    return os.path.normpath(os.path.abspath(p))


def _parse_int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def read_manifest(
    csv_path: PathLike,
    *,
    id_column: str = "patient_id",
    pet_column: str = "pet_path",
    mask_column: str | None = "mask_path",
    pathology_column: str | None = "pathology",
    outcome_column: str | None = "outcome",
    check_files: bool = True,
) -> Manifest:
    """Read a cohort manifest CSV.

    Required columns are ``id_column`` and ``pet_column``; the mask, pathology and outcome
    columns are optional (absent column = all missing). Relative paths are resolved against
    the CSV's folder. Empty outcome cells (or ``-1``) mean "no label" and become ``-1``.

    Parameters
    ----------
    csv_path : str or path-like
        The CSV file (UTF-8, optional BOM, comma-separated, with a header row).
    id_column, pet_column, mask_column, pathology_column, outcome_column : str
        Column names; ``None`` for an optional column ignores it.
    check_files : bool, default=True
        Check that every PET and mask file exists.

    Returns
    -------
    Manifest

    Raises
    ------
    FileNotFoundError
        If the CSV, or (with ``check_files``) a listed file, does not exist.
    ValueError
        On missing required columns, empty ids or PET paths, duplicate ids, or more than two
        distinct outcome labels. Messages name the CSV line (1-based) and patient id.
    """
    csv_path = os.fspath(csv_path)
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"Manifest CSV not found: {csv_path}")
    base = os.path.dirname(os.path.abspath(csv_path))
    try:
        with open(csv_path, encoding="utf-8-sig") as f:
            f.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"Manifest {csv_path} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        required = [id_column, pet_column]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(
                f"Manifest {csv_path} lacks required column(s) {missing}; columns found: {header}"
            )
        reader.fieldnames = header
        rows = []
        for row in reader:
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}))

    def where(line: int, pid: str) -> str:
        return f"{csv_path}, line {line} (patient_id {pid!r})"

    ids, pets, masks, pathologies, raw_y, lines = [], [], [], [], [], []
    seen: dict[str, int] = {}
    for line, row in rows:
        pid = row.get(id_column, "")
        if not pid:
            raise ValueError(f"{csv_path}, line {line}: empty {id_column!r}")
        if pid in seen:
            raise ValueError(f"{where(line, pid)}: duplicate id (first on line {seen[pid]})")
        seen[pid] = line
        pet = row.get(pet_column, "")
        if not pet:
            raise ValueError(f"{where(line, pid)}: missing PET path in column {pet_column!r}")
        pet = _resolve(pet, base)
        mask = row.get(mask_column, "") if mask_column else ""
        mask = _resolve(mask, base) if mask else None
        if check_files:
            for kind, p in (("PET", pet), ("mask", mask)):
                if p is not None and not os.path.isfile(p):
                    raise FileNotFoundError(f"{where(line, pid)}: {kind} file not found: {p}")
        ids.append(pid)
        pets.append(pet)
        masks.append(mask)
        pathologies.append((row.get(pathology_column, "") or None) if pathology_column else None)
        raw_y.append(row.get(outcome_column, "") if outcome_column else "")
        lines.append(line)

    given = [
        (v, ln, pid) for v, ln, pid in zip(raw_y, lines, ids, strict=True) if v not in ("", "-1")
    ]
    all_int = all(_parse_int(v) is not None for v, _, _ in given)
    labels: list = []
    for v, ln, pid in given:
        value = _parse_int(v) if all_int else v
        if value not in labels:
            labels.append(value)
            if len(labels) > 2:
                raise ValueError(
                    f"{where(ln, pid)}: unknown labels: outcome {v!r} is a third distinct label "
                    f"(labels so far {labels[:2]}); outcomes must be binary"
                )
    if all_int:
        y = np.array([MISSING if v in ("", "-1") else int(v) for v in raw_y],
                     dtype=np.int64)
    else:
        y = _object_array([MISSING if v in ("", "-1") else v for v in raw_y])
    return Manifest(
        ids=_object_array(ids), X=_object_array(pets), y=y, masks=_object_array(masks),
        pathology=_object_array(pathologies), path=os.path.abspath(csv_path),
    )


def _relative(p: str | None, base: str) -> str:
    if p is None:
        return ""
    p = os.path.abspath(os.fspath(p))
    try:
        return os.path.relpath(p, base)
    except ValueError:  # e.g. another drive on Windows
        return p


def write_manifest(
    path: PathLike,
    ids: Sequence[str],
    pet_paths: Sequence[PathLike],
    mask_paths: Sequence[PathLike | None] | None = None,
    pathology: Sequence[str | None] | None = None,
    outcome: Sequence | None = None,
) -> str:
    """Write a manifest CSV readable by :func:`read_manifest` (atomically).

    File paths are stored relative to the CSV's folder when possible, so the cohort folder can
    be moved as a whole. Optional columns are written only when given; ``None`` or ``-1``
    entries become empty cells.

    Parameters
    ----------
    path : str or path-like
        Destination CSV.
    ids : sequence of str
    pet_paths : sequence of path-like
    mask_paths : sequence of path-like or None, optional
    pathology : sequence of str or None, optional
    outcome : sequence, optional
        Binary outcome labels; ``None``/``-1`` for unlabelled.

    Returns
    -------
    str
        ``path``.
    """
    path = os.fspath(path)
    n = len(ids)
    columns = {"patient_id": list(ids), "pet_path": list(pet_paths)}
    for name, values in (("mask_path", mask_paths), ("pathology", pathology),
                         ("outcome", outcome)):
        if values is not None:
            columns[name] = list(values)
    bad = {k: len(v) for k, v in columns.items() if len(v) != n}
    if bad:
        raise ValueError(f"All columns must have len(ids)={n} entries; got lengths {bad}")
    if len(set(map(str, ids))) != n:
        raise ValueError("ids must be unique")
    base = os.path.dirname(os.path.abspath(path))
    for name in ("pet_path", "mask_path"):
        if name in columns:
            columns[name] = [_relative(p, base) for p in columns[name]]
    for name in ("pathology", "outcome"):
        if name in columns:
            columns[name] = ["" if v is None or (not isinstance(v, str) and v == -1) else str(v)
                             for v in columns[name]]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns))
        for i in range(n):
            writer.writerow([columns[c][i] for c in columns])
    return path
