"""One interface suite for every feedback sink (in the manner of nibabel's ``ValidateAPI``).

Each sink nfd has is listed in :data:`HARNESSES`, with a harness that owns a
real receiving end: a UDP socket bound on loopback for :class:`UdpSink`, a
pseudo-terminal pair (``os.openpty``) behind a symlink for
:class:`SerialSink`, the message list of :class:`nfd.testing.MemorySink`.
The same tests then run over every sink:

* it is an :class:`nfd.outputs.Sink` whose ``config_key`` names the
  setting of ``nfd.toml`` that an error from ``open`` is about;
* ``open`` then one ``send`` then ``close`` delivers the message in the
  sink's documented form, exactly once; ``open`` and ``close`` are
  idempotent, and a sink opens again after ``close``;
* ``send`` before ``open`` or after ``close`` never raises; a transport
  delivers nothing then, counts it and logs it once (``<kind>_sink_not_open``);
  the in-memory recorder keeps the message (it records every call);
* a destination that fails while the sink is open (the receiver closes its
  socket; the serial device vanishes) is logged once as a warning and
  counted, ``send`` never raises, and once the destination is back the
  next message arrives;
* a destination that cannot be opened raises :class:`~nfd.outputs.SinkOpenError`
  (an :class:`~nfd.outputs.OutputError`) naming it.

:func:`test_every_sink_of_nfd_is_in_the_suite` fails when a class with a
sink's members appears in :mod:`nfd.outputs` or :mod:`nfd.testing` without
a harness here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import pkgutil
import select
import socket
import struct
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog

import nfd.outputs
import nfd.testing
from nfd.config import Config
from nfd.outputs import FeedbackMessage, OutputError, SerialSink, Sink, SinkOpenError, UdpSink
from nfd.testing import MemorySink
from tests.helpers.serial_device import Pty, until

T0 = 1763712000.0
#: Seconds a harness waits for what it expects to arrive: a guard against a hang, not a measurement.
HANG_S = 5.0


def _msg(index: int, feedback: float = 0.5) -> FeedbackMessage:
    return FeedbackMessage(index=index, condition="NFBREG", feedback=feedback, time=T0 + 0.25, latency_ms=9.5)


class Harness:
    """A sink under test with its receiving end.

    Subclasses say how to make the sink, what arrived at the other end, and
    what one message looks like there.
    """

    #: The sink's class.
    sink_class: ClassVar[type]
    #: The ``config_key`` the sink must report.
    config_key: ClassVar[str]
    #: Whether the sink carries bytes to a destination that can fail (False: an in-memory recorder).
    has_destination: ClassVar[bool] = True
    #: The trouble kind (log event, key of ``trouble_counts``) of a destination that fails while open.
    failure_kind: ClassVar[str] = ""
    #: The trouble kind of a ``send`` before ``open`` or after ``close``.
    not_open_kind: ClassVar[str] = ""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def make(self) -> Any:
        """A new sink to the receiving end, not yet open."""
        raise NotImplementedError

    def received(self, expected: list[Any]) -> list[Any]:
        """What arrived since the last call, one item per message (a datagram, a line, a message).

        Waits up to HANG_S for ``expected``'s worth, then takes whatever more is there.
        """
        raise NotImplementedError

    def one_message(self, msg: FeedbackMessage) -> list[Any]:
        """What ``msg`` looks like at the receiving end, in the sink's documented default form."""
        raise NotImplementedError

    def unopenable(self) -> tuple[Any, str]:
        """A sink whose destination cannot be opened, and the text its open error must name."""
        raise NotImplementedError

    def fail(self) -> None:
        """Make the destination fail while the sink is open."""
        raise NotImplementedError

    def restore(self) -> None:
        """Bring the destination back."""
        raise NotImplementedError

    async def until_restored(self, sink: Any) -> None:
        """Wait until the sink writes to the restored destination again."""

    def close(self) -> None:
        """Release the receiving end."""


