"""``GET /ws``: the live WebSocket, one task pair per client, fed by the broadcaster.

Each client gets the ``hello`` snapshot, then every message published
after it, in order (see :mod:`nfd.outputs.web._messages`).  A pump task
moves the client's queue onto the socket; a reader task ignores what the
client sends (and answers pings).  When the client falls a full queue
behind, the broadcaster drops it: its connection is aborted (a close
frame would only queue behind the backlog) and ``ws_client_dropped`` is
logged.  The kernel's send buffer of each client socket is capped
(``send_buffer`` bytes), so a stalled client is detected after a bounded
backlog rather than after megabytes of kernel buffering.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Final

import structlog
from aiohttp import WSMsgType, web

from nfd.outputs.web._api import STATE_KEY
from nfd.outputs.web._auth import WS_PROTOCOL
from nfd.outputs.web._hub import Subscription

__all__ = ["WsOptions", "WS_OPTIONS_KEY", "CLIENTS_KEY", "websocket_handler"]

log = structlog.get_logger(__name__)


class WsOptions:
    """Per-client WebSocket settings (see :class:`~nfd.outputs.web.WebServer`)."""

    def __init__(self, heartbeat: float, send_buffer: int, writer_limit: int) -> None:
        self.heartbeat = heartbeat
        self.send_buffer = send_buffer
        self.writer_limit = writer_limit


WS_OPTIONS_KEY: Final = web.AppKey("nfd_ws_options", WsOptions)
CLIENTS_KEY: Final = web.AppKey[set[web.WebSocketResponse]]("nfd_ws_clients")
#: Largest message accepted from a client (clients have nothing to say).
_MAX_CLIENT_MESSAGE: Final[int] = 4096


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


async def _pump(ws: web.WebSocketResponse, sub: Subscription) -> None:
    while True:
        text = await sub.queue.get()
        await ws.send_str(text)


async def _read(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            return


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """Serve one WebSocket client until it leaves, is dropped, or the server stops."""
    options = request.app[WS_OPTIONS_KEY]
    state = request.app[STATE_KEY]
    ws = web.WebSocketResponse(
        protocols=(WS_PROTOCOL,),
        heartbeat=options.heartbeat,
        compress=False,  # deflate would cost the daemon's loop CPU for every client and message
        max_msg_size=_MAX_CLIENT_MESSAGE,
        writer_limit=options.writer_limit,
    )
    await ws.prepare(request)
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.send_buffer)
    peer = _peer(request)
    sub = state.hub.subscribe(peer)
    sub.queue.put_nowait(state.hello_text())  # first in the queue: nothing can be published in between
    clients: set[web.WebSocketResponse] = request.app[CLIENTS_KEY]
    clients.add(ws)
    log.info("ws_client_connected", client=sub.id, peer=peer, clients=state.hub.clients)
    pump = asyncio.create_task(_pump(ws, sub))
    reader = asyncio.create_task(_read(ws))
    dropped = asyncio.create_task(sub.dropped.wait())
    try:
        await asyncio.wait({pump, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, reader, dropped):
            task.cancel()
        await asyncio.gather(pump, reader, dropped, return_exceptions=True)
        state.hub.unsubscribe(sub)
        clients.discard(ws)
    if sub.dropped.is_set():
        if transport is not None:
            transport.abort()
    elif not ws.closed:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(ws.close(), 1.0)
    log.info("ws_client_left", client=sub.id, peer=peer, dropped=sub.dropped.is_set(), clients=state.hub.clients)
    return ws
