"""A recording replayed as a scan source: in order, one volume decoded ahead, bad files skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from nfd.acquire import FileNaming, RecordingError, RecordingSource, read_scan
from tests.helpers.nifti import nifti_bytes

NAMING = FileNaming(r"vol_(?P<volume>\d{4})\.nii")


async def _all(source: RecordingSource) -> list[tuple[int, str]]:
    async with source:
        return [(scan.index, scan.path.name) async for scan in source]


def test_real_siemens_run_in_order(opennft_dicom: Path) -> None:
    source = RecordingSource.open(opennft_dicom)
    scans = asyncio.run(_all(source))
    assert [index for index, _ in scans] == list(range(155))
    assert scans[5][1] == "001_000007_000006.dcm"
    assert source.stats == {"taken": 155, "rejected": 0}
    assert source.missing == []
    assert source.new_series is None


def test_first_number_shifts_the_indices(tmp_path: Path) -> None:
    for number in (3, 4, 5):
        (tmp_path / f"vol_{number:04d}.nii").write_bytes(nifti_bytes(number))
    scans = asyncio.run(_all(RecordingSource.open(tmp_path, naming=NAMING, first_number=3)))
    assert [index for index, _ in scans] == [0, 1, 2]


def test_data_is_the_files(tmp_path: Path) -> None:
    for number in (1, 2):
        (tmp_path / f"vol_{number:04d}.nii").write_bytes(nifti_bytes(number))

    async def first() -> np.ndarray:
        async with RecordingSource.open(tmp_path, naming=NAMING) as source:
            async for scan in source:
                return scan.image.data
        raise AssertionError("no scan")

    np.testing.assert_array_equal(asyncio.run(first()), read_scan(tmp_path / "vol_0001.nii").data)


def test_a_bad_file_is_logged_once_and_the_replay_goes_on(tmp_path: Path) -> None:
    for number in (1, 2, 3):
        (tmp_path / f"vol_{number:04d}.nii").write_bytes(nifti_bytes(number))
    source = RecordingSource.open(tmp_path, naming=NAMING)
    (tmp_path / "vol_0002.nii").write_bytes(b"not a scan at all" * 30)  # broken after planning
    with capture_logs() as logs:
        scans = asyncio.run(_all(source))
    assert [index for index, _ in scans] == [0, 2]
    assert source.stats == {"taken": 2, "rejected": 1}
    assert source.missing == [1]
    rejected = [e for e in logs if e["event"] == "file_rejected"]
    assert len(rejected) == 1 and rejected[0]["file"].endswith("vol_0002.nii")


def test_no_recording_raises_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such folder or file"):
        RecordingSource.open(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError):
        RecordingSource.open(tmp_path / "empty")


def test_stopping_early_cancels_the_read_ahead(tmp_path: Path) -> None:
    for number in (1, 2, 3):
        (tmp_path / f"vol_{number:04d}.nii").write_bytes(nifti_bytes(number))

    async def one() -> int:
        async with RecordingSource.open(tmp_path, naming=NAMING) as source:
            async for scan in source:
                return scan.index
        raise AssertionError("no scan")

    assert asyncio.run(one()) == 0
