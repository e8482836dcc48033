#!/usr/bin/env python3
"""Soak test: a long run through the real ``nfd run`` with EEG over LSL and a live WebSocket client.

Writes ``--volumes`` synthetic volumes (default 1000) into a watch folder at
``--tr`` (default 0.5 s) while a player process streams 64 EEG channels at
5 kHz over Lab Streaming Layer (the daemon predicts from 32 of them) and a
WebSocket client follows the live page. Every 100 volumes it prints:

- the daemon's resident memory (its own and its volume worker's, MiB, from /proc);
- the latency a stimulus program sees: the scan file's last byte (the moment
  the atomic rename that publishes it returns) to the feedback datagram
  received by a UDP socket in this process, p50 / p99 / max in ms;
- nfd's own ``latency_ms`` (file judged complete to datagram sent), p50 / p99;
- the WebSocket messages received and the datagrams received so far.

The verdict at the end says whether memory stayed flat (last block's RSS
within 10 % of the second block's) and whether the p99 latency grew (last
block's p99 within 1.5 x the second block's).

Usage::

    python tools/soak.py                     # 1000 volumes at TR 0.5 s: about 9 minutes
    python tools/soak.py --volumes 200       # a shorter check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

BLOCK = 100
CHANNELS, FS = 64, 5000.0


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        pass
    return 0.0


def _player(source_id: str, duration: float) -> None:
    from nfd.eeg import EegPlayer, Recording

    rng = np.random.default_rng(0)
    block = rng.standard_normal((int(2 * FS), CHANNELS)) * 20.0
    recording = Recording(data=block, fs=FS, channel_names=tuple(f"EEG{i + 1:02d}" for i in range(CHANNELS)),
                          source="soak")
    player = EegPlayer(recording, name="nfd-soak", source_id=source_id, chunk_duration=0.01, loop=True,
                       duration=duration, markers=False, wait_for_consumer=120.0)
    player.start()
    player.join()


def _model(path: Path) -> str:
    from sklearn.linear_model import Ridge

    from nfd.eeg import EegModel, FeatureSpec, PreprocessSpec

    spec = FeatureSpec(channels=tuple(f"EEG{i + 1:02d}" for i in range(32)), fs=250.0, window=12.0)
    rng = np.random.default_rng(1)
    X = rng.normal(1.0, 0.5, (60, spec.n_features))
    model = EegModel.create(
        Ridge(alpha=10.0).fit(X, rng.standard_normal(60)), spec, PreprocessSpec(fs=250.0),
        feature_mean=X.mean(axis=0), feature_std=X.std(axis=0), target={"name": "soak", "mean": 0.0, "std": 1.0},
        source_rate=FS,
    )
    return model.save(path)


def _study(folder: Path, n: int, tr: float, source_id: str, udp_port: int):
    from nfd.simulate import make_session, write_roi_masks

    session = make_session(n_volumes=n, tr=tr, shape=(32, 32, 16), seed=11, block_length=20, activation_pct=2.0)
    masks = write_roi_masks(folder / "rois", session)
    (folder / "watch").mkdir()
    blocks = [[a + 1, b + 1] for c, a, b in session.design.blocks if c == "UP"]
    (folder / "p.json").write_text(json.dumps({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": blocks}]}))
    sha = _model(folder / "eeg.joblib")
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    (folder / "nfd.toml").write_text(f"""
[run]
tr = {tr}
n_volumes = {n}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{5}})\\.nii$'
[roi]
{rois}
[feedback]
protocol = "p.json"
[feedback.udp]
port = {udp_port}
[web]
port = 0
[eeg]
enabled = true
source_id = "{source_id}"
model = "eeg.joblib"
model_sha256 = "{sha}"
[log]
level = "info"
""")
    return session


class Receiver(threading.Thread):
    """Datagrams received on a UDP socket, with their arrival time (s since the epoch)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.arrivals: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.arrivals.setdefault(int(json.loads(data)["index"]), time.time())


