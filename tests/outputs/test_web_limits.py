"""Issue 10, case 8: web clients can never starve the scan path of descriptors (real server, real sockets).

The flood comes from a separate process (its sockets are not this
process's descriptors), against a server in this process under a lowered
``RLIMIT_NOFILE``: 300 clients each send half a request and hold the
socket, 10 more trickle header lines (slowloris).  While they are held the
status route answers and this process opens 50 files; after the read
deadline every flood socket has been closed by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog

from nfd.outputs import RunFolder
from nfd.outputs.web import LiveState, WebConfigError, WebServer
from nfd.outputs.web._limits import BURST_QUIET_S, ConnectionLimits, default_max_clients
from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks
from nfd.testing import running_daemon
from tests.helpers.web import IdleController

#: The client side of the flood, run as ``python -c FLOODER port n_half n_slow wait_s``.  Prints ``held`` once
#: every socket is connected and has sent its part, then (when every socket is closed, or after ``wait_s``) one
#: JSON line: per socket, the seconds from its connection to the server closing it (null: still open).
FLOODER = r"""
import json, resource, select, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (4096 if hard == resource.RLIM_INFINITY else min(hard, 4096), hard))
port, n_half, n_slow, wait_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(n_half + n_slow):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: " if i < n_half
              else b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    s.setblocking(False)
    socks.append([s, t0, None, i >= n_half])
    time.sleep(0.001)  # the server's accept queue is short (its backlog): let it keep up
print("held", flush=True)
end = time.monotonic() + wait_s
tick = 0
while time.monotonic() < end and any(c[2] is None for c in socks):
    tick += 1
    for c in socks:
        if c[2] is None and c[3]:
            try:
                c[0].send(b"X-Trickle-%d: 1\r\n" % tick)  # a header line every 0.1 s, never the blank line
            except OSError:
                c[2] = time.monotonic() - c[1]
    open_ = [c for c in socks if c[2] is None]
    readable, _, _ = select.select([c[0] for c in open_], [], [], 0.1)
    for c in open_:
        if c[0] in readable:
            try:
                data = c[0].recv(4096)
            except OSError:
                data = b""
            if not data:
                c[2] = time.monotonic() - c[1]
print(json.dumps({"half": [c[2] for c in socks if not c[3]], "slow": [c[2] for c in socks if c[3]]}), flush=True)
"""


@contextlib.contextmanager
def _descriptor_limit(soft: int) -> Iterator[None]:
    """This process's soft ``RLIMIT_NOFILE`` lowered to ``soft`` for the block."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd")) - 1  # listdir's own


def _shed(logs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return ([e for e in logs if e["event"] == "web_connections_shed"],
            [e for e in logs if e["event"] == "web_connections_shed_end"])


# -- the defaults and the arguments ------------------------------------------------------------
def test_the_default_cap_is_a_quarter_of_the_descriptor_limit() -> None:
    assert [default_max_clients(n) for n in (4096, 1024, 1000, 256, 100, 7, 3)] == [256, 256, 250, 64, 25, 1, 1]
    assert default_max_clients(resource.RLIM_INFINITY) == 256
    assert [ConnectionLimits(n, 10.0).backlog for n in (1, 64, 128, 256)] == [1, 64, 128, 128]
    with _descriptor_limit(200):
        server = WebServer(LiveState(), IdleController(), "127.0.0.1", 0)
    assert server.limits == ConnectionLimits(max_clients=50, read_timeout=10.0)
    assert WebServer(LiveState(), IdleController(), "127.0.0.1", 0, max_clients=7).limits.max_clients == 7


@pytest.mark.parametrize("kwargs", [{"max_clients": 0}, {"max_clients": 2.5}, {"max_clients": True},
                                    {"read_timeout": 0}, {"read_timeout": -1.0}, {"read_timeout": math.nan},
                                    {"read_timeout": math.inf}, {"read_timeout": "10"}])
def test_bad_limits_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(WebConfigError, match=r"max_clients|read_timeout"):
        WebServer(LiveState(), IdleController(), "127.0.0.1", 0, **kwargs)


# -- the flood -------------------------------------------------------------------------------
async def _peak_descriptors(peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], _open_descriptors())
        await asyncio.sleep(0.005)


