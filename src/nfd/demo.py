"""``nfd demo``: the real daemon on a synthetic session it makes itself.

Generates a session with known truth (:func:`nfd.simulate.make_session`: a
brain-like phantom, two ROIs, a block design convolved with SPM's canonical
HRF, thermal noise, drift and small head motion), writes it as a config, ROI
masks and a BIDS ``events.tsv`` into a temporary session folder, then runs
the daemon on a temporary watch folder while the scanner simulator
(:func:`nfd.acquire.simulate_scanner`) puts one NIfTI volume there per
(accelerated) TR, each written in chunks with pauses as a scanner's export
can be. The simulator starts when the daemon says it is ready for volumes,
so no volume waits for the daemon's start. Feedback is received on a real
UDP socket in the ``json`` format; one line is printed per volume and a
summary at the end: volumes processed, latency from each volume's last byte
to the feedback sent (median, p95; nfd's ``latency_ms``), the correlation
between feedback and the true activation, and the error of the motion
estimates against the true motion.

With ``echoes`` > 1 (``nfd demo --echoes 3``) the session is multi-echo
(:func:`nfd.simulate.make_multiecho_session`: S = S0 exp(-TE R2*), BOLD as a
change of R2*, echo times 14, 38, 62 ms for three echoes): the simulator
writes one file per echo and volume (with its BIDS sidecar, echoes in random
order), the daemon combines them (``[multiecho] combine = "t2s"``), and the
summary adds the T2* map's error against the truth in grey matter.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import orjson

from nfd.acquire import simulate_scanner
from nfd.config import load_config
from nfd.daemon import run_daemon, watch_source
from nfd.outputs import VolumeRecord
from nfd.simulate import (
    MultiEchoSession,
    SyntheticSession,
    make_multiecho_session,
    make_session,
    write_multiecho_bids,
    write_roi_masks,
)

#: Echo times (ms) of the multi-echo demo, by number of echoes: a common 3 T protocol's spacing.
DEMO_ECHO_TIMES_MS = {
    2: (14.0, 38.0), 3: (14.0, 38.0, 62.0), 4: (12.0, 30.0, 48.0, 66.0), 5: (12.0, 28.0, 44.0, 60.0, 76.0),
}

_CONFIG = """\
# Written by `nfd demo`: the daemon's configuration for a synthetic session.
[run]
tr = {tr}
n_volumes = {n}
output_dir = "{out}"
prefix = "demo"

[acquire]
watch_dir = "{watch}"
pattern = '{pattern}'
first_number = 1
complete_timeout = 5.0
reorder_timeout = {reorder}

[volume]
reference = "first"
smooth_fwhm = 5.0
{multiecho}

[roi]
{rois}

[feedback]
protocol = "events.tsv"
baseline = "BAS"
delay = 2
combine = "mean"
gain = 1.0
min = -10.0
max = 10.0

[feedback.udp]
host = "127.0.0.1"
port = {port}
format = "json"

