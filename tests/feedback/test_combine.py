"""combine: several ROIs' measures into one."""

from __future__ import annotations

import math

import pytest

from nfd.feedback import FeedbackError, combine


@pytest.mark.parametrize(
    ("operation", "expected"), [("mean", 2.25), ("median", 1.5), ("max", 7.0), ("min", -1.0)]
)
def test_combine_operations(operation: str, expected: float) -> None:
    assert combine([1.0, -1.0, 7.0, 2.0], operation) == pytest.approx(expected)


def test_combine_propagates_nan_and_refuses_bad_input() -> None:
    assert math.isnan(combine([1.0, math.nan], "median"))
    with pytest.raises(ValueError, match=r"unknown combine operation 'sum'; expected one of \['mean', 'median', 'max', 'min'\]"):
        combine([1.0], "sum")
    with pytest.raises(FeedbackError, match="at least one value"):
        combine([], "mean")
