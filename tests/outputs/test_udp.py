"""UdpSink on real sockets (127.0.0.1, ports chosen by binding to port 0)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
import structlog

from nfd.outputs import FeedbackMessage, OutputError, Sink, SinkConfigError, SinkOpenError, UdpSink

T0 = 1763712000.0


def _msg(index: int, feedback: float, *, condition: str = "NFBREG", baseline: bool = False) -> FeedbackMessage:
    return FeedbackMessage(
        index=index, condition=condition, feedback=feedback, time=T0 + 2.0 * index, latency_ms=5.0 + index,
        is_baseline=baseline,
    )


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)  # a safeguard against hanging, not a timing assertion
    yield sock
    sock.close()


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def _drain(sock: socket.socket) -> list[bytes]:
    """Every datagram already queued on ``sock``, without waiting."""
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(65536))
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(5.0)


def _free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_udp_sink_is_a_sink() -> None:
    sink = UdpSink("127.0.0.1", 1234, fmt="json")
    assert isinstance(sink, Sink)
    assert sink.name == "udp-json:127.0.0.1:1234"
    assert UdpSink(name="stim").name == "stim"


async def test_json_received_and_decoded(receiver: socket.socket) -> None:
    sent = [_msg(5, -1.25, condition="BAS", baseline=True), _msg(6, 3.5), _msg(7, float("nan"))]
    async with UdpSink("127.0.0.1", _port(receiver), fmt="json") as sink:
        for m in sent:
            sink.send(m)
        got = [orjson.loads(receiver.recv(65536)) for _ in sent]
    assert got[:2] == [
        {"index": m.index, "condition": m.condition, "feedback": m.feedback, "time": m.time, "latency_ms": m.latency_ms}
        for m in sent[:2]
    ]
    assert got[2]["feedback"] is None and got[2]["index"] == 7
    assert sink.messages_sent == 3 and sink.trouble_counts == {}
    assert _drain(receiver) == []  # nothing on open or close


async def test_float32_received_and_decoded(receiver: socket.socket) -> None:
    values = [0.0, 1.73, -42.5, 100.0]
    async with UdpSink("127.0.0.1", _port(receiver), fmt="float32") as sink:
        for i, v in enumerate(values):
            sink.send(_msg(i, v))
        datagrams = [receiver.recv(65536) for _ in values]
    assert all(len(d) == 4 for d in datagrams)
    assert [struct.unpack(">f", d)[0] for d in datagrams] == [float(np.float32(v)) for v in values]
    assert _drain(receiver) == []


async def test_opennft_full_sequence(receiver: socket.socket) -> None:
    sent = [_msg(5, 0.0, condition="REST", baseline=True), _msg(6, 1.73)]
    sink = UdpSink("127.0.0.1", _port(receiver), fmt="opennft", send_condition=True)
    await sink.open()
    for m in sent:
        sink.send(m)
    await sink.close()
    datagrams = _drain(receiver)
    assert len(datagrams) == 1 + 4 * len(sent) + 1
    assert datagrams[0] == b"#" and datagrams[-1] == b"#"
    body = datagrams[1:-1]
    for k, m in enumerate(sent):
        stamp, condition, stamp2, value = body[4 * k : 4 * k + 4]
        assert struct.unpack("<f", stamp)[0] == struct.unpack("<f", stamp2)[0] == float(np.float32(m.time))
        assert condition == (b"BAS" if m.is_baseline else m.condition.encode())
        assert struct.unpack("<f", value)[0] == float(np.float32(m.feedback))


async def test_opennft_without_condition(receiver: socket.socket) -> None:
    async with UdpSink("127.0.0.1", _port(receiver), fmt="opennft", send_condition=False) as sink:
        sink.send(_msg(3, 2.5))
    datagrams = _drain(receiver)
    assert [len(d) for d in datagrams] == [1, 4, 4, 1]
    assert struct.unpack("<f", datagrams[2])[0] == 2.5


async def test_opennft_warns_once_about_ambiguous_condition(receiver: socket.socket) -> None:
    with structlog.testing.capture_logs() as logs:
        async with UdpSink("127.0.0.1", _port(receiver), fmt="opennft") as sink:
            sink.send(_msg(1, 1.0, condition="TASK"))
            sink.send(_msg(2, 1.0, condition="TASK"))
    events = [e for e in logs if e["event"] == "opennft_condition_ambiguous"]
    assert len(events) == 1 and events[0]["condition"] == "TASK"


async def test_receiver_absent_then_back() -> None:
    port = _free_port()
    sink = UdpSink("127.0.0.1", port, fmt="float32")
    with structlog.testing.capture_logs() as logs:
        await sink.open()
        for i in range(200):  # nothing bound at the port: every datagram draws an ICMP port unreachable
            sink.send(_msg(i, float(i)))
            if i % 10 == 0:
                await asyncio.sleep(0)  # let the loop run the transport's reader (error_received)
        await asyncio.sleep(0.01)
        refusals = sink.trouble_counts.get("udp_receiver_absent", 0)
        assert refusals > 0
        assert sink.messages_sent == 200 and sink.is_open

        sink.send(_msg(200, 200.0))  # its refusal is still pending when the receiver comes back
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind(("127.0.0.1", port))
            rx.settimeout(5.0)
            later = list(range(201, 221))
            for i in later:
                sink.send(_msg(i, float(i)))
                await asyncio.sleep(0)
            got = [struct.unpack(">f", rx.recv(64))[0] for _ in later]
        await sink.close()
    assert got == [float(i) for i in later]  # once back, the receiver gets every message
    absent = [e for e in logs if e["event"] == "udp_receiver_absent"]
    assert len(absent) == 1  # logged once, counted every time
    assert absent[0]["host"] == "127.0.0.1" and absent[0]["port"] == port
    assert sink.trouble_counts["udp_receiver_absent"] >= refusals


async def test_opennft_receiver_absent_never_raises() -> None:
    sink = UdpSink("127.0.0.1", _free_port(), fmt="opennft")
    await sink.open()
    for i in range(50):
        sink.send(_msg(i, 1.0))
        await asyncio.sleep(0)
    await sink.close()
    assert sink.trouble_counts.get("udp_receiver_absent", 0) > 0
    assert not sink.is_open


@pytest.mark.parametrize("host", ["nonexistent-host.invalid", "x" * 70 + ".example"])
async def test_unresolvable_host_is_an_output_error_naming_it(host: str) -> None:
    sink = UdpSink(host, 1234, fmt="json")
    with pytest.raises(SinkOpenError, match=host[:20]) as info:
        await sink.open()
    assert isinstance(info.value, OutputError)
    assert not sink.is_open


async def test_send_before_open_and_after_close_is_counted_not_raised(receiver: socket.socket) -> None:
    sink = UdpSink("127.0.0.1", _port(receiver), fmt="json")
    with structlog.testing.capture_logs() as logs:
        sink.send(_msg(0, 1.0))
        await sink.open()
        await sink.close()
        await sink.close()  # idempotent
        sink.send(_msg(1, 1.0))
    assert sink.trouble_counts == {"udp_sink_not_open": 2}
    assert [e["event"] for e in logs] == ["udp_sink_not_open"]
    assert _drain(receiver) == []


async def test_reopen_after_close(receiver: socket.socket) -> None:
    sink = UdpSink("127.0.0.1", _port(receiver), fmt="float32")
    for value in (1.0, 2.0):
        await sink.open()
        await sink.open()  # a second open is a no-op
        sink.send(_msg(0, value))
        await sink.close()
    assert [struct.unpack(">f", d)[0] for d in _drain(receiver)] == [1.0, 2.0]


async def test_send_rejects_non_messages(receiver: socket.socket) -> None:
    async with UdpSink("127.0.0.1", _port(receiver)) as sink:
        with pytest.raises(TypeError, match="FeedbackMessage"):
            sink.send({"feedback": 1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"fmt": "csv"}, "format 'csv'"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "1234"}, "port"),
        ({"host": ""}, "host"),
        ({"send_condition": "yes"}, "send_condition"),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(SinkConfigError, match=named):
        UdpSink(**kwargs)  # type: ignore[arg-type]
