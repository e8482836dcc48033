"""Multi-echo recordings: one 4-D NIfTI per echo (BIDS names and sidecars) replayed, and simulated into a folder."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import FileNaming, RecordingError, RecordingSource, ScanWatcher, plan_recording, simulate_scanner
from tests.helpers.watching import take, warnings_of

TES = (14.5, 38.5, 62.5)
SHAPE = (7, 6, 5)
N_VOLUMES = 5
AFFINE = np.array([[2.5, 0, 0, -10], [0, 2.5, 0, -12], [0, 0, 3.0, 4], [0, 0, 0, 1]])


def echo_series(te: float) -> np.ndarray:
    """S0(t) * exp(-TE / T2*), float32, shape SHAPE + (N_VOLUMES,)."""
    t2s = np.linspace(20.0, 60.0, int(np.prod(SHAPE))).reshape(SHAPE)
    s0 = 1000.0 + 5.0 * np.arange(N_VOLUMES)
    return (s0 * np.exp(-te / t2s)[..., None]).astype(np.float32)


def write_run(folder: Path, sidecars: tuple[int, ...] = (1, 2, 3), gz: bool = True) -> Path:
    """sub-01_task-nf_echo-<n>_bold.nii[.gz] for n = 1..3, with sidecars for the echoes in ``sidecars``."""
    ext = ".nii.gz" if gz else ".nii"
    for echo, te in enumerate(TES, start=1):
        nib.save(nib.Nifti1Image(echo_series(te), AFFINE), folder / f"sub-01_task-nf_echo-{echo}_bold{ext}")
        if echo in sidecars:
            (folder / f"sub-01_task-nf_echo-{echo}_bold.json").write_text(json.dumps({"EchoTime": te / 1000}))
    return folder / f"sub-01_task-nf_echo-1_bold{ext}"


async def replay(path: Path, **kwargs: object) -> list:
    async with RecordingSource.open(path, **kwargs) as source:  # type: ignore[arg-type]
        return [scan async for scan in source]


def check(scans: list, indices: range = range(N_VOLUMES)) -> None:
    assert [s.index for s in scans] == list(indices)
    for scan in scans:
        assert [e.echo for e in scan.echoes] == [1, 2, 3] and scan.image is scan.echoes[0]
        assert [e.echo_time_ms for e in scan.echoes] == pytest.approx(TES)
        for image, te in zip(scan.echoes, TES, strict=True):
            np.testing.assert_array_equal(image.data, echo_series(te)[..., scan.index])
            np.testing.assert_allclose(image.affine, AFFINE)


def test_replay_of_4d_echo_files_with_sidecars_equals_the_arrays(tmp_path: Path) -> None:
    first = write_run(tmp_path, sidecars=(1, 2))  # echo 3's TE from echo_times_ms
    check(asyncio.run(replay(first, echo_times_ms=TES)))
    volumes = plan_recording(first, echo_times_ms=TES)
    assert len(volumes) == N_VOLUMES and len(volumes[0].echoes) == 3
    assert volumes[0].echo_times_ms == pytest.approx(TES)
    single = asyncio.run(replay(tmp_path / "sub-01_task-nf_echo-2_bold.nii.gz"))  # not echo 1: one echo
    assert [s.echoes for s in single] == [()] * N_VOLUMES


def test_replay_without_an_echo_time_rejects_each_volume_with_a_line(tmp_path: Path, logs: list) -> None:
    first = write_run(tmp_path, sidecars=(1, 2))
    assert asyncio.run(replay(first)) == []
    lines = [e for e in logs if e["event"] == "file_rejected"]
    assert len(lines) == N_VOLUMES and "no echo time for echo 3" in lines[0]["reason"]


def test_echo_files_on_other_grids_are_refused(tmp_path: Path) -> None:
    first = write_run(tmp_path, gz=False)
    nib.save(nib.Nifti1Image(echo_series(TES[1])[:, :, :4], AFFINE), tmp_path / "sub-01_task-nf_echo-2_bold.nii")
    with pytest.raises(RecordingError, match=r"echo-2.*expected every echo on one grid"):
        plan_recording(first)


def test_folder_of_3d_echo_files(tmp_path: Path) -> None:
    for echo, te in enumerate(TES, start=1):
        series = echo_series(te)
        for t in range(N_VOLUMES):
            stem = f"vol_{t + 1:04d}_echo-{echo}_bold"
            nib.save(nib.Nifti1Image(series[..., t], AFFINE), tmp_path / f"{stem}.nii")
            (tmp_path / f"{stem}.json").write_text(json.dumps({"EchoTime": te / 1000}))
    naming = FileNaming(r"vol_(?P<volume>\d{4})_echo-\d+_bold\.nii")
    check(asyncio.run(replay(tmp_path, naming=naming)))


async def test_simulated_multi_echo_scanner_is_taken_whole_by_the_watcher(tmp_path: Path, logs: list) -> None:
    first = write_run(tmp_path, sidecars=(1, 2, 3))
    watch = tmp_path / "watch"
    watch.mkdir()
    naming = FileNaming(r"vol_(?P<volume>\d{4})_echo-\d+_bold\.nii")
    async with ScanWatcher(watch, naming=naming, echoes=3, reorder_timeout=0.5, complete_timeout=1.0) as w:
        simulation = asyncio.create_task(
            simulate_scanner(first, watch, tr=0.15, mode="chunks", chunks=3, duplicate=[2], seed=3)
        )
        scans = await take(w, N_VOLUMES)
        report = await simulation
    check(scans)
    assert report.written == list(range(N_VOLUMES)) and report.duplicated == [2]
    names = sorted(p.name for p in watch.iterdir())
    assert "vol_0001_echo-3_bold.json" in names
    assert w.stats["taken"] == N_VOLUMES and w.stats["missing"] == 0
    copies = {f"vol_0000_echo-{echo}_bold.nii" for echo in (1, 2, 3)}
    assert copies <= set(names)
    # one line per byte copy of volume 2: a duplicate, or (read before its original, under load) numbered 0
    assert sorted(Path(e["file"]).name for e in warnings_of(logs)) == sorted(copies)
    assert {e["event"] for e in warnings_of(logs)} <= {"duplicate_skipped", "file_rejected"}