class WsClient(threading.Thread):
    """A live-page client: counts the WebSocket messages it receives."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.messages, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        asyncio.run(self._follow())

    async def _follow(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as http, http.ws_connect(self.url + "ws", protocols=("nfd.v1",)) as ws:
            while not self.stop.is_set():
                try:
                    await ws.receive(timeout=0.5)
                    self.messages += 1
                except TimeoutError:
                    continue


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def soak(n: int, tr: float) -> int:
    from nfd.simulate import write_nifti_volume
    from nfd.testing import running_daemon

    folder = Path(tempfile.mkdtemp(prefix="nfd-soak-"))
    source_id = f"nfd-soak-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    receiver.start()
    print(f"soak: {n} volumes at TR {tr} s, EEG {CHANNELS} channels at {FS:g} Hz over LSL, a WebSocket client;"
          f" folder {folder}", flush=True)
    session = _study(folder, n, tr, source_id, receiver.sock.getsockname()[1])
    player = mp.get_context("spawn").Process(target=_player, args=(source_id, n * tr + 120.0), daemon=True)
    player.start()
    written: dict[int, float] = {}
    rows: list[tuple[int, float, float, list[float], list[float]]] = []
    print(f"{'volumes':>8} {'rss MiB':>8} {'worker':>7} {'last byte->datagram p50/p99/max ms':>36} "
          f"{'nfd latency_ms p50/p99':>23} {'ws msgs':>8} {'datagrams':>9}", flush=True)
    with running_daemon(folder / "nfd.toml", log_path=folder / "daemon.log") as daemon:
        url = str(daemon.wait_for("web_started", timeout=120)["url"])
        ws = WsClient(url)
        ws.start()
        daemon.wait_for("run_started", timeout=120)
        t0 = time.monotonic()
        for i in range(n):
            time.sleep(max(0.0, t0 + i * tr - time.monotonic()))
            write_nifti_volume(folder / "watch" / f"vol_{i + 1:05d}.nii", session.volumes[i], session.affine)
            written[i] = time.time()
            if (i + 1) % BLOCK == 0:
                time.sleep(min(1.0, tr))  # the last volume of the block reaches the receiver
                rows.append(_block(daemon, receiver, written, i + 1, ws.messages))
        daemon.wait_for("run_finished", timeout=120)  # with the web API the daemon then waits for the next run
        status = daemon.stop(60)
        ws.stop.set()
    receiver.stop.set()
    player.terminate()
    return _verdict(rows, status, len(receiver.arrivals), n)


def _block(daemon, receiver: Receiver, written: dict[int, float], done: int, ws_messages: int):
    from tests.helpers.processes import spawn_workers_of

    pid = daemon.process.pid
    worker = sum(rss_mib(w) for w in spawn_workers_of(pid))
    own = rss_mib(pid)
    span = range(done - BLOCK, done)
    outside = [(receiver.arrivals[i] - written[i]) * 1e3 for i in span if i in receiver.arrivals]
    inside = [e["latency_ms"] for e in daemon.events("volume_processed") if done - BLOCK <= e["index"] < done]
    print(f"{done:>8} {own:>8.1f} {worker:>7.1f} {_pct(outside, 50):>14.1f} /{_pct(outside, 99):>8.1f} /"
          f"{max(outside, default=float('nan')):>8.1f}    {_pct(inside, 50):>9.1f} / {_pct(inside, 99):>8.1f}"
          f" {ws_messages:>8} {len(receiver.arrivals):>9}", flush=True)
    return done, own, worker, outside, inside


def _verdict(rows, status: int, received: int, n: int) -> int:
    if len(rows) < 3:
        print(f"exit status {status}; {received} of {n} datagrams (too few blocks for a verdict)")
        return status
    first, last = rows[1], rows[-1]  # the second block: after the warm-up
    flat = last[1] <= 1.10 * first[1] and last[2] <= 1.10 * max(first[2], 1.0)
    p99_first, p99_last = _pct(first[3], 99), _pct(last[3], 99)
    steady = p99_last <= 1.5 * p99_first
    print(f"exit status {status}; {received} of {n} datagrams received")
    print(f"memory: {first[1]:.1f} -> {last[1]:.1f} MiB (daemon), {first[2]:.1f} -> {last[2]:.1f} MiB (worker): "
          f"{'flat' if flat else 'GROWING'}")
    print(f"p99 last byte -> datagram: {p99_first:.1f} -> {p99_last:.1f} ms: {'not growing' if steady else 'GROWING'}")
    return 0 if status == 0 and flat and steady and received == n else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=1000)
    parser.add_argument("--tr", type=float, default=0.5)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers
    return soak(args.volumes, args.tr)


if __name__ == "__main__":
    sys.exit(main())
