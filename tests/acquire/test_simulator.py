"""The scanner simulator, watched by the watch folder: what it writes, and how."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import (
    FileNaming,
    RecordingError,
    ScanWatcher,
    plan_recording,
    read_scan,
    simulate_scanner,
    simulate_scanner_main,
)
from nfd.acquire._simulator import _write
from tests.helpers.watching import HANG, events, nothing_within, take


def four_d(path: Path, n: int = 6) -> np.ndarray:
    data = (np.arange(5 * 4 * 3)[:, None] + 100 * np.arange(n)[None, :]).reshape(5, 4, 3, n).astype(np.int16)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.5, 1.0])), path)
    return data


async def watch_while_simulating(watcher: ScanWatcher, n: int, **simulate: Any) -> tuple[list[Any], Any]:
    async with watcher:
        simulation = asyncio.create_task(simulate_scanner(**simulate))
        scans = await take(watcher, n)
        report = await asyncio.wait_for(simulation, HANG)
        assert await nothing_within(watcher, 0.3)
    return scans, report


async def test_opennft_chunks_with_a_drop_a_duplicate_and_a_swap(
    tmp_path: Path, opennft_dicom: Path, logs: list
) -> None:
    watcher = ScanWatcher(tmp_path, reorder_timeout=0.4)
    scans, report = await watch_while_simulating(
        watcher, 5, source=opennft_dicom, watch=tmp_path, tr=0.05, mode="chunks", chunks=4,
        drop=[2], duplicate=[1], swap=[(3, 4)], n_volumes=6,
    )
    assert report.written == [0, 1, 4, 3, 5] and report.dropped == [2] and report.duplicated == [1]
    assert [s.index for s in scans] == [0, 1, 3, 4, 5]
    for scan in scans:
        np.testing.assert_array_equal(scan.image.data, read_scan(opennft_dicom / scan.path.name).data)
    assert watcher.missing == [2] and watcher.stats["duplicates"] == 1
    (dup,) = events(logs, "duplicate_skipped")
    assert Path(dup["file"]).name == "001_000007_000000.dcm"
    assert Path(dup["duplicate_of"]).name == "001_000007_000002.dcm"
    assert [e["index"] for e in events(logs, "volume_missing")] == [2]


async def test_ge_slice_by_slice_via_rename(tmp_path: Path, shared_data: Path, logs: list) -> None:
    source = shared_data / "dicom_reader_testset" / "ge_mr750_epi"
    watcher = ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.5)
    scans, report = await watch_while_simulating(
        watcher, 3, source=source, watch=tmp_path, tr=0.1, mode="rename",
        drop=[1], duplicate=[2], n_volumes=4,
    )
    assert [s.index for s in scans] == [0, 2, 3] and watcher.missing == [1]
    assert len(report.files) == 15 * 3 + 15  # three volumes, and one again
    assert not list(tmp_path.glob(".*.part"))  # every temporary name was renamed
    volumes = plan_recording(source)
    for scan in scans:
        np.testing.assert_array_equal(scan.image.data, volumes[scan.index].read().data)
    assert watcher.stats["duplicates"] == 15
    assert {Path(e["file"]).name[:4] for e in events(logs, "duplicate_skipped")} == {"dup_"}


async def test_4d_nifti_split_into_volumes(tmp_path: Path, logs: list) -> None:
    data = four_d(tmp_path / "run.nii")
    watch = tmp_path / "watch"
    watch.mkdir()
    naming_watcher = ScanWatcher(watch, naming=FileNaming(r"vol_(?P<volume>\d{4})\.nii"), reorder_timeout=0.3)
    scans, report = await watch_while_simulating(
        naming_watcher, 6, source=tmp_path / "run.nii", watch=watch, tr=0.02, mode="direct",
    )
    assert [s.index for s in scans] == list(range(6)) and report.written == list(range(6))
    for scan in scans:
        np.testing.assert_array_equal(scan.image.data, data[..., scan.index])
    assert sorted(p.name for p in watch.iterdir()) == [f"vol_{n:04d}.nii" for n in range(1, 7)]


async def test_chunks_mode_leaves_a_partial_file_during_its_pause(tmp_path: Path) -> None:
    content = bytes(range(200)) * 10
    path = tmp_path / "f.dcm"
    writer = asyncio.create_task(_write(path, content, "chunks", 4, pause=30.0))
    await asyncio.sleep(0)  # the writer runs to its first pause
    assert path.read_bytes() == content[:500]
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer


async def test_bad_arguments_are_named(tmp_path: Path) -> None:
    four_d(tmp_path / "run.nii", n=3)
    source, watch = tmp_path / "run.nii", tmp_path / "watch"
    with pytest.raises(RecordingError, match="cannot drop volume 7"):
        await simulate_scanner(source, watch, 0.01, drop=[7])
    with pytest.raises(RecordingError, match="cannot swap volume 3"):
        await simulate_scanner(source, watch, 0.01, swap=[(1, 3)])
    with pytest.raises(RecordingError, match="cannot duplicate volume 5"):
        await simulate_scanner(source, watch, 0.01, duplicate=[5])
    with pytest.raises(ValueError, match="tr must be a number > 0, got 0"):
        await simulate_scanner(source, watch, 0)
    with pytest.raises(ValueError, match="mode must be one of"):
        await simulate_scanner(source, watch, 0.01, mode="copy")  # type: ignore[arg-type]
    with pytest.raises(RecordingError, match="no such folder or file"):
        await simulate_scanner(tmp_path / "absent", watch, 0.01)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = four_d(tmp_path / "run.nii", n=4)
    watch = tmp_path / "watch"
    code = simulate_scanner_main([
        "--source", str(tmp_path / "run.nii"), "--watch", str(watch), "--tr", "0.01",
        "--mode", "rename", "--drop", "1", "--duplicate", "0", "--swap", "2,3",
        "--name-pattern", "run_{volume:03d}.nii",
    ])
    assert code == 0
    assert sorted(p.name for p in watch.iterdir()) == ["run_000.nii", "run_001.nii", "run_003.nii", "run_004.nii"]
    np.testing.assert_array_equal(read_scan(watch / "run_004.nii").data, data[..., 3])
    assert "wrote 3 volumes (4 files)" in capsys.readouterr().err
    assert simulate_scanner_main(["--source", str(tmp_path / "absent"), "--watch", str(watch), "--tr", "1"]) == 2
    assert "no such folder or file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        simulate_scanner_main(["--source", "x", "--watch", "y", "--tr", "1", "--swap", "1,2,3"])
    assert exit_info.value.code == 2
