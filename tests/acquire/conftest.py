"""Fixtures of the acquire tests: the shared data folders, and the captured log lines."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs


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


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """The structlog lines written during the test (``event``, ``log_level`` and the fields)."""
    with capture_logs() as captured:
        yield captured
