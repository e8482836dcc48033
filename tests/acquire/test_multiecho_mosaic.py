"""Multi-echo Siemens mosaics, derived from the real rt-cloud sample: one file per echo, read by the watcher.

Each real mosaic becomes three echo files: EchoNumbers (0018,0086) 1..3,
EchoTime (0018,0081) 14.5 / 38.5 / 62.5 ms, and its pixels scaled by
exp(-(TE - TE1) / 40 ms). InstanceNumber stays the volume's number (the
watcher's ``index_from="header"`` groups the echoes by it).

Naming: no source we could find documents how the Siemens real-time export
names the files of a multi-echo series (the corpus holds TBV's description
of the single-echo scheme ``001_<series, 6 digits>_<volume, 6 digits>.dcm``,
https://download.brainvoyager.com/tbv/doc/TBVUsersGuide/ControlSettings/SettingsForSiemensMultiFrameData.html,
and dcm2niix's notes that some Siemens multi-echo exports put each echo in a
series of its own, https://github.com/rordenlab/dcm2niix/issues/101). The
files are therefore named ``001_<series>_<echo><volume, 5 digits>.dcm`` and
the volumes numbered from the header, so that nothing depends on the name.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from nfd.acquire import ScanWatcher, read_scan, read_scan_bytes
from nfd.acquire._enhanced_template import same_scan
from nfd.acquire._series_reader import SeriesReader
from nfd.acquire._slices import SliceOptions
from tests.helpers.watching import take, warnings_of, write_in_chunks, write_via_rename

TES = (14.5, 38.5, 62.5)
T2S_MS = 40.0


def echo_file(original: Path, echo: int, te: float | None = None) -> bytes:
    """The bytes of one echo of a real mosaic (see the module documentation)."""
    ds = pydicom.dcmread(original)
    ds.EchoNumbers = echo
    ds.EchoTime = TES[echo - 1] if te is None else te
    pixels = ds.pixel_array.astype(np.float64) * math.exp(-(TES[echo - 1] - TES[0]) / T2S_MS)
    ds.PixelData = np.round(pixels).astype(ds.pixel_array.dtype).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def echo_name(volume: int, echo: int) -> str:
    return f"001_000013_{echo}{volume:05d}.dcm"


@pytest.fixture(scope="module")
def echo_files(shared_data: Path) -> dict[tuple[int, int], bytes]:
    """(volume, echo) -> bytes, volumes 1..4 of the rt-cloud sample."""
    folder = shared_data / "siemens_rt_mosaic"
    return {(v, e): echo_file(folder / f"001_000013_{v:06d}.dcm", e) for v in range(1, 5) for e in (1, 2, 3)}


def test_full_read_gives_echo_and_te_and_the_template_read_equals_it(echo_files: dict, shared_data: Path) -> None:
    reader = SeriesReader()
    order = sorted(echo_files, key=lambda key: (key[0], -key[1]))  # echo 3 first: the template is echo 3's
    for volume, echo in order:
        buf = echo_files[volume, echo]
        full = read_scan_bytes(buf, echo_name(volume, echo))
        assert (full.echo, full.echo_time_ms, full.header_index) == (echo, TES[echo - 1], volume)
        fast = reader.read(buf, echo_name(volume, echo), SliceOptions())
        assert same_scan(fast, full), (volume, echo)
    assert reader.counts == {"fast": len(order) - 1, "full": 1}  # one template serves every echo
    single = read_scan(shared_data / "siemens_rt_mosaic" / "001_000013_000001.dcm")
    assert (single.echo, single.echo_time_ms) == (1, 28.0)  # the real file's own EchoNumbers and EchoTime


async def test_watcher_groups_the_echoes_by_header_index(tmp_path: Path, echo_files: dict, logs: list) -> None:
    async with ScanWatcher(tmp_path, index_from="header", echoes=3, reorder_timeout=1.0,
                           complete_timeout=2.0) as w:
        for volume in (1, 2, 3, 4):
            for echo in (2, 3, 1) if volume % 2 else (3, 1, 2):
                if volume == 2:
                    await write_in_chunks(tmp_path / echo_name(volume, echo), echo_files[volume, echo], 3, 0.01)
                else:
                    write_via_rename(tmp_path / echo_name(volume, echo), echo_files[volume, echo])
        scans = await take(w, 4)
    assert [s.index for s in scans] == [0, 1, 2, 3]
    for volume, scan in enumerate(scans, start=1):
        assert [e.echo for e in scan.echoes] == [1, 2, 3]
        assert [e.echo_time_ms for e in scan.echoes] == list(TES)
        for echo, image in zip((1, 2, 3), scan.echoes, strict=True):
            expected = read_scan_bytes(echo_files[volume, echo])
            assert same_scan(image, expected)
    assert w.stats["taken"] == 4 and w.stats["rejected"] == 0
    assert warnings_of(logs) == []


async def test_a_mosaic_echo_time_changing_mid_run_is_refused(
    tmp_path: Path, echo_files: dict, shared_data: Path, logs: list
) -> None:
    changed = echo_file(shared_data / "siemens_rt_mosaic" / "001_000013_000002.dcm", 2, te=40.0)
    async with ScanWatcher(tmp_path, index_from="header", echoes=3, reorder_timeout=0.5) as w:
        for volume in (1, 2, 3):
            for echo in (1, 2, 3):
                content = changed if (volume, echo) == (2, 2) else echo_files[volume, echo]
                write_via_rename(tmp_path / echo_name(volume, echo), content)
        scans = await take(w, 2)
    assert [s.index for s in scans] == [0, 2]
    (line,) = [e for e in logs if e["event"] == "echo_rejected"]
    assert line["file"] == str(tmp_path / echo_name(2, 2))
    assert "echo time 40.0 ms for echo 2, the run began with 38.5 ms" in line["reason"]
    assert w.missing == [1]


def xa_echo_file(original: Path, echo: int) -> bytes:
    """One echo of a real Siemens XA enhanced file: every frame's EffectiveEchoTime set, the pixels scaled."""
    ds = pydicom.dcmread(original)
    for frame in ds.PerFrameFunctionalGroupsSequence:
        frame.MREchoSequence[0].EffectiveEchoTime = TES[echo - 1]
    pixels = ds.pixel_array.astype(np.float64) * math.exp(-(TES[echo - 1] - TES[0]) / T2S_MS)
    ds.PixelData = np.round(pixels).astype(ds.pixel_array.dtype).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


