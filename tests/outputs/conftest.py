"""Fixtures of the outputs tests: records of a real run, for the web server's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.outputs import VolumeRecord
from nfd.outputs.web import RunInfo
from tests.helpers.records import opennft_run


@pytest.fixture(scope="session")
def opennft_records(shared_data: Path) -> tuple[RunInfo, list[VolumeRecord]]:
    """The real OpenNFT run as the daemon's per-volume records (150 processed volumes)."""
    return opennft_run(shared_data)
