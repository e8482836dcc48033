"""Serial feedback sink: feedback values to a device on a serial port, never stalling the loop."""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections import deque
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Final

import structlog

from nfd._checks import check_bool, ensure_float, ensure_int
from nfd.outputs._errors import SinkConfigError, SinkOpenError
from nfd.outputs._message import FeedbackMessage
from nfd.outputs._serial_format import serial_encoder

if TYPE_CHECKING:
    import serial

__all__ = ["SerialSink"]

log = structlog.get_logger(__name__)

#: Seconds :meth:`SerialSink.close` waits for the writer thread beyond one write timeout.
_CLOSE_GRACE_S: Final[float] = 1.0


def _pyserial() -> ModuleType:
    """pyserial, imported when a serial sink is made (so that ``nfd.outputs`` imports without it)."""
    try:
        return importlib.import_module("serial")
    except ImportError as exc:
        raise SinkConfigError(
            f"a serial feedback output needs pyserial, which cannot be imported ({exc}): pip install pyserial"
        ) from None


def _seconds(name: str, value: object) -> float:
    """``value`` as the duration ``serial <name>``, in s, > 0 (``inf`` is accepted: no limit)."""
    return ensure_float(value, f"serial {name} (s)", positive=True, finite=False, error=SinkConfigError)


