"""The web server: aiohttp in the daemon's own loop, started and stopped as an async context manager."""

from __future__ import annotations

import asyncio
import contextlib
import os
from types import TracebackType
from typing import Final

import structlog
from aiohttp import web

from nfd._checks import ensure_float, ensure_int
from nfd.outputs.web._api import add_api_routes
from nfd.outputs.web._auth import guard_middleware, is_loopback, read_token_file
from nfd.outputs.web._control import Controller
from nfd.outputs.web._errors import WebConfigError
from nfd.outputs.web._limits import ConnectionGate, ConnectionLimits, GatedSite, default_max_clients
from nfd.outputs.web._live import LiveState
from nfd.outputs.web._messages import dumps
from nfd.outputs.web._openapi import openapi_document
from nfd.outputs.web._page import add_page_routes, load_page_files
from nfd.outputs.web._socket import CLIENTS_KEY, WS_OPTIONS_KEY, WsOptions, websocket_handler

__all__ = ["WebServer"]

log = structlog.get_logger(__name__)

_CLOSE_TIMEOUT_S: Final[float] = 2.0


#: What the ``POST`` routes call on the controller (see :class:`~nfd.outputs.web.Controller`).
_CONTROLLER_METHODS: Final = ("start_run", "stop_run", "mark_event", "push_value")


