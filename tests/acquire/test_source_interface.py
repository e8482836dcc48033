"""One interface suite for every scan source (nibabel's ValidateAPI pattern).

Each implementation of :class:`nfd.acquire.ScanSource` is a factory fixture
in :data:`SOURCES`; every test runs over all of them. A factory takes the
folder to work in and the number of volumes, writes what its source reads,
and returns ``(source, n_expected)``. Append a factory to add an
implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import FileNaming, RecordingSource, Scan, ScanSource, ScanWatcher
from tests.helpers.nifti import nifti_bytes

#: Generous bound so that a broken source fails instead of hanging; never a speed assertion.
HANG = 20.0
N_VOLUMES = 4
NAMING = FileNaming(r"vol_(?P<volume>\d{4})\.nii")

#: Builds a source over ``folder`` holding ``n`` volumes (written by the factory).
Factory = Callable[[Path, int], ScanSource]


def _volume_files(folder: Path, n: int) -> None:
    for number in range(1, n + 1):
        (folder / f"vol_{number:04d}.nii").write_bytes(nifti_bytes(number))


def watcher_over_a_folder(folder: Path, n: int) -> ScanSource:
    """The watch folder over files present at start."""
    _volume_files(folder, n)
    return ScanWatcher(folder, naming=NAMING)


def recording_of_a_folder(folder: Path, n: int) -> ScanSource:
    """A replay of a folder of 3-D NIfTI files."""
    _volume_files(folder, n)
    return RecordingSource.open(folder, naming=NAMING)


def recording_of_a_4d_nifti(folder: Path, n: int) -> ScanSource:
    """A replay of one 4-D NIfTI."""
    data = np.arange(6 * 5 * 4 * n, dtype=np.int16).reshape((6, 5, 4, n))
    path = folder / "run.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return RecordingSource.open(path)


#: Every scan source implementation, as a factory; append one to test another.
SOURCES: list[Factory] = [watcher_over_a_folder, recording_of_a_folder, recording_of_a_4d_nifti]


@pytest.fixture(params=SOURCES, ids=lambda factory: factory.__name__)
def make_source(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = request.param
    return factory


async def _take(source: ScanSource, n: int) -> list[Scan]:
    """The first ``n`` scans of a started source."""
    scans: list[Scan] = []

    async def collect() -> None:
        async for scan in source:
            scans.append(scan)
            if len(scans) == n:
                return

    await asyncio.wait_for(collect(), HANG)
    return scans


async def test_is_an_async_context_manager_yielding_scans(make_source: Factory, tmp_path: Path) -> None:
    source = make_source(tmp_path, N_VOLUMES)
    async with source as entered:
        scans = await _take(entered, N_VOLUMES)
    assert all(isinstance(scan, Scan) for scan in scans)
    assert all(scan.image.data.ndim == 3 for scan in scans)


async def test_yields_each_index_once_in_increasing_order(make_source: Factory, tmp_path: Path) -> None:
    async with make_source(tmp_path, N_VOLUMES) as source:
        scans = await _take(source, N_VOLUMES)
    assert [scan.index for scan in scans] == list(range(N_VOLUMES))


async def test_stats_is_a_mapping_of_ints_counting_the_taken(make_source: Factory, tmp_path: Path) -> None:
    async with make_source(tmp_path, N_VOLUMES) as source:
        await _take(source, N_VOLUMES)
        stats = source.stats
        assert isinstance(stats, Mapping)
        assert all(isinstance(key, str) and type(value) is int for key, value in stats.items())
        assert stats["taken"] == N_VOLUMES
        assert stats["rejected"] == 0


async def test_new_series_is_none_for_one_series(make_source: Factory, tmp_path: Path) -> None:
    async with make_source(tmp_path, N_VOLUMES) as source:
        assert source.new_series is None
        await _take(source, N_VOLUMES)
        assert source.new_series is None


def test_every_source_satisfies_the_protocol_for_mypy() -> None:
    """Checked by mypy (``tests/acquire`` typed): each assignment must type-check."""
    kinds: list[type[ScanSource]] = [ScanWatcher, RecordingSource]
    assert len(kinds) == 2
