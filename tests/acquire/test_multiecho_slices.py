"""Multi-echo single-slice DICOM series (GE, Philips classic) in the watch folder: one file per slice and echo.

The series are derived from the real single-slice series of the shared test
set (GE MR750 EPI, Philips Achieva fMRI) with pydicom: echo ``e`` is each
original slice with EchoNumbers ``e`` (or 1 for every echo, as some GE
exports write), EchoTime ``TE_e``, the stored pixels scaled by
``exp(-TE_e / 40 ms)``, InstanceNumber renumbered as the scanner numbers
(GE: consecutively, slice by slice, echo after echo, volume after volume;
Philips: slice-major across the series, as the originals) and new
SOPInstanceUIDs. The real ScanWatcher, no mocks.
"""

from __future__ import annotations

import asyncio
import copy
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from nfd.acquire import (
    RecordingSource,
    ScanWatcher,
    assemble_volume,
    plan_recording,
    read_slice,
    read_slice_bytes,
    simulate_scanner,
)
from nfd.acquire._series_reader import SeriesReader, same_slice
from nfd.acquire._slices import SliceOptions
from tests.helpers.watching import events, nothing_within, take, until, warnings_of, write_in_chunks, write_via_rename

TES = (14.5, 38.5, 62.5)
T2S_MS = 40.0


@dataclass(frozen=True)
class Series:
    """A derived multi-echo series: per (volume, echo), its files ``(name, bytes)`` in scanner order."""

    vendor: str
    files: dict[tuple[int, int], list[tuple[str, bytes]]]
    originals: dict[int, list[Path]]  # per volume, its original slice files
    n_volumes: int

    def volume(self, volume: int) -> list[tuple[str, bytes]]:
        return [item for echo in range(1, len(TES) + 1) for item in self.files[(volume, echo)]]


def _factor(echo: int) -> float:
    return math.exp(-TES[echo - 1] / T2S_MS)


def _echo_file(ds: pydicom.Dataset, echo: int, instance: int, numbered: bool) -> bytes:
    """The original slice as echo ``echo``: EchoNumbers, EchoTime, pixels scaled, new instance number and UIDs."""
    new = copy.deepcopy(ds)
    new.EchoNumbers = echo if numbered else 1
    new.EchoTime = TES[echo - 1]
    pixels = ds.pixel_array
    new.PixelData = np.round(pixels * _factor(echo)).astype(pixels.dtype).tobytes()
    new.InstanceNumber = instance
    uid = generate_uid()
    new.SOPInstanceUID = uid
    new.file_meta.MediaStorageSOPInstanceUID = uid
    out = io.BytesIO()
    new.save_as(out)
    return out.getvalue()


def derive_ge(shared_data: Path, n_volumes: int, *, numbered: bool = True) -> Series:
    folder = shared_data / "dicom_reader_testset" / "ge_mr750_epi"
    originals = sorted(folder.glob("*.dcm"))
    n = 15
    files: dict[tuple[int, int], list[tuple[str, bytes]]] = {}
    for volume in range(n_volumes):
        for k, path in enumerate(originals[n * volume : n * (volume + 1)]):
            ds = pydicom.dcmread(path)
            assert int(ds.InstanceNumber) == n * volume + k + 1  # consecutive, slice by slice, volume by volume
            for echo in range(1, len(TES) + 1):
                instance = volume * n * len(TES) + (echo - 1) * n + k + 1
                files.setdefault((volume, echo), []).append(
                    (f"ge_me-{instance:05d}.dcm", _echo_file(ds, echo, instance, numbered))
                )
    by_volume = {v: originals[n * v : n * (v + 1)] for v in range(n_volumes)}
    return Series("ge", files, by_volume, n_volumes)


def derive_philips(shared_data: Path) -> Series:
    folder = shared_data / "dicom_reader_testset" / "philips_achieva_fmri"
    originals = sorted(folder.glob("*.dcm"))
    n_volumes = 3
    files: dict[tuple[int, int], list[tuple[str, bytes]]] = {}
    by_volume: dict[int, list[Path]] = {}
    for path in originals:
        ds = pydicom.dcmread(path)
        volume = int(ds.TemporalPositionIdentifier)
        slice_ = (int(ds.InstanceNumber) - volume) // n_volumes + 1  # instance = (slice - 1) * 3 + volume
        by_volume.setdefault(volume - 1, []).append(path)
        for echo in range(1, len(TES) + 1):
            instance = ((slice_ - 1) * len(TES) + echo - 1) * n_volumes + volume
            files.setdefault((volume - 1, echo), []).append(
                (f"301_EPI_ME_{volume:04d}_{instance:03d}.dcm", _echo_file(ds, echo, instance, True))
            )
    return Series("philips", files, by_volume, n_volumes)


@pytest.fixture(scope="module")
def ge(shared_data: Path) -> Series:
    return derive_ge(shared_data, 3)


@pytest.fixture(scope="module")
def ge_unnumbered(shared_data: Path) -> Series:
    return derive_ge(shared_data, 3, numbered=False)


@pytest.fixture(scope="module")
def philips(shared_data: Path) -> Series:
    return derive_philips(shared_data)


