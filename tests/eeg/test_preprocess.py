"""Streaming preprocessing: chunking does not change the output; filters do what they say."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from nfd.eeg import EegConfigError, Preprocessor, PreprocessSpec, preprocess_recording


def tone(f: float, fs: float, n: int, channels: int = 2) -> np.ndarray:
    return np.repeat(np.sin(2 * np.pi * f * np.arange(n) / fs)[:, None], channels, axis=1)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


@pytest.mark.parametrize("chunk", [1, 7, 50, 333])
def test_any_chunking_gives_the_one_shot_output(chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    x = rng.standard_normal((5003, 3)) + 40.0
    spec = PreprocessSpec(fs=250.0, notch=(50.0,), bandpass=(0.5, 40.0))
    whole, fs = preprocess_recording(x, 5000.0, spec)
    chunked, _ = preprocess_recording(x, 5000.0, spec, chunk=chunk)
    assert fs == 250.0
    assert whole.shape == (251, 3)  # input samples 0, 20, ..., 5000
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-12)


def test_decimation_keeps_every_qth_sample_time() -> None:
    pre = Preprocessor(PreprocessSpec(fs=100.0), fs_in=1000.0, n_channels=1)
    times = np.arange(95) / 1000.0
    _, t1 = pre.process(np.zeros((45, 1)), times[:45])
    _, t2 = pre.process(np.zeros((50, 1)), times[45:])
    np.testing.assert_allclose(np.concatenate([t1, t2]), np.arange(0, 95, 10) / 1000.0)
    assert pre.factor == 10 and pre.fs_out == 100.0


def test_anti_alias_filter_removes_what_would_fold_into_the_bands() -> None:
    fs_in, n = 5000.0, 50_000
    spec = PreprocessSpec(fs=250.0)
    passed, _ = preprocess_recording(tone(20.0, fs_in, n), fs_in, spec)
    aliased, _ = preprocess_recording(tone(230.0, fs_in, n), fs_in, spec)  # would alias to 20 Hz
    assert rms(passed[250:]) == pytest.approx(1 / np.sqrt(2), rel=0.01)
    assert rms(aliased[250:]) < 1e-3


def test_notch_and_bandpass() -> None:
    fs, n = 250.0, 25_000
    notched, _ = preprocess_recording(tone(50.0, fs, n) + tone(10.0, fs, n), fs, PreprocessSpec(notch=(50.0,)))
    ten = tone(10.0, fs, n)
    assert rms(notched[5000:] - ten[5000:]) < 0.05  # 50 Hz gone, 10 Hz through (with its phase shift)
    assert rms(notched[5000:]) == pytest.approx(1 / np.sqrt(2), rel=0.01)
    banded, _ = preprocess_recording(tone(0.1, fs, n) + ten, fs, PreprocessSpec(bandpass=(1.0, 30.0)))
    assert rms(banded[10000:]) == pytest.approx(1 / np.sqrt(2), rel=0.02)


def test_a_dc_offset_does_not_ring() -> None:
    x = np.full((2000, 2), 1234.5)
    y, _ = preprocess_recording(x, 1000.0, PreprocessSpec(fs=250.0, notch=(50.0,)))
    sos = signal.cheby1(8, 0.05, 0.8 / 4, output="sos")  # the anti-alias filter; its DC gain is 1 - ripple
    dc_gain = np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1))
    np.testing.assert_allclose(y, 1234.5 * dc_gain, rtol=1e-9)


def test_reset_starts_a_new_segment() -> None:
    pre = Preprocessor(PreprocessSpec(fs=250.0), fs_in=1000.0, n_channels=1)
    x = np.random.default_rng(0).standard_normal((1000, 1))
    first, _ = pre.process(x, np.arange(1000.0))
    pre.reset()
    again, _ = pre.process(x, np.arange(1000.0))
    np.testing.assert_array_equal(first, again)


def test_passthrough_copies() -> None:
    pre = Preprocessor(PreprocessSpec(), fs_in=100.0, n_channels=2)
    x = np.ones((5, 2))
    y, _ = pre.process(x, np.arange(5.0))
    assert y is not x
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize(
    ("spec", "fs_in", "match"),
    [
        (PreprocessSpec(fs=300.0), 1000.0, "integer multiple"),
        (PreprocessSpec(fs=250.0, notch=(150.0,)), 1000.0, "Nyquist"),
        (PreprocessSpec(fs=250.0, bandpass=(1.0, 200.0)), 1000.0, "Nyquist"),
    ],
)
def test_bad_settings_are_named(spec: PreprocessSpec, fs_in: float, match: str) -> None:
    with pytest.raises(EegConfigError, match=match):
        Preprocessor(spec, fs_in, 1)


def test_bad_spec_values() -> None:
    with pytest.raises(EegConfigError, match="bandpass"):
        PreprocessSpec(bandpass=(10.0, 1.0))
    with pytest.raises(EegConfigError, match="notch"):
        PreprocessSpec(notch=(-50.0,))
    with pytest.raises(EegConfigError, match="fs"):
        PreprocessSpec(fs=0.0)
