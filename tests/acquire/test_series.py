"""Series: a new series in the watch folder is ignored or ends the run, never a duplicate."""

from __future__ import annotations

import functools
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from nfd.acquire import FileNaming, ScanWatcher, SeriesId, read_scan_bytes
from tests.helpers.nifti import nifti_bytes
from tests.helpers.watching import events, nothing_within, take, until, warnings_of


@functools.cache
def mosaic(source: Path, number: int, series: int) -> bytes:
    """Volume ``number`` of the opennft run; for series other than 7, under a new series UID."""
    raw = (source / f"001_000007_{number:06d}.dcm").read_bytes()
    if series == 7:
        return raw
    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["opennft", str(series)])
    ds.SeriesNumber = series
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write(folder: Path, source: Path, number: int, series: int, *, name_series: int | None = None) -> Path:
    path = folder / f"001_{name_series if name_series is not None else series:06d}_{number:06d}.dcm"
    path.write_bytes(mosaic(source, number, series))
    return path


async def test_new_series_with_the_same_naming_is_ignored_not_a_duplicate(
    tmp_path: Path, opennft_dicom: Path, logs: list
) -> None:
    async with ScanWatcher(tmp_path, reorder_timeout=0.3) as w:
        for number in (1, 2):
            write(tmp_path, opennft_dicom, number, 7)
        first = await take(w, 2)
        for number in (1, 2, 3):
            write(tmp_path, opennft_dicom, number, 8)
        await until(lambda: w.stats["other_series"] == 3)
        write(tmp_path, opennft_dicom, 3, 7)
        (third,) = await take(w, 1)
        assert await nothing_within(w, 0.3)
    assert [s.index for s in (*first, third)] == [0, 1, 2]
    assert w.stats["duplicates"] == 0 and w.missing == []
    assert w.series is not None and w.series.name == "000007" and w.new_series is None
    (ignored,) = events(logs, "series_ignored")  # one line per series, not per file
    assert ignored["series"] == "series 000008" and Path(ignored["file"]).name == "001_000008_000001.dcm"
    assert [e["event"] for e in warnings_of(logs)] == ["series_ignored"]


async def test_new_series_in_the_header_only_is_ignored(tmp_path: Path, opennft_dicom: Path, logs: list) -> None:
    """The names keep the run's series number (a misconfigured export); the header tells."""
    async with ScanWatcher(tmp_path, reorder_timeout=0.3) as w:
        write(tmp_path, opennft_dicom, 1, 7)
        await take(w, 1)
        write(tmp_path, opennft_dicom, 2, 9, name_series=7)
        await until(lambda: w.stats["other_series"] == 1)
        write(tmp_path, opennft_dicom, 3, 7)
        (scan,) = await take(w, 1)
    assert scan.index == 2 and w.missing == [1]
    (ignored,) = events(logs, "series_ignored")
    assert ignored["series"] == f"series 000007 ({mosaic_uid(opennft_dicom, 9)})"


async def test_new_series_ends_the_run_and_a_new_watcher_follows_it(
    tmp_path: Path, opennft_dicom: Path, logs: list
) -> None:
    async with ScanWatcher(tmp_path, reorder_timeout=30.0, on_new_series="new_run") as w:
        for number in (1, 2, 4):  # 3 never comes: held 4 is released when the series ends
            write(tmp_path, opennft_dicom, number, 7)
        first = await take(w, 2)
        write(tmp_path, opennft_dicom, 1, 8)
        rest = [scan async for scan in w]  # the iteration ends by itself
    assert [s.index for s in (*first, *rest)] == [0, 1, 3] and w.missing == [2]
    assert w.new_series is not None and w.new_series.name == "000008"
    assert w.new_series.uid == mosaic_uid(opennft_dicom, 8)
    (changed,) = events(logs, "series_changed")
    assert changed["new_series"] == str(w.new_series) and changed["series"].startswith("series 000007")

    async with ScanWatcher(tmp_path, reorder_timeout=0.3, series=w.new_series) as run2:
        write(tmp_path, opennft_dicom, 2, 8)
        scans = await take(run2, 2)
        assert await nothing_within(run2, 0.2)
    assert [s.index for s in scans] == [0, 1]
    assert {s.image.series for s in scans} == {w.new_series.uid}
    np.testing.assert_array_equal(scans[1].image.data, read_scan_bytes(mosaic(opennft_dicom, 2, 8)).data)
    assert run2.stats["other_series"] == 3  # series 7's files present at start


async def test_at_start_the_newest_series_is_the_run(tmp_path: Path, opennft_dicom: Path, logs: list) -> None:
    old = [write(tmp_path, opennft_dicom, number, 7) for number in (1, 2, 3)]
    past = time.time() - 60
    for path in old:
        os.utime(path, (past, past))
    write(tmp_path, opennft_dicom, 1, 8)
    write(tmp_path, opennft_dicom, 2, 8)
    async with ScanWatcher(tmp_path, reorder_timeout=0.3, on_new_series="new_run") as w:
        scans = await take(w, 2)
        assert await nothing_within(w, 0.2)
    assert [s.index for s in scans] == [0, 1]
    assert w.series is not None and w.series.name == "000008" and w.new_series is None
    assert w.stats["other_series"] == 3 and w.stats["duplicates"] == 0


async def test_header_mode_series_from_the_uid(tmp_path: Path, opennft_dicom: Path, logs: list) -> None:
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.3, on_new_series="new_run") as w:
        (tmp_path / "a.dcm").write_bytes(mosaic(opennft_dicom, 1, 7))
        (tmp_path / "b.dcm").write_bytes(mosaic(opennft_dicom, 2, 7))
        await take(w, 2)
        (tmp_path / "c.dcm").write_bytes(mosaic(opennft_dicom, 1, 8))
        assert [scan async for scan in w] == []
    assert w.new_series == SeriesId(None, mosaic_uid(opennft_dicom, 8))


def mosaic_uid(source: Path, series: int) -> str:
    return str(pydicom.dcmread(io.BytesIO(mosaic(source, 1, series)), stop_before_pixels=True).SeriesInstanceUID)


async def test_nifti_files_have_their_series_in_the_name_only(tmp_path: Path, logs: list) -> None:
    naming = FileNaming(r"run(?P<series>\d+)_vol(?P<volume>\d+)\.nii")
    async with ScanWatcher(tmp_path, naming=naming, reorder_timeout=0.3) as w:
        (tmp_path / "run1_vol1.nii").write_bytes(nifti_bytes(1))
        (tmp_path / "run2_vol1.nii").write_bytes(nifti_bytes(2))
        (tmp_path / "run1_vol2.nii").write_bytes(nifti_bytes(3))
        scans = await take(w, 2)
    assert [int(s.image.data[0, 0, 0]) for s in scans] == [1, 3]
    assert w.series == SeriesId("1", None) and w.stats["other_series"] == 1


def test_invalid_series_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_new_series must be one of 'ignore', 'new_run'; got 'stop'"):
        ScanWatcher(tmp_path, on_new_series="stop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="series must be a SeriesId"):
        ScanWatcher(tmp_path, series="000007")  # type: ignore[arg-type]


async def test_rt_cloud_copy_stays_a_duplicate_of_the_same_series(tmp_path: Path, rt_mosaic: Path, logs: list) -> None:
    for path in rt_mosaic.glob("*.dcm"):
        shutil.copy(path, tmp_path)
    async with ScanWatcher(tmp_path, reorder_timeout=0.3, on_new_series="new_run") as w:
        scans = await take(w, 10)
    assert len(scans) == 10 and w.stats["duplicates"] == 1 and w.new_series is None
