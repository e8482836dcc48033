#!/usr/bin/env python3
"""Feedback latency as the stimulus PC sees it: the scanner's last byte to the datagram received.

For each real series (the shared Siemens mosaic run, the shared GE MR750
single-slice run, and a 35-slice Philips Achieva series built from the
shared Philips files), at each TR asked for:

1. the series is staged as the files a scanner exports, one list of files per
   volume (the GE and Philips series are repeated with new instance numbers
   and temporal positions, so that any number of volumes can be written);
2. ``nfd run`` is started as a subprocess (:func:`nfd.testing.running_daemon`)
   with UDP feedback in the ``json`` format to a receiver that runs in a
   process of its own and notes the arrival time of every datagram;
3. once the daemon says ``run_started``, this process writes the volumes into
   the watch folder at the TR, the way exports write: each file in two chunks
   with a pause between them, every other file under a temporary name and
   then renamed; a volume's slice files are spread over half a TR. The time
   of the last byte of a volume is taken right after the ``close()`` of its
   last file, or after the ``rename()`` when that file was renamed (the
   moment the file has its final name and content);
4. for each volume: received − last byte, in ms, against nfd's own
   ``latency_ms`` carried in the datagram.

Printed: per series and TR, p50 / p95 / max of both figures, the p50 of the
first and the last third of the run (a growing backlog shows as a larger last
third), and how many volumes arrived. There is no peer in this benchmark:
OpenNFT and pyOpenNFT read the same watch folders but cannot be run here
(MATLAB), so the reference is the stimulus PC's own clock, which is what the
subject sees.

Usage::

    python tools/bench_latency.py [--data ../shared/data] [--volumes 30] [--tr 1.0 0.5]
                                  [--series siemens ge philips35]
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from nfd.acquire import plan_recording
from nfd.testing import running_daemon

#: Slices of the Philips volume built from the shared 9-slice files (as in issue 11's run).
PHILIPS_SLICES = 35
#: Fraction of the TR over which a volume's slice files are written.
SLICE_SPREAD = 0.5
#: Pause inside each file, between its two chunks, s.
CHUNK_PAUSE = 0.002


@dataclass
class Series:
    """A staged series: per volume, its files as (name, bytes), in the order the scanner writes them."""

    name: str
    volumes: list[list[tuple[str, bytes]]]
    acquire: str  # the [acquire] lines of the configuration


# -- staging ---------------------------------------------------------------------------------


def _dicom_bytes(ds: pydicom.Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def siemens(data: Path, n: int) -> Series:
    """The opennft run's mosaics (one file per volume), under their own names."""
    files = sorted((data / "opennft_psc_run" / "dicom").glob("*.dcm"))[:n]
    return Series("siemens mosaic 74x74x36", [[(f.name, f.read_bytes())] for f in files], "")


def ge(data: Path, n: int) -> Series:
    """The GE MR750 run (15 slices x 10 volumes), cycled to ``n`` volumes with new instance numbers."""
    files = sorted((data / "dicom_reader_testset" / "ge_mr750_epi").glob("*.dcm"))
    slices = 15
    recorded = [pydicom.dcmread(f) for f in files]
    volumes = []
    for v in range(n):
        files_v = []
        for s in range(slices):
            ds = copy.deepcopy(recorded[(v % 10) * slices + s])
            ds.InstanceNumber = v * slices + s + 1
            ds.NumberOfTemporalPositions = n
            files_v.append((f"ge-{v * slices + s + 1:05d}.dcm", _dicom_bytes(ds)))
        volumes.append(files_v)
    return Series(f"GE single-slice 64x64x{slices}", volumes, 'index_from = "header"\nslices_per_volume = 15')


def philips35(data: Path, n: int) -> Series:
    """A 35-slice Philips Achieva series from the shared 9-slice files: each slice a copy of a recorded
    one with its instance number, temporal position, position and location set as the scanner would."""
    files = sorted((data / "dicom_reader_testset" / "philips_achieva_fmri").glob("*.dcm"))
    recorded = [pydicom.dcmread(f) for f in files]
    first = [ds for ds in recorded if int(ds.TemporalPositionIdentifier) == 1]
    first.sort(key=lambda ds: int(ds.InstanceNumber))
    p0 = np.array(first[0].ImagePositionPatient, float)
    step = np.array(first[1].ImagePositionPatient, float) - p0
    loc0, loc_step = float(first[0].SliceLocation), float(first[1].SliceLocation) - float(first[0].SliceLocation)
    volumes = []
    for v in range(n):
        files_v = []
        for s in range(PHILIPS_SLICES):
            ds = copy.deepcopy(first[s % len(first)])
            ds.InstanceNumber = v * PHILIPS_SLICES + s + 1
            ds.TemporalPositionIdentifier = v + 1
            ds.NumberOfTemporalPositions = n
            ds.ImagePositionPatient = [f"{x:.6f}" for x in p0 + s * step]
            ds.SliceLocation = f"{loc0 + s * loc_step:.6f}"
            ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x18, "SL", PHILIPS_SLICES)
            files_v.append((f"IM_{v * PHILIPS_SLICES + s + 1:06d}.dcm", _dicom_bytes(ds)))
        volumes.append(files_v)
    return Series(f"Philips single-slice 64x64x{PHILIPS_SLICES}", volumes,
                  f'index_from = "header"\nslices_per_volume = {PHILIPS_SLICES}')