def full_echo(series: Series, volume: int, echo: int) -> np.ndarray:
    """The echo volume read in full from the derived files (no template), stacked."""
    parts = [read_slice_bytes(raw, name, echoes=len(TES)) for name, raw in series.files[(volume, echo)]]
    assert {p.volume_number for p in parts} == {volume + 1}
    return assemble_volume(parts).data


def original(series: Series, volume: int) -> np.ndarray:
    return assemble_volume([read_slice(p) for p in series.originals[volume]]).data


def check_volume(series: Series, scan: Any, volume: int) -> None:
    """The scan is the volume: echoes 1..3 in order, TEs right, each the full read and the original scaled."""
    assert scan.index == volume
    assert [e.echo for e in scan.echoes] == [1, 2, 3] and scan.image is scan.echoes[0]
    assert [e.echo_time_ms for e in scan.echoes] == list(TES)
    base = original(series, volume)
    unit = float(np.min(np.abs(base[base != 0]))) if series.vendor == "philips" else 1.0  # one stored step
    for echo, image in enumerate(scan.echoes, start=1):
        assert image.format == "dicom_slices" and image.shape == base.shape
        np.testing.assert_array_equal(image.data, full_echo(series, volume, echo))
        np.testing.assert_allclose(image.data, base * _factor(echo), rtol=1e-5, atol=0.5 * unit + 1e-3)
        np.testing.assert_array_equal(image.affine, scan.echoes[0].affine)


@pytest.mark.parametrize("vendor", ["ge", "philips"])
def test_template_reads_every_echo_as_the_full_read(vendor: str, request: pytest.FixtureRequest) -> None:
    """One template serves every echo: each derived file, shuffled, is its full read, echo and TE included."""
    series: Series = request.getfixturevalue(vendor)
    reader = SeriesReader()
    options = SliceOptions(echoes=len(TES))
    items = [(key, name, raw) for key, group in series.files.items() for name, raw in group]
    random.Random(4).shuffle(items)
    for (volume, echo), name, raw in items:
        fast = reader.read(raw, name, options)
        full = read_slice_bytes(raw, name, echoes=len(TES))
        assert same_slice(fast, full)  # type: ignore[arg-type]
        assert (full.volume_number, full.echo, full.echo_time_ms) == (volume + 1, echo, TES[echo - 1])
    assert reader.counts["full"] == 1 and reader.counts["fast"] == len(items) - 1


async def write_like_an_export(folder: Path, series: Series, late: tuple[int, int, int], duplicate: int) -> None:
    """Every volume's files shuffled, in chunks or renamed; one slice of one echo late; one slice copied."""
    late_volume, late_echo, late_k = late
    held = series.files[(late_volume, late_echo)][late_k]
    for volume in range(series.n_volumes):
        order = [item for item in series.volume(volume) if item is not held]
        random.Random(volume).shuffle(order)
        for k, (name, raw) in enumerate(order):
            if k % 2:
                write_via_rename(folder / name, raw)
            else:
                await write_in_chunks(folder / name, raw, n_chunks=2, pause=0.002)
        if volume == duplicate:
            name, raw = order[3]
            (folder / f"copy_of_{name}").write_bytes(raw)
    await asyncio.sleep(0.2)
    await write_in_chunks(folder / held[0], held[1], n_chunks=3, pause=0.005)


def watcher(folder: Path, **kwargs: Any) -> ScanWatcher:
    options: dict[str, Any] = {
        "index_from": "header", "reorder_timeout": 3.0, "complete_timeout": 3.0, "echoes": len(TES),
    }
    options.update(kwargs)
    return ScanWatcher(folder, **options)


@pytest.mark.parametrize(
    ("vendor", "echo_times"),
    [("ge", None), ("ge", TES), ("ge_unnumbered", TES), ("philips", None)],
    ids=["ge", "ge-with-echo-times", "ge-echonumbers-1-with-echo-times", "philips"],
)
async def test_each_volume_released_once_whole(
    tmp_path: Path, logs: list, vendor: str, echo_times: tuple[float, ...] | None, request: pytest.FixtureRequest
) -> None:
    """Chunks, renames, shuffled, echo 2's slice 4 of volume 1 late, a byte copy: each volume once, whole."""
    series: Series = request.getfixturevalue(vendor)
    async with watcher(tmp_path, echo_times_ms=echo_times) as w:
        await write_like_an_export(tmp_path, series, late=(1, 2, 4), duplicate=2)
        scans = await take(w, series.n_volumes)
        assert await nothing_within(w, 0.3)
    for volume, scan in enumerate(scans):
        check_volume(series, scan, volume)
    late_name = series.files[(1, 2)][4][0]
    assert scans[1].path.name == late_name  # the late slice completed volume 1
    assert w.stats["taken"] == series.n_volumes and w.missing == [] and w.stats["duplicates"] == 1
    (dup,) = events(logs, "duplicate_skipped")
    assert Path(dup["file"]).name.startswith("copy_of_")
    assert [e["event"] for e in warnings_of(logs)] == ["duplicate_skipped"]