class SerialSink:
    """Feedback to a serial port (pyserial), written by a thread so that :meth:`send` never blocks.

    :meth:`send` frames the message (see :mod:`nfd.outputs._serial_format`)
    and appends it to a bounded queue; a writer thread owns the port and
    writes the queue out.  When the port goes away (a USB adapter pulled,
    the device reset) the write fails: the sink logs ``serial_port_lost``
    once for that outage, drops what is queued and every message sent while
    the port is down (stale feedback is worse than none), and tries to open
    the port again after 0.5 s, 1 s, 2 s ... (doubling up to
    ``retry_max``).  When it opens, it logs ``serial_port_back`` and the
    following messages are written again.  Nothing of this ever raises
    into the caller.

    Parameters
    ----------
    port : str or path
        The serial device, e.g. ``/dev/ttyUSB0`` or a stable udev name such
        as ``/dev/serial/by-id/usb-FTDI_...``; it is opened by this path
        each time, so a symlink that udev recreates when the adapter comes
        back is followed.
    baud : int
        Baud rate (bit/s), e.g. 9600, 115200.
    fmt : str
        ``"ascii"`` (the value with 4 decimals and ``\\n``), ``"binary"``
        (little-endian float32) or a :meth:`str.format` template such as
        ``"{index},{feedback:.2f}\\n"`` (fields: ``index``, ``condition``,
        ``wire_condition``, ``feedback``, ``time``, ``latency_ms``,
        ``is_baseline``).
    name : str, optional
        Label for logs; default ``"serial:<port>@<baud>"``.
    queue_size : int
        Messages queued at most; when the device reads slower than volumes
        arrive, the oldest queued message is dropped (``serial_queue_full``).
    write_timeout : float
        Seconds one write may wait for the device (flow control, a full
        output buffer) before it is abandoned (``serial_write_timeout``).
    retry_initial, retry_max : float
        Seconds before the first attempt to reopen a lost port, and the
        ceiling of the doubling back-off.
    must_exist : bool
        If true, :meth:`open` raises :class:`~nfd.outputs.SinkOpenError`
        when the port cannot be opened; if false, it logs
        ``serial_port_absent`` and keeps trying in the background.
    exclusive : bool
        Lock the port (``flock``) so that no second program writes to it.

    Attributes
    ----------
    config_key : str
        ``"feedback.serial.port"``: the configuration key that an error from
        :meth:`open` (a port that cannot be opened) is about.

    Raises
    ------
    SinkConfigError
        For a bad ``port``, ``baud``, ``fmt`` or timing argument.

    Notes
    -----
    Trouble kinds (log event names; keys of :attr:`trouble_counts`):
    ``serial_port_lost`` (logged once per outage), ``serial_port_absent``
    (at :meth:`open`, with ``must_exist=False``), ``serial_reopen_failed``
    (counted only), ``serial_dropped_port_down`` (messages dropped while
    the port was down; counted only), ``serial_queue_full``,
    ``serial_write_timeout``, ``serial_sink_not_open``,
    ``serial_close_timeout``, ``serial_close_failed`` (each logged the first
    time only).
    ``serial_port_back`` is logged when a lost port is open again.

    :meth:`send`, :meth:`open` and :meth:`close` belong to the event loop's
    thread; only the writer thread touches the port.

    Examples
    --------
    >>> import asyncio, os
    >>> from nfd.outputs import FeedbackMessage, SerialSink
    >>> master, slave = os.openpty()
    >>> async def run() -> None:
    ...     async with SerialSink(os.ttyname(slave), 115200, fmt="{index},{feedback:.2f}\\n") as sink:
    ...         sink.send(FeedbackMessage(index=7, condition="NFBREG", feedback=0.5,
    ...                                   time=1763712000.0, latency_ms=9.0))
    >>> asyncio.run(run())
    >>> os.read(master, 64)
    b'7,0.50\\n'
    >>> os.close(master); os.close(slave)
    """

    name: str
    config_key: str = "feedback.serial.port"

    def __init__(
        self,
        port: str | os.PathLike[str],
        baud: int = 115200,
        fmt: str = "ascii",
        *,
        name: str | None = None,
        queue_size: int = 64,
        write_timeout: float = 0.5,
        retry_initial: float = 0.5,
        retry_max: float = 8.0,
        must_exist: bool = True,
        exclusive: bool = True,
    ) -> None:
        if not isinstance(port, (str, os.PathLike)) or not os.fspath(port):
            raise SinkConfigError(f"serial port must be a device path such as /dev/ttyUSB0, got {port!r}")
        self._serial = _pyserial()
        self.port = os.fspath(port)
        self.baud = ensure_int(baud, "serial baud (bit/s)", minimum=1, error=SinkConfigError)
        self.fmt = fmt
        self._encode = serial_encoder(fmt)
        self.queue_size = ensure_int(queue_size, "serial queue_size (messages)", minimum=1, error=SinkConfigError)
        self.write_timeout = _seconds("write_timeout", write_timeout)
        self.retry_initial = _seconds("retry_initial", retry_initial)
        self.retry_max = _seconds("retry_max", retry_max)
        if self.retry_max < self.retry_initial:
            raise SinkConfigError(
                f"serial retry_max ({retry_max!r} s) must be >= retry_initial ({retry_initial!r} s)"
            )
        self.must_exist = check_bool(must_exist, "serial must_exist", error=SinkConfigError)
        self.exclusive = check_bool(exclusive, "serial exclusive", error=SinkConfigError)
        self.name = name if name is not None else f"serial:{self.port}@{self.baud}"
        # Shared between the loop's thread and the writer thread: guarded by _cond.
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, bytes]] = deque()
        self._connected = False
        self._stopping = False
        self._counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._messages_sent = 0
        self._outages = 0
        # Owned by the writer thread once started.
        self._port: serial.Serial | None = None
        self._thread: threading.Thread | None = None

    # -- state -----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close` (whether or not the device is there)."""
        return self._thread is not None

    @property
    def is_connected(self) -> bool:
        """True while the port is open and writable as far as the sink knows."""
        with self._cond:
            return self._connected

    @property
    def messages_sent(self) -> int:
        """Messages written to the port in full."""
        with self._cond:
            return self._messages_sent

    @property
    def outages(self) -> int:
        """How many times the port was lost (or absent at :meth:`open`)."""
        with self._cond:
            return self._outages

    @property
    def trouble_counts(self) -> dict[str, int]:
        """How often each kind of trouble happened (a copy)."""
        with self._cond:
            return dict(self._counts)

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else ("waiting for the port" if self.is_open else "closed")
        return f"<SerialSink {self.name} {state} sent={self.messages_sent} troubles={self.trouble_counts}>"

    # -- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        """Open the port and start the writer thread; does nothing if already open.

        Raises
        ------
        SinkOpenError
            If the port cannot be opened and ``must_exist`` is true (the
            message names the port and the reason).
        """
        if self._thread is not None:
            return
        try:
            port: serial.Serial | None = await asyncio.to_thread(self._open_port)
        except (self._serial.SerialException, OSError, ValueError) as exc:
            if self.must_exist:
                raise SinkOpenError(
                    f"serial port {self.port} cannot be opened at {self.baud} baud ({exc}): "
                    "expected a serial device this user may open"
                ) from exc
            port = None
            with self._cond:
                self._outages += 1
            self._trouble("serial_port_absent", error=str(exc))
        with self._cond:
            self._stopping = False
            self._connected = port is not None
        self._port = port
        self._thread = threading.Thread(target=self._run, name=f"nfd-{self.name}", daemon=True)
        self._thread.start()

    def send(self, msg: FeedbackMessage) -> None:
        """Queue one message for the writer thread; returns at once, never raises for port trouble.

        Raises
        ------
        TypeError
            If ``msg`` is not a :class:`FeedbackMessage` (a programming error).
        """
        if not isinstance(msg, FeedbackMessage):
            raise TypeError(f"SerialSink.send expects a FeedbackMessage, got {type(msg).__name__}")
        if self._thread is None:
            self._trouble("serial_sink_not_open", index=msg.index)
            return
        data = self._encode(msg)
        with self._cond:
            if not self._connected:
                self._counts["serial_dropped_port_down"] = self._counts.get("serial_dropped_port_down", 0) + 1
                return
            full = len(self._queue) >= self.queue_size
            if full:
                self._queue.popleft()
            self._queue.append((msg.index, data))
            self._cond.notify()
        if full:
            self._trouble("serial_queue_full", index=msg.index, queue_size=self.queue_size)

    async def close(self) -> None:
        """Write what is queued (within a write timeout and a second), close the port, stop the thread.

        Idempotent; never raises for port trouble.
        """
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        await asyncio.to_thread(thread.join, self.write_timeout + _CLOSE_GRACE_S)
        if thread.is_alive():
            port = self._port
            if port is not None:
                port.cancel_write()
            self._trouble("serial_close_timeout", seconds=self.write_timeout + _CLOSE_GRACE_S)
        with self._cond:
            self._connected = False
            self._queue.clear()
        self._thread = None

    async def __aenter__(self) -> SerialSink:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- writer thread ---------------------------------------------------------
    def _open_port(self) -> serial.Serial:
        """Open the device (blocking; called from a thread)."""
        return self._serial.Serial(
            port=self.port,
            baudrate=self.baud,
            timeout=0,
            write_timeout=self.write_timeout,
            exclusive=self.exclusive,
        )

    def _run(self) -> None:
        """The writer thread: write batches while the port is up, reopen it with back-off while it is down."""
        backoff = self.retry_initial
        try:
            while True:
                batch: list[tuple[int, bytes]] = []
                with self._cond:
                    if self._port is None:
                        if not self._stopping:
                            self._cond.wait(timeout=backoff)
                        if self._stopping:
                            return
                    else:
                        while not self._queue and not self._stopping:
                            self._cond.wait()
                        if not self._queue:
                            return  # stopping, nothing left to write
                        batch = list(self._queue)
                        self._queue.clear()
                if self._port is None:
                    backoff = self._reopen(backoff)
                    continue
                self._write(batch)
        finally:
            self._close_port()

    def _reopen(self, backoff: float) -> float:
        """One attempt to open the lost port; returns the next back-off (s)."""
        try:
            port = self._open_port()
        except (self._serial.SerialException, OSError, ValueError):
            self._count("serial_reopen_failed")
            return min(backoff * 2.0, self.retry_max)
        with self._cond:
            self._port = port
            self._connected = True
            outages = self._outages
        log.warning("serial_port_back", sink=self.name, port=self.port, outage=outages)
        return self.retry_initial

    def _write(self, batch: list[tuple[int, bytes]]) -> None:
        port = self._port
        assert port is not None
        for position, (index, data) in enumerate(batch):
            try:
                port.write(data)
            except self._serial.SerialTimeoutException:
                self._trouble("serial_write_timeout", index=index, seconds=self.write_timeout)
            except (self._serial.SerialException, OSError) as exc:
                self._lost(exc, index, dropped=len(batch) - position)
                return
            else:
                with self._cond:
                    self._messages_sent += 1

    def _lost(self, exc: BaseException, index: int, dropped: int) -> None:
        """The port failed: drop what is queued, log the outage once, and let the thread reopen it."""
        with self._cond:
            self._connected = False
            dropped += len(self._queue)
            self._queue.clear()
            self._outages += 1
            self._counts["serial_port_lost"] = self._counts.get("serial_port_lost", 0) + 1
            self._counts["serial_dropped_port_down"] = self._counts.get("serial_dropped_port_down", 0) + dropped
            outages = self._outages
        log.warning(
            "serial_port_lost", sink=self.name, port=self.port, index=index, error=str(exc),
            outage=outages, retry_s=self.retry_initial,
        )
        self._close_port()

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except (self._serial.SerialException, OSError) as exc:
            self._trouble("serial_close_failed", error=str(exc))

    # -- bookkeeping -----------------------------------------------------------
    def _count(self, kind: str) -> None:
        with self._cond:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def _trouble(self, kind: str, **fields: Any) -> None:
        """Count one occurrence of ``kind``; log it the first time only."""
        with self._cond:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            log.warning(kind, sink=self.name, port=self.port, **fields)