async def test_a_flood_of_half_sent_requests_never_starves_the_process(tmp_path: Path) -> None:
    read_timeout, n_half, n_slow = 2.0, 300, 10
    with _descriptor_limit(256), structlog.testing.capture_logs() as logs:
        server = WebServer(LiveState(), IdleController(), "127.0.0.1", 0, read_timeout=read_timeout)
        cap = server.limits.max_clients
        assert cap == 64  # a quarter of 256: with the backlog, at most half the descriptors go to web clients
        await server.start()
        flooder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FLOODER, str(server.port), str(n_half), str(n_slow), str(read_timeout + 8),
            stdout=asyncio.subprocess.PIPE,
        )
        baseline, peak = _open_descriptors(), [0]  # the flooder connects once it has started Python
        sampler = asyncio.create_task(_peak_descriptors(peak))
        try:
            assert flooder.stdout is not None
            assert await asyncio.wait_for(flooder.stdout.readline(), 60) == b"held\n"
            held_at = time.monotonic()
            # While the flood is held: the operator's status call answers, the scan path can open files.
            async with aiohttp.ClientSession() as http, http.get(server.url + "api/v1/status") as r:
                assert r.status == 200 and (await r.json())["run_state"] == "idle"
                files = [open(tmp_path / f"volume-{i:03d}.nii", "wb") for i in range(50)]  # noqa: SIM115
                for f in files:
                    f.close()
            assert server.open_connections <= cap
            assert time.monotonic() - held_at < read_timeout  # all of it happened while the flood was held
            closed = json.loads(await asyncio.wait_for(flooder.stdout.readline(), 60))
            await flooder.wait()
        finally:
            sampler.cancel()
            if flooder.returncode is None:
                flooder.kill()
                await flooder.wait()
            await server.stop()
    # Web clients (and accepts in flight) held at most cap + backlog descriptors; + 1: this test's own client.
    assert peak[0] <= baseline + cap + ConnectionLimits(cap, read_timeout).backlog + 1
    # Every flood socket was closed by the server: the oldest evicted as newer ones came, the rest at the deadline.
    # Times are from the client's connect, which can precede the server's accept by seconds on a loaded machine
    # (a full accept queue drops the handshake's last ACK and the server retries its SYN-ACK 1 s, 2 s later).
    assert None not in closed["half"] and None not in closed["slow"]
    assert max(closed["half"]) < read_timeout + 5.0
    # The slowloris sockets kept sending header lines for up to read_timeout + 8 s, yet were closed at the deadline:
    # it runs from connecting, not from the last byte.
    assert all(read_timeout - 0.2 < t < read_timeout + 5.0 for t in closed["slow"]), closed["slow"]
    shed, ended = _shed(logs)
    assert len(shed) == 1 and shed[0]["log_level"] == "warning" and shed[0]["max_clients"] == cap
    assert len(ended) == 1
    assert ended[0]["evicted"] + ended[0]["header_timeout"] == n_half + n_slow
    assert ended[0]["evicted"] >= n_half + n_slow - cap and ended[0]["header_timeout"] >= n_slow
    assert ended[0]["refused"] == 0 and ended[0]["body_timeout"] == 0


# -- the read deadline --------------------------------------------------------------------------
async def test_a_trickled_body_is_cut_at_the_deadline_and_never_reaches_the_controller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    class Recording(IdleController):
        async def mark_event(self, name: str, t: float) -> None:
            calls.append(name)

    with structlog.testing.capture_logs() as logs:
        async with WebServer(LiveState(), Recording(), "127.0.0.1", 0, read_timeout=0.5) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            body = b'{"name": "cue"}'
            writer.write(b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
            t0 = time.monotonic()
            data = await asyncio.wait_for(reader.read(), 10)
            waited = time.monotonic() - t0
            writer.close()
            # A complete request on the same server is handled as ever.
            async with aiohttp.ClientSession() as http, http.post(server.url + "api/v1/events", json={"name": "go"}) as r:
                assert r.status == 201
    assert data == b"" and 0.4 < waited < 3.0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # no aiohttp error line
    assert calls == ["go"]
    shed, ended = _shed(logs)
    assert len(shed) == 1 and shed[0]["reason"] == "body_timeout"
    assert [(e["body_timeout"], e["header_timeout"], e["evicted"], e["refused"]) for e in ended] == [(1, 0, 0, 0)]


async def test_an_idle_keep_alive_is_closed_silently_and_a_websocket_is_not_timed() -> None:
    state = LiveState()
    with structlog.testing.capture_logs() as logs:
        async with WebServer(state, IdleController(), "127.0.0.1", 0, read_timeout=0.5) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
            await reader.readexactly(length)
            async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "ws") as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "hello"
                t0 = time.monotonic()
                assert await asyncio.wait_for(reader.read(), 10) == b""  # the keep-alive, closed by the server
                assert 0.4 < time.monotonic() - t0 < 3.0
                writer.close()
                await asyncio.sleep(1.0)  # twice the deadline
                state.warning("udp_receiver_absent", "nobody listens")
                assert (await ws.receive_json(timeout=10))["type"] == "warning"
                assert server.open_connections == 1
    assert _shed(logs) == ([], [])


