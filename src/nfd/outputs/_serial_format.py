"""Serial framing: how a :class:`FeedbackMessage` becomes the bytes written to a serial port.

Pure functions; the transport (:class:`nfd.outputs.SerialSink`) only writes
what they return.  Three kinds of format:

``ascii``
    The feedback value in fixed-point notation with 4 decimals, then a
    newline: ``b"1.7300\\n"`` (``nan``, ``inf`` or ``-inf`` when the value is
    not finite).  No exponent is ever written, so a microcontroller's
    ``Serial.parseFloat()`` (Arduino) or ``atof`` reads every finite value.
``binary``
    The feedback value as one little-endian IEEE-754 float32 (4 bytes,
    ``struct.pack('<f', v)``), no framing; values beyond float32's range
    become +-inf.  The byte order of every common microcontroller (AVR, ARM
    Cortex-M, ESP32), so ``memcpy`` into a ``float`` reads it.
a template
    Any other string is a :meth:`str.format` template over the message's
    fields -- ``index`` (int, 0-based acquisition index), ``condition``
    (str), ``wire_condition`` (str, ``BAS`` in baseline), ``feedback``
    (float), ``time`` (float, s since the epoch), ``latency_ms`` (float) and
    ``is_baseline`` (bool) -- encoded as UTF-8, e.g. ``"{index},{feedback:.2f}\\n"``.
    It is checked when the sink is built: an unknown field or a format
    specification that does not fit the field's type is a
    :class:`~nfd.outputs.SinkConfigError`.

Examples
--------
>>> from nfd.outputs import FeedbackMessage
>>> msg = FeedbackMessage(index=7, condition="NFBREG", feedback=1.73,
...                       time=1763712000.0, latency_ms=8.0)
>>> serial_encoder("ascii")(msg)
b'1.7300\\n'
>>> serial_encoder("binary")(msg).hex()
'a470dd3f'
>>> serial_encoder("{index},{feedback:.2f}\\n")(msg)
b'7,1.73\\n'
"""

from __future__ import annotations

import math
import string
import struct
from collections.abc import Callable
from typing import Any, Final

from nfd.outputs._errors import SinkConfigError
from nfd.outputs._message import FeedbackMessage

__all__ = ["SERIAL_FIELDS", "SerialEncoder", "serial_encoder", "encode_ascii", "encode_binary", "message_fields"]

#: The fields a serial template may use.
SERIAL_FIELDS: Final[tuple[str, ...]] = (
    "index",
    "condition",
    "wire_condition",
    "feedback",
    "time",
    "latency_ms",
    "is_baseline",
)

SerialEncoder = Callable[[FeedbackMessage], bytes]

_LE_F32 = struct.Struct("<f")
_FLT_MAX: Final[float] = 3.4028234663852886e38
_SAMPLE = FeedbackMessage(index=12, condition="NFBREG", feedback=1.73, time=1763712000.123, latency_ms=8.4)


def message_fields(msg: FeedbackMessage) -> dict[str, Any]:
    """The values a serial template can refer to, by name (see :data:`SERIAL_FIELDS`)."""
    return {
        "index": msg.index,
        "condition": msg.condition,
        "wire_condition": msg.wire_condition,
        "feedback": msg.feedback,
        "time": msg.time,
        "latency_ms": msg.latency_ms,
        "is_baseline": msg.is_baseline,
    }


def encode_ascii(msg: FeedbackMessage) -> bytes:
    """The value in fixed-point with 4 decimals and a newline (``nan``/``inf`` when not finite)."""
    value = msg.feedback
    if not math.isfinite(value):
        return (f"{value}\n").encode("ascii")
    return f"{value:.4f}\n".encode("ascii")


def encode_binary(msg: FeedbackMessage) -> bytes:
    """The value as a little-endian float32 (4 bytes); beyond float32's range it becomes +-inf."""
    value = msg.feedback
    if math.isfinite(value) and abs(value) > _FLT_MAX:
        value = math.copysign(math.inf, value)
    return _LE_F32.pack(value)


def _template_encoder(template: str) -> SerialEncoder:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SinkConfigError(f"serial format template {template!r} is malformed: {exc}") from None
    names = [field for _, field, _, _ in parsed if field is not None]
    if not names:
        raise SinkConfigError(
            f"serial format {template!r} is unknown: expected 'ascii', 'binary' or a template "
            f"with at least one {{field}} among {', '.join(SERIAL_FIELDS)}"
        )
    for name in names:
        root = name.split(".", 1)[0].split("[", 1)[0]
        if root not in SERIAL_FIELDS or root != name:
            raise SinkConfigError(
                f"serial format template {template!r} uses the field {{{name}}}: "
                f"expected one of {', '.join(SERIAL_FIELDS)} (no attribute or item access)"
            )
    try:
        sample = template.format(**message_fields(_SAMPLE))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SinkConfigError(f"serial format template {template!r} cannot format a message: {exc}") from None
    if not sample:
        raise SinkConfigError(f"serial format template {template!r} formats to nothing")

    def encode(msg: FeedbackMessage) -> bytes:
        return template.format(**message_fields(msg)).encode("utf-8")

    return encode


def serial_encoder(fmt: str) -> SerialEncoder:
    """The function that frames each message for format ``fmt``.

    Parameters
    ----------
    fmt : str
        ``"ascii"``, ``"binary"`` or a :meth:`str.format` template over
        :data:`SERIAL_FIELDS` (see the module docstring).

    Returns
    -------
    callable
        ``FeedbackMessage -> bytes``.

    Raises
    ------
    SinkConfigError
        If ``fmt`` is not a string, or a template with no field, an unknown
        field, or a specification that does not fit its field.
    """
    if not isinstance(fmt, str):
        raise SinkConfigError(f"serial format must be 'ascii', 'binary' or a template string, got {fmt!r}")
    if fmt == "ascii":
        return encode_ascii
    if fmt == "binary":
        return encode_binary
    return _template_encoder(fmt)
