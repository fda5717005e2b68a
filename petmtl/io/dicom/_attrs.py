"""Reading the attributes of a series: one-line errors naming each, and a record of use."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

from ._deps import import_pydicom
from ._raw import element_value, raw_bytes

RP_SEQUENCE = "RadiopharmaceuticalInformationSequence"


class DicomAttributeError(ValueError):
    """A DICOM attribute needed for a conversion is missing, invalid or contradictory.

    Parameters
    ----------
    message : str
    keyword : str
        The attribute (DICOM keyword or private tag).
    """

    def __init__(self, message: str, keyword: str) -> None:
        super().__init__(message)
        self.keyword = keyword


def tag_of(keyword: str) -> str:
    """``'(gggg,eeee)'`` of a DICOM keyword (the keyword itself for a private tag)."""
    tag = import_pydicom().datadict.tag_for_keyword(keyword)
    return keyword if tag is None else f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def label(keyword: str, seq: str | None = None) -> str:
    """``Keyword (gggg,eeee)``, with the sequence holding it."""
    text = f"{keyword} {tag_of(keyword)}"
    return f"{text} in {seq}" if seq else text


def _is_empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return not value.strip(b"\x00 " if isinstance(value, bytes) else "\x00 ")
    if isinstance(value, Sequence):
        return len(value) == 0
    return False


def as_float(value) -> float:
    """A DS/IS/FD value (or its text) as float."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace").strip("\x00 ")
    return float(value)


