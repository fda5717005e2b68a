"""Files of a cross-validation folder: atomic writes and a fingerprint of the data."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .._atomic import atomic_path


def write_atomic(path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader (or a rerun after a kill) sees either the old file or the whole new one.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def write_json(path, value) -> str:
    """Write ``value`` as indented JSON (floats keep every digit: ``repr`` round-trips)."""
    return write_atomic(path, (json.dumps(value, indent=1) + "\n").encode("utf-8"))


def read_json(path):
    """The JSON value in ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def digest_volumes(values) -> str:
    """SHA-256 of volumes or masks: arrays byte by byte, files by path, size and time.

    ``values`` is an array, or a sequence of arrays, file paths and None. Files are not
    read, so a rerun notices a replaced scan without decoding every file.
    """
    digest = hashlib.sha256()
    if values is None:
        return "none"
    if isinstance(values, np.ndarray) and values.dtype != object:
        values = [values]
    for item in values:
        if item is None:
            digest.update(b"<none>")
        elif isinstance(item, (str, os.PathLike)):
            digest.update(f"<file>{os.path.abspath(os.fspath(item))}".encode())
            try:
                stat = os.stat(item)
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(b"<missing>")
        else:
            array = np.ascontiguousarray(item)
            digest.update(f"<array>{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def digest_labels(values) -> str:
    """SHA-256 of a sequence of labels (their ``repr``), or ``"none"``."""
    if values is None:
        return "none"
    array = np.asarray(values)
    if array.dtype.names is not None:  # a structured survival outcome
        text = repr([(bool(e), float(t)) for e, t in zip(array["event"], array["time"],
                                                          strict=True)])
    else:
        text = repr([v.item() if isinstance(v, np.generic) else v for v in array.tolist()])
    return hashlib.sha256(text.encode()).hexdigest()