def _web_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as the int ``web.<name>`` in ``[lo, hi]``, or :class:`WebConfigError`."""
    return ensure_int(value, f"web {name}", minimum=lo, maximum=hi, error=WebConfigError)


class WebServer:
    """The operator's window: the live page, ``/ws`` and the REST API, served from the daemon's loop.

    Parameters
    ----------
    state : LiveState
        What the server shows; the daemon updates it.
    controller : Controller
        What the ``POST`` routes ask the daemon to do.
    host : str
        Address to bind: ``127.0.0.1`` (default) serves this machine only.
        Any non-loopback address (e.g. ``0.0.0.0``) requires ``token_file``.
    port : int
        TCP port, 0 for any free one (see :attr:`port` once started).
    token_file : path, optional
        File holding the bearer token (one line, 16+ URL-safe characters).
        Required off loopback; when given on loopback, the token is
        required there too.  Read when the server starts; never logged.
    max_body : int
        Largest request body accepted, in bytes (413 beyond).
    heartbeat : float
        Seconds between WebSocket pings; a client that misses a pong is closed.
    send_buffer : int
        Kernel send buffer of each WebSocket connection, in bytes.
    writer_limit : int
        Bytes aiohttp buffers per WebSocket before a send waits for the socket.
    max_clients : int, optional
        Connections held at most (HTTP and WebSocket together).  Default: a
        quarter of this process's soft ``RLIMIT_NOFILE`` when the server is
        made, at most 256 (:func:`~nfd.outputs.web._limits.default_max_clients`),
        so the scan path always keeps its descriptors.  A connection arriving
        at the cap evicts the oldest one still waiting for its request; if
        every one is serving, the newcomer gets 503 and is closed at once.
    read_timeout : float
        Seconds a connection has to send a request's line and headers (from
        connecting or from its previous response), and again its body;
        it is closed otherwise.  Not applied to an open WebSocket.

    Raises
    ------
    WebConfigError
        For a bad argument, or a non-loopback host without a token file
        (:class:`~nfd.outputs.web.TokenFileError` for an unusable token file, at start).

    Notes
    -----
    The per-client queue length is the :class:`LiveState`'s ``queue_size``.
    Logs ``web_started`` (host, port, url, whether a token is required) and
    ``web_stopped``; ``ws_client_connected``, ``ws_client_left`` and
    ``ws_client_dropped`` per WebSocket client; ``web_connections_shed``
    and ``web_connections_shed_end`` once per burst of refused, evicted or
    timed-out connections (see :mod:`~nfd.outputs.web._limits`).  Access
    logging is off: URLs and headers are never logged.

    Examples
    --------
    >>> import asyncio
    >>> from nfd.outputs.web import LiveState, WebServer
    >>> class Refuse:
    ...     async def start_run(self): ...
    ...     async def stop_run(self): ...
    ...     async def mark_event(self, name, t): ...
    ...     async def push_value(self, source, value, t): ...
    >>> async def serve() -> bool:
    ...     async with WebServer(LiveState(), Refuse(), "127.0.0.1", 0) as server:
    ...         return server.url.startswith("http://127.0.0.1:")
    >>> asyncio.run(serve())
    True
    """

    def __init__(
        self,
        state: LiveState,
        controller: Controller,
        host: str = "127.0.0.1",
        port: int = 8080,
        token_file: str | os.PathLike[str] | None = None,
        *,
        max_body: int = 16 * 1024,
        heartbeat: float = 20.0,
        send_buffer: int = 64 * 1024,
        writer_limit: int = 64 * 1024,
        max_clients: int | None = None,
        read_timeout: float = 10.0,
    ) -> None:
        if not isinstance(state, LiveState):
            raise WebConfigError(f"WebServer needs a LiveState, got {type(state).__name__}")
        missing = [m for m in _CONTROLLER_METHODS if not callable(getattr(controller, m, None))]
        if missing:
            raise WebConfigError(f"the web controller lacks {', '.join(missing)} (see nfd.outputs.web.Controller)")
        if not isinstance(host, str) or not host.strip():
            raise WebConfigError(f"web host must be an address to bind, e.g. 127.0.0.1, got {host!r}")
        self.host: str = host.strip()
        self._port: int = _web_int("port", port, 0, 65535)
        if token_file is not None and not isinstance(token_file, (str, os.PathLike)):
            raise WebConfigError(f"web token_file must be a path, got {token_file!r}")
        if token_file is not None and not os.fspath(token_file):
            token_file = None
        self.loopback = is_loopback(self.host)
        if not self.loopback and token_file is None:
            raise WebConfigError(
                f"web host {self.host!r} is not a loopback address: a bearer token file (web.token_file) is "
                "required to serve other machines"
            )
        self.token_file = os.fspath(token_file) if token_file is not None else None
        self.max_body: int = _web_int("max_body", max_body, 64, 16 * 1024 * 1024)
        self.ws_options: WsOptions = WsOptions(
            ensure_float(heartbeat, "web heartbeat (s)", positive=True, finite=False, error=WebConfigError),
            _web_int("send_buffer", send_buffer, 4096, 64 * 1024 * 1024),
            _web_int("writer_limit", writer_limit, 1024, 64 * 1024 * 1024),
        )
        self.limits: ConnectionLimits = ConnectionLimits(
            _web_int("max_clients", default_max_clients() if max_clients is None else max_clients, 1, 65535),
            ensure_float(read_timeout, "web read_timeout (s)", positive=True, maximum=3600.0, error=WebConfigError),
        )
        self._gate = ConnectionGate(self.limits)
        self.state: LiveState = state
        self.controller: Controller = controller
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None

    # -- state ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port bound (the actual one once started, if 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        """The page's URL, e.g. ``http://127.0.0.1:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/"

    @property
    def open_connections(self) -> int:
        """Connections held now (HTTP and WebSocket), at most ``limits.max_clients``."""
        return self._gate.open_connections

    @property
    def requires_token(self) -> bool:
        """True when requests to ``/api/`` and ``/ws`` need the bearer token."""
        return self.token_file is not None

    # -- lifecycle -------------------------------------------------------------------
    def build_app(self, token: str | None) -> web.Application:
        """The aiohttp application (routes, middleware), without binding anything."""
        app = web.Application(
            middlewares=[self._gate.middleware(), guard_middleware(token, loopback_only=self.loopback)],
            client_max_size=self.max_body,
        )
        add_api_routes(app, self.state, self.controller, self.max_body, dumps(openapi_document()))
        app[WS_OPTIONS_KEY] = self.ws_options
        app[CLIENTS_KEY] = set()
        app.router.add_get("/ws", websocket_handler)
        add_page_routes(app, load_page_files())
        return app

    async def start(self) -> None:
        """Read the token, bind, and serve.

        Raises
        ------
        TokenFileError
            If the token file cannot be used.
        WebConfigError
            If the address cannot be bound (in use, not on this machine).
        """
        if self._runner is not None:
            return
        token = read_token_file(self.token_file) if self.token_file is not None else None
        app = self.build_app(token)
        del token
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=_CLOSE_TIMEOUT_S)
        await runner.setup()
        site = GatedSite(runner, self.host, self._port, self._gate)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = exc.strerror or exc
            raise WebConfigError(f"web server cannot listen on {self.host}:{self._port}: {reason}") from None
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self._port = int(address[1])
                break
        self._runner, self._app = runner, app
        log.info("web_started", host=self.host, port=self._port, url=self.url, token_required=self.requires_token)

    async def stop(self) -> None:
        """Close every WebSocket (code 1001, going away) and stop serving; idempotent."""
        runner, app = self._runner, self._app
        if runner is None or app is None:
            return
        self._runner = self._app = None
        clients = app[CLIENTS_KEY].copy()  # a client that leaves meanwhile leaves the set
        closing = [
            asyncio.wait_for(ws.close(code=1001, message=b"server stopping"), _CLOSE_TIMEOUT_S) for ws in clients
        ]
        for outcome in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, (asyncio.TimeoutError, ConnectionError)):
                log.warning("ws_close_failed", error=f"{type(outcome).__name__}: {outcome}")
        self.state.hub.drop_all("server stopping")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.cleanup(), _CLOSE_TIMEOUT_S * 2)
        self._gate.close()
        log.info("web_stopped", host=self.host, port=self._port)

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "serving" if self._runner is not None else "stopped"
        return f"<WebServer {self.url} {state} token={'required' if self.requires_token else 'off'}>"
