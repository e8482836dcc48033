"""Fixtures and file writers for the acquire tests."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def nifti_bytes(
    value: int = 1,
    shape: tuple[int, ...] = (6, 5, 4),
    *,
    affine: np.ndarray | None = None,
    dtype: type = np.int16,
    compressed: bool = False,
) -> bytes:
    """A NIfTI-1 file's bytes: a ramp plus ``value`` (distinct per volume)."""
    data: np.ndarray = (np.arange(int(np.prod(shape))).reshape(shape, order="F") + value).astype(dtype)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.5, 3.0, 1.0]) if affine is None else affine)
    raw = img.to_bytes()
    return gzip.compress(raw, mtime=0) if compressed else raw


async def write_in_chunks(path: Path, data: bytes, n_chunks: int = 2, pause: float = 0.05) -> None:
    """Write a file the way a slow scanner export does: chunks with pauses, then close."""
    bounds = np.linspace(0, len(data), n_chunks + 1).astype(int)
    # Blocking writes on purpose: each chunk lands at once, as a scanner's write does.
    with open(path, "wb") as handle:  # noqa: ASYNC230  the chunks must land between awaits, not in a thread
        for i, (start, stop) in enumerate(itertools.pairwise(bounds)):
            handle.write(data[start:stop])
            handle.flush()
            os.fsync(handle.fileno())
            if i < n_chunks - 1:
                await asyncio.sleep(pause)


def write_via_rename(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename (atomic)."""
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    os.rename(temporary, path)


@pytest.fixture(scope="session")
def opennft_dicom(shared_data: Path) -> Path:
    """The folder of the real opennft run's 155 Siemens mosaic DICOMs."""
    return shared_data / "opennft_psc_run" / "dicom"


@pytest.fixture(scope="session")
def rt_mosaic(shared_data: Path) -> Path:
    """The rt-cloud sample's 10 Siemens mosaics (+ a byte copy as 000000)."""
    return shared_data / "siemens_rt_mosaic"


@pytest.fixture(scope="session")
def prisma_mosaics(shared_data: Path) -> Path:
    """dcm_qa_mosaic's three Siemens Prisma series with dcm2niix references."""
    return shared_data / "dicom_reader_testset" / "siemens_mosaic_prisma_vd13"
