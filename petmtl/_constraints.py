"""Declarative parameter constraints and the one checker that enforces them.

Every public entry point of petmtl states what each argument may be as a table of
constraints, ``{"lam": (Interval(Real, 0, 1),), ...}``, and calls :func:`check_params`
(or :func:`check_param` for one value). A value passes when it satisfies any of its
constraints; otherwise the error names the argument, says what was expected and what was
received: a ``TypeError`` when no constraint accepts the value's type, a ``ValueError``
when the type is right but the value is not.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Boolean", "Constraint", "Interval", "NoneOr", "Options", "PathLike", "Satisfies",
    "Shape", "Spacing", "check_param", "check_params",
]


def _is_number(value, kind) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, kind)


class Constraint:
    """One admissible form of a parameter.

    Subclasses implement :meth:`accepts_type` (is the value of a kind this constraint
    talks about?) and :meth:`accepts` (is it admissible?), and carry a ``description``
    completing the sentence "``name`` must be ...".
    """

    description = "valid"
    type_description: str | None = None

    def detail(self, value: Any) -> str:
        """Extra words after the received value in an error message (e.g. its length)."""
        return ""

    def accepts_type(self, value: Any) -> bool:
        """Whether ``value`` has a type this constraint can judge."""
        return True

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` satisfies the constraint."""
        raise NotImplementedError


class Interval(Constraint):
    """A real or integer number in an interval.

    Parameters
    ----------
    kind : numbers.Real or numbers.Integral
        Accepted number type (``bool`` is never a number here). Messages read
        "``name`` must be in [low, high]" for a number out of range and "``name`` must
        be a number" (or "an integer") for anything else.
    low, high : float or None
        Bounds; None is unbounded. Values must be finite.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds belong to the interval.
    description : str, optional
        Replaces the generated description (e.g. "a positive finite number").
    type_description : str, optional
        Used instead of ``description`` when the value is not a number at all.
    """

    def __init__(self, kind, low: float | None, high: float | None, *, closed: str = "both",
                 description: str | None = None, type_description: str | None = None):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        left = "[" if closed in ("both", "left") and low is not None else "("
        right = "]" if closed in ("both", "right") and high is not None else ")"
        noun = "an integer" if kind is numbers.Integral else "a number"
        bounds = (f"{left}{'-inf' if low is None else low}, "
                  f"{'inf' if high is None else high}{right}")
        self.description = description or f"in {bounds}"
        self.type_description = type_description or (noun if description is None
                                                     else description)

    def accepts_type(self, value) -> bool:
        return _is_number(value, self.kind)

    def accepts(self, value) -> bool:
        if not self.accepts_type(value) or not math.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True


class Options(Constraint):
    """One of a fixed set of values (compared with ``==``, ``bool`` kept apart from ints)."""

    def __init__(self, *values, description: str | None = None):
        self.values = values
        self.description = description or (
            f"one of {values!r}" if len(values) > 1 else repr(values[0]))

    @staticmethod
    def _same_kind(value, option) -> bool:
        if isinstance(option, str) or option is None:
            return isinstance(value, str) if option is not None else value is None
        return type(value) is type(option)

    def accepts_type(self, value) -> bool:
        return any(self._same_kind(value, v) for v in self.values)

    def accepts(self, value) -> bool:
        return any(self._same_kind(value, v) and value == v for v in self.values)


