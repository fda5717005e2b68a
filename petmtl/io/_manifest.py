"""Reading and writing cohort manifests (CSV files listing PET/mask paths and outcomes)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from .._atomic import atomic_path
from .._labels import MISSING, is_missing
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
    survival : structured ndarray of shape (n,) or None
        With ``time`` and ``event`` columns: the time-to-event outcome
        (:func:`petmtl.survival.make_survival_y`; NaN time where either cell is empty),
        the ``y`` of :class:`petmtl.MultiTaskPETSurvival`. None without those columns.
    extra : dict of str to ndarray of object, shape (n,)
        The columns named in ``read_manifest(extra_columns=...)``, e.g. clinical
        covariates: the cells as strings, None where empty. Empty by default.
    """

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    pathology: np.ndarray
    path: str | None = None
    survival: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

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
    time_column: str | None = "time",
    event_column: str | None = "event",
    check_files: bool = True,
    extra_columns: Sequence[str] | None = None,
) -> Manifest:
    """Read a cohort manifest CSV.

    Required columns are ``id_column`` and ``pet_column``; the mask, pathology, outcome,
    time and event columns are optional (absent column = all missing). Relative paths
    are resolved against the CSV's folder. A PET path may be a NIfTI file or a DICOM
    series folder, a mask path a NIfTI, RTSTRUCT or SEG file; one manifest may mix them.
    Empty outcome cells (or ``-1``) mean "no label" and become ``-1``. ``time`` (e.g.
    months) and ``event`` (1/0, true/false, yes/no) give a time-to-event outcome in
    :attr:`Manifest.survival`; an empty cell in either marks that patient's outcome as
    unknown.

    Parameters
    ----------
    csv_path : str or path-like
        The CSV file (UTF-8, optional BOM, comma-separated, with a header row).
    id_column, pet_column, mask_column, pathology_column, outcome_column : str
        Column names; ``None`` for an optional column ignores it.
    time_column, event_column : str or None
        Columns of the time-to-event outcome (both must be present to read it).
    check_files : bool, default=True
        Check that every PET file (or folder) and mask file exists.
    extra_columns : sequence of str, optional
        Further columns to keep (e.g. clinical covariates), returned as strings in
        :attr:`Manifest.extra` (None for an empty cell); other columns are ignored.

    Returns
    -------
    Manifest

    Raises
    ------
    FileNotFoundError
        If the CSV, or (with ``check_files``) a listed file, does not exist.
    ValueError
        On missing required or ``extra_columns``, empty ids or PET paths, duplicate ids,
        more than two
        distinct outcome labels, or a time or event cell that is not one. Messages name
        the CSV line (1-based) and patient id.
    """
    csv_path = os.fspath(csv_path)
    if isinstance(extra_columns, str):
        raise TypeError(f"extra_columns must be a sequence of column names, got the string "
                        f"{extra_columns!r}; write [{extra_columns!r}] for one column")
    extra_columns = list(extra_columns or [])
    header, rows = _read_rows(csv_path, [id_column, pet_column], extra_columns)
    base = os.path.dirname(os.path.abspath(csv_path))
    ids, pets, masks, pathologies, seen = [], [], [], [], {}
    for line, row in rows:
        pid = row.get(id_column, "")
        if not pid:
            raise ValueError(f"{csv_path}, line {line}: empty {id_column!r}")
        where = _where(csv_path, line, pid)
        if pid in seen:
            raise ValueError(f"{where}: duplicate id (first on line {seen[pid]})")
        seen[pid] = line
        pet = row.get(pet_column, "")
        if not pet:
            raise ValueError(f"{where}: missing PET path in column {pet_column!r}")
        pet = _resolve(pet, base)
        mask = row.get(mask_column, "") if mask_column else ""
        mask = _resolve(mask, base) if mask else None
        if check_files:
            if not (os.path.isfile(pet) or os.path.isdir(pet)):  # a DICOM series folder
                raise FileNotFoundError(f"{where}: PET file not found: {pet}")
            if mask is not None and not os.path.isfile(mask):
                raise FileNotFoundError(f"{where}: mask file not found: {mask}")
        ids.append(pid)
        pets.append(pet)
        masks.append(mask)
        pathologies.append((row.get(pathology_column, "") or None) if pathology_column else None)
    survival = None
    if time_column in header and event_column in header:
        survival = _survival_column(csv_path, rows, ids, time_column, event_column)
    return Manifest(
        ids=_object_array(ids), X=_object_array(pets),
        y=_outcome_column(csv_path, rows, ids, outcome_column), masks=_object_array(masks),
        pathology=_object_array(pathologies), path=os.path.abspath(csv_path),
        survival=survival,
        extra={c: _object_array([row.get(c, "") or None for _, row in rows])
               for c in extra_columns},
    )


def _where(csv_path: str, line: int, pid: str) -> str:
    return f"{csv_path}, line {line} (patient_id {pid!r})"


