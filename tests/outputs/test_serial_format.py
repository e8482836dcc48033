"""Serial framing: what the serial sink writes for each message (pure functions)."""

from __future__ import annotations

import math
import struct

import pytest

from nfd.outputs import FeedbackMessage, SinkConfigError
from nfd.outputs._serial_format import SERIAL_FIELDS, encode_ascii, encode_binary, message_fields, serial_encoder

T0 = 1763712000.0


def _msg(index: int, feedback: float, condition: str = "NFBREG", baseline: bool = False) -> FeedbackMessage:
    return FeedbackMessage(
        index=index, condition=condition, feedback=feedback, time=T0 + index, latency_ms=7.5, is_baseline=baseline
    )


def test_ascii_is_fixed_point_with_a_newline() -> None:
    assert encode_ascii(_msg(1, 1.73)) == b"1.7300\n"
    assert encode_ascii(_msg(1, -0.00004)) == b"-0.0000\n"
    assert encode_ascii(_msg(1, 1.5e-7)) == b"0.0000\n"  # never an exponent
    assert encode_ascii(_msg(1, 12345.678)) == b"12345.6780\n"
    assert encode_ascii(_msg(1, math.nan)) == b"nan\n"
    assert encode_ascii(_msg(1, -math.inf)) == b"-inf\n"


def test_binary_is_little_endian_float32() -> None:
    assert encode_binary(_msg(1, 1.5)) == b"\x00\x00\xc0\x3f"
    assert struct.unpack("<f", encode_binary(_msg(1, -2.25)))[0] == -2.25
    assert struct.unpack("<f", encode_binary(_msg(1, 1e300)))[0] == math.inf
    assert math.isnan(struct.unpack("<f", encode_binary(_msg(1, math.nan)))[0])


def test_template_formats_every_field() -> None:
    encode = serial_encoder("{index};{condition};{wire_condition};{feedback:+.1f};{latency_ms:.0f};{is_baseline:d}\r\n")
    assert encode(_msg(9, 0.25, condition="REST", baseline=True)) == b"9;REST;BAS;+0.2;8;1\r\n"
    assert serial_encoder("F{feedback:.3f}\n")(_msg(3, 1.0)) == b"F1.000\n"
    assert serial_encoder("{condition}\n")(_msg(3, 1.0, condition="Größe")) == "Größe\n".encode()


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [
        ("json", "unknown"),
        ("no fields here\n", "unknown"),
        ("{volume}\n", "{volume}"),
        ("{index.real}\n", "{index.real}"),
        ("{condition:.2f}\n", "cannot format"),
        ("{index\n", "malformed"),
        (b"ascii", "must be"),
    ],
)
def test_bad_formats_are_refused_with_the_reason(fmt: object, fragment: str) -> None:
    with pytest.raises(SinkConfigError, match="serial format") as info:
        serial_encoder(fmt)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_the_fields_a_template_may_use_are_the_messages() -> None:
    assert tuple(message_fields(_msg(1, 0.5))) == SERIAL_FIELDS
