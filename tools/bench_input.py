#!/usr/bin/env python3
"""Benchmark of nfd's scanner input: decode time, and latency from a file's last byte to its volume.

For each format of the real test data (Siemens mosaics, Siemens XA enhanced
DICOM, GE single-slice DICOM, NIfTI and NIfTI.gz volumes):

decode
    :func:`nfd.acquire.read_scan_bytes` on the bytes of one volume file
    (for GE, :func:`nfd.acquire.read_slice_bytes` on each slice file plus
    :func:`nfd.acquire.assemble_volume`), repeated; milliseconds.
latency
    a :class:`nfd.acquire.ScanWatcher` watches a temporary folder in this
    process while the same event loop writes the volumes into it one by one,
    each file in two chunks with a pause (the last slice file for GE); the
    time from the return of the ``close()`` after the last byte to the
    :class:`nfd.acquire.Scan` coming out of the watcher, i.e. the volume
    ready for realignment; milliseconds.

Median and 95th percentile of each are printed as a table. Target: a median
latency <= 5 ms for the 74x74x36 mosaic of the opennft run. There is no peer
to compare with: no other real-time fMRI tool measures the delay of its
watch folder on these files, so the figures are nfd's alone.

Usage::

    python tools/bench_input.py [--data ../shared/data] [--volumes 30] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from nfd.acquire import (
    FileNaming,
    ScanWatcher,
    assemble_volume,
    plan_recording,
    read_scan_bytes,
    read_slice_bytes,
)

#: Median latency target for the 74x74x36 mosaic, ms.
TARGET_MS = 5.0


@dataclass
class Case:
    """One format: the files of ``volumes`` volumes, as (name, bytes) per volume."""

    label: str
    volumes: list[list[tuple[str, bytes]]]
    slices: bool = False
    index_from: str = "header"
    naming: FileNaming | None = None


@dataclass
class Result:
    label: str
    shape: tuple[int, ...]
    n_files: int
    file_kb: float
    decode_ms: list[float]
    latency_ms: list[float]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _cases(data: Path, n_volumes: int) -> list[Case]:
    def files(source: Path, naming: FileNaming | None = None, **kwargs: object) -> list[list[tuple[str, bytes]]]:
        volumes = plan_recording(source, naming=naming)[:n_volumes]
        return [v.file_bytes(**kwargs) for v in volumes]  # type: ignore[arg-type]

    siemens = FileNaming()
    cases = [
        Case("Siemens mosaic 74x74x36 (opennft)", files(data / "opennft_psc_run" / "dicom", siemens),
             index_from="name", naming=siemens),
        Case("Siemens mosaic 64x64x27 (rt-cloud)", files(data / "siemens_rt_mosaic", siemens),
             index_from="name", naming=siemens),
        Case("Siemens mosaic 64x64x40 (Prisma cmrr)",
             files(data / "dicom_reader_testset" / "siemens_mosaic_prisma_vd13" / "cmrr_Int_8")),
        Case("Siemens XA enhanced 64x64x33",
             files(data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri")),
        Case("GE single-slice 64x64x15", files(data / "dicom_reader_testset" / "ge_mr750_epi"), slices=True),
    ]
    nifti = files(data / "pyhrf_localizer" / "subj0_bold_session0.nii.gz", name_pattern="vol_{volume:04d}.nii")
    naming = FileNaming(r"vol_(?P<volume>\d{4})\.nii(\.gz)?")
    cases.append(Case("NIfTI-1 .nii 53x63x46", nifti, index_from="name", naming=naming))
    gz = [[(name + ".gz", gzip.compress(content, compresslevel=1)) for name, content in v] for v in nifti]
    cases.append(Case("NIfTI-1 .nii.gz 53x63x46", gz, index_from="name", naming=naming))
    return cases


def _decode_times(case: Case, repeat: int) -> tuple[list[float], tuple[int, ...]]:
    times: list[float] = []
    shape: tuple[int, ...] = ()
    decode: Callable[[list[tuple[str, bytes]]], tuple[int, ...]]
    if case.slices:
        def decode(files: list[tuple[str, bytes]]) -> tuple[int, ...]:
            return assemble_volume([read_slice_bytes(content, name) for name, content in files]).shape
    else:
        def decode(files: list[tuple[str, bytes]]) -> tuple[int, ...]:
            ((name, content),) = files
            return read_scan_bytes(content, name).shape
    volumes = case.volumes[: max(1, min(len(case.volumes), 10))]
    for _ in range(repeat):
        for files in volumes:
            start = time.perf_counter()
            shape = decode(files)
            times.append((time.perf_counter() - start) * 1e3)
    return times, shape


async def _latencies(case: Case, interval: float) -> list[float]:
    """Write the volumes into a watched folder; latency of each from its last byte to its Scan."""
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nfd-bench-") as tmp:
        folder = Path(tmp)
        last_byte: dict[int, float] = {}
        watcher = ScanWatcher(
            folder, index_from=case.index_from, naming=case.naming, reorder_timeout=5.0,  # type: ignore[arg-type]
        )
        async with watcher:

            async def write() -> None:
                for k, files in enumerate(case.volumes):
                    for name, content in files:
                        half = len(content) // 2
                        # Blocking writes on purpose: the two halves land around the pause, as a scanner's.
                        with open(folder / name, "wb") as handle:  # noqa: ASYNC230 - halves between awaits
                            handle.write(content[:half])
                            handle.flush()
                            await asyncio.sleep(0.002)
                            handle.write(content[half:])
                        last_byte[k] = time.time()
                        if case.slices:
                            await asyncio.sleep(interval / len(files) / 2)
                    await asyncio.sleep(interval)

            writer = asyncio.create_task(write())
            taken = 0
            async for scan in watcher:
                arrived = time.time()
                latencies.append((arrived - last_byte[scan.index]) * 1e3)
                taken += 1
                if taken == len(case.volumes):
                    break
            await writer
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data, help="the shared data folder")
    parser.add_argument("--volumes", type=int, default=30, help="volumes written per format (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="decode repetitions per volume (default 5)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between volumes written")
    args = parser.parse_args(argv)
    # As in the daemon (log level info): the watcher's debug lines cost nothing.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not args.data.is_dir():
        print(f"bench_input: no data folder {args.data} (set --data or NFD_SHARED_DATA)", file=sys.stderr)
        return 2

    results = []
    for case in _cases(args.data, args.volumes):
        decode, shape = _decode_times(case, args.repeat)
        bound = 60.0 + 2 * args.interval * len(case.volumes)
        try:
            latency = asyncio.run(asyncio.wait_for(_latencies(case, args.interval), bound))
        except TimeoutError:
            print(f"bench_input: {case.label}: not every volume came out of the watcher within "
                  f"{bound:.0f} s", file=sys.stderr)
            return 1
        sizes = [len(content) for files in case.volumes for _, content in files]
        results.append(Result(case.label, shape, len(sizes), statistics.mean(sizes) / 1024, decode, latency))

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"nfd scanner input benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f}, Python {platform.python_version()}")
    print("No peer exists for this benchmark: no other real-time fMRI tool reports its watch-folder "
          "latency on these files; the figures are nfd's alone.\n")
    header = (f"{'format':40s} {'shape':>12s} {'files':>6s} {'KiB/file':>9s} "
              f"{'decode median':>14s} {'decode p95':>11s} {'latency median':>15s} {'latency p95':>12s}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.label:40s} {'x'.join(map(str, r.shape)):>12s} {r.n_files:6d} {r.file_kb:9.0f} "
              f"{statistics.median(r.decode_ms):11.2f} ms {_percentile(r.decode_ms, 95):8.2f} ms "
              f"{statistics.median(r.latency_ms):12.2f} ms {_percentile(r.latency_ms, 95):9.2f} ms")
    mosaic = results[0]
    median = statistics.median(mosaic.latency_ms)
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(f"\nTarget (median latency <= {TARGET_MS:g} ms, 74x74x36 mosaic): {median:.2f} ms, {verdict}.")
    print("Latency: from the close() after a file's last byte (the last slice file for GE) to its "
          "Scan out of the ScanWatcher; decode: read_scan_bytes (GE: read_slice_bytes per slice + "
          "assemble_volume).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
