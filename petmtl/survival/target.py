"""Survival targets: building and checking the structured ``y`` of survival estimators.

A survival target is a numpy structured array with a boolean event field and a
float time field, the layout of scikit-survival's ``Surv.from_arrays`` (built
here without importing scikit-survival). A sample whose outcome is unknown is
*unlabelled*: its time is NaN and its event False. Every function of
:mod:`petmtl.survival` takes ``event`` before ``time``, as scikit-survival does.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])

_EVENT_FORM = "booleans or 0/1 (None, NaN or -1 for an unknown outcome)"
_TIME_FORM = "finite non-negative numbers (None or NaN for an unknown outcome)"


def _as_1d(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    return arr


def _bad_entry(name: str, form: str, index: int, value) -> ValueError:
    if isinstance(value, np.generic):
        value = value.item()
    return ValueError(f"{name} must hold {form}; got {value!r} at index {index}")


def _classify_event(value) -> int:
    """0 or 1 for a known event, -1 for unknown, -2 for an invalid entry."""
    if value is None:
        return -1
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if np.isnan(v) or v == -1:
            return -1
        if v in (0.0, 1.0):
            return int(v)
    return -2


def _parse_event(event, name: str = "event") -> tuple[np.ndarray, np.ndarray]:
    """Event indicator and unknown mask of a 1-D event vector (see make_survival_y)."""
    arr = _as_1d(event, name)
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(bool), np.zeros(len(arr), dtype=bool)
    if kind in "iuf":
        codes = np.full(len(arr), -2, dtype=np.int64)
        codes[arr == 0] = 0
        codes[arr == 1] = 1
        codes[(arr == -1) | (np.isnan(arr) if kind == "f" else False)] = -1
    elif kind == "O":
        codes = np.fromiter((_classify_event(v) for v in arr), dtype=np.int64, count=len(arr))
    else:
        codes = np.full(len(arr), -2, dtype=np.int64)
    if (codes == -2).any():
        i = int(np.flatnonzero(codes == -2)[0])
        raise _bad_entry(name, _EVENT_FORM, i, arr[i])
    return codes == 1, codes == -1


def _parse_time(time, name: str = "time") -> np.ndarray:
    """Float times of a 1-D time vector, NaN where unknown."""
    arr = _as_1d(time, name)
    kind = arr.dtype.kind
    if kind in "iuf":
        values = arr.astype(np.float64)
    elif kind == "O":
        values = np.full(len(arr), np.nan)
        for i, v in enumerate(arr):
            if v is None:
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise _bad_entry(name, _TIME_FORM, i, v)
            values[i] = float(v)
    else:
        i = 0 if len(arr) else None
        raise TypeError(f"{name} must hold {_TIME_FORM}; got an array of dtype {arr.dtype}"
                        + (f" ({arr[i]!r} at index {i})" if i is not None else ""))
    _check_time_values(values, name)
    return values


def _check_time_values(values: np.ndarray, name: str) -> None:
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _bad_entry(name, _TIME_FORM, i, float(values[i]))


def make_survival_y(event, time) -> np.ndarray:
    """Build a survival target from event indicators and times.

    The result has dtype ``[("event", "?"), ("time", "<f8")]``, exactly the
    layout of scikit-survival's ``Surv.from_arrays(event, time)``, so either
    can be passed as ``y`` to petmtl's survival estimator and metrics.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        True (or 1) when the event was observed, False (or 0) when the time is
        a censoring time. None, NaN or -1 mark an unknown outcome.
    time : array-like of shape (n_samples,)
        Time of the event or of censoring, finite and non-negative; None or
        NaN mark an unknown outcome.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        Structured array. A sample whose event *or* time is unknown is
        unlabelled: it is stored with ``time=NaN`` and ``event=False``.

    Raises
    ------
    ValueError
        When the lengths differ, an input is not 1-D, a time is negative or
        infinite, an event is not boolean/0/1, no sample is labelled, or no
        labelled sample has an event.
    TypeError
        When ``time`` is not numeric (e.g. strings).

    Examples
    --------
    >>> y = make_survival_y([True, 0, None], [5.0, 3.0, 2.0])
    >>> y["event"], y["time"]
    (array([ True, False, False]), array([ 5.,  3., nan]))
    """
    values, event_unknown = _parse_event(event)
    times = _parse_time(time)
    if len(values) != len(times):
        raise ValueError(f"event and time must have the same length; got {len(values)} events "
                         f"and {len(times)} times")
    labelled = ~event_unknown & ~np.isnan(times)
    _check_labels(values, labelled, "event")
    y = np.empty(len(values), dtype=SURVIVAL_DTYPE)
    y["event"] = values & labelled
    y["time"] = np.where(labelled, times, np.nan)
    return y


def _check_labels(event: np.ndarray, labelled: np.ndarray, name: str) -> None:
    if not labelled.any():
        raise ValueError(f"{name}: no labelled sample (every event or time is unknown); "
                         "at least one sample needs a known time and event")
    if not event[labelled].any():
        raise ValueError(f"{name}: no event among the {int(labelled.sum())} labelled samples "
                         "(all censored); survival models need at least one observed event")


def check_survival_y(y, n_samples: int | None = None, *, name: str = "y",
                     allow_unknown: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a structured survival target and split it into arrays.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Two fields, as scikit-survival uses: the first is the boolean event
        indicator, the second the (float) event or censoring time; the field
        names are free. Record arrays are accepted.
    n_samples : int, optional
        Expected number of samples.
    name : str, default="y"
        Name of the argument, used in error messages.
    allow_unknown : bool, default=True
        Whether a NaN time marks an unlabelled sample; otherwise NaN times
        raise an error.

    Returns
    -------
    event : ndarray of bool, shape (n_samples,)
        Event indicator; False for unlabelled samples.
    time : ndarray of float64, shape (n_samples,)
        Event or censoring time; NaN for unlabelled samples.
    labelled : ndarray of bool, shape (n_samples,)
        True where the time is known.

    Raises
    ------
    ValueError
        For a non-structured array, a wrong number of fields, a non-boolean
        event field, a negative or infinite time, a length other than
        ``n_samples``, NaN times when ``allow_unknown=False``, no labelled
        sample or no event among the labelled samples.
    """
    names = _structured_fields(y, name)
    event_field, time_field = y[names[0]], y[names[1]]
    if event_field.dtype.kind != "b":
        raise ValueError(f"{name}: the first field {names[0]!r} must be the boolean event "
                         f"indicator; got dtype {event_field.dtype}")
    if time_field.dtype.kind not in "iuf":
        raise ValueError(f"{name}: the second field {names[1]!r} must be the float time; "
                         f"got dtype {time_field.dtype}")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{name} has {len(y)} samples, expected {n_samples}")
    time = np.asarray(time_field, dtype=np.float64).copy()
    _check_time_values(time, f"{name} (field {names[1]!r})")
    labelled = ~np.isnan(time)
    if not allow_unknown and not labelled.all():
        i = int(np.flatnonzero(~labelled)[0])
        raise ValueError(f"{name} must not contain unknown (NaN) times here; got NaN at index {i}")
    event = np.asarray(event_field, dtype=bool) & labelled
    _check_labels(event, labelled, name)
    return event, time, labelled