#: Echo times of the multi-echo series built from the opennft run, ms; the decay's T2*, ms.
ECHO_TIMES_MS = (14.5, 35.3, 56.1)
T2STAR_MS = 40.0


def siemens_multiecho(data: Path, n: int) -> Series:
    """The opennft run's mosaics as a 3-echo series: per volume one file per echo (EchoNumbers, EchoTime set,
    the pixels scaled by exp(-(TE - TE1) / T2*)), named ``001_000007_<echo><volume:05d>.dcm``, echoes in a
    shuffled order within the volume's slot; volumes numbered from the header."""
    files = sorted((data / "opennft_psc_run" / "dicom").glob("*.dcm"))[:n]
    rng = np.random.default_rng(0)
    volumes = []
    for v, f in enumerate(files):
        recorded = pydicom.dcmread(f)
        pixels = recorded.pixel_array.astype(np.float64)
        echoes = []
        for e, te in enumerate(ECHO_TIMES_MS, start=1):
            ds = copy.deepcopy(recorded)
            ds.EchoNumbers = e
            ds.EchoTime = f"{te:.2f}"
            scaled = np.round(pixels * np.exp(-(te - ECHO_TIMES_MS[0]) / T2STAR_MS))
            ds.PixelData = scaled.astype(recorded.pixel_array.dtype).tobytes()
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            echoes.append((f"001_000007_{e}{v + 1:05d}.dcm", _dicom_bytes(ds)))
        volumes.append([echoes[i] for i in rng.permutation(len(echoes))])
    return Series(f"Siemens mosaic 74x74x36 x {len(ECHO_TIMES_MS)} echoes", volumes,
                  'index_from = "header"\n[multiecho]\nechoes = 3')


SERIES: dict[str, Callable[[Path, int], Series]] = {
    "siemens": siemens, "ge": ge, "philips35": philips35, "siemens_me": siemens_multiecho,
}


# -- the stimulus PC ---------------------------------------------------------------------------


def _receive(port: Queue[int], out: Queue[list[tuple[float, bytes]]], stop: Event) -> None:
    """Another process: bind, say the port, note (arrival time, datagram) until ``stop``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    port.put(sock.getsockname()[1])
    got = []
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        got.append((time.time(), data))
    out.put(got)


# -- the scanner -------------------------------------------------------------------------------


def _write(path: Path, data: bytes, rename: bool) -> float:
    """Write one file as an export does; the time its last byte is in place under its final name."""
    target = path.with_name(f".{path.name}.part") if rename else path
    half = len(data) // 2
    with open(target, "wb") as f:
        f.write(data[:half])
        f.flush()
        time.sleep(CHUNK_PAUSE)
        f.write(data[half:])
    if rename:
        os.rename(target, path)
    return time.time()


def _scan(series: Series, watch: Path, tr: float) -> list[float]:
    """Write every volume at its TR; the time of each volume's last byte."""
    written = []
    start = time.monotonic() + 0.2
    k = 0
    for v, files in enumerate(series.volumes):
        gap = tr * SLICE_SPREAD / max(len(files) - 1, 1)
        for s, (name, data) in enumerate(files):
            due = start + v * tr + s * gap
            time.sleep(max(0.0, due - time.monotonic()))
            last = _write(watch / name, data, rename=k % 2 == 1)
            k += 1
        written.append(last)
    return written


# -- one measurement ---------------------------------------------------------------------------