class UdpHarness(Harness):
    """:class:`UdpSink` (format ``json``, the default) to a socket bound on 127.0.0.1."""

    sink_class = UdpSink
    config_key = "feedback.udp.host"
    failure_kind = "udp_receiver_absent"
    not_open_kind = "udp_sink_not_open"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.rx = self._bind(0)
        self.port = int(self.rx.getsockname()[1])

    @staticmethod
    def _bind(port: int) -> socket.socket:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", port))
        return rx

    def make(self) -> UdpSink:
        return UdpSink("127.0.0.1", self.port)

    def received(self, expected: list[Any]) -> list[Any]:
        got: list[bytes] = []
        while len(got) < len(expected) and select.select([self.rx], [], [], HANG_S)[0]:
            got.append(self.rx.recv(65536))
        while select.select([self.rx], [], [], 0)[0]:
            got.append(self.rx.recv(65536))
        return got

    def one_message(self, msg: FeedbackMessage) -> list[Any]:
        assert (msg.index, msg.condition, msg.feedback, msg.time, msg.latency_ms) == (7, "NFBREG", 0.5, T0 + 0.25, 9.5)
        return [b'{"index":7,"condition":"NFBREG","feedback":0.5,"time":1763712000.25,"latency_ms":9.5}']

    def unopenable(self) -> tuple[UdpSink, str]:
        return UdpSink("nonexistent-host.invalid", self.port), "nonexistent-host.invalid"

    def fail(self) -> None:
        self.rx.close()  # the port is unbound: every datagram draws an ICMP port unreachable

    def restore(self) -> None:
        self.rx = self._bind(self.port)

    def close(self) -> None:
        self.rx.close()


class SerialHarness(Harness):
    """:class:`SerialSink` (format ``ascii``, the default) to a pseudo-terminal behind a symlink."""

    sink_class = SerialSink
    config_key = "feedback.serial.port"
    failure_kind = "serial_port_lost"
    not_open_kind = "serial_sink_not_open"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.pty = Pty(tmp_path / "ttyNFD0")

    def make(self) -> SerialSink:
        return SerialSink(self.pty.link, 115200, retry_initial=0.02, retry_max=0.05)

    def received(self, expected: list[Any]) -> list[Any]:
        """The lines that arrived (the ``ascii`` format frames each message as one line)."""
        wanted = sum(len(line) for line in expected)
        data = self.pty.read(wanted, timeout=HANG_S) if wanted else b""
        data += self.pty.pending()
        return data.splitlines(keepends=True)

    def one_message(self, msg: FeedbackMessage) -> list[Any]:
        assert msg.feedback == 0.5
        return [b"0.5000\n"]

    def unopenable(self) -> tuple[SerialSink, str]:
        return SerialSink(self.tmp_path / "ttyUSB9", 115200), "ttyUSB9"

    def fail(self) -> None:
        self.pty.vanish()

    def restore(self) -> None:
        self.pty = Pty(self.pty.link)

    async def until_restored(self, sink: Any) -> None:
        await until(lambda: sink.is_connected, "the serial port to be open again", timeout=HANG_S)

    def close(self) -> None:
        self.pty.close()


class MemoryHarness(Harness):
    """:class:`nfd.testing.MemorySink`: the receiving end is its message list."""

    sink_class = MemorySink
    config_key = "feedback"
    has_destination = False

    def make(self) -> MemorySink:
        self.sink = MemorySink()
        self.seen = 0
        return self.sink

    def received(self, expected: list[Any]) -> list[Any]:
        new = self.sink.messages[self.seen :]
        self.seen = len(self.sink.messages)
        return list(new)

    def one_message(self, msg: FeedbackMessage) -> list[Any]:
        return [msg]


#: Every sink nfd has, each with its harness: the suite runs over all of them.
HARNESSES: tuple[type[Harness], ...] = (UdpHarness, SerialHarness, MemoryHarness)
WITH_DESTINATION = tuple(h for h in HARNESSES if h.has_destination)


def _ids(harness: type[Harness]) -> str:
    return harness.sink_class.__name__


def _made(kind: type[Harness], tmp_path: Path) -> Harness:
    """The harness, once what its sink needs is importable (pyserial for the serial sink)."""
    if kind is SerialHarness:
        reason = "pyserial is not installed: the serial sink needs it (pip install pyserial)"
        pytest.importorskip("serial", reason=reason)
    return kind(tmp_path)


@pytest.fixture(params=HARNESSES, ids=_ids)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = _made(request.param, tmp_path)
    yield h
    h.close()


@pytest.fixture(params=WITH_DESTINATION, ids=_ids)
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = _made(request.param, tmp_path)
    yield h
    h.close()


# -- the list is complete ----------------------------------------------------------------------
def _sink_like_classes() -> set[type]:
    """Every class defined in nfd.outputs (all its modules) and nfd.testing that has a sink's methods."""
    found: set[type] = set()
    for package in (nfd.outputs, nfd.testing):
        modules = [package] + [
            importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        ]
        for module in modules:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__.startswith(package.__name__) and cls is not Sink and all(
                    callable(getattr(cls, member, None)) for member in ("open", "send", "close")
                ):
                    found.add(cls)
    return found


def test_every_sink_of_nfd_is_in_the_suite() -> None:
    listed = {h.sink_class for h in HARNESSES}
    assert _sink_like_classes() == listed
    assert listed == {UdpSink, SerialSink, MemorySink}


