"""Wire formats: known bytes for known messages."""

from __future__ import annotations

import math
import struct

import numpy as np
import orjson
import pytest

from nfd.outputs import WIRE_FORMATS, FeedbackMessage, SinkConfigError, encode
from nfd.outputs._wire import (
    OPENNFT_CONTROL,
    closing_datagrams,
    encode_float32,
    encode_json,
    encode_opennft,
    opening_datagrams,
    opennft_condition_is_ambiguous,
)

T = 1763712000.123


def _msg(feedback: float = 1.73, *, baseline: bool = False, condition: str = "NFBREG") -> FeedbackMessage:
    return FeedbackMessage(
        index=12, condition=condition, feedback=feedback, time=T, latency_ms=8.4, is_baseline=baseline
    )


def test_formats() -> None:
    assert WIRE_FORMATS == ("json", "float32", "opennft")


def test_json_object_has_exactly_the_five_keys() -> None:
    (datagram,) = encode(_msg(), "json")
    assert orjson.loads(datagram) == {
        "index": 12, "condition": "NFBREG", "feedback": 1.73, "time": T, "latency_ms": 8.4,
    }
    assert encode_json(_msg()) == datagram


def test_json_nan_feedback_is_null_and_baseline_keeps_protocol_name() -> None:
    obj = orjson.loads(encode_json(_msg(math.nan, baseline=True, condition="REST")))
    assert obj["feedback"] is None
    assert obj["condition"] == "REST"


def test_float32_is_one_big_endian_float() -> None:
    (datagram,) = encode(_msg(1.73), "float32")
    assert datagram == np.array([1.73], dtype=">f4").tobytes()
    assert datagram == b"\x3f\xdd\x70\xa4"  # IEEE-754 float32 of 1.73, most significant byte first
    assert encode_float32(_msg(-2.0)) == b"\xc0\x00\x00\x00"


def test_float32_overflow_becomes_infinity_not_an_error() -> None:
    assert struct.unpack(">f", encode_float32(_msg(1e300)))[0] == math.inf
    assert struct.unpack(">f", encode_float32(_msg(-1e300)))[0] == -math.inf
    assert math.isnan(struct.unpack(">f", encode_float32(_msg(math.nan)))[0])


def test_opennft_sequence_with_condition() -> None:
    datagrams = encode(_msg(1.73), "opennft", send_condition=True)
    stamp = np.array([T], dtype="<f4").tobytes()
    assert datagrams == [stamp, b"NFBREG", stamp, np.array([1.73], dtype="<f4").tobytes()]


def test_opennft_sequence_without_condition_and_baseline_name() -> None:
    stamp = struct.pack("<f", T)
    assert encode_opennft(_msg(0.5), send_condition=False) == [stamp, struct.pack("<f", 0.5)]
    assert encode_opennft(_msg(0.0, baseline=True, condition="REST"))[1] == b"BAS"


def test_opennft_condition_is_utf8() -> None:
    assert encode_opennft(_msg(condition="Ruhe-Ü"))[1] == "Ruhe-Ü".encode()


def test_control_datagrams() -> None:
    assert OPENNFT_CONTROL == b"#"
    assert opening_datagrams("opennft") == closing_datagrams("opennft") == [b"#"]
    for fmt in ("json", "float32"):
        assert opening_datagrams(fmt) == closing_datagrams(fmt) == []  # type: ignore[arg-type]


def test_ambiguous_conditions_for_pyniexp() -> None:
    assert opennft_condition_is_ambiguous("TASK")
    assert opennft_condition_is_ambiguous("NFBREG01")
    assert not opennft_condition_is_ambiguous("BAS")
    assert not opennft_condition_is_ambiguous("NFBREG")


def test_unknown_format_is_a_config_error_naming_it() -> None:
    with pytest.raises(SinkConfigError, match="'csv'"):
        encode(_msg(), "csv")  # type: ignore[arg-type]
