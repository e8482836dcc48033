"""Dejittering (a line through the stamps, gaps counted) and the LSL-to-wall-clock offset."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nfd.eeg import Dejitter, EegConfigError, WallClock


def chunked_stamps(
    fs: float, chunk: int, n_chunks: int, delays: np.ndarray, t0: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """Stamps as liblsl makes them: each chunk's last sample at its push time, the others back-extrapolated."""
    true = t0 + np.arange(chunk * n_chunks) / fs
    push = true[chunk - 1 :: chunk] + delays
    stamps = np.concatenate([p - (chunk - 1 - np.arange(chunk)) / fs for p in push])
    return true, stamps


def run(dj: Dejitter, stamps: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty_like(stamps)
    for i in range(0, stamps.size, chunk):
        dj.process(stamps[i : i + chunk], out[i : i + chunk])
    return out


def test_push_jitter_is_removed() -> None:
    rng = np.random.default_rng(0)
    fs, chunk, n = 5000.0, 50, 2000  # 20 s of 10 ms chunks
    delays = rng.exponential(0.002, n)  # pushes late by 2 ms on average
    true, stamps = chunked_stamps(fs, chunk, n, delays)
    dj = Dejitter(fs)
    out = run(dj, stamps, chunk)
    raw_error = (stamps - true)[-50000:]
    error = (out - true)[-50000:]
    # the jitter goes; what remains is the mean push delay, which stamps cannot reveal
    assert np.ptp(raw_error) > 0.005
    assert np.ptp(error) < 0.1 * np.ptp(raw_error)
    assert np.mean(error) == pytest.approx(0.002, abs=0.0005)
    assert dj.gaps == 0 and dj.dropped == 0
    assert dj.rate == pytest.approx(fs, rel=1e-4)
    assert np.all(np.diff(out) > 0)


def test_a_stall_caught_up_in_a_burst_is_not_a_gap() -> None:
    fs, chunk, n = 1000.0, 10, 600
    delays = np.zeros(n)
    delays[200:205] = [0.05, 0.04, 0.03, 0.02, 0.01]  # 50 ms stall, then five chunks at once
    _, stamps = chunked_stamps(fs, chunk, n, delays)
    dj = Dejitter(fs)
    run(dj, stamps, chunk)
    assert dj.gaps == 0 and dj.dropped == 0


def test_lost_samples_are_counted_and_skipped() -> None:
    rng = np.random.default_rng(1)
    fs, chunk, n = 5000.0, 50, 400
    true, stamps = chunked_stamps(fs, chunk, n, rng.uniform(0, 0.002, n))
    keep = np.ones(true.size, dtype=bool)
    keep[150 * chunk : 160 * chunk] = False  # 500 samples (0.1 s) never arrive
    dj = Dejitter(fs)
    out = run(dj, stamps[keep], chunk)
    assert dj.gaps == 1
    assert dj.dropped == pytest.approx(500, abs=10)  # within the push jitter (2 ms = 10 samples)
    assert np.abs(out - true[keep])[-5000:].max() < 0.002


def test_reset_keeps_counters_and_forgets_the_line() -> None:
    dj = Dejitter(100.0)
    out = np.empty(50)
    dj.process(np.arange(50) / 100.0, out)
    dj.process(10.0 + np.arange(50) / 100.0, out)  # 9.5 s later: a gap, pending confirmation
    dj.reset()
    dj.process(20.0 + np.arange(50) / 100.0, out)
    np.testing.assert_allclose(out, 20.0 + np.arange(50) / 100.0)
    assert dj.next_index == 50


def test_bad_arguments() -> None:
    with pytest.raises(EegConfigError, match="fs"):
        Dejitter(0.0)
    with pytest.raises(EegConfigError, match="half_life"):
        Dejitter(100.0, half_life=0.0)


def test_wall_clock_offset_maps_onto_time_time() -> None:
    clock = WallClock(time.monotonic)
    assert abs(clock.to_wall(time.monotonic()) - time.time()) < 0.05
    offset = clock.offset
    assert clock.update() == pytest.approx(offset, abs=0.05)


def test_wall_clock_step_is_counted() -> None:
    wall = [1000.0]
    clock = WallClock(lambda: 5.0, lambda: wall[0])
    assert clock.offset == 995.0
    wall[0] = 1001.0
    clock.update()
    assert clock.steps == 1 and clock.offset == 996.0
