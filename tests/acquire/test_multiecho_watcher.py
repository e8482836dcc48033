"""Multi-echo NIfTI in the watch folder: one file per echo, written as scanners write, released whole.

The volumes are S0 * exp(-TE / T2*) on a small grid, one file per echo named
with the BIDS ``_echo-<n>_`` entity, TEs from BIDS sidecars (EchoTime in s)
or the watcher's ``echo_times_ms``; the real ScanWatcher, no mocks.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import FileNaming, Scan, ScanWatcher
from nfd.acquire._echoes import bids_echo, echo_sibling, sidecar_echo_time_ms
from tests.helpers.watching import events, take, warnings_of, write_in_chunks, write_via_rename

TES = (14.5, 38.5, 62.5)
SHAPE = (6, 5, 4)
AFFINE = np.diag([3.0, 3.0, 3.5, 1.0])
NAMING = FileNaming(r"vol_(?P<volume>\d{4})_echo-\d+_bold\.nii")


def name(volume: int, echo: int) -> str:
    return f"vol_{volume:04d}_echo-{echo}_bold.nii"


def echo_data(volume: int, te: float) -> np.ndarray:
    """S0 * exp(-TE / T2*): S0 differs by volume, T2* by voxel (20..60 ms)."""
    t2s = np.linspace(20.0, 60.0, int(np.prod(SHAPE))).reshape(SHAPE)
    s0 = 1000.0 + 10.0 * volume
    return (s0 * np.exp(-te / t2s)).astype(np.float32)


def echo_bytes(volume: int, echo: int, *, te: float | None = None, affine: np.ndarray = AFFINE,
               shape: tuple[int, int, int] = SHAPE) -> bytes:
    data = echo_data(volume, TES[echo - 1] if te is None else te)
    if shape != SHAPE:
        data = np.zeros(shape, np.float32)
    return nib.Nifti1Image(data, affine).to_bytes()


def write_sidecar(folder: Path, volume: int, echo: int, te_ms: float) -> None:
    (folder / name(volume, echo).replace(".nii", ".json")).write_text(json.dumps({"EchoTime": te_ms / 1000}))


def watcher(folder: Path, **kwargs: Any) -> ScanWatcher:
    options: dict[str, Any] = {
        "naming": NAMING, "reorder_timeout": 0.4, "complete_timeout": 1.0, "echoes": 3, "echo_times_ms": TES,
    }
    options.update(kwargs)
    return ScanWatcher(folder, **options)


def check_whole(scan: Scan, volume: int) -> None:
    assert [e.echo for e in scan.echoes] == [1, 2, 3]
    assert scan.echo_images == scan.echoes and scan.image is scan.echoes[0]
    assert [e.echo_time_ms for e in scan.echoes] == list(TES)
    for echo, image in zip((1, 2, 3), scan.echoes, strict=True):
        np.testing.assert_array_equal(image.data, echo_data(volume, TES[echo - 1]))
        np.testing.assert_array_equal(image.affine, AFFINE)


def test_names_and_sidecars(tmp_path: Path) -> None:
    assert bids_echo("sub-01_task-x_echo-12_bold.nii.gz") == 12
    assert bids_echo("vol_0003_bold.nii") is None and bids_echo("my_echo-x_bold.nii") is None
    assert echo_sibling(tmp_path / "run_echo-1_bold.nii.gz", 2) == tmp_path / "run_echo-2_bold.nii.gz"
    (tmp_path / "a_echo-1_bold.json").write_text('{"EchoTime": 0.0145}')
    (tmp_path / "b_echo-1_bold.json").write_text('{"EchoTime": "soon"}')
    (tmp_path / "c_echo-1_bold.json").write_text("not json")
    assert sidecar_echo_time_ms(tmp_path / "a_echo-1_bold.nii.gz") == pytest.approx(14.5)
    assert sidecar_echo_time_ms(tmp_path / "b_echo-1_bold.nii") is None
    assert sidecar_echo_time_ms(tmp_path / "c_echo-1_bold.nii") is None
    assert sidecar_echo_time_ms(tmp_path / "d_echo-1_bold.nii") is None


async def test_every_volume_released_once_whole_with_echoes_in_order(tmp_path: Path, logs: list) -> None:
    """Chunks, renames, echoes out of order, one echo late, a byte copy: 4 volumes, each once, whole."""
    for volume in (1, 2, 3, 4):
        for echo in (1, 2):  # echo 3's TE from echo_times_ms
            write_sidecar(tmp_path, volume, echo, TES[echo - 1])
    async with watcher(tmp_path, reorder_timeout=2.0) as w:
        for echo in (3, 1, 2):
            await write_in_chunks(tmp_path / name(1, echo), echo_bytes(1, echo), n_chunks=3, pause=0.02)
        for echo in (2, 3):  # volume 2's first echo comes late, after volume 3
            write_via_rename(tmp_path / name(2, echo), echo_bytes(2, echo))
        for echo in (1, 3, 2):
            write_via_rename(tmp_path / name(3, echo), echo_bytes(3, echo))
        (first,) = await take(w, 1)
        await asyncio.sleep(0.3)
        await write_in_chunks(tmp_path / name(2, 1), echo_bytes(2, 1), n_chunks=2, pause=0.02)
        second, third = await take(w, 2)
        for echo in (2, 1, 3):
            await write_in_chunks(tmp_path / name(4, echo), echo_bytes(4, echo), n_chunks=2, pause=0.01)
        (tmp_path / name(5, 1)).write_bytes(echo_bytes(4, 1))  # a byte copy under another volume's name
        (fourth,) = await take(w, 1)
        await asyncio.sleep(0.3)
    scans = [first, second, third, fourth]
    assert [s.index for s in scans] == [0, 1, 2, 3]
    for volume, scan in enumerate(scans, start=1):
        check_whole(scan, volume)
    ctimes = [os.stat(tmp_path / name(2, echo)).st_ctime for echo in (1, 2, 3)]
    assert second.t_written is not None and second.t_written >= max(ctimes) - 0.05
    assert second.t_written - min(ctimes) > 0.25  # the late echo's last byte, not the first echoes'
    assert second.path == tmp_path / name(2, 1)  # the echo that completed it
    assert w.stats["taken"] == 4 and w.stats["duplicates"] == 1 and w.stats["missing"] == 0
    (line,) = events(logs, "duplicate_skipped")
    assert line["file"] == str(tmp_path / name(5, 1)) and line["duplicate_of"] == str(tmp_path / name(4, 1))
    assert [e["event"] for e in warnings_of(logs)] == ["duplicate_skipped"]


async def test_a_missing_echo_gives_up_its_volume_and_the_run_goes_on(tmp_path: Path, logs: list) -> None:
    async with watcher(tmp_path, complete_timeout=0.5, reorder_timeout=5.0) as w:
        for volume in (1, 2, 3):
            for echo in (1, 2, 3):
                if (volume, echo) != (2, 3):
                    write_via_rename(tmp_path / name(volume, echo), echo_bytes(volume, echo))
        scans = await take(w, 2)
    assert [s.index for s in scans] == [0, 2]
    check_whole(scans[1], 3)
    (line,) = events(logs, "volume_incomplete")
    assert (line["index"], line["echoes_present"], line["echoes_missing"]) == (1, [1, 2], [3])
    assert [e["index"] for e in events(logs, "volume_missing")] == [1]
    assert w.stats["incomplete"] == 1 and w.missing == [1]


async def test_bad_echoes_are_refused_with_one_line_each_and_the_run_goes_on(tmp_path: Path, logs: list) -> None:
    """Another grid, a changed TE, no TE, echo 4 of 3, no echo entity: one line each, the volume missing."""
    bad = {  # volume: (the echo it replaces, its file name, its bytes, what the line says)
        2: (2, name(2, 2), echo_bytes(2, 2, affine=np.diag([3.0, 3.0, 3.0, 1.0])), "affine up to 0.5 mm"),
        3: (3, name(3, 3), echo_bytes(3, 3, shape=(6, 5, 5)), "grid of shape (6, 5, 5), expected the run's"),
        4: (1, name(4, 1), echo_bytes(4, 1), "echo time 20.0 ms for echo 1, the run began with 14.5 ms"),
        5: (2, name(5, 2), echo_bytes(5, 2), "no echo time for echo 2"),
        6: (0, name(6, 4), echo_bytes(6, 1), "echo 4, expected 1..3"),
        7: (1, "vol_0007_bold.nii", echo_bytes(7, 1), "no echo number"),
    }
    for volume in range(1, 9):
        for echo in (1, 2, 3):
            if (volume, echo) != (5, 2):
                write_sidecar(tmp_path, volume, echo, 20.0 if (volume, echo) == (4, 1) else TES[echo - 1])
    naming = FileNaming(r"vol_(?P<volume>\d{4})(_echo-\d+)?_bold\.nii")
    async with watcher(tmp_path, naming=naming, echo_times_ms=None) as w:
        for volume in range(1, 9):
            replaced = 0
            if volume in bad:  # the bad file first: the volume's other echoes come after it
                replaced, file_name, content, _ = bad[volume]
                if volume in (2, 3):  # grid: against the other echoes held
                    write_via_rename(tmp_path / name(volume, 1), echo_bytes(volume, 1))
                    await asyncio.sleep(0.05)
                write_via_rename(tmp_path / file_name, content)
                await asyncio.sleep(0.05)
            for echo in (1, 2, 3):
                if echo != replaced and not (volume in (2, 3) and echo == 1):
                    write_via_rename(tmp_path / name(volume, echo), echo_bytes(volume, echo))
            await asyncio.sleep(0.05)
        scans = await take(w, 2)
    assert [s.index for s in scans] == [0, 7]
    check_whole(scans[1], 8)
    refused = events(logs, "echo_rejected")
    assert [(Path(e["file"]).name, e["index"]) for e in refused] == [(bad[v][1], v - 1) for v in sorted(bad)]
    for line, volume in zip(refused, sorted(bad), strict=True):
        assert bad[volume][3] in line["reason"], line
    assert sorted(w.missing) == [1, 2, 3, 4, 5, 6]
    assert w.stats["rejected"] == 6 and w.stats["incomplete"] == 0
    assert {e["event"] for e in warnings_of(logs)} == {"echo_rejected", "volume_missing"}


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="echoes must be an int >= 1"):
        ScanWatcher(tmp_path, echoes=0)
    with pytest.raises(ValueError, match="one time per echo"):
        ScanWatcher(tmp_path, echoes=3, echo_times_ms=(14.5, 38.5))
    with pytest.raises(ValueError, match="echo_times_ms"):
        ScanWatcher(tmp_path, echoes=2, echo_times_ms=(14.5, -1.0))
