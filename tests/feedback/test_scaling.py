"""scale_feedback: gain, clipping, NaN."""

from __future__ import annotations

import math

import pytest

from nfd.feedback import FeedbackError, scale_feedback


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (2.0, {}, 2.0),
        (2.0, {"gain": 10.0}, 20.0),
        (250.0, {}, 100.0),
        (-250.0, {}, -100.0),
        (-3.0, {"lo": 0.0}, 0.0),
        (3.0, {"gain": -2.0}, -6.0),
        (0.7, {"gain": 100.0, "lo": 0.0, "hi": 50.0}, 50.0),
        (math.inf, {}, 100.0),
        (math.nan, {}, 0.0),
        (math.nan, {"lo": 10.0, "hi": 20.0}, 10.0),
        (math.inf, {"gain": 0.0}, 0.0),
    ],
)
def test_scale_and_clip(value: float, kwargs: dict, expected: float) -> None:
    assert scale_feedback(value, **kwargs) == pytest.approx(expected)


def test_bad_scaling_arguments_are_refused() -> None:
    with pytest.raises(FeedbackError, match=r"lo=5\.0 must not exceed hi=1\.0"):
        scale_feedback(1.0, lo=5.0, hi=1.0)
    with pytest.raises(FeedbackError, match="gain must be a finite number"):
        scale_feedback(1.0, gain=math.nan)
    with pytest.raises(FeedbackError, match="psc_value must be a number"):
        scale_feedback("high")  # type: ignore[arg-type]
