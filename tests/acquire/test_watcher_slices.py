"""The watch folder on a single-slice series: the real GE files, written slice file by slice file."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfd.acquire import FileNaming, ScanWatcher, assemble_volume, read_slice, read_slice_bytes
from tests.helpers.dicom import slice_dicom
from tests.helpers.watching import events, nothing_within, take, until, warnings_of, write_in_chunks

GE_NAMING = FileNaming(r"axial_epi_fmri_interleaved_i_to_s-(?P<volume>\d{5})\.dcm")


@pytest.fixture(scope="module")
def ge_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "dicom_reader_testset" / "ge_mr750_epi").glob("*.dcm"))
    assert len(files) == 150
    return files


def volume_files(files: list[Path], index: int) -> list[Path]:
    return files[15 * index : 15 * (index + 1)]


def offline(files: list[Path], index: int) -> np.ndarray:
    return assemble_volume([read_slice(p) for p in volume_files(files, index)]).data


async def write_volume(folder: Path, files: list[Path], *, shuffle: int | None = None, skip: int | None = None) -> None:
    """A volume's slice files, each written in two chunks, in scanner order or shuffled."""
    order = list(files)
    if shuffle is not None:
        random.Random(shuffle).shuffle(order)
    for k, path in enumerate(order):
        if k != skip:
            await write_in_chunks(folder / path.name, path.read_bytes(), n_chunks=2, pause=0.002)


@pytest.mark.parametrize("index_from", ["header", "name"])
async def test_volumes_assembled_from_slice_files_in_any_order(
    tmp_path: Path, ge_files: list[Path], logs: list, index_from: str
) -> None:
    options: dict[str, Any] = {"index_from": index_from, "reorder_timeout": 1.0}
    if index_from == "name":
        options["naming"] = GE_NAMING
    async with ScanWatcher(tmp_path, **options) as w:
        for index in range(4):
            await write_volume(tmp_path, volume_files(ge_files, index), shuffle=index)
        scans = await take(w, 4)
        assert await nothing_within(w, 0.2)
    assert [s.index for s in scans] == [0, 1, 2, 3]
    for scan in scans:
        assert scan.image.format == "dicom_slices" and scan.image.shape == (64, 64, 15)
        np.testing.assert_array_equal(scan.image.data, offline(ge_files, scan.index))
        assert scan.image.slice_times is not None
        assert scan.path.name in {p.name for p in volume_files(ge_files, scan.index)}
    assert w.stats["taken"] == 4 and w.missing == [] and warnings_of(logs) == []


async def test_restart_mid_volume_takes_the_partial_volume(tmp_path: Path, ge_files: list[Path], logs: list) -> None:
    """Volume 3 whole and 7 slices of volume 4 are there at start: indices go on from 3."""
    for path in volume_files(ge_files, 3) + volume_files(ge_files, 4)[:7]:
        shutil.copy(path, tmp_path)
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.5) as w:
        (third,) = await take(w, 1)
        for path in volume_files(ge_files, 4)[7:] + volume_files(ge_files, 5):
            shutil.copy(path, tmp_path)
        scans = await take(w, 2)
    assert [s.index for s in (third, *scans)] == [3, 4, 5]
    np.testing.assert_array_equal(scans[0].image.data, offline(ge_files, 4))
    assert w.missing == [] and warnings_of(logs) == []


async def test_volume_lacking_a_slice_is_given_up_and_missing(tmp_path: Path, ge_files: list[Path], logs: list) -> None:
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.3, complete_timeout=5.0) as w:
        await write_volume(tmp_path, volume_files(ge_files, 0))
        await write_volume(tmp_path, volume_files(ge_files, 1), skip=6)
        await write_volume(tmp_path, volume_files(ge_files, 2))
        scans = await take(w, 2)
        await until(lambda: w.stats["incomplete"] == 1)
    assert [s.index for s in scans] == [0, 2] and w.missing == [1]
    (gave_up,) = events(logs, "volume_incomplete")
    assert (gave_up["index"], gave_up["slices"], gave_up["expected"]) == (1, 14, 15)
    assert gave_up["reason"] == "its index was passed"
    assert [e["index"] for e in events(logs, "volume_missing")] == [1]


