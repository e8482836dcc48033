"""Wire formats: how a :class:`FeedbackMessage` becomes UDP datagrams.

Pure functions from a message to a list of ``bytes`` (one item per datagram,
in sending order); the transport (:class:`nfd.outputs.UdpSink`) only ships
them.  Three formats:

``json``
    One datagram per volume: a UTF-8 JSON object (orjson) with the keys
    ``index`` (0-based acquisition index), ``condition`` (the protocol's
    condition name), ``feedback`` (the value sent; ``null`` when NaN),
    ``time`` (seconds since the epoch, float64 precision) and ``latency_ms``.
    Nothing is sent on open or close.

``float32``
    pyOpenNFT's format: one datagram per volume holding one big-endian
    (network order) IEEE-754 float32, the feedback value; nothing else, no
    control datagrams.  Matched against pyOpenNFT
    (github OpenNFT/pyOpenNFT, ``projects/opennft_console_proj.py``,
    ``OpenNFTCoreProj.run``): ``struct.pack('!f', float(disp_value))`` sent with
    ``socket.sendto`` once per processed volume.

``opennft``
    What OpenNFT (github OpenNFT/OpenNFT, ``opennft/opennft.py``:
    ``initUdpSender``, ``main_loop_iteration``, ``finalizeUdpSender``) sends
    through pyniexp's ``Udp`` class (github tiborauer/pyniexp,
    ``src/pyniexp/network/connection.py``: ``connect_for_sending``,
    ``send_data``, ``close``) with ``control_signal='#'`` and
    ``sending_time_stamp = True``, and what its receiver
    (``tests/testUDPReceiver.py``: ``receive_data(n=1, dtype='float')``)
    decodes.  In order:

    1. on open: the control character ``#`` (1 byte, UTF-8) as its own datagram;
    2. per volume, when ``send_condition`` is true: a **timestamp** datagram
       then the **condition name** as a UTF-8 datagram (``BAS`` in baseline).
       pyniexp puts a timestamp before *every* ``send_data`` call once
       ``sending_time_stamp`` is set, the condition's included, and its
       receiver reads a timestamp before each item; so the condition gets
       its own timestamp here too;
    3. per volume: a **timestamp** datagram then the **value** datagram;
    4. on close: the control character ``#`` again (no timestamp: pyniexp's
       ``close`` clears ``sending_time_stamp`` before sending it).

    Timestamps and values are **little-endian float32** (4 bytes,
    ``struct.pack('<f', x)``): pyniexp encodes every Python ``float`` with its
    ``'float'`` format ``'<f'`` (the timestamp is ``datetime.now().timestamp()``,
    OpenNFT's value a MATLAB double returned as a Python float) and its
    receiver unpacks 4-byte ``'f'`` items.  Nothing is float64.  Note what
    that costs: float32 resolves epoch seconds only to 128 s, so the
    timestamp is useless for timing (use the ``json`` format for that); and
    pyniexp's receiver takes any payload whose length is a multiple of 4 for
    floats, so a condition name of 4, 8, ... UTF-8 bytes (e.g. ``TASK``) is
    misread there (:func:`opennft_condition_is_ambiguous`).

Examples
--------
>>> from nfd.outputs import FeedbackMessage
>>> msg = FeedbackMessage(index=3, condition="NFBREG", feedback=1.5,
...                       time=1763712000.0, latency_ms=8.0)
>>> encode(msg, "float32")
[b'?\\xc0\\x00\\x00']
>>> [len(d) for d in encode(msg, "opennft", send_condition=True)]
[4, 6, 4, 4]
"""

from __future__ import annotations

import math
import struct
from typing import Final, Literal, get_args

import orjson

from nfd.outputs._errors import SinkConfigError
from nfd.outputs._message import FeedbackMessage

__all__ = [
    "WireFormat",
    "WIRE_FORMATS",
    "OPENNFT_CONTROL",
    "encode",
    "encode_json",
    "encode_float32",
    "encode_opennft",
    "opening_datagrams",
    "closing_datagrams",
    "opennft_condition_is_ambiguous",
    "check_format",
]

