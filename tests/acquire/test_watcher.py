"""The watch folder, with real files written by a concurrent task the way scanners write them."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nfd.acquire import FileNaming, Scan, ScanWatcher, read_scan, read_scan_bytes
from tests.helpers.nifti import nifti_bytes
from tests.helpers.watching import (
    HANG,
    events,
    nothing_within,
    take,
    until,
    warnings_of,
    write_in_chunks,
    write_via_rename,
)

NAMING = FileNaming(r"vol_(?P<volume>\d{4})\.nii")
def vol_name(number: int) -> str:
    return f"vol_{number:04d}.nii"


def value_of(scan: Scan) -> int:
    """The ``value`` a volume was written with (see ``nifti_bytes``)."""
    return int(scan.image.data[0, 0, 0])


def watcher(folder: Path, **kwargs: Any) -> ScanWatcher:
    options: dict[str, Any] = {"naming": NAMING, "reorder_timeout": 0.3, "complete_timeout": 2.0}
    options.update(kwargs)
    return ScanWatcher(folder, **options)


async def test_files_present_at_start_are_taken_in_order(tmp_path: Path, logs: list) -> None:
    for number in (3, 1, 4, 2):
        (tmp_path / vol_name(number)).write_bytes(nifti_bytes(number * 10))
    (tmp_path / "notes.txt").write_text("not a volume, and not named like one")
    async with watcher(tmp_path) as w:
        scans = await take(w, 4)
        assert [s.index for s in scans] == [0, 1, 2, 3]
        assert [value_of(s) for s in scans] == [10, 20, 30, 40]
        assert [s.path.name for s in scans] == [vol_name(n) for n in (1, 2, 3, 4)]
        (tmp_path / vol_name(5)).write_bytes(nifti_bytes(50))
        (fifth,) = await take(w, 1)
        assert (fifth.index, value_of(fifth)) == (4, 50)
    assert w.stats == {"taken": 5, "rejected": 0, "duplicates": 0, "incomplete": 0, "missing": 0, "late": 0, "early": 0, "other_series": 0}
    assert warnings_of(logs) == []


@pytest.mark.parametrize("compressed", [False, True], ids=["nii", "nii.gz"])
async def test_chunked_write_is_taken_once_after_the_last_chunk(
    tmp_path: Path, logs: list, compressed: bool
) -> None:
    data = nifti_bytes(7, shape=(16, 16, 10), compressed=compressed)
    path = tmp_path / (vol_name(1) + (".gz" if compressed else ""))
    naming = FileNaming(r"vol_(?P<volume>\d{4})\.nii(\.gz)?")
    async with watcher(tmp_path, naming=naming) as w:
        handle = open(path, "wb")  # noqa: SIM115 - kept open across the pause, like a scanner
        try:
            handle.write(data[: len(data) // 2])
            handle.flush()
            assert await nothing_within(w, 0.4)  # half a file is never taken
            handle.write(data[len(data) // 2 :])
        finally:
            handle.close()
        (scan,) = await take(w, 1)
        np.testing.assert_array_equal(scan.image.data, read_scan_bytes(data).data)
        assert scan.path == path and scan.t_complete > 0
        assert await nothing_within(w, 0.3)  # and only once
    assert w.stats["taken"] == 1 and w.stats["incomplete"] == 0
    assert warnings_of(logs) == []


async def test_real_mosaic_written_in_chunks(tmp_path: Path, opennft_dicom: Path, logs: list) -> None:
    sources = [opennft_dicom / f"001_000007_{n:06d}.dcm" for n in (1, 2, 3)]
    async with ScanWatcher(tmp_path, reorder_timeout=0.5) as w:
        for source in sources:
            await write_in_chunks(tmp_path / source.name, source.read_bytes(), n_chunks=4, pause=0.03)
        scans = await take(w, 3)
    assert [s.index for s in scans] == [0, 1, 2]
    for scan, source in zip(scans, sources, strict=True):
        np.testing.assert_array_equal(scan.image.data, read_scan(source).data)
        assert scan.image.shape == (74, 74, 36)
    assert w.stats["taken"] == 3
    assert warnings_of(logs) == []


async def test_temporary_name_then_rename_is_taken_and_the_temporary_ignored(
    tmp_path: Path, logs: list
) -> None:
    async with watcher(tmp_path) as w:
        write_via_rename(tmp_path / vol_name(1), nifti_bytes(5))
        (scan,) = await take(w, 1)
    assert scan.path == tmp_path / vol_name(1) and value_of(scan) == 5
    assert warnings_of(logs) == []


async def test_byte_copy_under_another_name_is_a_duplicate(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path) as w:
        for number in (1, 2, 3):
            (tmp_path / vol_name(number)).write_bytes(nifti_bytes(number))
        first = await take(w, 3)
        (tmp_path / vol_name(4)).write_bytes(nifti_bytes(1))  # same bytes as volume 1
        (tmp_path / vol_name(5)).write_bytes(nifti_bytes(5))
        (fifth,) = await take(w, 1)
    assert [s.index for s in first] == [0, 1, 2]
    # index 3 was a duplicate: it is declared missing, and 4 follows
    assert (fifth.index, value_of(fifth)) == (4, 5)
    (dup,) = events(logs, "duplicate_skipped")
    assert dup["file"] == str(tmp_path / vol_name(4))
    assert dup["duplicate_of"] == str(tmp_path / vol_name(1))
    assert w.stats["duplicates"] == 1 and w.missing == [3]


async def test_rt_cloud_sample_copy_is_skipped(tmp_path: Path, rt_mosaic: Path, logs: list) -> None:
    for path in rt_mosaic.glob("*.dcm"):
        shutil.copy(path, tmp_path)
    async with ScanWatcher(tmp_path, reorder_timeout=0.3) as w:
        scans = await take(w, 10)
        assert await nothing_within(w, 0.4)
    assert [s.index for s in scans] == list(range(10))
    assert [s.image.header_index for s in scans] == list(range(1, 11))
    (dup,) = events(logs, "duplicate_skipped")
    assert Path(dup["file"]).name == "001_000013_000000.dcm"
    assert Path(dup["duplicate_of"]).name == "001_000013_000010.dcm"
    assert w.stats == {"taken": 10, "rejected": 0, "duplicates": 1, "incomplete": 0, "missing": 0, "late": 0, "early": 0, "other_series": 0}


async def test_file_that_never_completes_is_rejected_once(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path, complete_timeout=0.3) as w:
        (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1)[:300])
        await asyncio.sleep(0.05)
        (tmp_path / vol_name(2)).write_bytes(nifti_bytes(2))
        (scan,) = await take(w, 1)
        await until(lambda: w.stats["incomplete"] == 1)
        assert await nothing_within(w, 0.3)
    assert (scan.index, value_of(scan)) == (1, 2)
    (line,) = events(logs, "file_incomplete")
    assert line["file"] == str(tmp_path / vol_name(1))
    assert "shorter than the 348-byte NIfTI header" in line["reason"]
    assert w.stats["incomplete"] == 1 and w.missing == [0]
    assert len(events(logs, "volume_missing")) == 1


async def test_incomplete_file_completing_without_an_event_is_taken(tmp_path: Path, logs: list) -> None:
    """The content check re-runs on a schedule, not only on file events."""
    data = nifti_bytes(3)
    path = tmp_path / vol_name(1)
    async with watcher(tmp_path) as w:
        path.write_bytes(data[:200])
        await asyncio.sleep(0.1)
        # Append through a descriptor opened before the watcher saw the file
        # complete: inotify still reports it, and the schedule catches it too.
        with open(path, "ab") as handle:
            handle.write(data[200:])
        (scan,) = await take(w, 1)
    assert value_of(scan) == 3


async def test_non_image_with_a_matching_name_is_rejected_and_named(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path) as w:
        (tmp_path / vol_name(1)).write_text("this is a text file with a volume's name\n" * 10)
        (tmp_path / vol_name(2)).write_bytes(nifti_bytes(2))
        (scan,) = await take(w, 1)
    assert scan.index == 1
    (line,) = events(logs, "file_rejected")
    assert line["file"] == str(tmp_path / vol_name(1))
    assert "neither DICOM" in line["reason"]
    assert w.stats["rejected"] == 1 and w.missing == [0]


async def test_a_rejected_index_is_missing_at_once_not_after_the_reorder_wait(tmp_path: Path, logs: list) -> None:
    # reorder_timeout 60 s: if the rejected file's index were waited for, volume 3 would not come within the test
    async with watcher(tmp_path, reorder_timeout=60.0) as w:
        (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
        (tmp_path / vol_name(2)).write_text("an export error: text where a volume should be\n" * 10)
        (tmp_path / vol_name(3)).write_bytes(nifti_bytes(3))
        scans = await asyncio.wait_for(take(w, 2), 10)
    assert [(s.index, value_of(s)) for s in scans] == [(0, 1), (2, 3)]
    (missing,) = events(logs, "volume_missing")
    assert missing["index"] == 1 and missing["reason"].startswith(f"its file {vol_name(2)} was rejected: ")
    assert w.missing == [1] and w.stats["rejected"] == 1


@pytest.mark.parametrize("kind", ["a directory", "a FIFO"])
async def test_an_entry_named_like_a_scan_that_is_no_file_gets_a_line(
    tmp_path: Path, logs: list, kind: str
) -> None:
    def make(path: Path) -> None:
        path.mkdir() if kind == "a directory" else os.mkfifo(path)

    make(tmp_path / vol_name(2))  # present at start
    async with watcher(tmp_path, reorder_timeout=60.0) as w:
        (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
        await asyncio.sleep(0.05)
        make(tmp_path / vol_name(4))  # and made during the run: neither blocks the watcher (a FIFO is never opened to wait)
        (tmp_path / vol_name(3)).write_bytes(nifti_bytes(3))
        (tmp_path / vol_name(5)).write_bytes(nifti_bytes(5))
        scans = await asyncio.wait_for(take(w, 3), 10)
    assert [s.index for s in scans] == [0, 2, 4]
    skipped = events(logs, "file_skipped")
    assert [(e["file"], e["reason"]) for e in skipped] == [
        (str(tmp_path / vol_name(n)), f"{kind}, not a scan file") for n in (2, 4)
    ]
    assert [e["index"] for e in events(logs, "volume_missing")] == [1, 3] and w.missing == [1, 3]


async def test_out_of_order_arrival_is_reordered(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path, reorder_timeout=5.0) as w:
        for number in (3, 1, 2):
            (tmp_path / vol_name(number)).write_bytes(nifti_bytes(number))
            await asyncio.sleep(0.05)
        scans = await take(w, 3)
    assert [s.index for s in scans] == [0, 1, 2]
    assert [value_of(s) for s in scans] == [1, 2, 3]
    assert w.missing == [] and warnings_of(logs) == []


async def test_missing_index_is_declared_then_the_late_volume_dropped(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path, reorder_timeout=0.3) as w:
        (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
        (tmp_path / vol_name(3)).write_bytes(nifti_bytes(3))
        scans = await take(w, 2)
        assert [s.index for s in scans] == [0, 2]
        assert w.missing == [1]
        (tmp_path / vol_name(2)).write_bytes(nifti_bytes(2))
        (tmp_path / vol_name(4)).write_bytes(nifti_bytes(4))
        (fourth,) = await take(w, 1)
        assert fourth.index == 3
        await until(lambda: w.stats["late"] == 1)
    assert [e["index"] for e in events(logs, "volume_missing")] == [1]
    (late,) = events(logs, "volume_late")
    assert (late["file"], late["index"]) == (str(tmp_path / vol_name(2)), 1)
    assert w.stats["missing"] == 1 and w.stats["late"] == 1 and w.stats["taken"] == 3


async def test_number_below_first_number_is_rejected(tmp_path: Path, logs: list) -> None:
    (tmp_path / vol_name(0)).write_bytes(nifti_bytes(0))
    (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
    async with watcher(tmp_path) as w:
        (scan,) = await take(w, 1)
    assert scan.index == 0 and value_of(scan) == 1
    (line,) = events(logs, "file_rejected")
    assert line["reason"] == "volume number 0 is below first_number 1"


async def test_started_mid_run_begins_at_the_smallest_index_present(tmp_path: Path, logs: list) -> None:
    for number in (41, 43, 42):
        (tmp_path / vol_name(number)).write_bytes(nifti_bytes(number))
    async with watcher(tmp_path, first_number=1) as w:
        scans = await take(w, 3)
    assert [s.index for s in scans] == [40, 41, 42]
    assert w.missing == [] and warnings_of(logs) == []


async def test_first_number_zero(tmp_path: Path) -> None:
    (tmp_path / vol_name(0)).write_bytes(nifti_bytes(0))
    async with watcher(tmp_path, first_number=0) as w:
        (scan,) = await take(w, 1)
    assert scan.index == 0


async def test_header_index_ignores_names(tmp_path: Path, opennft_dicom: Path, logs: list) -> None:
    for number, name in ((2, "b.dcm"), (1, "c.dcm"), (3, "a.dcm")):
        shutil.copy(opennft_dicom / f"001_000007_{number:06d}.dcm", tmp_path / name)
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.3) as w:
        scans = await take(w, 3)
        shutil.copy(opennft_dicom / "001_000007_000004.dcm", tmp_path / "z.tmp")
        (fourth,) = await take(w, 1)
    assert [s.path.name for s in scans] == ["c.dcm", "b.dcm", "a.dcm"]
    assert [s.index for s in scans] == [0, 1, 2]
    assert (fourth.index, fourth.path.name) == (3, "z.tmp")
    assert warnings_of(logs) == []


async def test_header_index_mode_with_temporary_names_takes_each_volume_once(
    tmp_path: Path, opennft_dicom: Path, logs: list
) -> None:
    """With index_from="header" a temporary name is a candidate too; its rename is no duplicate."""
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.3) as w:
        for number in (1, 2, 3):
            data = (opennft_dicom / f"001_000007_{number:06d}.dcm").read_bytes()
            temporary = tmp_path / f"incoming{number}.tmp"
            await write_in_chunks(temporary, data, n_chunks=2, pause=0.02)
            await asyncio.sleep(0.05)  # taken under the temporary name, most likely
            os.rename(temporary, tmp_path / f"vol{number}.dcm")
        scans = await take(w, 3)
        assert await nothing_within(w, 0.3)
    assert [s.index for s in scans] == [0, 1, 2]
    assert warnings_of(logs) == []
    assert w.stats["duplicates"] == 0


async def test_header_index_mode_rejects_files_without_one(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path, index_from="header") as w:
        (tmp_path / "vol.nii").write_bytes(nifti_bytes(1))
        await until(lambda: w.stats["rejected"] == 1)
    (line,) = events(logs, "file_rejected")
    assert "no acquisition number in the header" in line["reason"]


async def test_polling_mode(tmp_path: Path, logs: list) -> None:
    (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
    async with watcher(tmp_path, poll=True, poll_interval=0.05) as w:
        (first,) = await take(w, 1)
        await write_in_chunks(tmp_path / vol_name(2), nifti_bytes(2, shape=(16, 16, 8)), pause=0.2)
        write_via_rename(tmp_path / vol_name(3), nifti_bytes(3))
        scans = await take(w, 2)
    assert [s.index for s in (first, *scans)] == [0, 1, 2]
    assert [value_of(s) for s in (first, *scans)] == [1, 2, 3]
    assert warnings_of(logs) == []


async def test_aclose_from_another_task_ends_the_iteration(tmp_path: Path) -> None:
    w = watcher(tmp_path)
    await w.start()
    seen: list[Scan] = []

    async def consume() -> None:
        async for scan in w:
            seen.append(scan)

    consumer = asyncio.create_task(consume())
    (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
    await until(lambda: seen)
    await w.aclose()
    await asyncio.wait_for(consumer, HANG)  # iteration ended by itself
    assert len(seen) == 1
    with pytest.raises(StopAsyncIteration):
        await w.__anext__()
    await w.aclose()  # idempotent


async def test_cancelling_the_consumer_stops_cleanly(tmp_path: Path, recwarn: Any) -> None:
    w = watcher(tmp_path)

    async def consume() -> None:
        async with w:
            async for _ in w:
                pass

    consumer = asyncio.create_task(consume())
    (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1)[:500])  # one incomplete file being watched
    await asyncio.sleep(0.2)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    gc.collect()
    assert [str(warning.message) for warning in recwarn] == []
    assert w._task is not None and w._task.done()
    assert w._pump_task is not None and w._pump_task.done()
    watch_tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("nfd-watch")]
    assert watch_tasks == []


async def test_a_failure_of_the_watching_task_reaches_the_consumer(tmp_path: Path) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    w = watcher(folder)
    await w.start()
    w._events.put_nowait(RuntimeError("watch thread died"))  # what _pump forwards
    with pytest.raises(RuntimeError, match="watch thread died"):
        await asyncio.wait_for(w.__anext__(), HANG)
    await w.aclose()


async def test_invalid_arguments_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="index_from must be one of 'name', 'header'; got 'path'"):
        ScanWatcher(tmp_path, index_from="path")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reorder_timeout must be a number >= 0, got -1"):
        ScanWatcher(tmp_path, reorder_timeout=-1)
    with pytest.raises(ValueError, match="poll_interval must be a number > 0, got 0"):
        ScanWatcher(tmp_path, poll=True, poll_interval=0)
    w = ScanWatcher(tmp_path / "absent")
    with pytest.raises(NotADirectoryError, match="absent"):
        await w.start()
    with pytest.raises(RuntimeError, match="not started"):
        await ScanWatcher(tmp_path).__anext__()
