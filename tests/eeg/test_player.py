"""The player: real-time chunks, markers at their samples' times, looping, and ``nfd simulate-eeg``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from nfd.eeg import EegConfigError, EegInlet, EegPlayer, MarkerInlet, RecordedMarker, Recording, player_main

pytestmark = pytest.mark.slow


def small_recording(seconds: float = 1.0, fs: float = 200.0) -> Recording:
    n = int(seconds * fs)
    data = np.stack([np.arange(n, dtype=float), -np.arange(n, dtype=float)], axis=1)
    markers = (RecordedMarker(0.1, "a"), RecordedMarker(0.35, "b"), RecordedMarker(0.8, "c"))
    return Recording(data=data, fs=fs, channel_names=("x", "y"), markers=markers, units=("uV", "uV"), source="small")


def test_markers_carry_their_samples_times(source_id) -> None:
    sid = source_id("markers")
    markers = MarkerInlet(source_id=f"{sid}-markers")
    eeg = EegInlet(source_id=sid)
    markers.start()
    eeg.start()
    try:
        with EegPlayer(small_recording(), source_id=sid, stamps="nominal", wait_for_consumer=20.0) as player:
            assert player.join(20.0)
        deadline = time.monotonic() + 5.0
        while markers.count < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        markers.stop()
        eeg.stop()
    got = list(markers.markers)
    assert [m.value for m in got] == ["a", "b", "c"]
    np.testing.assert_allclose(np.diff([m.lsl_time for m in got]), [0.25, 0.45], atol=1e-6)
    assert got[0].lsl_time == pytest.approx(player.t_start + 0.1, abs=1e-3)  # plus liblsl's clock correction
    assert got[0].stream == "nfd-player-markers"


def test_loop_plays_the_recording_again(source_id) -> None:
    sid = source_id("loop")
    inlet = EegInlet(source_id=sid)
    inlet.start()
    try:
        with EegPlayer(
            small_recording(0.5), source_id=sid, loop=True, duration=1.3, markers=False, wait_for_consumer=20.0
        ) as player:
            assert player.join(20.0)
        assert player.pushed == 260
        deadline = time.monotonic() + 5.0
        while inlet.stats()["received"] < 260 and time.monotonic() < deadline:
            time.sleep(0.02)
        window = inlet.buffer.window(260)
    finally:
        inlet.stop()
    expected = np.concatenate([np.arange(100.0), np.arange(100.0), np.arange(60.0)])
    np.testing.assert_array_equal(window.data[0], expected)
    np.testing.assert_array_equal(window.data[1], -expected)
    assert inlet.description.channel_names == ("x", "y")


def test_bad_settings() -> None:
    with pytest.raises(EegConfigError, match="chunk_duration"):
        EegPlayer(small_recording(), chunk_duration=0.0)
    with pytest.raises(EegConfigError, match="stamps"):
        EegPlayer(small_recording(), stamps="late")  # type: ignore[arg-type]


def test_simulate_eeg_command(shared_data: Path, capsys: pytest.CaptureFixture[str], source_id) -> None:
    pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")
    assert player_main([str(shared_data / "eeg" / "absent.vhdr")]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = shared_data / "eeg" / "mne_brainvision_test" / "test.vhdr"
    assert player_main([str(path), "--duration", "0.3", "--source-id", source_id("cli"), "--chunk-ms", "20"]) == 0
    assert "as LSL stream 'nfd-player'" in capsys.readouterr().err

