"""Import of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise an ImportError telling which petmtl extra provides it.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"pandas"``.
    extra : str
        The petmtl extra that installs it, e.g. ``"clinical"``.
    purpose : str
        What needs it, completing "... needs <module>", e.g. ``"clinical=True"``.

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{purpose} needs {module}, which is not installed; install it with "
                          f"`pip install petmtl[{extra}]`") from exc