class Boolean(Constraint):
    """``True`` or ``False`` (NumPy booleans too)."""

    description = "a bool"

    def accepts_type(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def accepts(self, value) -> bool:
        return self.accepts_type(value)


class NoneOr(Constraint):
    """None, or whatever ``inner`` accepts."""

    def __init__(self, inner: Constraint):
        self.inner = inner
        inner_text = inner.description
        if inner.type_description and inner.type_description != inner.description:
            inner_text = f"{inner.type_description} {inner.description}"
        self.description = f"None or {inner_text}"

    def accepts_type(self, value) -> bool:
        return value is None or self.inner.accepts_type(value)

    def accepts(self, value) -> bool:
        return value is None or self.inner.accepts(value)


class Shape(Constraint):
    """A sequence of ``ndim`` ints, each at least ``minimum``.

    With ``type_error=False`` (default) any other value is a ValueError (a wrong
    shape); with True, a value that is not a sequence of ints is a TypeError.
    """

    def __init__(self, ndim: int = 3, minimum: int = 1, *, description: str | None = None,
                 type_error: bool = False):
        self.ndim, self.minimum, self.type_error = ndim, minimum, type_error
        self.description = description or (
            f"a sequence of {ndim} ints >= {minimum}" if minimum > 1
            else f"a sequence of {ndim} positive ints")

    @staticmethod
    def _is_int_sequence(value) -> bool:
        return (isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))
                and all(_is_number(s, numbers.Integral) for s in value))

    def accepts_type(self, value) -> bool:
        return not self.type_error or self._is_int_sequence(value)

    def accepts(self, value) -> bool:
        return (self._is_int_sequence(value) and len(value) == self.ndim
                and all(s >= self.minimum for s in value))

    def detail(self, value) -> str:
        if self._is_int_sequence(value) and len(value) != self.ndim:
            return f" (length {len(value)})"
        return ""


class Spacing(Constraint):
    """A positive finite number, or a sequence of one or three of them (voxel sizes in mm).

    Any other value is a ValueError, never a TypeError.
    """

    def __init__(self, *, description: str = "a positive number of mm or 3 of them"):
        self.description = description

    def accepts(self, value) -> bool:
        if _is_number(value, numbers.Real):
            value = (value,)
        elif not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, (str, bytes)):
            return False
        return len(value) in (1, 3) and all(
            _is_number(v, numbers.Real) and math.isfinite(v) and v > 0 for v in value)


class PathLike(Constraint):
    """A non-empty ``str`` or ``os.PathLike`` file path."""

    description = "a file path (str or os.PathLike)"

    def accepts_type(self, value) -> bool:
        return isinstance(value, (str, os.PathLike))

    def accepts(self, value) -> bool:
        return self.accepts_type(value) and bool(os.fspath(value))


class Satisfies(Constraint):
    """Any value for which ``predicate(value)`` is true (for one-off rules).

    A failure is a ValueError, or a TypeError with ``type_error=True`` (e.g. "callable").
    """

    def __init__(self, predicate: Callable[[Any], bool], description: str, *,
                 type_error: bool = False):
        self.predicate, self.description = predicate, description
        self.type_error = type_error

    def accepts_type(self, value) -> bool:
        return not self.type_error or bool(self.predicate(value))

    def accepts(self, value) -> bool:
        return bool(self.predicate(value))


def check_param(name: str, value: Any, *constraints: Constraint, separator: str = ", ") -> Any:
    """Raise if ``value`` satisfies none of ``constraints``; return it unchanged otherwise.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    value : object
        The value to check.
    *constraints : Constraint
        Admissible forms; any one suffices.
    separator : str, default=", "
        Between what was expected and what was received in the message.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    TypeError
        No constraint accepts the type of ``value``.
    ValueError
        The type is accepted but the value is not.
    """
    if any(c.accepts(value) for c in constraints):
        return value
    type_ok = any(c.accepts_type(value) for c in constraints)
    descriptions = [(c.description if type_ok else c.type_description or c.description)
                    for c in constraints]
    expected = descriptions[0] if len(descriptions) == 1 else (
        ", ".join(descriptions[:-1]) + " or " + descriptions[-1])
    received = repr(value) if type_ok else f"{value!r} ({type(value).__name__})"
    received += "".join(c.detail(value) for c in constraints)
    error = ValueError if type_ok else TypeError
    raise error(f"{name} must be {expected}{separator}got {received}")


def check_params(params: Mapping[str, Any], table: Mapping[str, Sequence[Constraint]], *,
                 separator: str = ", ") -> None:
    """Check every entry of ``params`` that ``table`` constrains (see :func:`check_param`).

    Parameters
    ----------
    params : mapping
        Argument names to values.
    table : mapping
        Argument names to a sequence of admissible :class:`Constraint`.
    separator : str, default=", "
        See :func:`check_param`.
    """
    for name, constraints in table.items():
        if name in params:
            check_param(name, params[name], *constraints, separator=separator)
