"""Predictions from a buffer: causal windows, and no value while filling, across a gap, or when stale."""

from __future__ import annotations

import numpy as np

from nfd.eeg import EegPredictor, PreprocessSpec, RingBuffer, StreamSpec


def filled_ring(
    fs: float, seconds: float, t0: float = 1000.0, channels: tuple[str, ...] = ("Pz", "Cz", "Oz")
) -> tuple[RingBuffer, np.ndarray]:
    n = int(seconds * fs)
    data = np.random.default_rng(0).standard_normal((n, len(channels))) * 10
    ring = RingBuffer(int(20 * fs), channels, fs)
    ring.write(data, t0 + np.arange(n) / fs)
    return ring, data


def test_predicts_from_the_window_ending_at_the_time(make_model) -> None:
    model = make_model(["Cz", "Pz"], 100.0)
    ring, data = filled_ring(100.0, 5.0)
    predictor = EegPredictor(model, None, StreamSpec(ring.channel_names, 100.0, PreprocessSpec(fs=100.0), 100.0))
    p = predictor.predict(ring.view(), t_now=1003.005)
    assert predictor.status == "ok" and p is not None
    assert p.window_end_index == 300 and p.t_window_end == 1003.0 and p.t == 1003.005
    expected = predictor.predict_window(data[101:301][:, [1, 0]].T)
    assert p.value == expected
    assert p.t_available >= p.t_window_end and p.compute_ms > 0
    latest = predictor.predict(ring.view(), t_now=1004.99)
    assert latest is not None and latest.window_end_index == 499


def test_filling_stale_and_gap(make_model) -> None:
    model = make_model(["Cz"], 100.0)
    spec = StreamSpec(("Pz", "Cz", "Oz"), 100.0, PreprocessSpec(fs=100.0), 100.0)
    predictor = EegPredictor(model, None, spec, stale_after=0.5, max_gap=0.1)
    ring, _ = filled_ring(100.0, 2.5)  # samples from 1000.00 to 1002.49 s; the model's window is 2 s
    assert predictor.predict(ring.view(), 1001.0) is None and predictor.status == "filling"
    assert predictor.predict(ring.view(), 1002.2) is not None and predictor.status == "ok"
    assert predictor.predict(ring.view(), 1003.1) is None and predictor.status == "stale"
    # the stream comes back 2 s later: windows spanning the gap are refused until one fits after it
    ring.write(np.ones((250, 3)), 1004.5 + np.arange(250) / 100.0)
    assert predictor.predict(ring.view(), 1005.0) is None and predictor.status == "gap"
    assert predictor.predict(ring.view(), 1006.4) is None and predictor.status == "gap"
    assert predictor.predict(ring.view(), 1006.6) is not None and predictor.status == "ok"
