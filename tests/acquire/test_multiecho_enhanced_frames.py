"""Siemens XA enhanced files holding every echo as frames of one file, derived from the real XA30 fMRI files.

Each real file (33 frames, one echo) becomes one file of n echoes: its
frames concatenated n times, echo e's pixels scaled by exp(-TE_e / 40 ms)
(rounded to the stored integers), each frame's per-frame groups copied with
MREchoSequence EffectiveEchoTime set to TE_e and DimensionIndexValues
extended by the echo index (DimensionIndexSequence gains the pointer to
EffectiveEchoTime), NumberOfFrames updated. The frames are ordered
slice-within-echo (every slice of echo 1, then of echo 2...) or
echo-within-slice.
"""

from __future__ import annotations

import asyncio
import copy
import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from nfd.acquire import NotAScanError, RecordingSource, ScanWatcher, plan_recording, read_scan_bytes, simulate_scanner
from nfd.acquire._enhanced import echo_frames
from nfd.acquire._enhanced_template import same_scan
from nfd.acquire._series_reader import SeriesReader
from nfd.acquire._slices import SliceOptions
from tests.helpers.watching import take, warnings_of, write_via_rename

TES = (12.0, 30.0, 48.0)
T2S_MS = 40.0


@pytest.fixture(scope="module")
def originals(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri").glob("*.dcm"))[:3]


def multi_echo_file(original: Path, tes: tuple[float, ...], order: str = "slice-within-echo") -> bytes:
    """The bytes of one file of ``len(tes)`` echoes from a real one-echo XA file (see the module documentation)."""
    ds = pydicom.dcmread(original)
    pixels = ds.pixel_array
    count = len(ds.PerFrameFunctionalGroupsSequence)
    pairs = [(e, f) for e in range(len(tes)) for f in range(count)]
    if order == "echo-within-slice":
        pairs = [(e, f) for f in range(count) for e in range(len(tes))]
    frames, planes = [], []
    for e, f in pairs:
        item = copy.deepcopy(ds.PerFrameFunctionalGroupsSequence[f])
        item.MREchoSequence[0].EffectiveEchoTime = tes[e]
        content = item.FrameContentSequence[0]
        content.DimensionIndexValues = [*content.DimensionIndexValues, e + 1]
        frames.append(item)
        planes.append(np.round(pixels[f] * math.exp(-tes[e] / T2S_MS)))
    dimension = Dataset()
    dimension.DimensionOrganizationUID = ds.DimensionIndexSequence[0].DimensionOrganizationUID
    dimension.DimensionIndexPointer = Tag(0x0018, 0x9082)  # EffectiveEchoTime
    dimension.FunctionalGroupPointer = Tag(0x0018, 0x9114)  # MREchoSequence
    ds.DimensionIndexSequence.append(dimension)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.stack(planes).astype(pixels.dtype).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def check_echoes(echoes: tuple, original: bytes, tes: tuple[float, ...]) -> None:
    """Echo k is the original volume scaled by exp(-TE_k / 40 ms), on its grid, with its slice times and index."""
    volume = read_scan_bytes(original)
    assert [e.echo for e in echoes] == list(range(1, len(tes) + 1))
    assert [e.echo_time_ms for e in echoes] == list(tes)
    for image, te in zip(echoes, tes, strict=True):
        np.testing.assert_array_equal(image.data, np.round(volume.data * math.exp(-te / T2S_MS)))
        np.testing.assert_array_equal(image.affine, volume.affine)
        assert (image.header_index, image.slice_times, image.series, image.format) == (
            volume.header_index, volume.slice_times, volume.series, volume.format)
        assert image.more_echoes == ()


@pytest.mark.parametrize("order", ["slice-within-echo", "echo-within-slice"])
@pytest.mark.parametrize("tes", [TES, TES[:2]])
def test_a_file_of_several_echoes_reads_as_one_volume_per_echo(originals: list[Path], order: str, tes: tuple) -> None:
    image = read_scan_bytes(multi_echo_file(originals[0], tes, order), "me.dcm")
    assert len(image.more_echoes) == len(tes) - 1
    check_echoes(image.file_echoes, originals[0].read_bytes(), tes)


def test_the_echoes_are_ranked_by_echo_time_whatever_the_frame_order(originals: list[Path]) -> None:
    """Echo 1 is the shortest TE, also when the file's first frames are of a later echo."""
    image = read_scan_bytes(multi_echo_file(originals[0], (30.0, 12.0)), "me.dcm")
    check_echoes(image.file_echoes, originals[0].read_bytes(), (12.0, 30.0))


def test_echoes_of_unequal_frame_counts_are_no_volume(originals: list[Path]) -> None:
    ds = pydicom.dcmread(io.BytesIO(multi_echo_file(originals[0], TES[:2])))
    ds.PerFrameFunctionalGroupsSequence[0].MREchoSequence[0].EffectiveEchoTime = TES[1]  # 32 frames of echo 1
    with pytest.raises(NotAScanError, match=r"2 echoes of unequal frame counts \[32, 34\]"):
        echo_frames(ds.PerFrameFunctionalGroupsSequence, "me.dcm")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    with pytest.raises(NotAScanError, match="unequal frame counts"):
        read_scan_bytes(out.getvalue(), "me.dcm")


def test_the_series_reader_reads_such_files_in_full(originals: list[Path]) -> None:
    """No template is made of a file of several echoes; a one-echo template does not take one either."""
    reader = SeriesReader()
    files = [multi_echo_file(path, TES) for path in originals]
    for k, buf in enumerate(files):
        assert same_scan(reader.read(buf, f"me_{k}.dcm", SliceOptions()), read_scan_bytes(buf))
    assert reader.counts == {"fast": 0, "full": 3}
    single = SeriesReader()
    for k, path in enumerate(originals[:2]):
        single.read(path.read_bytes(), f"one_{k}.dcm", SliceOptions())
    assert single.counts == {"fast": 1, "full": 1}
    got = single.read(files[2], "me_2.dcm", SliceOptions())
    assert single.counts == {"fast": 1, "full": 2}
    assert same_scan(got, read_scan_bytes(files[2])) and len(got.more_echoes) == 2


@pytest.mark.parametrize("echo_times_ms", [None, TES])
async def test_the_watcher_releases_each_file_as_one_multi_echo_scan(
    tmp_path: Path, originals: list[Path], logs: list, echo_times_ms: tuple | None
) -> None:
    indices = [read_scan_bytes(path.read_bytes()).header_index for path in originals]
    async with ScanWatcher(tmp_path, index_from="header", echoes=3, echo_times_ms=echo_times_ms,
                           reorder_timeout=1.0) as w:
        for k, path in enumerate(originals):
            order = "echo-within-slice" if k == 1 else "slice-within-echo"
            write_via_rename(tmp_path / f"{k + 1:04d}.dcm", multi_echo_file(path, TES, order))
        scans = await take(w, 3)
    assert [s.index for s in scans] == [i - 1 for i in indices]  # type: ignore[operator]
    for scan, path in zip(scans, originals, strict=True):
        check_echoes(scan.echoes, path.read_bytes(), TES)
        assert scan.image is scan.echoes[0] and scan.echo_images == scan.echoes
    assert w.stats["taken"] == 3 and warnings_of(logs) == []


async def test_a_file_with_an_echo_too_few_is_refused_with_one_line(
    tmp_path: Path, originals: list[Path], logs: list
) -> None:
    async with ScanWatcher(tmp_path, index_from="header", echoes=3, reorder_timeout=0.5,
                           complete_timeout=0.5) as w:
        for k, path in enumerate(originals):
            write_via_rename(tmp_path / f"{k + 1:04d}.dcm", multi_echo_file(path, TES[:2] if k == 1 else TES))
        scans = await take(w, 2)
    assert len(scans) == 2 and all(len(s.echoes) == 3 for s in scans)
    (line,) = warnings_of(logs)[:1]
    assert line["event"] == "echo_rejected" and line["file"] == str(tmp_path / "0002.dcm")
    assert (line["expected_echoes"], line["found_echoes"]) == (3, 2)
    assert "the file holds 2 echoes" in line["reason"] and "expected 3" in line["reason"]
    assert [e["event"] for e in warnings_of(logs)] == ["echo_rejected", "volume_missing"]
    assert len(w.missing) == 1


async def test_a_single_echo_watcher_refuses_a_file_of_several_echoes(
    tmp_path: Path, originals: list[Path], logs: list
) -> None:
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.5) as w:
        write_via_rename(tmp_path / "0001.dcm", multi_echo_file(originals[0], TES[:2]))
        write_via_rename(tmp_path / "0002.dcm", originals[1].read_bytes())
        (scan,) = await take(w, 1)
    assert scan.echoes == () and scan.image.more_echoes == ()
    (line,) = [e for e in warnings_of(logs) if e["event"] == "file_rejected"]
    assert line["file"] == str(tmp_path / "0001.dcm")
    assert "holds 2 echoes" in line["reason"] and "echoes=1" in line["reason"]