[log]
format = "console"
level = "warning"
"""


Session = SyntheticSession | MultiEchoSession


def _write_events(session: Session, path: Path, tr: float) -> None:
    lines = ["onset\tduration\ttrial_type"]
    for condition, first, last in session.design.blocks:
        lines.append(f"{first * tr:.3f}\t{(last - first + 1) * tr:.3f}\t{condition}")
    path.write_text("\n".join(lines) + "\n")


async def _write_volumes(session: Session, root: Path, watch: Path, interval: float,
                         ready: asyncio.Event) -> None:
    """Once the daemon is ready, write the session into the watch folder as a scanner would: one volume per TR,
    each in chunks (multi-echo: one file per echo, with its sidecar)."""
    if isinstance(session, MultiEchoSession):
        paths = await asyncio.to_thread(write_multiecho_bids, session, root, "sub-demo_task-nf")
        bold = paths[0]
    else:
        bold = root / "session_bold.nii"
        await asyncio.to_thread(
            nib.save, nib.Nifti1Image(np.moveaxis(session.volumes, 0, -1), session.affine), bold
        )
    await ready.wait()
    await simulate_scanner(bold, watch, interval, mode="chunks", chunks=3, seed=0)


async def _receive(sock: socket.socket, n: int, messages: list[dict[str, Any]], done: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while len(messages) < n and not done.is_set():
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), timeout=0.5)
        except asyncio.TimeoutError:
            continue
        msg = orjson.loads(data)
        messages.append(msg)
        print(
            f"volume {msg['index']:4d}  {msg['condition']:<4}  feedback {msg['feedback']:+7.3f}"
            f"  latency {msg['latency_ms']:6.1f} ms",
            flush=True,
        )


def _stop_if_failed(writer: asyncio.Task[None]) -> None:
    """The scanner side failed: say why, and end the daemon's run (as SIGTERM does) instead of waiting for volumes."""
    if writer.cancelled() or writer.exception() is None:
        return
    print(f"nfd demo: the simulated scanner failed: {writer.exception()!r}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)


def _session(n_volumes: int, tr: float, seed: int, echoes: int) -> Session:
    if echoes == 1:
        return make_session(n_volumes=n_volumes, tr=tr, seed=seed)
    if echoes not in DEMO_ECHO_TIMES_MS:
        raise ValueError(f"expected 1 to {max(DEMO_ECHO_TIMES_MS)} echoes, got {echoes}")
    return make_multiecho_session(n_volumes, tr=tr, seed=seed, echo_times_ms=DEMO_ECHO_TIMES_MS[echoes])


def _multiecho_table(echoes: int) -> str:
    return "" if echoes == 1 else f'\n[multiecho]\nechoes = {echoes}\ncombine = "t2s"\n'


def _pattern(echoes: int) -> str:
    return "^vol_(?P<volume>\\d{4})\\.nii$" if echoes == 1 else "^vol_(?P<volume>\\d{4})_echo-\\d+_bold\\.nii$"


async def run_demo(*, n_volumes: int = 80, tr: float = 2.0, speed: float = 10.0, out: Path = Path("nfd-demo"),
                   seed: int = 1, echoes: int = 1) -> int:
    """Run the demo; returns the exit code (0 when every volume was processed)."""
    out = out.resolve()  # noqa: ASYNC240  before the loop has anything else to do
    out.mkdir(parents=True, exist_ok=True)
    kind = f"{echoes}-echo " if echoes > 1 else ""
    print(f"nfd demo: generating a synthetic {kind}session of {n_volumes} volumes (TR {tr} s) ...", flush=True)
    session = _session(n_volumes, tr, seed, echoes)
    with tempfile.TemporaryDirectory(prefix="nfd-demo-") as tmp:
        root = Path(tmp)
        watch = root / "watch"
        watch.mkdir()
        masks = write_roi_masks(root / "rois", session)
        _write_events(session, root / "events.tsv", tr)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        interval = tr / speed
        rois = "\n".join(f'{name} = "{path}"' for name, path in masks.items())
        (root / "nfd.toml").write_text(_CONFIG.format(
            tr=tr, n=n_volumes, out=out, watch=watch, rois=rois, port=sock.getsockname()[1],
            multiecho=_multiecho_table(echoes), pattern=_pattern(echoes),
            reorder=min(120.0, max(2.0, 4 * interval)),  # within acquire.reorder_timeout's range
        ))
        cfg = load_config(root / "nfd.toml")
        print(f"nfd demo: writing one volume every {interval:.2f} s, in chunks, into {watch}; feedback over UDP "
              f"to 127.0.0.1:{sock.getsockname()[1]}", flush=True)
        messages: list[dict[str, Any]] = []
        records: list[VolumeRecord] = []
        done = asyncio.Event()
        receiver = asyncio.create_task(_receive(sock, n_volumes, messages, done))
        ready = asyncio.Event()
        writer = asyncio.create_task(_write_volumes(session, root, watch, interval, ready))
        writer.add_done_callback(_stop_if_failed)
        try:
            summary = await run_daemon(cfg, watch_source(cfg), config_text=(root / "nfd.toml").read_text(),
                                       on_volume=records.append, web=False, on_ready=ready.set)
        finally:
            writer.cancel()
            await asyncio.sleep(0.2)  # the last datagram
            done.set()
            await receiver
            sock.close()
    return _report(session, messages, records, summary, n_volumes)


def _report_t2star(session: MultiEchoSession, summary: dict[str, Any]) -> None:
    """The T2* map the run wrote against the generator's, in grey matter."""
    path = Path(str(summary.get("run_folder", ""))) / "t2star.nii.gz"
    if not path.is_file():
        print("  T2* map                   not written", flush=True)
        return
    image: Any = nib.load(path)
    t2s = np.asarray(image.dataobj, dtype=np.float64)
    grey = (session.tissue == 1) & session.brain
    error = np.abs(t2s[grey] - session.t2star_ms[grey])
    print(f"  T2* in grey matter        median {np.median(t2s[grey]):.1f} ms (true "
          f"{np.median(session.t2star_ms[grey]):.1f}), median error {np.median(error):.1f} ms")


def _report(session: Session, messages: list[dict[str, Any]], records: list[VolumeRecord],
            summary: dict[str, Any], n_volumes: int) -> int:
    lat = np.array([m["latency_ms"] for m in messages])
    idx = np.array([m["index"] for m in messages], dtype=int)
    fb = np.array([m["feedback"] for m in messages])
    r = float(np.corrcoef(fb, session.activation[idx])[0, 1]) if len(idx) > 2 else float("nan")
    est = np.array([rec["motion"] for rec in records]) if records else np.zeros((0, 6))
    truth = session.motion[[rec["index"] for rec in records]] if records else np.zeros((0, 6))
    err_mm = float(np.abs(est[:, :3] - truth[:, :3]).max()) if len(est) else float("nan")
    err_deg = float(np.degrees(np.abs(est[:, 3:] - truth[:, 3:]).max())) if len(est) else float("nan")
    print()
    print("nfd demo: summary")
    print(f"  volumes processed         {summary.get('volumes_processed', 0)} of {n_volumes}"
          f" (feedback received for {len(messages)})")
    if lat.size:
        print(f"  latency last byte -> sent median {np.median(lat):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms")
    print(f"  feedback vs true activation  r = {r:.3f}")
    print(f"  motion error vs truth     max {err_mm:.3f} mm, {err_deg:.3f} deg")
    if isinstance(session, MultiEchoSession):
        _report_t2star(session, summary)
    print(f"  run folder                {summary.get('run_folder')}")
    ok = summary.get("volumes_processed", 0) == n_volumes and len(messages) == n_volumes
    if not ok:
        print("nfd demo: some volumes were not processed (see the warnings above)", file=sys.stderr)
    return 0 if ok else 1
