"""The parameter constraint checker: what passes, and what each error says."""

from numbers import Integral, Real

import numpy as np
import pytest

from petmtl._constraints import (
    Boolean,
    Interval,
    NoneOr,
    Options,
    PathLike,
    Satisfies,
    Shape,
    Spacing,
    check_param,
    check_params,
)


@pytest.mark.parametrize(("constraint", "good", "bad_value", "bad_type"), [
    (Interval(Real, 0, 1), [0, 0.5, 1, np.float32(0.2)], [1.5, -0.1, float("nan")], ["x", True]),
    (Interval(Integral, 1, None), [1, np.int64(7)], [0, -3], [2.0, False, None]),
    (Interval(Real, 0, 1, closed="neither"), [0.5], [0.0, 1.0], [[0.5]]),
    (Options("auto", None, True), ["auto", None, True], ["other"], [1, 2.5]),
    (Boolean(), [True, False, np.bool_(True)], [], [0, "yes", None]),
    (Shape(3), [(1, 2, 3), [4, 4, 4], np.array([2, 2, 2])], [(1, 2), (0, 1, 1), 5, "abc"], []),
    (Shape(3, 16, type_error=True), [(16, 16, 20)], [(16, 8, 16), (16, 16)], [64, (16, 16.0, 16)]),
    (Spacing(), [2.0, (1, 2, 3), [4.0]], [0, (1, 2), (1, -1, 1), "2"], []),
    (PathLike(), ["model.pt"], [""], [3, None]),
    (Satisfies(callable, "callable", type_error=True), [len], [], ["f"]),
])
def test_values_pass_or_fail_with_the_right_error_type(constraint, good, bad_value, bad_type):
    for value in good:
        assert check_param("p", value, constraint) is value
    for value in bad_value:
        with pytest.raises(ValueError, match=r"^p must be "):
            check_param("p", value, constraint)
    for value in bad_type:
        with pytest.raises(TypeError, match=r"^p must be "):
            check_param("p", value, constraint)


def test_messages_name_the_argument_the_expected_form_and_the_value():
    with pytest.raises(ValueError, match=r"^lam must be in \[0, 1\], got 1\.5$"):
        check_param("lam", 1.5, Interval(Real, 0, 1))
    with pytest.raises(TypeError, match=r"^lam must be a number, got 'high' \(str\)$"):
        check_param("lam", "high", Interval(Real, 0, 1))
    with pytest.raises(ValueError, match=r"^shape must be .*; got \(16, 16\) \(length 2\)$"):
        check_param("shape", (16, 16), Shape(3), separator="; ")
    with pytest.raises(ValueError, match=r"one of \('auto', None\) or a positive number, got -1"):
        check_param("scale", -1, Options("auto", None),
                    Interval(Real, 0, None, closed="neither", description="a positive number"))
    with pytest.raises(ValueError, match=r"None or a number in \(0, 1\), got 1\.0"):
        check_param("prior", 1.0, NoneOr(Interval(Real, 0, 1, closed="neither")))


def test_check_params_checks_only_the_entries_of_the_table():
    table = {"a": [Interval(Integral, 0, None)], "b": [Boolean()]}
    check_params({"a": 3, "b": True, "unrelated": object()}, table)
    with pytest.raises(TypeError, match="^b must be a bool"):
        check_params({"a": 3, "b": "yes"}, table)
