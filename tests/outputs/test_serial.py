"""SerialSink and its framing, through real pseudo-terminal pairs (``os.openpty``).

The sink opens the pty's slave by path, as it would ``/dev/ttyUSB0``; the
test reads what arrives on the master.  The port "vanishes" the way a
pulled USB adapter does for the writer: the master is closed (writes to the
slave then fail with EIO) and the path the sink opens is removed; it "comes
back" as a new pty behind the same path (udev recreating the symlink).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

pytest.importorskip("serial", reason="pyserial is not installed: the serial sink needs it (pip install pyserial)")

from nfd.outputs import FeedbackMessage, SerialSink, Sink, SinkConfigError, SinkOpenError
from tests.helpers.serial_device import Pty, until

T0 = 1763712000.0


def _msg(index: int, feedback: float, condition: str = "NFBREG", baseline: bool = False) -> FeedbackMessage:
    return FeedbackMessage(
        index=index, condition=condition, feedback=feedback, time=T0 + index, latency_ms=7.5, is_baseline=baseline
    )


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    p = Pty(tmp_path / "ttyNFD0")
    yield p
    p.close()


# -- arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{"baud": 0}, {"baud": 9600.5}, {"baud": True}, {"queue_size": 0}, {"write_timeout": -1},
     {"retry_initial": 2.0, "retry_max": 1.0}, {"port": ""}, {"port": 5}],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"port": "/dev/ttyUSB0", "baud": 9600, **kwargs}
    with pytest.raises(SinkConfigError):
        SerialSink(**args)  # type: ignore[arg-type]


# -- the transport ---------------------------------------------------------------------
def test_serial_sink_is_a_sink() -> None:
    assert isinstance(SerialSink("/dev/ttyUSB0"), Sink)


async def test_every_format_arrives_on_the_other_end(pty: Pty) -> None:
    for fmt, expected in [
        ("ascii", b"0.5000\n-1.2500\n"),
        ("binary", struct.pack("<f", 0.5) + struct.pack("<f", -1.25)),
        ("{index},{feedback:.2f}\n", b"4,0.50\n5,-1.25\n"),
    ]:
        async with SerialSink(pty.link, 115200, fmt=fmt) as sink:
            sink.send(_msg(4, 0.5))
            sink.send(_msg(5, -1.25))
            assert pty.read(len(expected)) == expected
        assert sink.messages_sent == 2
        assert sink.trouble_counts == {}


async def test_send_never_waits_for_the_device(pty: Pty) -> None:
    """Nobody reads the master: the tty buffer fills, writes time out in the thread, send() goes on."""
    payload = "{index:06d}" + "x" * 1000 + "\n"
    sent = 0
    async with SerialSink(pty.link, 115200, fmt=payload, queue_size=4, write_timeout=0.05) as sink:
        deadline = asyncio.get_running_loop().time() + 20.0  # a guard against a hang, not a measurement
        while "serial_write_timeout" not in sink.trouble_counts:
            assert asyncio.get_running_loop().time() < deadline, "the tty buffer never filled"
            for _ in range(20):
                sink.send(_msg(sent, 0.0))  # returns at once: the queue is bounded, the oldest dropped
                sent += 1
            await asyncio.sleep(0.002)
        for _ in range(50):
            sink.send(_msg(sent, 0.0))
            sent += 1
        counts = sink.trouble_counts
        assert counts["serial_queue_full"] > 0
        assert sink.is_connected  # a slow device is not a lost one
        received = pty.pending()
        assert 0 < len(received) < sent * len(payload)


async def test_the_port_vanishes_and_comes_back(pty: Pty) -> None:
    with structlog.testing.capture_logs() as logs:
        async with SerialSink(pty.link, 9600, fmt="{index}\n", retry_initial=0.02, retry_max=0.05) as sink:
            sink.send(_msg(1, 0.0))
            assert pty.read(2) == b"1\n"

            pty.vanish()
            for i in range(2, 12):  # the first failing write notices; the rest are dropped, never block
                sink.send(_msg(i, 0.0))
                await asyncio.sleep(0.005)
            await until(lambda: not sink.is_connected, "the loss to be noticed")
            await until(lambda: sink.trouble_counts.get("serial_reopen_failed", 0) >= 3, "reopen attempts")

            back = Pty(pty.link)  # the adapter is plugged in again, behind the same name
            try:
                await until(lambda: sink.is_connected, "the port to come back")
                for i in (20, 21, 22):
                    sink.send(_msg(i, 0.0))
                assert back.read(9) == b"20\n21\n22\n"
            finally:
                back.close()
        counts = sink.trouble_counts
    assert counts["serial_port_lost"] == 1
    assert counts["serial_dropped_port_down"] >= 9  # messages sent while the port was down
    assert sink.messages_sent == 4
    assert sink.outages == 1
    events = [e["event"] for e in logs]
    assert events.count("serial_port_lost") == 1  # logged once, however many retries
    assert events.count("serial_port_back") == 1
    assert "serial_reopen_failed" not in events
    lost = next(e for e in logs if e["event"] == "serial_port_lost")
    assert lost["port"] == str(pty.link) and lost["log_level"] == "warning"


async def test_it_survives_two_outages(pty: Pty) -> None:
    async with SerialSink(pty.link, 9600, fmt="{index}\n", retry_initial=0.02, retry_max=0.05) as sink:
        current = pty
        for outage in (1, 2):
            sink.send(_msg(outage, 0.0))
            assert current.read(2) == f"{outage}\n".encode()
            current.vanish()
            sink.send(_msg(9, 0.0))
            await until(lambda: not sink.is_connected, "the loss")
            current = Pty(pty.link)
            await until(lambda: sink.is_connected, "the return")
        sink.send(_msg(7, 0.0))
        assert current.read(2) == b"7\n"
        current.close()
    assert sink.outages == 2
    assert sink.trouble_counts["serial_port_lost"] == 2


async def test_a_missing_port_is_an_open_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"
    sink = SerialSink(missing, 9600)
    with pytest.raises(SinkOpenError, match="ttyUSB9"):
        await sink.open()
    assert not sink.is_open


async def test_a_port_absent_at_start_is_waited_for(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM0"
    with structlog.testing.capture_logs() as logs:
        async with SerialSink(link, 9600, must_exist=False, retry_initial=0.02, retry_max=0.05) as sink:
            assert sink.is_open and not sink.is_connected
            sink.send(_msg(1, 1.0))  # dropped: nothing to write to
            late = Pty(link)
            try:
                await until(lambda: sink.is_connected, "the port to appear")
                sink.send(_msg(2, 2.0))
                assert late.read(7) == b"2.0000\n"
            finally:
                late.close()
    port_events = [e["event"] for e in logs if e["event"].startswith("serial_port")]
    assert port_events == ["serial_port_absent", "serial_port_back"]
    assert sink.trouble_counts["serial_dropped_port_down"] == 1


async def test_send_before_open_and_after_close_is_counted_not_raised(pty: Pty) -> None:
    sink = SerialSink(pty.link, 9600)
    sink.send(_msg(1, 0.0))
    async with sink:
        pass
    await sink.close()  # idempotent
    sink.send(_msg(2, 0.0))
    assert sink.trouble_counts["serial_sink_not_open"] == 2
    assert not sink.is_connected
    with pytest.raises(TypeError):
        sink.send("0.5")  # type: ignore[arg-type]


async def test_close_writes_what_is_queued(pty: Pty) -> None:
    sink = SerialSink(pty.link, 115200, fmt="{index}\n", queue_size=100)
    await sink.open()
    for i in range(50):
        sink.send(_msg(i, 0.0))
    await sink.close()
    expected = "".join(f"{i}\n" for i in range(50)).encode()
    assert pty.read(len(expected)) == expected
    assert sink.messages_sent == 50


async def test_the_port_is_locked_against_a_second_writer(pty: Pty) -> None:
    async with SerialSink(pty.link, 9600):
        with pytest.raises(SinkOpenError, match="cannot be opened"):
            await SerialSink(pty.link, 9600).open()
