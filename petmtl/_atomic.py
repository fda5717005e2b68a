"""Atomic file output: write to a temporary name in the target folder, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ".tmp",
                missing_folder_error: type[Exception] = FileNotFoundError) -> Iterator[str]:
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``path`` is left as it was, so no half-written output is ever visible.

    Parameters
    ----------
    path : str or PathLike
        Final destination.
    suffix : str
        Suffix of the temporary name (e.g. ".nii.gz" so writers that infer the
        format from the extension still work).
    missing_folder_error : type
        Exception raised when the destination folder does not exist.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise missing_folder_error(f"output folder does not exist: {folder}")
    stem = os.path.basename(path)
    if suffix and stem.endswith(suffix):
        stem = stem[: -len(suffix)]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
