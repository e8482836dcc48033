"""Real LSL streams on this machine: player -> inlet -> prediction, a stream that stops and comes back.

Each test plays recordings in real time through liblsl (multicast/loopback
discovery; every stream gets a unique source id) and runs the same
:class:`nfd.eeg.EegSession` the daemon runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pylsl
import pytest

from nfd.eeg import (
    EegConfigError,
    EegInlet,
    EegModel,
    EegPlayer,
    EegPredictor,
    EegSession,
    ModelMismatchError,
    Prediction,
    PreprocessSpec,
    StreamSpec,
    preprocess_recording,
    read_recording,
)
from tests.helpers.eeg_synthetic import synthetic_session

pytestmark = pytest.mark.slow


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def play_and_predict(
    path: Path, channels: list[str], preprocess: PreprocessSpec, fs_out: float, make_model, sid: str, folder: Path,
    *, markers: bool, duration: float = 5.0,
) -> tuple[EegSession, EegPlayer, list[Prediction], EegModel]:
    recording = read_recording(path)
    model = make_model(channels, fs_out, preprocess=preprocess, window=2.0)
    await asyncio.to_thread(folder.mkdir)
    session = EegSession(
        model, source_id=sid, interval=0.25, run_folder=folder, markers=markers,
        marker_source_id=f"{sid}-markers", buffer_seconds=10.0,
    )
    task = asyncio.create_task(session.run())
    player = EegPlayer(recording, source_id=sid, duration=duration, wait_for_consumer=20.0, markers=markers)
    predictions: list[Prediction] = []
    try:
        await asyncio.to_thread(player.start)
        index = 0
        while player.running:
            await asyncio.sleep(0.4)
            prediction = await session.predict_volume(index)
            index += 1
            if prediction is not None:
                predictions.append(prediction)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(player.stop)
    return session, player, predictions, model


def check_live_equals_offline(path: Path, channels: list[str], model: EegModel, predictions: list[Prediction]) -> None:
    recording = read_recording(path)
    raw = recording.data.astype(np.float32).astype(np.float64)  # what the player streams
    columns = [recording.channel_names.index(c) for c in channels]
    data, fs = preprocess_recording(raw[:, columns], recording.fs, model.preprocess)
    offline = EegPredictor(model, None, StreamSpec(tuple(channels), fs, model.preprocess, recording.fs))
    L = model.spec.n_samples
    assert len(predictions) >= 3
    for p in predictions:
        e = p.window_end_index
        assert p.value == pytest.approx(offline.predict_window(data[e - L + 1 : e + 1].T), rel=1e-9, abs=1e-9)


async def test_player_to_inlet_to_prediction_on_real_files(
    shared_data: Path, make_model, source_id, tmp_path: Path
) -> None:
    pytest.importorskip("mne", reason="reading EEG files needs the 'eeg' extra (mne)")
    pytest.importorskip("pyxdf", reason="reading XDF files needs the 'eeg' extra (pyxdf)")
    eeg = shared_data / "eeg"
    cases = [
        (eeg / "eeglab_sample" / "eeglab_data.set", ["Cz", "Pz", "Oz", "O1"], PreprocessSpec(notch=(50.0,)), 128.0,
         True),
        (eeg / "mne_brainvision_test" / "test.vhdr", ["Cz", "Pz", "O1", "O2"],
         PreprocessSpec(fs=250.0, bandpass=(1.0, 40.0)), 250.0, True),
        (eeg / "xdf_lsl_recording" / "test.xdf", ["ch1", "ch2", "ch3"], PreprocessSpec(fs=250.0), 250.0, False),
    ]
    results = await asyncio.gather(*(
        play_and_predict(
            path, chans, pre, fs, make_model, source_id(path.parent.name), tmp_path / path.parent.name,
            markers=markers,
        )
        for path, chans, pre, fs, markers in cases
    ))
    for (path, chans, _, _, markers), (session, player, predictions, model) in zip(cases, results, strict=True):
        stats = session.inlet.stats()
        assert stats["received"] == player.pushed, path.name
        assert stats["dropped"] == 0 and stats["gaps"] == 0
        check_live_equals_offline(path, chans, model, predictions)
        rows = read_tsv(tmp_path / path.parent.name / "eeg_predictions.tsv")
        statuses = [r["status"] for r in rows]
        assert "ok" in statuses and statuses.index("ok") > statuses.index("filling")
        volume_rows = [r for r in rows if r["trigger"] == "volume" and r["status"] == "ok"]
        assert len(volume_rows) == len(predictions)
        if markers:
            recording = read_recording(path)
            expected = [m.label for m in recording.markers if m.onset < 5.0]
            got = [r["value"] for r in read_tsv(tmp_path / path.parent.name / "eeg_markers.tsv")]
            assert got == expected and len(expected) >= 3


async def test_a_stream_that_stops_and_comes_back(make_model, source_id, tmp_path: Path) -> None:
    recording, _, _ = synthetic_session(duration=30.0, n_channels=3, driver=1, seed=5)
    model = make_model(["E1", "E2"], 250.0, window=1.0, delays=(0.0, 0.5))
    sid = source_id("comeback")
    session = EegSession(
        model, source_id=sid, interval=0.1, run_folder=tmp_path, markers=False, retry_max=0.5,
        buffer_seconds=10.0, stale_after=0.5,
    )
    task = asyncio.create_task(session.run())
    first = EegPlayer(recording, source_id=sid, markers=False, wait_for_consumer=20.0)
    second = EegPlayer(recording, source_id=sid, markers=False)
    try:
        await asyncio.to_thread(first.start)
        await wait_for(lambda: session.status == "ok", 20.0, "predictions from the first player")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(first.stop)  # the outlet goes away
        await wait_for(lambda: session.status == "stale", 10.0, "EEG marked missing")
        await wait_for(lambda: session.inlet.stats()["lost"] == 1, 10.0, "the loss to be noticed")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(second.start)  # same source id, new outlet
        await wait_for(lambda: session.inlet.connected, 20.0, "the inlet to find the stream again")
        await wait_for(lambda: session.status == "ok", 20.0, "predictions after the return")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
    stats = session.inlet.stats()
    assert stats["lost"] == 1 and stats["dropped"] == 0
    assert len(stats["missing_spans"]) == 1
    start, end = stats["missing_spans"][0]
    assert 1.0 <= end - start < 20.0  # at least the second the test waited
    statuses = [r["status"] for r in read_tsv(tmp_path / "eeg_predictions.tsv")]
    first_ok = statuses.index("ok")
    first_stale = statuses.index("stale", first_ok)
    first_gap = statuses.index("gap", first_stale)  # the window still spans the missing second
    assert "ok" in statuses[first_gap:]
    assert session.summary()["predictions"]["stale"] >= 1


async def test_a_string_stream_is_not_eeg(source_id) -> None:
    sid = source_id("strings")
    info = pylsl.StreamInfo("markers", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, sid)
    outlet = pylsl.StreamOutlet(info)
    inlet = EegInlet(source_id=sid)
    with pytest.raises(EegConfigError, match="not a continuous numeric stream"):
        await asyncio.wait_for(inlet.run(), 20.0)
    del outlet


async def test_a_model_that_does_not_fit_the_stream_stops_the_session(make_model, source_id) -> None:
    recording, _, _ = synthetic_session(duration=10.0, n_channels=2, driver=1, seed=2)
    model = make_model(["Cz"], 250.0, window=1.0, delays=(0.0,))
    sid = source_id("mismatch")
    session = EegSession(model, source_id=sid, interval=0.1, markers=False)
    with (
        EegPlayer(recording, source_id=sid, markers=False),
        pytest.raises(ModelMismatchError, match=r"channels \['Cz'\]"),
    ):
        await asyncio.wait_for(session.run(), 20.0)