WireFormat = Literal["json", "float32", "opennft"]
#: The format names :func:`encode` accepts.
WIRE_FORMATS: Final[tuple[str, ...]] = get_args(WireFormat)
#: OpenNFT's control character (its default ``UDP_FEEDBACK_CONTROLCHAR``), sent on open and close.
OPENNFT_CONTROL: Final[bytes] = b"#"

_FLT_MAX: Final[float] = 3.4028234663852886e38
_BE_F32 = struct.Struct(">f")
_LE_F32 = struct.Struct("<f")


def check_format(fmt: str) -> WireFormat:
    """Return ``fmt`` if it names a wire format, else raise :class:`SinkConfigError`."""
    if fmt not in WIRE_FORMATS:
        raise SinkConfigError(f"UDP format {fmt!r} is unknown: expected one of {', '.join(WIRE_FORMATS)}")
    return fmt  # type: ignore[return-value]


def _as_f32(value: float) -> float:
    """``value`` made representable as float32: finite overflow becomes +-inf, NaN stays NaN."""
    if math.isfinite(value) and abs(value) > _FLT_MAX:
        return math.copysign(math.inf, value)
    return value


def encode_json(msg: FeedbackMessage) -> bytes:
    """One JSON datagram: ``index``, ``condition``, ``feedback`` (NaN -> null), ``time`` (s), ``latency_ms``."""
    return orjson.dumps(
        {
            "index": msg.index,
            "condition": msg.condition,
            "feedback": msg.feedback,
            "time": msg.time,
            "latency_ms": msg.latency_ms,
        }
    )


def encode_float32(msg: FeedbackMessage) -> bytes:
    """pyOpenNFT's datagram: the feedback value as a big-endian float32 (``struct.pack('!f', v)``)."""
    return _BE_F32.pack(_as_f32(msg.feedback))


def opennft_condition_is_ambiguous(condition: str) -> bool:
    """True when pyniexp's receiver would misread this condition name as float32 values.

    Its ``receive_data`` decodes any payload whose length is a multiple of 4
    bytes as floats (its source says "No 4(-8-12-16-...)-char-long string is
    allowed").
    """
    return len(condition.encode("utf-8")) % 4 == 0


def encode_opennft(msg: FeedbackMessage, send_condition: bool = True) -> list[bytes]:
    """OpenNFT's per-volume datagrams: ``[ts, condition]`` (if ``send_condition``) then ``[ts, value]``.

    ``ts`` is ``msg.time`` (s since the epoch) and the value ``msg.feedback``,
    both little-endian float32; the condition is :attr:`FeedbackMessage.wire_condition`
    (``BAS`` in baseline) in UTF-8.  See the module docstring for the source.
    """
    stamp = _LE_F32.pack(msg.time)
    datagrams: list[bytes] = []
    if send_condition:
        datagrams += [stamp, msg.wire_condition.encode("utf-8")]
    datagrams += [stamp, _LE_F32.pack(_as_f32(msg.feedback))]
    return datagrams


def encode(msg: FeedbackMessage, fmt: WireFormat, send_condition: bool = True) -> list[bytes]:
    """The datagrams for one message in format ``fmt``, in sending order.

    Parameters
    ----------
    msg : FeedbackMessage
        The message.
    fmt : {"json", "float32", "opennft"}
        The wire format (see the module docstring).
    send_condition : bool
        ``opennft`` only: also send the condition name before the value.

    Returns
    -------
    list of bytes
        One item per datagram.

    Raises
    ------
    SinkConfigError
        If ``fmt`` is not a known format.
    """
    if fmt == "json":
        return [encode_json(msg)]
    if fmt == "float32":
        return [encode_float32(msg)]
    if fmt == "opennft":
        return encode_opennft(msg, send_condition)
    check_format(fmt)
    raise AssertionError("unreachable")  # pragma: no cover


def opening_datagrams(fmt: WireFormat) -> list[bytes]:
    """Datagrams sent when a sink opens: ``[b"#"]`` for ``opennft``, none otherwise."""
    check_format(fmt)
    return [OPENNFT_CONTROL] if fmt == "opennft" else []


def closing_datagrams(fmt: WireFormat) -> list[bytes]:
    """Datagrams sent when a sink closes: ``[b"#"]`` for ``opennft``, none otherwise."""
    check_format(fmt)
    return [OPENNFT_CONTROL] if fmt == "opennft" else []
