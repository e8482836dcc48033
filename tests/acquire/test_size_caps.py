"""Size caps on scan files (issue 10, case 6), fed to the real watcher and reader.

A sparse file (``os.truncate``) larger than ``max_file_mb``, or much larger
than the run's first volume, is rejected from its ``stat`` without being
read; a real gzip bomb (zeros streamed through zlib, a few hundred KB on
disk) is refused before it is inflated, and memory stays bounded: the peak
Python allocation (``tracemalloc``, which sees every thread) is measured.
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nfd.acquire import FileNaming, IncompleteFileError, NotAScanError, ScanWatcher, read_scan_bytes
from nfd.acquire._reader import NIFTI_INFLATE_SLACK, read_part_bytes
from nfd.acquire._slices import SliceOptions
from nfd.acquire._watch_options import WatchOptions
from tests.helpers.nifti import nifti_bytes
from tests.helpers.watching import events, take, until

NAMING = FileNaming(r"vol_(?P<volume>\d{4})\.nii(\.gz)?")
MB = 10**6
#: What each bomb inflates to, bytes (its file is about 1/1000 of it).
BOMB_INFLATED = 300 * MB


def vol_name(number: int, gz: bool = False) -> str:
    return f"vol_{number:04d}.nii" + (".gz" if gz else "")


def gzip_stream(head: bytes, zeros: int) -> bytes:
    """A real gzip file of ``head`` then ``zeros`` zero bytes, compressed chunk by chunk (never held inflated)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflater.compress(head)]
    chunk = bytes(MB)
    for _ in range(zeros // MB):
        parts.append(deflater.compress(chunk))
    parts.append(deflater.compress(bytes(zeros % MB)))
    parts.append(deflater.flush())
    return b"".join(parts)


def measured(call: Callable[[], object]) -> tuple[object, float, int]:
    """What ``call()`` returned or raised, its duration (s) and its peak traced allocation (bytes)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        outcome = call()
    except NotAScanError as err:
        outcome = err
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, elapsed, peak


def watcher(folder: Path, **kwargs: Any) -> ScanWatcher:
    options: dict[str, Any] = {"naming": NAMING, "reorder_timeout": 0.3, "complete_timeout": 2.0}
    options.update(kwargs)
    return ScanWatcher(folder, **options)


# -- the reader: bounded gzip -------------------------------------------------


def test_nifti_gzip_bomb_is_refused_without_inflating_it() -> None:
    head = nifti_bytes(1)  # a whole 6x5x4 int16 volume: the header implies 592 bytes
    bomb = gzip_stream(head, BOMB_INFLATED)
    assert len(bomb) < BOMB_INFLATED // 500  # small on disk
    outcome, elapsed, peak = measured(lambda: read_scan_bytes(bomb, "vol_0001.nii.gz"))
    assert isinstance(outcome, NotAScanError)
    assert outcome.path == "vol_0001.nii.gz"
    assert outcome.reason == (
        f"gzip data inflate beyond {len(head) + NIFTI_INFLATE_SLACK} bytes (the NIfTI header implies "
        f"{len(head)}, plus {NIFTI_INFLATE_SLACK} bytes of slack): refused before inflating further"
    )
    assert "\n" not in str(outcome)
    assert peak < 10 * MB  # the old whole-stream inflate peaked above 300 MB
    assert elapsed < 1.0


def test_gzip_bomb_of_neither_nifti_nor_dicom_stops_after_its_first_bytes() -> None:
    bomb = gzip_stream(b"", BOMB_INFLATED)  # zeros only
    outcome, elapsed, peak = measured(lambda: read_scan_bytes(bomb, "zeros.nii.gz"))
    assert isinstance(outcome, NotAScanError)
    assert outcome.reason.startswith("neither DICOM ('DICM' at byte 128)")
    assert peak < 5 * MB and elapsed < 1.0


def test_gzipped_dicom_bomb_is_refused_at_the_cap() -> None:
    head = bytes(128) + b"DICM"
    bomb = gzip_stream(head, BOMB_INFLATED)
    cap = 5 * MB
    outcome, _, peak = measured(lambda: read_part_bytes(bomb, "bomb.dcm.gz", SliceOptions(), max_inflated=cap))
    assert isinstance(outcome, NotAScanError)
    assert outcome.reason == (
        f"gzip data inflate beyond {cap} bytes (the cap of {cap} bytes): refused before inflating further"
    )
    assert peak < 4 * cap


def test_nifti_gzip_at_the_bound_is_read_and_one_byte_more_refused() -> None:
    """Known answer: implied size + slack inflates and reads; one byte beyond is refused."""
    raw = nifti_bytes(5)
    at_bound = gzip_stream(raw, NIFTI_INFLATE_SLACK)
    image = read_scan_bytes(at_bound, "vol.nii.gz")
    assert image.data.shape == (6, 5, 4) and int(image.data[0, 0, 0]) == 5
    with pytest.raises(NotAScanError, match=r"^vol\.nii\.gz: gzip data inflate beyond"):
        read_scan_bytes(gzip_stream(raw, NIFTI_INFLATE_SLACK + 1), "vol.nii.gz")


def test_nifti_gzip_whose_header_implies_more_than_the_cap_is_refused() -> None:
    raw = nifti_bytes(1, shape=(200, 200, 100))  # 8 000 352 bytes implied
    with pytest.raises(NotAScanError) as caught:
        read_part_bytes(gzip.compress(raw), "big.nii.gz", SliceOptions(), max_inflated=5 * MB)
    assert caught.value.reason == f"the NIfTI header implies {len(raw)} bytes, beyond the cap of {5 * MB} bytes"


def test_multi_member_gzip_is_bounded_over_all_members() -> None:
    raw = nifti_bytes(2)
    two = gzip.compress(raw) + gzip_stream(b"", NIFTI_INFLATE_SLACK + 1)
    with pytest.raises(NotAScanError, match="inflate beyond"):
        read_scan_bytes(two, "two.nii.gz")
    ok = gzip.compress(raw[:300]) + gzip.compress(raw[300:])
    assert int(read_scan_bytes(ok, "ok.nii.gz").data[0, 0, 0]) == 2


def test_truncated_gzip_is_still_incomplete() -> None:
    data = gzip.compress(nifti_bytes(3, shape=(32, 32, 16)))
    with pytest.raises(IncompleteFileError, match="the gzip stream ends early"):
        read_scan_bytes(data[: len(data) // 2], "half.nii.gz")


def test_max_file_mb_is_validated() -> None:
    assert WatchOptions(max_file_mb=2).max_file_bytes == 2 * MB
    with pytest.raises(ValueError, match="max_file_mb"):
        WatchOptions(max_file_mb=0)


# -- the watcher: real files on disk -----------------------------------------


async def test_sparse_file_above_the_cap_is_rejected_unread(tmp_path: Path, logs: list) -> None:
    """A 3 GB sparse file named like a volume: one line from its stat, its index missing at once."""
    (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
    sparse = tmp_path / vol_name(2)
    size = 3 * 10**9
    tracemalloc.start()
    try:
        async with watcher(tmp_path, reorder_timeout=30.0) as w:
            (first,) = await take(w, 1)
            with open(sparse, "wb") as handle:
                handle.truncate(size)
            start = time.monotonic()
            await until(lambda: w.stats["rejected"] == 1)
            elapsed = time.monotonic() - start
            (tmp_path / vol_name(3)).write_bytes(nifti_bytes(3))
            (third,) = await take(w, 1)  # index 1 is missing at once, not after reorder_timeout
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (first.index, third.index) == (0, 2)
    assert w.missing == [1]
    (line,) = events(logs, "file_rejected")
    assert line["file"] == str(sparse)
    assert line["reason"] == f"{size} bytes, above the size cap of {512 * MB} bytes (max_file_mb): not read"
    assert peak < 20 * MB and elapsed < 2.0


async def test_configured_cap_rejects_a_file_present_at_start(tmp_path: Path, logs: list) -> None:
    big = nifti_bytes(1, shape=(64, 64, 40))  # 163 840 int16 voxels after a 352-byte header: 328 032 bytes
    (tmp_path / vol_name(1)).write_bytes(big)
    (tmp_path / vol_name(2)).write_bytes(nifti_bytes(2))
    async with watcher(tmp_path, max_file_mb=0.3) as w:
        (scan,) = await take(w, 1)
    # Present at start, a refused file does not count: the run begins at the smallest index read.
    assert scan.index == 1 and w.missing == []
    (line,) = events(logs, "file_rejected")
    assert line["reason"] == f"{len(big)} bytes, above the size cap of 300000 bytes (max_file_mb): not read"
    assert w.stats["rejected"] == 1


async def test_file_much_larger_than_the_first_volume_is_rejected_unread(tmp_path: Path, logs: list) -> None:
    first_size = len(nifti_bytes(1))
    limit = 2 * first_size + MB
    async with watcher(tmp_path, reorder_timeout=30.0) as w:
        (tmp_path / vol_name(1)).write_bytes(nifti_bytes(1))
        await take(w, 1)
        with open(tmp_path / vol_name(2), "wb") as handle:
            handle.truncate(limit + 1)
        await until(lambda: w.stats["rejected"] == 1)
        (tmp_path / vol_name(3)).write_bytes(nifti_bytes(3))
        (third,) = await take(w, 1)
    assert third.index == 2 and w.missing == [1]
    (line,) = events(logs, "file_rejected")
    assert line["file"] == str(tmp_path / vol_name(2))
    assert line["reason"] == (
        f"{limit + 1} bytes, above {limit} bytes (2 x the run's first volume file of {first_size} bytes, "
        f"plus {MB}): not read"
    )


async def test_file_at_the_expected_limit_is_read(tmp_path: Path, logs: list) -> None:
    """Known answer at the bound: a volume with trailing bytes up to 2 x first + 1 MB is read and taken."""
    first = nifti_bytes(1)
    second = nifti_bytes(2)
    padded = second + bytes(2 * len(first) + MB - len(second))
    async with watcher(tmp_path) as w:
        (tmp_path / vol_name(1)).write_bytes(first)
        await take(w, 1)
        (tmp_path / vol_name(2)).write_bytes(padded)
        (scan,) = await take(w, 1)
    assert scan.index == 1 and int(scan.image.data[0, 0, 0]) == 2
    assert events(logs, "file_rejected") == []


async def test_gzip_bomb_in_the_watch_folder_is_refused_quickly(tmp_path: Path, logs: list) -> None:
    """The issue's case: a small .nii.gz inflating to hundreds of MB, named like a volume."""
    (tmp_path / vol_name(1, gz=True)).write_bytes(gzip.compress(nifti_bytes(1)))
    bomb = gzip_stream(nifti_bytes(2), BOMB_INFLATED)
    tracemalloc.start()
    try:
        async with watcher(tmp_path, reorder_timeout=30.0) as w:
            await take(w, 1)
            tracemalloc.reset_peak()
            start = time.monotonic()
            (tmp_path / vol_name(2, gz=True)).write_bytes(bomb)
            await until(lambda: w.stats["rejected"] == 1)
            elapsed = time.monotonic() - start
            _, peak = tracemalloc.get_traced_memory()
            (tmp_path / vol_name(3, gz=True)).write_bytes(gzip.compress(nifti_bytes(3)))
            (third,) = await take(w, 1)
    finally:
        tracemalloc.stop()
    assert third.index == 2 and w.missing == [1]
    (line,) = events(logs, "file_rejected")
    assert line["file"] == str(tmp_path / vol_name(2, gz=True))
    assert line["reason"].startswith(f"gzip data inflate beyond {len(nifti_bytes(2)) + NIFTI_INFLATE_SLACK} bytes")
    assert peak < 20 * MB  # well under the 300 MB it inflates to
    assert elapsed < 2.0
