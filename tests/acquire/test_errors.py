"""nfd.acquire's public names and error hierarchy (tests/test_docs.py runs the examples)."""

import nfd.acquire


def test_public_api() -> None:
    assert set(nfd.acquire.__all__) == {
        "FileNaming", "IncompleteFileError", "NotAScanError", "RecordedVolume", "RecordingError",
        "RecordingSource", "Scan", "ScanFileError", "ScanImage", "ScanSource", "ScanWatcher",
        "SeriesId", "SimulationReport",
        "SliceImage", "assemble_volume", "plan_recording", "read_scan", "read_scan_bytes",
        "read_slice", "read_slice_bytes", "simulate_scanner", "simulate_scanner_main",
    }
    for error in ("IncompleteFileError", "NotAScanError", "RecordingError"):
        assert issubclass(getattr(nfd.acquire, error), nfd.acquire.ScanFileError)