def _read_rows(csv_path: str, required: list[str],
               extra: Sequence[str] = ()) -> tuple[list[str], list]:
    """Header and ``(line number, {column: stripped cell})`` rows of a manifest."""
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"Manifest CSV not found: {csv_path}")
    try:
        with open(csv_path, encoding="utf-8-sig") as f:
            f.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"Manifest {csv_path} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(
                f"Manifest {csv_path} lacks required column(s) {missing}; columns found: {header}"
            )
        absent = [c for c in extra if c not in header]
        if absent:
            raise ValueError(f"Manifest {csv_path} lacks the extra_columns {absent}; columns "
                             f"found: {header}")
        reader.fieldnames = header
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader]
    return header, rows


def _outcome_column(csv_path: str, rows, ids, column: str | None) -> np.ndarray:
    """Binary labels: int64 when every given label is an integer, else the strings."""
    raw = [row.get(column, "") if column else "" for _, row in rows]
    given = [(v, line, pid) for v, (line, _), pid in zip(raw, rows, ids, strict=True)
             if v not in ("", "-1")]
    all_int = all(_parse_int(v) is not None for v, _, _ in given)
    labels: list = []
    for v, line, pid in given:
        value = _parse_int(v) if all_int else v
        if value not in labels:
            labels.append(value)
            if len(labels) > 2:
                raise ValueError(
                    f"{_where(csv_path, line, pid)}: unknown labels: outcome {v!r} is a third "
                    f"distinct label (labels so far {labels[:2]}); outcomes must be binary"
                )
    if all_int:
        return np.array([MISSING if v in ("", "-1") else int(v) for v in raw], dtype=np.int64)
    return _object_array([MISSING if v in ("", "-1") else v for v in raw])


_EVENTS = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False}


def _survival_column(csv_path: str, rows, ids, time_column: str,
                     event_column: str) -> np.ndarray:
    """The time-to-event outcome; an empty time or event cell is an unknown outcome."""
    events, times = [], []
    for (line, row), pid in zip(rows, ids, strict=True):
        time, event = row.get(time_column, ""), row.get(event_column, "").lower()
        if time == "" or event == "":
            events.append(None)
            times.append(np.nan)
            continue
        if event not in _EVENTS:
            raise ValueError(f"{_where(csv_path, line, pid)}: event {event!r} is not 1/0, "
                             "true/false or yes/no")
        try:
            value = float(time)
        except ValueError:
            raise ValueError(f"{_where(csv_path, line, pid)}: time {time!r} is not a "
                             "number") from None
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{_where(csv_path, line, pid)}: time must be a finite "
                             f"number >= 0, got {time!r}")
        events.append(_EVENTS[event])
        times.append(value)
    # scikit-survival's layout (petmtl.survival.make_survival_y); an unknown outcome has a
    # NaN time. A manifest may hold no event at all (a test cohort, all censored): what a
    # fit needs is checked when it reads y.
    survival = np.empty(len(events), dtype=[("event", "?"), ("time", "<f8")])
    survival["event"] = [bool(e) for e in events]
    survival["time"] = times
    return survival


_STANDARD_COLUMNS = ("patient_id", "pet_path", "mask_path", "pathology", "outcome", "time",
                     "event")


def _cell(value) -> str:
    """A CSV cell: empty for None/NaN, integers for whole floats, else ``str``."""
    if value is None or type(value).__name__ in ("NAType", "NaTType") or (
            isinstance(value, Real) and not isinstance(value, bool) and math.isnan(value)):
        return ""
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
        value = float(value)
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


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
    time: Sequence | None = None,
    event: Sequence | None = None,
    extra: Mapping[str, Sequence] | None = None,
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
    time, event : sequence, optional
        A time-to-event outcome (events written 1/0; NaN/None for unknown).
    extra : mapping of str to sequence, optional
        Further columns, written after the others in the mapping's order (e.g. clinical
        covariates; read them back with ``read_manifest(extra_columns=...)``). None and
        NaN become empty cells, whole floats are written as integers.

    Returns
    -------
    str
        ``path``.
    """
    path = os.fspath(path)
    n = len(ids)
    columns = {"patient_id": list(ids), "pet_path": list(pet_paths)}
    for name, values in (("mask_path", mask_paths), ("pathology", pathology),
                         ("outcome", outcome), ("time", time), ("event", event)):
        if values is not None:
            columns[name] = list(values)
    for name, values in (extra or {}).items():
        if name in columns or name in _STANDARD_COLUMNS:
            raise ValueError(f"extra column {name!r} clashes with a manifest column; the "
                             f"standard columns are {list(_STANDARD_COLUMNS)}")
        columns[name] = [_cell(v) for v in values]
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
    if "time" in columns and "event" in columns:
        unknown = [is_missing(t) or is_missing(e)
                   for t, e in zip(columns["time"], columns["event"], strict=True)]
        columns["time"] = ["" if u else repr(float(t))
                           for u, t in zip(unknown, columns["time"], strict=True)]
        columns["event"] = ["" if u else str(int(bool(e)))
                            for u, e in zip(unknown, columns["event"], strict=True)]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns))
        for i in range(n):
            writer.writerow([columns[c][i] for c in columns])
    return path