# -- identity -------------------------------------------------------------------------------
def _config_field(key: str) -> dataclasses.Field[Any]:
    """The field of :class:`nfd.config.Config` at dotted ``key`` (KeyError if there is none)."""
    owner: Any = Config
    field: dataclasses.Field[Any] | None = None
    for part in key.split("."):
        assert dataclasses.is_dataclass(owner), f"{key}: {part!r} is below a setting, not a table"
        fields = {f.name: f for f in dataclasses.fields(owner)}
        field = fields[part]
        owner = typing.get_type_hints(owner)[part]
    assert field is not None
    return field


def test_a_sink_names_the_setting_its_open_errors_are_about(harness: Harness) -> None:
    sink = harness.make()
    assert isinstance(sink, Sink)
    assert sink.config_key == harness.config_key
    assert type(sink).config_key == harness.config_key  # readable from the class, before any sink is made
    assert _config_field(sink.config_key).name == harness.config_key.rsplit(".", 1)[-1]
    assert isinstance(sink.name, str) and sink.name


# -- open, send, close ------------------------------------------------------------------------
async def test_one_message_arrives_once_in_the_documented_form(harness: Harness) -> None:
    sink = harness.make()
    msg = _msg(7)
    expected = harness.one_message(msg)
    await sink.open()
    sink.send(msg)
    await sink.close()
    assert harness.received(expected) == expected


async def test_open_and_close_are_idempotent_and_a_closed_sink_opens_again(harness: Harness) -> None:
    sink = harness.make()
    for _ in range(2):
        await sink.open()
        await sink.open()  # a no-op
        sink.send(_msg(7))
        await sink.close()
        await sink.close()  # a no-op
    expected = harness.one_message(_msg(7)) * 2
    assert harness.received(expected) == expected


async def test_send_before_open_or_after_close_never_raises(harness: Harness) -> None:
    sink = harness.make()
    with structlog.testing.capture_logs() as logs:
        sink.send(_msg(1))
        await sink.open()
        await sink.close()
        sink.send(_msg(2))
        await sink.open()  # a sentinel, to show what arrived before it
        sink.send(_msg(7))
        await sink.close()
    if harness.has_destination:
        expected = harness.one_message(_msg(7))
        assert harness.received(expected) == expected  # neither message 1 nor message 2
        assert sink.trouble_counts == {harness.not_open_kind: 2}
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [harness.not_open_kind]  # once
    else:
        assert [m.index for m in harness.received([])] == [1, 2, 7]  # a recorder keeps every call
        assert logs == []


async def test_a_failing_destination_is_logged_once_and_sending_goes_on(transport: Harness) -> None:
    sink = transport.make()
    with structlog.testing.capture_logs() as logs:
        await sink.open()
        sink.send(_msg(7))
        first = transport.one_message(_msg(7))
        assert transport.received(first) == first
        transport.fail()
        index = 2
        while transport.failure_kind not in sink.trouble_counts:
            sink.send(_msg(index))  # never raises, never waits
            index += 1
            assert index < 10_000, f"{transport.failure_kind} never reported"
            await asyncio.sleep(0.002)  # the loop runs the transport's callbacks; the writer thread writes
        for _ in range(20):
            sink.send(_msg(index))
            index += 1
            await asyncio.sleep(0.002)
        transport.restore()
        await transport.until_restored(sink)
        last = _msg(7)
        sink.send(last)
        await sink.close()
    expected = transport.one_message(last)
    assert transport.received(expected) == expected
    assert sink.trouble_counts[transport.failure_kind] >= 1
    failures = [e for e in logs if e["event"] == transport.failure_kind]
    assert len(failures) == 1  # logged once, however often it happened
    assert failures[0]["log_level"] == "warning" and failures[0]["sink"] == sink.name


async def test_a_destination_that_cannot_open_is_the_package_error_naming_it(transport: Harness) -> None:
    sink, named = transport.unopenable()
    with pytest.raises(SinkOpenError, match=named) as info:
        await sink.open()
    assert isinstance(info.value, OutputError)
    await sink.close()  # closing a sink that never opened is a no-op
    with structlog.testing.capture_logs() as logs:
        sink.send(_msg(1))  # and sending to it is the not-open trouble, not an exception
    assert [e["event"] for e in logs] == [transport.not_open_kind]


async def test_send_refuses_what_is_not_a_feedback_message(transport: Harness) -> None:
    sink = transport.make()
    await sink.open()
    try:
        with pytest.raises(TypeError, match="FeedbackMessage"):
            sink.send(struct.pack("<f", 0.5))
    finally:
        await sink.close()
