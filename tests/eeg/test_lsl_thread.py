"""The inlets' shared thread lifetime, on real LSL outlets: what ends the thread reaches the waiting caller."""

from __future__ import annotations

import time
from pathlib import Path

import pylsl
import pytest

from nfd.eeg import EegConfigError, EegInlet, MarkerInlet, MarkerWriter, StreamNotFoundError

pytestmark = pytest.mark.slow


def wait_until_disconnected(inlet: EegInlet | MarkerInlet, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while inlet.connected:
        if time.monotonic() > deadline:
            raise AssertionError(f"the inlet was still connected after {timeout} s")
        time.sleep(0.02)


def test_eeg_inlet_wait_connected_raises_what_ended_its_thread(source_id) -> None:
    sid = source_id("eeg-error")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo("strings", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, sid))
    inlet = EegInlet(source_id=sid)
    inlet.start()
    try:
        start = time.monotonic()
        with pytest.raises(EegConfigError, match="not a continuous numeric stream"):
            inlet.wait_connected(30.0)
        assert time.monotonic() - start < 20.0  # raised as the thread ended, not at the timeout
    finally:
        inlet.stop()
        del outlet


def test_marker_inlet_wait_connected_raises_what_ended_its_thread(source_id, tmp_path: Path) -> None:
    sid = source_id("marker-error")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo("triggers", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, sid))
    writer = MarkerWriter(tmp_path / "eeg_markers.tsv")
    writer.close()  # writing a marker now fails in the inlet's thread, and ends it
    inlet = MarkerInlet(source_id=sid)
    inlet.add_listener(writer.write)
    inlet.start()
    try:
        assert inlet.wait_connected(20.0).name == "triggers"
        outlet.push_sample(["R128"])
        wait_until_disconnected(inlet, 20.0)
        start = time.monotonic()
        with pytest.raises(ValueError, match=r"eeg_markers\.tsv is closed"):
            inlet.wait_connected(10.0)
        assert time.monotonic() - start < 1.0  # the thread's error, not a StreamNotFoundError after 10 s
        assert inlet.count == 1
    finally:
        inlet.stop()
        del outlet


def test_marker_inlet_wait_connected_times_out_without_a_stream(source_id) -> None:
    inlet = MarkerInlet(source_id=source_id("absent"), timeout=0.2)
    inlet.start()
    try:
        with pytest.raises(StreamNotFoundError, match=r"no LSL marker stream matching .* was open within 0\.5 s"):
            inlet.wait_connected(0.5)
    finally:
        inlet.stop()
