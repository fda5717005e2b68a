"""Fast access to text attributes: the raw value of an element not yet decoded by pydicom.

pydicom decodes (and validates) each element on first access, which costs far more than
the reading itself for hundreds of slices; the attributes the SUV rules and the geometry
read are ASCII text (DS, IS, TM, DA, DT, CS, UI), so their raw bytes are split here.
"""

from __future__ import annotations

from ._deps import import_pydicom

_TEXT_VRS = frozenset({"DS", "IS", "TM", "DA", "DT", "CS", "UI"})
_INT_VRS = {"US": False, "SS": True, "UL": False, "SL": True}


def element_value(ds, keyword: str):
    """The value of ``keyword`` in ``ds``: text (``str``, or a list of ``str`` when multi-
    valued) for a raw ASCII element, pydicom's value otherwise, None when absent or empty.

    Parameters
    ----------
    ds : pydicom.Dataset
    keyword : str

    Returns
    -------
    object or None
    """
    pydicom = import_pydicom()
    found = _undecoded(ds, keyword)
    if found is None:
        return None
    tag, elem, raw = found
    if raw:
        vr = elem.VR or pydicom.datadict.dictionary_VR(tag)
        if vr in _TEXT_VRS:
            text = elem.value.decode("ascii", "replace").strip("\x00 ")
            if not text:
                return None
            parts = [p.strip() for p in text.split("\\")]
            return parts[0] if len(parts) == 1 else parts
        if vr in _INT_VRS and len(elem.value) in (2, 4) and vr[1] == ("S" if len(
                elem.value) == 2 else "L"):
            return int.from_bytes(elem.value, "little" if elem.is_little_endian else "big",
                                  signed=_INT_VRS[vr])
    if isinstance(elem, pydicom.dataelem.RawDataElement):
        elem = ds[tag]
    return elem.value


def raw_bytes(ds, keyword: str) -> bytes | None:
    """The undecoded bytes of an element (e.g. a sequence), or None when it is decoded or
    absent: equal bytes mean equal values."""
    found = _undecoded(ds, keyword)
    return found[1].value if found is not None and found[2] else None


def _undecoded(ds, keyword: str):
    """``(tag, element, is_raw)`` of ``keyword`` without decoding it, None when absent;
    ``is_raw`` says the element still holds pydicom's undecoded bytes."""
    pydicom = import_pydicom()
    tag = pydicom.datadict.tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    elem = ds.get_item(tag)
    return tag, elem, (isinstance(elem, pydicom.dataelem.RawDataElement)
                       and isinstance(elem.value, bytes))