async def test_unnumbered_echoes_without_echo_times_are_refused_with_one_line(
    tmp_path: Path, logs: list, ge_unnumbered: Series
) -> None:
    """GE's EchoNumbers 1 for every echo and no echo_times_ms: one line asking for them, no volume."""
    async with watcher(tmp_path, reorder_timeout=0.3) as w:
        for volume in range(2):
            for name, raw in ge_unnumbered.volume(volume):
                write_via_rename(tmp_path / name, raw)
        await until(lambda: w.stats["rejected"] == 1)
        assert await nothing_within(w, 0.6)
    (line,) = events(logs, "echo_rejected")
    assert "[multiecho] echo_times_ms" in line["reason"] and "EchoNumbers 1" in line["reason"]
    assert [e["event"] for e in warnings_of(logs) if e["event"] != "volume_missing"] == ["echo_rejected"]
    assert w.stats["taken"] == 0


async def test_a_missing_slice_of_one_echo_gives_one_volume_incomplete(tmp_path: Path, logs: list, ge: Series) -> None:
    """Volume 1 lacks echo 3's slice 7: one volume_incomplete naming index, echo and slice; the run goes on."""
    skipped_name, skipped_raw = ge.files[(1, 3)][6]
    position = read_slice_bytes(skipped_raw).position
    positions = sorted(read_slice_bytes(raw).position for _, raw in ge.files[(1, 3)])
    async with watcher(tmp_path, complete_timeout=0.5, reorder_timeout=5.0) as w:
        for volume in range(ge.n_volumes):
            order = [item for item in ge.volume(volume) if item[0] != skipped_name]
            random.Random(volume).shuffle(order)
            for name, raw in order:
                write_via_rename(tmp_path / name, raw)
        scans = await take(w, 2)
        await asyncio.sleep(0.2)
    assert [s.index for s in scans] == [0, 2]
    check_volume(ge, scans[1], 2)
    (line,) = events(logs, "volume_incomplete")
    assert (line["index"], line["echo"], line["slices"], line["expected"]) == (1, 3, 14, 15)
    assert line["missing_slices"] == [positions.index(position) + 1]
    assert line["echoes_complete"] == [1, 2] and line["echoes_lacking_slices"] == [3]
    assert [e["index"] for e in events(logs, "volume_missing")] == [1]
    assert w.stats["incomplete"] == 1 and w.missing == [1]
    assert [e["event"] for e in warnings_of(logs)] == ["volume_incomplete", "volume_missing"]


def test_volume_numbers_from_the_headers(ge: Series, philips: Series) -> None:
    """``volume_from="auto"``: GE's InstanceNumber over slices x echoes, Philips' TemporalPositionIdentifier."""
    for series in (ge, philips):
        for (volume, echo), group in series.files.items():
            for name, raw in group:
                part = read_slice_bytes(raw, name, echoes=len(TES))
                assert (part.volume_number, part.echo) == (volume + 1, echo)
    name, raw = ge.files[(1, 1)][0]
    assert read_slice_bytes(raw, name).volume_number == 4  # without echoes the GE rule miscounts


def write_folder(folder: Path, series: Series) -> Path:
    folder.mkdir()
    for group in series.files.values():
        for name, raw in group:
            (folder / name).write_bytes(raw)
    return folder


async def replay(path: Path, **kwargs: Any) -> list:
    async with RecordingSource.open(path, **kwargs) as source:
        return [scan async for scan in source]


@pytest.mark.parametrize(("vendor", "echo_times"), [("ge", None), ("ge_unnumbered", None), ("ge_unnumbered", TES),
                                                    ("philips", None)])
def test_replay_of_a_folder_of_echo_slices(
    tmp_path: Path, vendor: str, echo_times: tuple[float, ...] | None, request: pytest.FixtureRequest
) -> None:
    """plan_recording groups the slices per volume and echo (GE's EchoNumbers 1: by TE); each Scan whole."""
    series: Series = request.getfixturevalue(vendor)
    folder = write_folder(tmp_path / "rec", series)
    volumes = plan_recording(folder, echo_times_ms=echo_times)
    assert [v.index for v in volumes] == list(range(series.n_volumes))
    assert all(len(v.echoes) == 3 and all(len(e.files) == len(series.files[(0, 1)]) for e in v.echoes)
               for v in volumes)
    scans = asyncio.run(replay(folder, echo_times_ms=echo_times))
    for volume, scan in enumerate(scans):
        check_volume(series, scan, volume)


async def test_simulated_scanner_of_echo_slices_is_taken_whole(tmp_path: Path, logs: list, philips: Series) -> None:
    source = write_folder(tmp_path / "rec", philips)
    watch = tmp_path / "watch"
    watch.mkdir()
    async with watcher(watch, reorder_timeout=1.0, complete_timeout=1.0) as w:
        simulation = asyncio.create_task(simulate_scanner(source, watch, tr=0.3, mode="chunks", chunks=2, seed=5))
        scans = await take(w, philips.n_volumes)
        report = await simulation
    for volume, scan in enumerate(scans):
        check_volume(philips, scan, volume)
    assert report.written == list(range(philips.n_volumes)) and warnings_of(logs) == []