async def test_xa_enhanced_echo_files_numbered_by_their_echo_time(tmp_path: Path, shared_data: Path, logs: list) -> None:
    """XA files carry a TE per frame but no echo number: echo_times_ms numbers them; templates equal full reads."""
    folder = shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri"
    originals = sorted(folder.glob("*.dcm"))[:3]
    files = {(v, e): xa_echo_file(path, e) for v, path in enumerate(originals, start=1) for e in (1, 2, 3)}
    reader = SeriesReader()
    for (volume, echo), buf in files.items():
        full = read_scan_bytes(buf, f"xa_{volume}_{echo}.dcm")
        assert (full.echo, full.echo_time_ms) == (None, TES[echo - 1])
        assert same_scan(reader.read(buf, f"xa_{volume}_{echo}.dcm", SliceOptions()), full)
    indices = [read_scan_bytes(files[v, 1]).header_index for v in (1, 2, 3)]
    async with ScanWatcher(tmp_path, index_from="header", echoes=3, echo_times_ms=TES, reorder_timeout=1.0) as w:
        for (volume, echo), buf in sorted(files.items(), key=lambda item: (item[0][0], -item[0][1])):
            write_via_rename(tmp_path / f"{volume:04d}_{echo}.dcm", buf)
        scans = await take(w, 3)
    assert [s.index for s in scans] == [i - 1 for i in indices]
    for scan in scans:
        assert [e.echo_time_ms for e in scan.echoes] == list(TES)
        assert [e.echo for e in scan.echoes] == [1, 2, 3]  # numbered by their TE
    assert warnings_of(logs) == []
