"""The Examples sections of nfd.acquire run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from structlog.testing import capture_logs

import nfd.acquire

MODULES = sorted(
    f"nfd.acquire.{info.name}" for info in pkgutil.iter_modules(nfd.acquire.__path__)
)


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    with capture_logs():  # structlog would print the watcher's debug lines into the output
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_api() -> None:
    assert set(nfd.acquire.__all__) == {
        "FileNaming", "IncompleteFileError", "NotAScanError", "RecordedVolume", "RecordingError",
        "Scan", "ScanFileError", "ScanImage", "ScanWatcher", "SeriesId", "SimulationReport",
        "SliceImage", "assemble_volume", "plan_recording", "read_scan", "read_scan_bytes",
        "read_slice", "read_slice_bytes", "simulate_scanner", "simulate_scanner_main",
    }
    for name in nfd.acquire.__all__:
        assert getattr(nfd.acquire, name).__doc__, name
    for error in ("IncompleteFileError", "NotAScanError", "RecordingError"):
        assert issubclass(getattr(nfd.acquire, error), nfd.acquire.ScanFileError)
