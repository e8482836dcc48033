"""``nfd run`` with its operator's window and a serial device: real WebSocket, REST and pty.

The daemon runs as a subprocess; the test is its WebSocket client, REST
client and serial device (the master side of a pseudo-terminal pair).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
import orjson

from nfd import __version__
from nfd.outputs import RunFolder
from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks
from nfd.testing import RunningDaemon, running_daemon


def _config(tmp: Path, n: int, tty: str) -> tuple[Path, SyntheticSession]:
    s = make_session(n_volumes=n, tr=2.0, shape=(32, 32, 16), seed=4, block_length=4, activation_pct=3.0)
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
pattern = '^(?P<series>vol2?)_(?P<volume>\\d{{4}})\\.nii$'
[roi]
{rois}
[feedback]
protocol = "protocol.json"
delay = 1
external_sources = ["button"]
[feedback.udp]
enabled = false
[feedback.serial]
enabled = true
port = "{tty}"
baud = 9600
format = "{{index}},{{condition}},{{feedback:.3f}}\\n"
[web]
port = 0
[log]
format = "json"
""")
    return cfg, s


def _read_serial(master: int, until: float) -> bytes:
    os.set_blocking(master, False)
    out = b""
    while time.monotonic() < until:
        try:
            out += os.read(master, 4096)
        except BlockingIOError:
            time.sleep(0.02)
    return out


async def test_websocket_rest_and_serial_during_a_real_run(tmp_path: Path) -> None:
    n, stop_after = 20, 10
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    cfg, s = _config(tmp_path, n, tty)
    try:
        with running_daemon(cfg) as daemon:
            url = str((await daemon.wait_for_async("web_started"))["url"]).rstrip("/")
            await daemon.wait_for_async("run_started")
            await _operate(daemon, url, s, tmp_path, stop_after)
            daemon.terminate()
            assert await asyncio.to_thread(daemon.wait, 30) == 0
            assert daemon.other_lines() == [], daemon.log_text()
        serial = _read_serial(master, time.monotonic() + 0.5).decode()
        lines = serial.strip().splitlines()
        folder, second = sorted((tmp_path / "runs").iterdir())
        records = [r for f in (folder, second) for r in RunFolder.read_volumes(f) if r["status"] == "processed"]
        assert [r["index"] for r in records] == [*range(stop_after), 0]
        assert lines == [f"{r['index']},{r['condition']},{r['feedback']:.3f}" for r in records]
        events = [orjson.loads(x) for x in (folder / "events.jsonl").read_bytes().splitlines()]
        assert [e["name"] for e in events] == ["subject_moved"]
    finally:
        os.close(master)
        os.close(slave)


async def _operate(daemon: RunningDaemon, url: str, s: SyntheticSession, tmp_path: Path, stop_after: int) -> None:
    """What an operator does through the live page's API during the run and between runs."""
    async with aiohttp.ClientSession() as http:
        status = await (await http.get(f"{url}/api/v1/status")).json()
        assert status["version"] == __version__ and status["volumes_processed"] == 0
        async with http.ws_connect(f"{url}/ws") as ws:
            hello = await ws.receive_json(timeout=10)
            assert hello["type"] == "hello"
            volumes: list[dict] = []
            for i in range(stop_after):
                await asyncio.to_thread(
                    write_nifti_volume, tmp_path / "watch" / f"vol_{i + 1:04d}.nii", s.volumes[i], s.affine
                )
                last_written = time.monotonic()
                while len(volumes) <= i:
                    msg = await ws.receive_json(timeout=20)
                    if msg["type"] == "volume":
                        volumes.append(msg)
            assert [v["index"] for v in volumes] == list(range(stop_after))
            # an operator's event, a value of an additional source, an unknown source
            r = await http.post(f"{url}/api/v1/events", json={"name": "subject_moved"})
            assert r.status == 201, await r.text()
            r = await http.post(f"{url}/api/v1/feedback/sources/button", json={"value": 1.0})
            assert r.status in (200, 202), await r.text()
            r = await http.post(f"{url}/api/v1/feedback/sources/nothing", json={"value": 1.0})
            assert r.status == 404 and "button" in await r.text()
            r = await http.post(f"{url}/api/v1/runs/start")
            assert r.status == 409 and "in progress" in await r.text()
            r = await http.post(f"{url}/api/v1/runs/stop")
            assert r.status == 202, await r.text()  # accepted: the run ends after the volume in flight
            while (msg := await ws.receive_json(timeout=20))["type"] != "run_end":
                pass
            assert msg["summary"]["volumes_processed"] == stop_after
            # Between runs: the operator arms the next run, which starts with the next series.
            await daemon.wait_for_async("waiting_for_start_request")
            r = await http.post(f"{url}/api/v1/runs/start")
            assert r.status == 202, await r.text()
            await daemon.wait_for_async("waiting_for_new_series")
            # a scanner starts the next series at least a TR (2 s) after the last volume of the one before
            await asyncio.sleep(max(0.0, last_written + 2.0 - time.monotonic()))
            await asyncio.to_thread(write_nifti_volume, tmp_path / "watch" / "vol2_0001.nii", s.volumes[0], s.affine)
            while (msg := await ws.receive_json(timeout=20))["type"] != "volume":
                pass
            assert msg["index"] == 0  # the first volume of the second run