def write_recording(folder: Path, originals: list[Path]) -> list[int]:
    """A recorded folder of files of three echoes each; the files' header indices."""
    folder.mkdir()
    for k, path in enumerate(originals):
        (folder / f"{k + 1:04d}.dcm").write_bytes(multi_echo_file(path, TES))
    return [read_scan_bytes(path.read_bytes()).header_index or 0 for path in originals]


async def test_a_recorded_folder_of_such_files_replays_as_multi_echo_scans(tmp_path: Path, originals: list) -> None:
    indices = write_recording(tmp_path / "rec", originals)
    planned = plan_recording(tmp_path / "rec")
    assert [v.index for v in planned] == [i - 1 for i in indices]
    check_echoes(planned[0].read_echoes(), originals[0].read_bytes(), TES)
    async with RecordingSource.open(tmp_path / "rec") as source:
        scans = [scan async for scan in source]
    assert [s.index for s in scans] == [i - 1 for i in indices]
    for scan, path in zip(scans, originals, strict=True):
        check_echoes(scan.echoes, path.read_bytes(), TES)
        assert scan.image is scan.echoes[0]


async def test_the_simulated_scanner_writes_them_for_the_watcher_to_take_whole(
    tmp_path: Path, originals: list, logs: list
) -> None:
    indices = write_recording(tmp_path / "rec", originals)
    watch = tmp_path / "watch"
    watch.mkdir()
    async with ScanWatcher(watch, index_from="header", echoes=3, reorder_timeout=0.5) as w:
        simulation = asyncio.create_task(simulate_scanner(tmp_path / "rec", watch, tr=0.2, mode="chunks"))
        scans = await take(w, 3)
        report = await simulation
    assert report.written == [i - 1 for i in indices]
    for scan, path in zip(scans, originals, strict=True):
        check_echoes(scan.echoes, path.read_bytes(), TES)
    assert warnings_of(logs) == []
