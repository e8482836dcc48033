"""eeg_predictions.tsv and eeg_markers.tsv: one row per event, BIDS-style n/a, JSON sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfd.eeg import Marker, MarkerWriter, Prediction, PredictionWriter


def test_prediction_rows(tmp_path: Path) -> None:
    path = tmp_path / "eeg_predictions.tsv"
    p = Prediction(value=812.25, t=100.5, t_window_end=100.496, window_end_index=999, t_available=100.5125,
                   compute_ms=7.5)
    with PredictionWriter(path) as writer:
        writer.write(None, t=100.0, status="filling")
        writer.write(p, t=100.5, status="ok", index=12, trigger="volume")
        assert writer.rows == 2
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == [
        "time", "trigger", "index", "status", "value", "window_end", "latency_ms", "compute_ms",
    ]
    assert lines[1].split("\t") == ["100.0", "interval", "n/a", "filling", "n/a", "n/a", "n/a", "n/a"]
    assert lines[2].split("\t") == ["100.5", "volume", "12", "ok", "812.25", "100.496", "16.5", "7.5"]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["latency_ms"]["Units"] == "ms" and "stale" in sidecar["status"]["Levels"]
    with pytest.raises(ValueError, match="closed"):
        writer.write(None, t=1.0, status="stale")


def test_marker_rows_and_no_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "eeg_markers.tsv"
    with MarkerWriter(path) as writer:
        writer.write(Marker(time=1.5, lsl_time=0.25, value="R128\tx", stream="scanner"))
    assert path.read_text().splitlines() == ["time\tlsl_time\tvalue\tstream", "1.5\t0.25\tR128 x\tscanner"]
    with pytest.raises(FileExistsError):
        MarkerWriter(path)
