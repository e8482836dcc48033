"""``GET /ws`` on a real server (127.0.0.1, a free port) with real aiohttp and raw-socket clients."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog

from nfd.outputs import VolumeRecord
from nfd.outputs.web import LiveState, RunInfo, WebServer
from tests.helpers.records import synthetic_run
from tests.helpers.web import IdleController


@pytest.fixture
async def served() -> AsyncIterator[tuple[LiveState, WebServer]]:
    state = LiveState()
    async with WebServer(state, IdleController(), "127.0.0.1", 0) as server:
        yield state, server


async def _collect(ws: aiohttp.ClientWebSocketResponse, until: str = "run_end") -> list[dict[str, Any]]:
    """Every message up to and including the first of type ``until``."""
    out = []
    while True:
        msg = await ws.receive_json(timeout=30)  # a guard against a hang, not a measurement
        out.append(msg)
        if msg["type"] == until:
            return out


async def _replay(state: LiveState, info: RunInfo, records: list[VolumeRecord], pause: float = 0.0) -> None:
    """What the daemon does during a run, yielding to the loop between volumes as the pipeline does."""
    state.run_started(info)
    for record in records:
        state.volume(record)
        await asyncio.sleep(pause)
    state.run_ended({"volumes_processed": len(records)})


async def test_a_client_receives_every_volume_of_a_real_run_in_order(
    served: tuple[LiveState, WebServer], opennft_records: tuple[RunInfo, list[VolumeRecord]]
) -> None:
    state, server = served
    info, records = opennft_records
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws", protocols=("nfd.v1",)) as ws:
        assert ws.protocol == "nfd.v1"
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello" and hello["run"] is None and hello["volumes"] == []
        replay = asyncio.create_task(_replay(state, info, records))
        messages = await _collect(ws)
        await replay
    assert messages[0]["type"] == "run_start"
    assert messages[0]["n_volumes"] == 155 and messages[0]["rois"] == ["left", "right"]
    assert messages[0]["blocks"][1] == {"condition": "NFBREG", "first": 15, "last": 24, "baseline": False}
    volumes = [m for m in messages if m["type"] == "volume"]
    assert [v["index"] for v in volumes] == list(range(5, 155))
    for sent, record in zip(volumes, records, strict=True):
        assert sent["feedback"] == record["feedback"]
        assert sent["condition"] == record["condition"]
        assert sent["baseline"] == (record["condition"] == "BAS")
        assert sent["roi"] == record["roi"] and sent["psc"] == record["psc"]
        assert sent["motion"] == record["motion"]
        assert sent["fd"] == record["fd"] and sent["dvars"] == record["dvars"]
        assert sent["latency_ms"] == record["latency_ms"]
    assert messages[-1] == {"type": "run_end", "run_id": "run-opennft-psc", "summary": {"volumes_processed": 150}}


async def test_a_client_joining_mid_run_misses_nothing(served: tuple[LiveState, WebServer]) -> None:
    state, server = served
    info, records = synthetic_run(n_volumes=200)
    state.run_started(info)
    for record in records[:120]:
        state.volume(record)
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws") as ws:
        hello = await ws.receive_json(timeout=10)
        for record in records[120:]:
            state.volume(record)
            await asyncio.sleep(0)
        state.run_ended({})
        later = await _collect(ws)
    indices = [v["index"] for v in hello["volumes"]] + [m["index"] for m in later if m["type"] == "volume"]
    assert indices == list(range(200))
    assert hello["run"]["run_id"] == "run-synthetic"


async def _stalled_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then never reads (small receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: nfd.v1\r\n\r\n".encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def test_a_slow_client_is_dropped_while_a_fast_one_keeps_everything() -> None:
    state = LiveState(queue_size=32)
    info, records = synthetic_run(n_volumes=1000)
    with structlog.testing.capture_logs() as logs:
        async with WebServer(state, IdleController(), "127.0.0.1", 0, send_buffer=4096, writer_limit=4096) as server:
            _, stalled = await _stalled_client(server.port)
            async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws") as fast:
                hello = await fast.receive_json(timeout=10)
                assert hello["status"]["ws_clients"] == 2
                replay = asyncio.create_task(_replay(state, info, records, pause=0.001))
                messages = await _collect(fast)
                await replay
            stalled.close()
    volumes = [m["index"] for m in messages if m["type"] == "volume"]
    assert volumes == list(range(1000))  # the fast client lost nothing
    assert state.hub.dropped == 1  # the stalled one was dropped ...
    dropped = [e for e in logs if e["event"] == "ws_client_dropped"]
    assert len(dropped) == 1 and dropped[0]["queue_size"] == 32 and dropped[0]["log_level"] == "warning"
    left = [e for e in logs if e["event"] == "ws_client_left"]
    assert sorted(e["dropped"] for e in left) == [False, True]


async def test_stopping_the_server_closes_clients_as_going_away() -> None:
    state = LiveState()
    server = WebServer(state, IdleController(), "127.0.0.1", 0)
    await server.start()
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws") as ws:
        await ws.receive_json(timeout=10)
        stopping = asyncio.create_task(server.stop())
        msg = await ws.receive(timeout=10)
        await stopping
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1001
    assert state.hub.clients == 0
    await server.stop()  # idempotent


async def test_eeg_and_warnings_reach_clients(served: tuple[LiveState, WebServer]) -> None:
    state, server = served
    info, records = synthetic_run(n_volumes=10)
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws") as ws:
        await ws.receive_json(timeout=10)
        state.run_started(info)
        state.volume(records[0])
        state.eeg_status("streaming", stream="sim")
        state.eeg_prediction({"time": records[0]["t_complete"] + 0.5, "value": 0.7, "latency_ms": 3.0})
        state.warning("udp_receiver_absent", "nobody listens on 127.0.0.1:1234")
        state.run_ended({})
        messages = await _collect(ws)
    kinds = {m["type"]: m for m in messages}
    assert kinds["eeg_state"]["state"] == "streaming"
    assert kinds["eeg"]["value"] == 0.7 and kinds["eeg"]["at_volume"] == 0.5 and kinds["eeg"]["latency_ms"] == 3.0
    assert kinds["warning"]["message"] == "nobody listens on 127.0.0.1:1234"


async def test_the_client_cannot_send_large_messages(served: tuple[LiveState, WebServer]) -> None:
    state, server = served
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "ws") as ws:
        await ws.receive_json(timeout=10)
        await ws.send_str("x" * 10_000)
        msg = await ws.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1009  # message too big
    for _ in range(500):  # the server's handler finishes after the client saw the close
        if state.hub.clients == 0:
            break
        await asyncio.sleep(0.01)
    assert state.hub.clients == 0