async def test_last_volume_lacking_slices_is_given_up_after_complete_timeout(
    tmp_path: Path, ge_files: list[Path], logs: list
) -> None:
    async with ScanWatcher(tmp_path, index_from="header", complete_timeout=0.3) as w:
        await write_volume(tmp_path, volume_files(ge_files, 0))
        await write_volume(tmp_path, volume_files(ge_files, 1)[:5])
        (scan,) = await take(w, 1)
        await until(lambda: w.stats["incomplete"] == 1)
    assert scan.index == 0
    (gave_up,) = events(logs, "volume_incomplete")
    assert (gave_up["index"], gave_up["slices"]) == (1, 5)
    assert gave_up["reason"].startswith("no new slice for")
    assert Path(gave_up["last_file"]).name == volume_files(ge_files, 1)[4].name


async def test_duplicate_slices_are_skipped(tmp_path: Path, ge_files: list[Path], logs: list) -> None:
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.3) as w:
        first = volume_files(ge_files, 0)
        await write_volume(tmp_path, first[:5])
        shutil.copy(first[2], tmp_path / "copy-of-slice-3.dcm")  # held volume, same bytes
        await until(lambda: w.stats["duplicates"] == 1)
        await write_volume(tmp_path, first[5:])
        (scan,) = await take(w, 1)
        shutil.copy(first[9], tmp_path / "late-copy.dcm")  # a slice of a volume already complete
        await until(lambda: w.stats["duplicates"] == 2)
        await write_volume(tmp_path, volume_files(ge_files, 1))
        (second,) = await take(w, 1)
    assert (scan.index, second.index) == (0, 1)
    np.testing.assert_array_equal(scan.image.data, offline(ge_files, 0))
    dups = events(logs, "duplicate_skipped")
    assert [Path(d["file"]).name for d in dups] == ["copy-of-slice-3.dcm", "late-copy.dcm"]
    assert Path(dups[0]["duplicate_of"]).name == first[2].name
    assert w.missing == [] and w.stats["taken"] == 2


async def test_slice_count_from_the_option_when_the_header_has_none(tmp_path: Path, logs: list) -> None:
    """Synthetic Philips slices without ImagesInAcquisition: rejected, unless slices_per_volume."""
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    folder_b.mkdir()
    for t in (1, 2):
        for k, z in enumerate((0.0, 3.0, 6.0)):
            raw = slice_dicom(z, value=10 * t, temporal_position=t, instance=3 * (t - 1) + k + 1, n_slices=None)
            (folder_a / f"s{t}_{k}.dcm").write_bytes(raw)
            (folder_b / f"s{t}_{k}.dcm").write_bytes(raw)
    async with ScanWatcher(folder_a, index_from="header") as w:
        await until(lambda: w.stats["rejected"] == 6)
    assert all("set slices_per_volume" in e["reason"] for e in events(logs, "file_rejected"))
    async with ScanWatcher(folder_b, index_from="header", slices_per_volume=3) as w:
        scans = await take(w, 2)
    assert [s.index for s in scans] == [0, 1]
    assert [float(s.image.data.min()) for s in scans] == [10.0, 20.0]
    assert scans[0].image.shape == (4, 5, 3)


async def test_slices_of_a_passed_volume_are_late(tmp_path: Path, logs: list) -> None:
    """Volume 2's slices come after it was declared missing: one volume_late line for it."""
    def write(t: int, ks: range) -> None:
        for k in ks:
            raw = slice_dicom(3.0 * k, value=t, temporal_position=t, instance=3 * (t - 1) + k + 1)
            (tmp_path / f"s{t}_{k}.dcm").write_bytes(raw)

    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.2) as w:
        write(1, range(3))
        write(3, range(3))
        scans = await take(w, 2)
        write(2, range(3))
        await until(lambda: w.stats["late"] == 1)
        await asyncio.sleep(0.1)
    assert [s.index for s in scans] == [0, 2] and w.missing == [1]
    (late,) = events(logs, "volume_late")
    assert late["index"] == 1 and w.stats["late"] == 1
    assert read_slice_bytes((tmp_path / "s2_0.dcm").read_bytes()).volume_number == 2