def as_text(value) -> str:
    """A CS/LO/SH value as stripped upper-case text (multi-valued: joined by ``\\``)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v).strip().upper() for v in value)
    return str(value).strip("\x00 ").upper()


def jsonable(value) -> Any:
    """``value`` as JSON-friendly data (datetimes as ISO text)."""
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return float(value)
    return value


class SeriesAttributes:
    """Attribute access over the slices of one series, recording every value used.

    Parameters
    ----------
    datasets : sequence of pydicom.Dataset
        The series' slices.
    where : str
        The series (folder or UID), named in every error.

    Attributes
    ----------
    used : dict
        ``'Keyword (gggg,eeee)'`` -> the value read (a summary for per-slice values).
    """

    def __init__(self, datasets: Sequence, where: str) -> None:
        self.datasets = list(datasets)
        self.where = where
        self.used: dict[str, Any] = {}
        self._check_rp_sequence()

    def _check_rp_sequence(self) -> None:
        distinct = {raw_bytes(ds, RP_SEQUENCE) or id(ds): ds for ds in self.datasets}
        counts = {len(ds.get(RP_SEQUENCE) or ()) for ds in distinct.values()}
        if max(counts) > 1:
            raise DicomAttributeError(
                f"{self.where}: {label(RP_SEQUENCE)} has {max(counts)} items; which "
                "radiopharmaceutical the image shows cannot be told", RP_SEQUENCE)

    def error(self, message: str, keyword: str) -> DicomAttributeError:
        """A :class:`DicomAttributeError` prefixed with the series."""
        return DicomAttributeError(f"{self.where}: {message}", keyword)

    def _raw(self, ds, keyword: str, seq: str | None):
        try:
            if seq is not None:
                items = ds.get(seq)
                if not items:
                    return None
                value = items[0].get(keyword)
            else:
                value = element_value(ds, keyword)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. a DS that is no number
            raise self.error(f"{label(keyword, seq)} cannot be read: {exc}", keyword) from None
        return None if _is_empty(value) else value

    def _raw_all(self, keyword: str, seq: str | None) -> list:
        """The raw value in every slice; slices whose undecoded element (the sequence, for
        an attribute inside one) has the same bytes share one decoding."""
        cache: dict[bytes, object] = {}
        out = []
        for ds in self.datasets:
            key = raw_bytes(ds, seq or keyword)
            if key is None:
                out.append(self._raw(ds, keyword, seq))
            else:
                if key not in cache:
                    cache[key] = self._raw(ds, keyword, seq)
                out.append(cache[key])
        return out

    def _values(self, keyword, seq, why, required, convert):
        raw = self._raw_all(keyword, seq)
        present = [v is not None for v in raw]
        name = label(keyword, seq)
        if not any(present):
            if required:
                raise self.error(f"{name} is missing; it is needed {why}", keyword)
            return None
        if not all(present):
            missing = [i for i, p in enumerate(present) if not p]
            raise self.error(f"{name} is missing in {len(missing)} of {len(raw)} slices "
                             f"(first: slice {missing[0]}); it is needed {why}", keyword)
        out, done = [], {}
        for v in raw:
            key = (type(v), str(v))
            if key not in done:
                try:
                    done[key] = convert(v)
                except (TypeError, ValueError, OverflowError):
                    raise self.error(f"{name} = {str(v)!r} is not a valid value; it is "
                                     f"needed {why}", keyword) from None
            out.append(done[key])
        return out

    def series(self, keyword: str, *, why: str, seq: str | None = None,
               required: bool = True, convert: Callable = as_text):
        """The value of a series-level attribute, equal in every slice.

        Parameters
        ----------
        keyword : str
            DICOM keyword.
        why : str
            What the value is needed for (completes "it is needed ...").
        seq : str, optional
            Read from the first item of this sequence.
        required : bool, default=True
            Raise when missing; otherwise return None.
        convert : callable, default=as_text
            Turns the raw value into the returned one.

        Returns
        -------
        object or None
        """
        values = self._values(keyword, seq, why, required, convert)
        if values is None:
            return None
        distinct = list(dict.fromkeys(values))
        if len(distinct) > 1:
            raise self.error(f"{label(keyword, seq)} differs between slices ({distinct[0]!r} "
                             f"vs {distinct[1]!r}); it must be one value for the series",
                             keyword)
        self.used[label(keyword, seq)] = jsonable(distinct[0])
        return distinct[0]

    def per_slice(self, keyword: str, *, why: str, seq: str | None = None,
                  required: bool = True, convert: Callable = as_float):
        """The value of an attribute in each slice.

        Parameters
        ----------
        keyword, why, seq, required, convert
            As for :meth:`series` (``convert`` defaults to float).

        Returns
        -------
        list or None
        """
        values = self._values(keyword, seq, why, required, convert)
        if values is not None:
            self.record(label(keyword, seq), values)
        return values

    def record(self, name: str, values: Sequence) -> None:
        """Record per-slice ``values`` (one value, or a summary when they differ)."""
        distinct = list(dict.fromkeys(jsonable(v) for v in values))
        if len(distinct) == 1:
            self.used[name] = distinct[0]
        else:
            self.used[name] = {"per_slice": True, "n_distinct": len(distinct),
                               "first": distinct[0], "last": distinct[-1]}

    def private(self, group: int, element: int, creators: tuple[str, ...], *, name: str,
                why: str, convert: Callable = as_float):
        """A vendor's private attribute, or None where absent or owned by another creator.

        The element is taken when its block's private creator is missing (as in files
        written without one) or starts with one of ``creators``.

        Parameters
        ----------
        group, element : int
            The tag, e.g. ``0x7053, 0x1000``.
        creators : tuple of str
            Accepted private creator prefixes (upper case).
        name : str
            Its name for messages and the record.
        why, convert
            As for :meth:`series`.

        Returns
        -------
        list or None
            Per-slice values (None when no slice has it).
        """
        creator_tag = (group, element >> 8)
        raw = []
        for ds in self.datasets:
            creator = ds.get(creator_tag)
            if creator is not None and not as_text(creator.value).startswith(creators):
                raw.append(None)
                continue
            elem = ds.get((group, element))
            raw.append(None if elem is None or _is_empty(elem.value) else elem.value)
        if all(v is None for v in raw):
            return None
        key = f"{name} ({group:04X},{element:04X})"
        if any(v is None for v in raw):
            raise self.error(f"{key} is missing in some slices but not in others; it is "
                             f"needed {why}", key)
        try:
            values = [convert(v) for v in raw]
        except (TypeError, ValueError):
            raise self.error(f"{key} = {raw[0]!r} is not a valid value; it is needed {why}",
                             key) from None
        self.record(key, values)
        return values
