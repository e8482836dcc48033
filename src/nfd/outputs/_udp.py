"""UDP feedback sink: datagrams to a stimulus program, never disturbing the daemon."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Any

import structlog

from nfd._checks import check_bool, check_str, ensure_int
from nfd.outputs._errors import SinkConfigError, SinkOpenError
from nfd.outputs._message import FeedbackMessage
from nfd.outputs._wire import (
    WireFormat,
    check_format,
    closing_datagrams,
    encode,
    opening_datagrams,
    opennft_condition_is_ambiguous,
)

__all__ = ["UdpSink"]

log = structlog.get_logger(__name__)

#: Seconds :meth:`UdpSink.close` waits for the socket to flush before aborting it.
_CLOSE_TIMEOUT_S = 1.0


def _buffered_bytes(transport: asyncio.DatagramTransport) -> int:
    """Bytes queued in ``transport``, waiting for the socket.

    asyncio's datagram transports (selector and proactor loops) are write
    transports too; typeshed's :class:`asyncio.DatagramTransport` does not
    say so, hence the check.
    """
    if isinstance(transport, asyncio.WriteTransport):
        return transport.get_write_buffer_size()
    return 0


class _SinkProtocol(asyncio.DatagramProtocol):
    """Routes the transport's callbacks to its :class:`UdpSink`."""

    def __init__(self, sink: UdpSink, lost: asyncio.Future[None]) -> None:
        self._sink = sink
        self.lost = lost

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Receivers do not answer; anything arriving is ignored (and not buffered).
        pass

    def error_received(self, exc: Exception) -> None:
        self._sink._error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class UdpSink:
    """Feedback over UDP to one receiver (a stimulus program), in one of three formats.

    The socket is a *connected* UDP socket in an asyncio datagram endpoint
    (``loop.create_datagram_endpoint``), so the kernel reports an absent
    receiver (ICMP port unreachable) as ``ConnectionRefusedError``; the sink
    logs that once (event ``udp_receiver_absent`` with ``host`` and ``port``),
    counts every occurrence in :attr:`trouble_counts`, and goes on sending.
    Linux drops the datagram whose ``send`` reports an earlier datagram's
    refusal; the sink sends such a datagram once more, so that once the
    receiver is back it gets every datagram from then on.

    Parameters
    ----------
    host : str
        The receiver's host name or address.  Resolved at :meth:`open`; the
        first IPv4 address is preferred when the name has several.
    port : int
        The receiver's UDP port, 1-65535.
    fmt : {"json", "float32", "opennft"}
        The wire format (documented in full, with the sources matched, in
        :mod:`nfd.outputs._wire`):

        * ``json``: one orjson object per volume with ``index``,
          ``condition``, ``feedback``, ``time`` (s since the epoch) and
          ``latency_ms``;
        * ``float32``: pyOpenNFT's, one big-endian float32 per volume;
        * ``opennft``: OpenNFT's (pyniexp ``Udp``): ``#`` on open; per
          volume ``[timestamp, condition]`` (when ``send_condition``) then
          ``[timestamp, value]``, each its own datagram, timestamp and value
          little-endian float32, condition UTF-8 (``BAS`` in baseline);
          ``#`` on close.
    send_condition : bool
        ``opennft`` only: also send the condition name (OpenNFT's
        ``UDP_SEND_CONDITION``).  Ignored by the other formats.
    name : str, optional
        Label for logs; default ``"udp-<fmt>:<host>:<port>"``.
    max_buffer_bytes : int
        If the socket cannot take datagrams and this many bytes are already
        queued in the transport, further datagrams are dropped (event
        ``udp_send_buffer_full``) rather than queued without bound.

    Attributes
    ----------
    config_key : str
        ``"feedback.udp.host"``: the configuration key that an error from
        :meth:`open` (a host that cannot be resolved or reached) is about.

    Raises
    ------
    SinkConfigError
        For a bad ``host``, ``port``, ``fmt`` or ``send_condition``.

    Notes
    -----
    Trouble kinds (log event names, keys of :attr:`trouble_counts`):
    ``udp_receiver_absent``, ``udp_send_failed`` (any other socket error),
    ``udp_send_buffer_full``, ``udp_sink_not_open`` (``send`` before
    :meth:`open` or after :meth:`close`), ``udp_close_timeout`` (the socket
    did not flush within 1 s of :meth:`close`; it is then aborted).  Each is
    logged the first time it happens in the sink's life, with ``sink``,
    ``host`` and ``port``.  ``opennft_condition_ambiguous`` is
    warned once, not counted, when a condition name's UTF-8 length is a
    multiple of 4 (pyniexp's receiver would read it as floats).

    Use it from the event loop's thread only (it is not thread-safe).

    Examples
    --------
    >>> import asyncio, socket
    >>> from nfd.outputs import FeedbackMessage, UdpSink
    >>> rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> rx.bind(("127.0.0.1", 0))
    >>> async def run() -> None:
    ...     async with UdpSink("127.0.0.1", rx.getsockname()[1], fmt="float32") as udp:
    ...         udp.send(FeedbackMessage(index=7, condition="NFBREG", feedback=0.5,
    ...                                  time=1763712000.0, latency_ms=9.0))
    >>> asyncio.run(run())
    >>> rx.recv(64)
    b'?\\x00\\x00\\x00'
    >>> rx.close()
    """

    name: str
    config_key: str = "feedback.udp.host"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1234,
        fmt: WireFormat = "json",
        send_condition: bool = True,
        *,
        name: str | None = None,
        max_buffer_bytes: int = 1 << 16,
    ) -> None:
        self.host = check_str(host, "UDP host (a host name or address)", error=SinkConfigError).strip()
        self.port = ensure_int(port, "UDP port", minimum=1, maximum=65535, error=SinkConfigError)
        self.fmt: WireFormat = check_format(fmt)
        self.send_condition = check_bool(send_condition, "UDP send_condition", error=SinkConfigError)
        self.name = name if name is not None else f"udp-{self.fmt}:{self.host}:{self.port}"
        self._max_buffer = ensure_int(max_buffer_bytes, "UDP max_buffer_bytes", minimum=0, error=SinkConfigError)
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _SinkProtocol | None = None
        self._address: tuple[Any, ...] | None = None
        self._counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._messages_sent: int = 0
        self._datagrams_sent: int = 0
        self._in_send: bool = False
        self._send_error: OSError | None = None

    # -- state -----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._transport is not None and not self._transport.is_closing()

    @property
    def address(self) -> tuple[Any, ...] | None:
        """The resolved socket address sent to (``(ip, port)`` or IPv6's 4-tuple), once open."""
        return self._address

    @property
    def messages_sent(self) -> int:
        """Messages handed to the socket (whether or not anyone received them)."""
        return self._messages_sent

    @property
    def datagrams_sent(self) -> int:
        """Datagrams the kernel accepted (control datagrams included)."""
        return self._datagrams_sent

    @property
    def trouble_counts(self) -> dict[str, int]:
        """How often each kind of transport trouble happened (a copy)."""
        return dict(self._counts)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<UdpSink {self.name} {state} sent={self._messages_sent} troubles={self._counts}>"

    # -- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        """Resolve the host, connect the UDP socket, send the format's opening datagrams.

        Does nothing if already open.

        Raises
        ------
        SinkOpenError
            If the host cannot be resolved (the message names it) or no UDP
            socket can be connected to it.
        """
        if self.is_open:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            raise SinkOpenError(
                f"UDP feedback host {self.host!r} cannot be resolved ({exc}): "
                "expected a host name or an IP address this machine can resolve"
            ) from exc
        if not infos:
            raise SinkOpenError(f"UDP feedback host {self.host!r} resolved to no address")
        family, kind, proto, _, sockaddr = next((i for i in infos if i[0] == socket.AF_INET), infos[0])
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)  # UDP connect: no packet, no wait; lets the kernel report ICMP errors
            lost: asyncio.Future[None] = loop.create_future()
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _SinkProtocol(self, lost), sock=sock
            )
        except OSError as exc:
            sock.close()
            raise SinkOpenError(f"cannot open a UDP socket to {self.host}:{self.port} ({sockaddr[0]}): {exc}") from exc
        self._transport, self._protocol, self._address = transport, protocol, tuple(sockaddr)
        for datagram in opening_datagrams(self.fmt):
            self._emit(datagram)

    def send(self, msg: FeedbackMessage) -> None:
        """Send one message's datagrams; returns at once and never raises for transport trouble.

        Raises
        ------
        TypeError
            If ``msg`` is not a :class:`FeedbackMessage` (a programming error,
            not transport trouble).
        """
        if not isinstance(msg, FeedbackMessage):
            raise TypeError(f"UdpSink.send expects a FeedbackMessage, got {type(msg).__name__}")
        if not self.is_open:
            self._trouble("udp_sink_not_open", index=msg.index)
            return
        if (
            self.fmt == "opennft"
            and self.send_condition
            and "opennft_condition_ambiguous" not in self._logged
            and opennft_condition_is_ambiguous(msg.wire_condition)
        ):
            self._logged.add("opennft_condition_ambiguous")
            log.warning(
                "opennft_condition_ambiguous",
                sink=self.name,
                condition=msg.wire_condition,
                reason="its UTF-8 length is a multiple of 4: OpenNFT/pyniexp receivers read it as float32 values",
            )
        for datagram in encode(msg, self.fmt, self.send_condition):
            self._emit(datagram)
        self._messages_sent += 1

    async def close(self) -> None:
        """Send the format's closing datagrams, flush, and close the socket; idempotent."""
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        if not transport.is_closing():
            for datagram in closing_datagrams(self.fmt):
                self._emit(datagram)
            transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(protocol.lost), _CLOSE_TIMEOUT_S)
        except TimeoutError:
            transport.abort()
            self._trouble("udp_close_timeout", seconds=_CLOSE_TIMEOUT_S)
        self._transport = self._protocol = None

    async def __aenter__(self) -> UdpSink:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- internals -------------------------------------------------------------
    def _emit(self, datagram: bytes) -> None:
        """Hand one datagram to the transport; a send that reports an earlier refusal is retried once."""
        assert self._transport is not None
        for _attempt in range(2):
            buffered = _buffered_bytes(self._transport)
            if buffered > self._max_buffer:
                self._trouble("udp_send_buffer_full", buffered_bytes=buffered)
                return
            self._send_error = None
            self._in_send = True
            try:
                self._transport.sendto(datagram)
            finally:
                self._in_send = False
            error = self._send_error
            if error is None:
                self._datagrams_sent += 1
                return
            if not isinstance(error, ConnectionRefusedError):
                return  # already counted and logged by _error_received; retrying would fail alike

    def _error_received(self, exc: Exception) -> None:
        """The transport reports a socket error: from a send (synchronous) or the reader (ICMP)."""
        if self._in_send and isinstance(exc, OSError):
            self._send_error = exc
        if isinstance(exc, ConnectionRefusedError):
            self._trouble("udp_receiver_absent")
        else:
            self._trouble("udp_send_failed", error=f"{type(exc).__name__}: {exc}")

    def _trouble(self, kind: str, **fields: Any) -> None:
        """Count one occurrence of ``kind``; log it the first time only."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(kind, sink=self.name, host=self.host, port=self.port, **fields)
