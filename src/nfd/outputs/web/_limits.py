"""Connection limits: web clients can never take the descriptors the scan path needs.

Every TCP connection costs the daemon a file descriptor, and the scan path
(reading volumes, the worker's shared memory, the run folder) draws on the
same ``RLIMIT_NOFILE``.  :class:`ConnectionGate` bounds what the web server
holds:

* **A cap.**  At most ``max_clients`` connections are held (by default a
  quarter of the soft ``RLIMIT_NOFILE``, at most 256, see
  :func:`default_max_clients`; the listen backlog is no larger, so web
  clients and their pending accepts use at most half the descriptors).
  A connection that arrives at the cap evicts the oldest *idle* connection
  (one that has not sent a complete request: half-sent, trickling, or a
  keep-alive between requests), so a flood of half-sent requests cannot
  lock the operator out; when every held connection is serving a request
  or a WebSocket, the newcomer is answered ``503`` and closed at once.
* **A read deadline.**  A connection must deliver a request's line and
  headers within ``read_timeout`` seconds of connecting (or of its previous
  response), and a request's body within ``read_timeout`` seconds of its
  headers; otherwise it is closed.  A WebSocket, once open, is not
  subject to it (its pings are, see ``heartbeat``).

Shedding is logged once per burst, never per connection:
``web_connections_shed`` (warning) at the first, ``web_connections_shed_end``
(info, with the counts ``refused``, ``evicted``, ``header_timeout``,
``body_timeout``) once none has been shed for 5 s.  An idle keep-alive that
sent nothing and reaches its deadline is closed silently: browsers do that.
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, cast

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["ConnectionGate", "ConnectionLimits", "GatedSite", "default_max_clients"]

log = structlog.get_logger(__name__)

#: The cap's ceiling: an operator's window has a handful of clients.
MAX_CLIENTS_CEILING: Final[int] = 256
#: The listen backlog's ceiling (aiohttp's default).
_BACKLOG_CEILING: Final[int] = 128
#: A burst of shedding ends after this many seconds without any (seconds).
BURST_QUIET_S: Final[float] = 5.0
_REFUSAL_BODY: Final[bytes] = b"the nfd web server is at its connection limit\n"
_REFUSAL: Final[bytes] = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def default_max_clients(soft_limit: int | None = None) -> int:
    """The default connection cap: a quarter of the descriptor limit, from 1 to 256.

    Parameters
    ----------
    soft_limit : int, optional
        The soft ``RLIMIT_NOFILE`` (descriptors); this process's by default.
        ``resource.RLIM_INFINITY`` (or any negative value) counts as unlimited.

    Returns
    -------
    int
        ``min(256, soft_limit // 4)``, at least 1.

    Examples
    --------
    >>> default_max_clients(1024), default_max_clients(4096), default_max_clients(256), default_max_clients(2)
    (256, 256, 64, 1)
    """
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit < 0 or soft_limit == resource.RLIM_INFINITY:
        return MAX_CLIENTS_CEILING
    return max(1, min(MAX_CLIENTS_CEILING, soft_limit // 4))


@dataclass(frozen=True)
class ConnectionLimits:
    """What the web server may hold.

    Attributes
    ----------
    max_clients : int
        Connections held at most (HTTP and WebSocket together).
    read_timeout : float
        Seconds a connection has to deliver a request's line and headers
        (from connecting or from its previous response), and again its body.
    """

    max_clients: int
    read_timeout: float

    @property
    def backlog(self) -> int:
        """The listen backlog: ``max_clients``, at most 128 (connections)."""
        return min(_BACKLOG_CEILING, self.max_clients)


class _Shedding:
    """Counts shed connections and logs once per burst."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self._limits = limits
        self._counts: Counter[str] = Counter()
        self._began = self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def note(self, reason: str) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._counts:
            self._began = now
            log.warning(
                "web_connections_shed", reason=reason, max_clients=self._limits.max_clients,
                read_timeout_s=self._limits.read_timeout,
            )
            self._timer = loop.call_later(BURST_QUIET_S, self._check)
        self._counts[reason] += 1
        self._last = now

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        quiet_until = self._last + BURST_QUIET_S
        if loop.time() < quiet_until:
            self._timer = loop.call_at(quiet_until, self._check)
            return
        self.flush()

    def flush(self) -> None:
        """Log the burst's counts (if any) and end it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts:
            return
        counts = {k: self._counts[k] for k in ("refused", "evicted", "header_timeout", "body_timeout")}
        log.info("web_connections_shed_end", **counts, seconds=round(self._last - self._began, 3))
        self._counts.clear()


class _Connection(asyncio.Protocol):
    """One held connection: aiohttp's request handler behind a thin proxy that the gate can time and evict."""

    def __init__(self, gate: ConnectionGate, handler: asyncio.Protocol) -> None:
        self._gate = gate
        self._handler = handler
        self.transport: asyncio.Transport | None = None
        self.busy = 0  # requests being handled (a WebSocket is one for its whole life)
        self.partial = False  # bytes received since it became idle: a request is under way
        self.deadline: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol, forwarded --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._handler.connection_made(transport)
        self._gate.now_idle(self)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self.partial = True
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.forget(self)
        self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    # -- the gate's side ---------------------------------------------------------------
    def abort(self) -> None:
        """Close now, dropping anything unsent: the descriptor is freed on the loop's next turn."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class _Refused(asyncio.Protocol):
    """A connection beyond the cap: answered 503 and closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        tcp.write(_REFUSAL)  # a fresh socket's send buffer takes it whole
        tcp.abort()


class ConnectionGate:
    """Holds the web server's connections within :class:`ConnectionLimits` (see the module's rules).

    Parameters
    ----------
    limits : ConnectionLimits
        The cap and the read deadline.
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._live: set[_Connection] = set()
        self._idle: OrderedDict[_Connection, None] = OrderedDict()  # oldest first
        self._shedding = _Shedding(limits)

    @property
    def open_connections(self) -> int:
        """Connections held now (HTTP and WebSocket)."""
        return len(self._live)

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The asyncio protocol factory to listen with: ``server``'s handlers, within the limits."""

        def make() -> asyncio.BaseProtocol:
            if len(self._live) >= self.limits.max_clients and not self._evict_oldest_idle():
                self._shedding.note("refused")
                return _Refused()
            conn = _Connection(self, server())
            self._live.add(conn)
            return conn

        return make

    def middleware(self) -> Middleware:
        """The aiohttp middleware (outermost) that marks a connection busy and times the body."""

        @web.middleware
        async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
            transport = request.transport
            conn = transport.get_protocol() if transport is not None else None
            if not isinstance(conn, _Connection):
                return await handler(request)
            self._begin_request(conn)
            watch = None
            if request.body_exists and not request.content.is_eof():
                loop = asyncio.get_running_loop()
                watch = loop.call_later(self.limits.read_timeout, self._body_deadline, conn, request)
            try:
                return await handler(request)
            except ConnectionError:
                if conn.transport is None or not conn.transport.is_closing():
                    raise
                # The connection is gone (cut at the body deadline, or the client left): nobody to answer, and
                # nothing for aiohttp to log as a server error.
                return web.Response(status=408)
            finally:
                if watch is not None:
                    watch.cancel()
                self._end_request(conn)

        return track

    def close(self) -> None:
        """Stop the deadlines and log the burst in progress, if any (the server is stopping)."""
        for conn in self._live:
            if conn.deadline is not None:
                conn.deadline.cancel()
                conn.deadline = None
        self._shedding.flush()

    # -- bookkeeping -------------------------------------------------------------------
    def now_idle(self, conn: _Connection) -> None:
        """``conn`` waits for a request: it joins the eviction order and its deadline starts."""
        if conn not in self._live:  # evicted before it was made
            return
        conn.partial = False
        self._idle[conn] = None
        self._idle.move_to_end(conn)
        if conn.deadline is not None:
            conn.deadline.cancel()
        conn.deadline = asyncio.get_running_loop().call_later(self.limits.read_timeout, self._header_deadline, conn)

    def forget(self, conn: _Connection) -> None:
        """``conn`` is closed."""
        self._live.discard(conn)
        self._idle.pop(conn, None)
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None

    def _begin_request(self, conn: _Connection) -> None:
        conn.busy += 1
        self._idle.pop(conn, None)
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None

    def _end_request(self, conn: _Connection) -> None:
        conn.busy -= 1
        if conn.busy == 0 and conn.transport is not None and not conn.transport.is_closing():
            self.now_idle(conn)

    def _evict_oldest_idle(self) -> bool:
        if not self._idle:
            return False
        victim, _ = self._idle.popitem(last=False)
        self._live.discard(victim)
        self._shedding.note("evicted")
        victim.abort()
        return True

    def _header_deadline(self, conn: _Connection) -> None:
        conn.deadline = None
        if conn.busy or conn not in self._live:
            return
        if conn.partial:
            self._shedding.note("header_timeout")
        self.forget(conn)
        conn.abort()

    def _body_deadline(self, conn: _Connection, request: web.Request) -> None:
        if request.content.is_eof() or conn not in self._live:
            return
        self._shedding.note("body_timeout")
        self.forget(conn)
        conn.abort()


class GatedSite(web.BaseSite):
    """An aiohttp TCP site whose connections pass through a :class:`ConnectionGate`.

    Parameters
    ----------
    runner : aiohttp.web.BaseRunner
        The runner, set up.
    host : str
        Address to bind.
    port : int
        TCP port, 0 for any free one.
    gate : ConnectionGate
        The limits; the listen backlog is ``gate.limits.backlog``.
    """

    __slots__ = ("_gate", "_host", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, gate: ConnectionGate) -> None:
        super().__init__(runner, backlog=gate.limits.backlog)
        self._host, self._port, self._gate = host, port, gate

    @property
    def name(self) -> str:
        """The site's URL, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Bind and listen (``OSError`` if the address cannot be bound)."""
        await super().start()
        server = self._runner.server
        assert server is not None  # BaseSite's constructor checks it
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._gate.protocol_factory(server), self._host, self._port, backlog=self._backlog
        )