def _config(root: Path, series: Series, tr: float, port: int) -> Path:
    staged = root / "staged"
    staged.mkdir()
    for name, data in series.volumes[0]:
        (staged / name).write_bytes(data)
    grid = next(iter(plan_recording(staged))).read()
    mask = np.zeros(grid.shape, np.uint8)
    cx, cy, cz = (d // 2 for d in grid.shape)
    mask[cx - 4 : cx + 4, cy - 4 : cy + 4, max(cz - 2, 0) : cz + 2] = 1
    nib.save(nib.Nifti1Image(mask, grid.affine), root / "roi.nii")
    n = len(series.volumes)
    (root / "protocol.json").write_text(json.dumps({"ConditionIndex": [{
        "ConditionName": "UP", "OnOffsets": [[a, min(a + 4, n)] for a in range(6, n, 10)]}]}))
    config = root / "nfd.toml"
    config.write_text(f"""
[run]
tr = {tr}
n_volumes = {n}
output_dir = "runs"
[acquire]
watch_dir = "watch"
{series.acquire}
[volume]
reference = "first"
[roi]
centre = "roi.nii"
[feedback]
protocol = "protocol.json"
[feedback.udp]
port = {port}
format = "json"
[web]
enabled = false
[log]
format = "json"
level = "info"
""")
    (root / "watch").mkdir()
    return config


def measure(series: Series, tr: float) -> dict[str, object]:
    ctx = mp.get_context("spawn")
    port_q, out_q, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    receiver = ctx.Process(target=_receive, args=(port_q, out_q, stop), daemon=True)
    receiver.start()
    port = port_q.get(timeout=30)
    with tempfile.TemporaryDirectory(prefix="nfd-bench-latency-") as tmp:
        root = Path(tmp)
        config = _config(root, series, tr, port)
        with running_daemon(config) as daemon:
            daemon.wait_for("run_started", timeout=120)
            written = _scan(series, root / "watch", tr)
            code = daemon.wait(120 + 2 * tr * len(series.volumes))
            unsent = sorted((e["event"], e.get("index")) for e in daemon.events()
                            if e["event"] in ("volume_stale", "volume_missing", "volume_late", "volume_rejected"))
        stages = _stage_medians(root / "runs")
        time.sleep(0.3)
        stop.set()
        got = out_q.get(timeout=30)
        receiver.join(10)
        if code != 0:
            raise SystemExit(f"nfd run exited {code}:\n{daemon.log_text()[-4000:]}")
    seen: dict[int, tuple[float, float]] = {}
    for t, data in got:
        msg = json.loads(data)
        index = int(msg["index"])
        if index not in seen and msg.get("latency_ms") is not None:
            seen[index] = ((t - written[index]) * 1e3, float(msg["latency_ms"]))
    outside = [seen[i][0] for i in sorted(seen)]
    own = [seen[i][1] for i in sorted(seen)]
    return {"outside": outside, "own": own, "received": len(seen), "volumes": len(series.volumes), "unsent": unsent,
            "stages": stages}


def _stage_medians(runs: Path) -> dict[str, float]:
    """Median per stage of ``durations_ms`` over the run's processed volumes (ms)."""
    per_stage: dict[str, list[float]] = {}
    for folder in runs.iterdir():
        for line in (folder / "volumes.jsonl").read_text().splitlines():
            for stage, ms in json.loads(line).get("durations_ms", {}).items():
                per_stage.setdefault(stage, []).append(float(ms))
    return {stage: statistics.median(values) for stage, values in per_stage.items()}


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--volumes", type=int, default=30)
    parser.add_argument("--tr", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--series", nargs="+", choices=sorted(SERIES),
                        default=["siemens", "ge", "philips35", "siemens_me"])
    args = parser.parse_args()
    print(f"{'series':<32} {'TR s':>5} {'recv':>7}  {'last byte -> received, ms':>30}  "
          f"{'nfd latency_ms':>22}  {'p50 first/last third':>21}")
    print(f"{'':<32} {'':>5} {'':>7}  {'p50':>9} {'p95':>9} {'max':>9}  {'p50':>10} {'p95':>10}")
    for key in args.series:
        series = SERIES[key](args.data, args.volumes)
        for tr in args.tr:
            r = measure(series, tr)
            out, own = r["outside"], r["own"]
            assert isinstance(out, list) and isinstance(own, list)
            third = max(len(out) // 3, 1)
            trend = f"{statistics.median(out[:third]):.0f} / {statistics.median(out[-third:]):.0f}" if out else "-"
            print(f"{series.name:<32} {tr:>5.2f} {r['received']:>3}/{r['volumes']:<3}  {_p(out, 50):>9.1f} "
                  f"{_p(out, 95):>9.1f} {max(out, default=float('nan')):>9.1f}  {_p(own, 50):>10.1f} "
                  f"{_p(own, 95):>10.1f}  {trend:>21}", flush=True)
            stages = r["stages"]
            assert isinstance(stages, dict)
            print(f"{'':<32} median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()), flush=True)
            if r["unsent"]:
                print(f"{'':<32} not sent: {r['unsent']}", flush=True)


if __name__ == "__main__":
    main()