async def test_slices_that_do_not_stack_are_refused(tmp_path: Path, logs: list) -> None:
    """Three slices of one volume, unevenly spaced (0, 3, 9 mm): one line, the volume missing."""
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=0.2) as w:
        for t, heights in ((1, (0.0, 3.0, 6.0)), (2, (0.0, 3.0, 9.0)), (3, (0.0, 3.0, 6.0))):
            for k, z in enumerate(heights):
                raw = slice_dicom(z, value=t, temporal_position=t, instance=3 * (t - 1) + k + 1)
                (tmp_path / f"s{t}_{k}.dcm").write_bytes(raw)
        scans = await take(w, 2)
    assert [s.index for s in scans] == [0, 2] and w.missing == [1]
    (refused,) = events(logs, "slices_rejected")
    assert refused["index"] == 1 and "not evenly spaced" in refused["reason"]
    assert w.stats["rejected"] == 1


# -- junk among the slices: random bytes, truncated files, other vendors' files ---------


def _junk_kinds(shared_data: Path) -> list[Path]:
    return [
        shared_data / "opennft_psc_run" / "dicom" / "001_000007_000003.dcm",  # a mosaic of another series
        next((shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri").glob("*.dcm")),
        shared_data / "opennft_psc_run" / "fanon-0007-00006-000006-01.nii",  # a NIfTI: no header index
        shared_data / "dicom_reader_testset" / "misc_single_files" / "nibabel_siemens_dti_mosaic_0.dcm",
    ]


JUNK = st.one_of(
    st.tuples(st.just("random"), st.binary(max_size=1500)),
    st.tuples(st.just("truncated"), st.integers(min_value=0, max_value=25_099)),
    st.tuples(st.just("vendor"), st.integers(min_value=0, max_value=3)),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(JUNK, min_size=1, max_size=3))
def test_junk_among_the_slices_never_stops_the_series(
    shared_data: Path, ge_files: list[Path], junk: list[tuple[str, object]]
) -> None:
    kinds = _junk_kinds(shared_data)
    slice_bytes = volume_files(ge_files, 0)[4].read_bytes()

    async def scenario(folder: Path) -> None:
        async with ScanWatcher(folder, index_from="header", reorder_timeout=0.5, complete_timeout=0.2) as w:
            await write_volume(folder, volume_files(ge_files, 0))
            (first,) = await take(w, 1)
            for k, (kind, value) in enumerate(junk):
                if kind == "random":
                    content = bytes(value)  # type: ignore[arg-type]
                elif kind == "truncated":
                    content = slice_bytes[: int(value)]  # type: ignore[call-overload]
                else:
                    content = kinds[int(value)].read_bytes()  # type: ignore[call-overload]
                (folder / f"junk-{k}.dcm").write_bytes(content)
            await write_volume(folder, volume_files(ge_files, 1))
            (second,) = await take(w, 1)
            accounted = ("rejected", "incomplete", "other_series", "duplicates")
            await until(lambda: sum(w.stats[key] for key in accounted) == len(junk))
        assert (first.index, second.index) == (0, 1) and w.missing == []
        np.testing.assert_array_equal(second.image.data, offline(ge_files, 1))
        assert w.stats["taken"] == 2

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp)))


async def test_a_whole_volume_goes_out_before_the_rest_of_its_batch_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slice files and three slow unrelated files in one batch of events, the slices read first:
    the volume is out as soon as its last slice is read, not after the slow reads (0.4 s each)."""
    from nfd.acquire import _watcher

    read_file = _watcher._read_file
    slow_done: list[float] = []

    def slow_for_junk(path: Path, *args: Any) -> Any:
        reading = read_file(path, *args)
        if path.name.startswith("z_"):
            time.sleep(0.4)
            slow_done.append(time.monotonic())
        return reading

    monkeypatch.setattr(_watcher, "_read_file", slow_for_junk)
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=5.0) as w:
        await asyncio.sleep(0.05)
        for k, z in enumerate((0.0, 3.0, 6.0)):
            (tmp_path / f"a_{k}.dcm").write_bytes(slice_dicom(z, instance=k + 1))
        for k in range(3):
            (tmp_path / f"z_{k}.dcm").write_bytes(b"not a scan " * 20)
        (scan,) = await take(w, 1)
        out = time.monotonic()
        await until(lambda: len(slow_done) == 3)
    assert scan.index == 0 and scan.image.shape == (4, 5, 3)
    assert out < slow_done[0], "the volume waited for an unrelated read of its batch"
