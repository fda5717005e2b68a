"""DICOM dates and times (DA, TM, DT) as naive datetimes."""

from __future__ import annotations

import datetime as _dt

from ._deps import import_pydicom


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ")


def parse_dt(value) -> _dt.datetime:
    """A DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``, trailing parts optional) as a datetime.

    A UTC offset, when given, is dropped: times are compared as the local times written.

    Parameters
    ----------
    value : str or datetime

    Returns
    -------
    datetime.datetime
    """
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=None)
    text = _text(value)
    if len(text) < 8:
        raise ValueError(f"not a DICOM datetime: {text!r}")
    out = import_pydicom().valuerep.DT(text)
    return _dt.datetime(out.year, out.month, out.day, out.hour, out.minute, out.second,
                        out.microsecond)


def parse_da(value) -> _dt.date:
    """A DA value (``YYYYMMDD``) as a date.

    Parameters
    ----------
    value : str or date

    Returns
    -------
    datetime.date
    """
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value
    out = import_pydicom().valuerep.DA(_text(value))
    return _dt.date(out.year, out.month, out.day)


def parse_tm(value) -> _dt.time:
    """A TM value (``HHMMSS.FFFFFF``, trailing parts optional) as a time.

    Parameters
    ----------
    value : str or time

    Returns
    -------
    datetime.time
    """
    if isinstance(value, _dt.time):
        return value.replace(tzinfo=None)
    out = import_pydicom().valuerep.TM(_text(value))
    return _dt.time(out.hour, out.minute, out.second, out.microsecond)


def seconds_between(later: _dt.datetime, earlier: _dt.datetime) -> float:
    """``later - earlier`` in seconds."""
    return (later - earlier).total_seconds()