# -- the cap --------------------------------------------------------------------------------
async def test_at_the_cap_with_every_connection_serving_newcomers_get_503_and_one_log_line() -> None:
    state = LiveState()
    with structlog.testing.capture_logs() as logs:
        server = WebServer(state, IdleController(), "127.0.0.1", 0, max_clients=3)
        await server.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                http = await stack.enter_async_context(aiohttp.ClientSession())
                sockets = [await stack.enter_async_context(http.ws_connect(server.url + "ws")) for _ in range(3)]
                for ws in sockets:
                    assert (await ws.receive_json(timeout=10))["type"] == "hello"
                answers = []
                for _ in range(20):
                    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                    answers.append(await asyncio.wait_for(reader.read(), 10))  # closed at once, unasked
                    writer.close()
                assert server.open_connections == 3
                state.warning("udp_receiver_absent", "nobody listens")
                for ws in sockets:  # the clients held are untouched
                    assert (await ws.receive_json(timeout=10))["type"] == "warning"
        finally:
            await server.stop()
    assert all(a.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"Retry-After: 1" in a for a in answers)
    shed, ended = _shed(logs)
    assert len(shed) == 1 and shed[0]["reason"] == "refused" and shed[0]["max_clients"] == 3
    assert [(e["refused"], e["evicted"]) for e in ended] == [(20, 0)]  # logged when the server stopped


async def test_a_burst_ends_after_a_quiet_spell_and_the_next_one_is_logged_again() -> None:
    with structlog.testing.capture_logs() as logs:
        async with WebServer(LiveState(), IdleController(), "127.0.0.1", 0, max_clients=1, read_timeout=60) as server:
            writers = []  # held, so that only the server closes them
            for burst in range(2):
                for _ in range(3):  # each evicts the one before, which sent half a request line
                    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                    writer.write(b"GET / HT")
                    await writer.drain()
                    writers.append(writer)
                    await asyncio.sleep(0.05)
                if burst == 0:
                    await asyncio.sleep(BURST_QUIET_S + 1.0)
                    shed, ended = _shed(logs)
                    assert len(shed) == 1 and [e["evicted"] for e in ended] == [2]
            for writer in writers:
                writer.close()
    shed, ended = _shed(logs)
    assert len(shed) == 2 and [e["evicted"] for e in ended] == [2, 3]  # the second: also the one held at the end


# -- the real daemon -------------------------------------------------------------------------
def _daemon_config(tmp: Path, n: int) -> tuple[Path, SyntheticSession]:
    s = make_session(n_volumes=n, tr=2.0, shape=(32, 32, 16), seed=8, block_length=4, activation_pct=3.0)
    masks = write_roi_masks(tmp / "rois", s)
    (tmp / "watch").mkdir()
    (tmp / "protocol.json").write_text(orjson.dumps({"ConditionIndex": [{
        "ConditionName": "UP", "OnOffsets": [[a + 1, b + 1] for c, a, b in s.design.blocks if c == "UP"]}]}).decode())
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    cfg = tmp / "nfd.toml"
    cfg.write_text(f"""
[run]
tr = 2.0
n_volumes = {n}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
[roi]
{rois}
[feedback]
protocol = "protocol.json"
[feedback.udp]
enabled = false
[web]
port = 0
[log]
format = "json"
""")
    return cfg, s


async def test_nfd_run_processes_every_volume_while_web_clients_flood_it(tmp_path: Path) -> None:
    n, n_half, n_slow = 8, 300, 10
    cfg, s = _daemon_config(tmp_path, n)
    with _descriptor_limit(256), running_daemon(cfg) as daemon:  # the daemon inherits the limit
        limits = Path(f"/proc/{daemon.process.pid}/limits").read_text()
        assert re.search(r"^Max open files\s+256\s", limits, flags=re.MULTILINE), limits
        url = str((await daemon.wait_for_async("web_started"))["url"]).rstrip("/")
        port = url.rsplit(":", 1)[1]
        await daemon.wait_for_async("run_started")
        flooder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FLOODER, port, str(n_half), str(n_slow), "60", stdout=asyncio.subprocess.PIPE)
        try:
            assert flooder.stdout is not None
            assert await asyncio.wait_for(flooder.stdout.readline(), 60) == b"held\n"
            held_at = time.monotonic()
            async with aiohttp.ClientSession() as http:
                for i in range(n):  # the scanner writes while the flood is held (the deadline is 10 s)
                    await asyncio.to_thread(
                        write_nifti_volume, tmp_path / "watch" / f"vol_{i + 1:04d}.nii", s.volumes[i], s.affine)
                    await daemon.wait_for_async("volume_processed", count=i + 1, timeout=20)
                    async with http.get(f"{url}/api/v1/status") as r:
                        assert r.status == 200 and (await r.json())["volumes_processed"] == i + 1
            assert time.monotonic() - held_at < 10.0, "the flood was cut before the volumes were written"
        finally:
            flooder.kill()
            await flooder.wait()
        daemon.terminate()
        assert await asyncio.to_thread(daemon.wait, 30) == 0, daemon.log_text()
    (folder,) = sorted((tmp_path / "runs").iterdir())
    assert [(r["index"], r["status"]) for r in RunFolder.read_volumes(folder)] == [(i, "processed") for i in range(n)]
    assert daemon.other_lines() == [], daemon.log_text()
    assert [e for e in daemon.events() if e.get("level") in ("error", "critical")] == []
    shed = daemon.events("web_connections_shed")
    assert len(shed) == 1 and shed[0]["max_clients"] == 64 and shed[0]["reason"] == "evicted"