def _structured_fields(y, name: str) -> tuple[str, str]:
    expected = (f"{name} must be a structured array with a boolean event field and a float time "
                "field, as petmtl.survival.make_survival_y(event, time) builds it")
    if not isinstance(y, np.ndarray) or y.dtype.names is None:
        got = type(y).__name__
        if isinstance(y, np.ndarray):
            got = f"a plain array of dtype {y.dtype} and shape {y.shape}"
        raise ValueError(f"{expected}; got {got}")
    if len(y.dtype.names) != 2:
        raise ValueError(f"{expected}; got a structured array with {len(y.dtype.names)} fields "
                         f"{y.dtype.names}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    return y.dtype.names


def check_event_time(event, time, *, event_name: str = "event", time_name: str = "time",
                     strict_bool: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate fully labelled event and time vectors.

    Parameters
    ----------
    event, time : array-like of shape (n_samples,)
        Event indicators (booleans, or 0/1 unless ``strict_bool``) and
        finite non-negative times; unknown entries are errors here.
    event_name, time_name : str
        Argument names used in error messages.
    strict_bool : bool, default=False
        Require a boolean ``event`` dtype (as scikit-survival's metrics do).

    Returns
    -------
    event : ndarray of bool
    time : ndarray of float64
    """
    arr = _as_1d(event, event_name)
    if strict_bool and arr.dtype.kind != "b":
        raise ValueError(f"{event_name} must be a boolean array (True = event, False = "
                         f"censored); got dtype {arr.dtype}")
    values, unknown = _parse_event(arr, event_name)
    times = _parse_time(time, time_name)
    for bad, name in ((unknown, event_name), (np.isnan(times), time_name)):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} must not contain unknown entries (None/NaN) here; "
                             f"got one at index {i}")
    if len(values) != len(times):
        raise ValueError(f"{event_name} and {time_name} must have the same length; got "
                         f"{len(values)} and {len(times)}")
    return values, times


def _is_event_like(values) -> bool:
    """Whether ``values`` could be an event vector (booleans, or only 0/1/NaN/-1)."""
    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if arr.dtype.kind == "b":
        return True
    if arr.dtype.kind not in "iuf":
        return False
    finite = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr
    return bool(np.isin(finite, (0, 1, -1)).all())


def event_time_order(event, time, *, where: str):
    """``(event, time)`` of a call, swapped back (with a FutureWarning) if given the old way.

    petmtl 0.1 took ``(time, event)`` in :func:`kaplan_meier`, :func:`logrank_test` and
    :meth:`BreslowEstimator.fit`. A call that still passes times first is recognised
    when the ``time`` argument holds booleans, or when it holds only 0/1 while the
    ``event`` argument holds other numbers; it is answered as before, with a warning.

    Parameters
    ----------
    event, time : array-like
        The two arguments as received.
    where : str
        The function's name, for the warning.

    Returns
    -------
    event, time
    """
    time_dtype = np.asarray(time.detach().cpu() if hasattr(time, "detach") else time).dtype
    old_order = time_dtype.kind == "b" or (_is_event_like(time) and not _is_event_like(event))
    if not old_order:
        return event, time
    warnings.warn(f"{where} now takes event before time, as scikit-survival does; the "
                  "arguments were read in petmtl 0.1's (time, event) order. Pass "
                  "(event, time) or keywords: the old order stops working in petmtl 0.3",
                  FutureWarning, stacklevel=3)
    return time, event
