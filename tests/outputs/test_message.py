"""FeedbackMessage: fields, coercion, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from nfd.outputs import BASELINE_CONDITION, FeedbackMessage, MessageError, OutputError


def test_fields_and_coercion() -> None:
    msg = FeedbackMessage(
        index=np.int64(12), condition="NFBREG", feedback=np.float32(1.5), time=1763712000.123, latency_ms=8,
        is_baseline=0,
    )
    assert (msg.index, msg.condition, msg.feedback, msg.time, msg.latency_ms, msg.is_baseline) == (
        12, "NFBREG", 1.5, 1763712000.123, 8.0, False,
    )
    assert type(msg.index) is int and type(msg.feedback) is float and type(msg.is_baseline) is bool


def test_frozen_with_slots() -> None:
    msg = FeedbackMessage(index=0, condition="BAS", feedback=0.0, time=1.0, latency_ms=1.0, is_baseline=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.feedback = 2.0  # type: ignore[misc]
    assert not hasattr(msg, "__dict__")


def test_nan_feedback_is_allowed() -> None:
    msg = FeedbackMessage(index=0, condition="BAS", feedback=math.nan, time=1.0, latency_ms=1.0)
    assert math.isnan(msg.feedback)


def test_wire_condition_is_bas_in_baseline() -> None:
    base = FeedbackMessage(index=3, condition="REST", feedback=0.0, time=1.0, latency_ms=1.0, is_baseline=True)
    task = FeedbackMessage(index=4, condition="NFBREG", feedback=0.0, time=1.0, latency_ms=1.0)
    assert base.wire_condition == BASELINE_CONDITION == "BAS"
    assert task.wire_condition == "NFBREG"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("index", -1, "index"),
        ("index", 1.0, "index"),
        ("index", True, "index"),
        ("condition", 3, "condition"),
        ("feedback", "1.0", "feedback"),
        ("time", math.inf, "time"),
        ("latency_ms", None, "latency_ms"),
    ],
)
def test_bad_field_raises_message_error_naming_it(field: str, value: object, named: str) -> None:
    kwargs: dict[str, object] = {
        "index": 0, "condition": "BAS", "feedback": 0.0, "time": 1.0, "latency_ms": 1.0
    }
    kwargs[field] = value
    with pytest.raises(MessageError, match=named) as info:
        FeedbackMessage(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, OutputError)
