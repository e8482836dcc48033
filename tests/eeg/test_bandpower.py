"""BandPower: the band-averaged Stockwell power of mirrored windows, exact where it is evaluated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.eeg import BandPower, EegConfigError, band_rows, stockwell_transform

BANDS = [(0.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 20.0), (20.0, 45.0), (45.0, 128.0)]


def eeg_like(n: int, fs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    return np.cumsum(rng.standard_normal(n)) * 0.1 + rng.standard_normal(n) + 3 * np.sin(2 * np.pi * 10.3 * t)


def reference(x: np.ndarray, fs: float, bands, columns: np.ndarray) -> np.ndarray:
    """Band means of |S|^2 from the full transform of the mirrored window, at integer columns."""
    st = stockwell_transform(np.concatenate([x[::-1], x, x[::-1]]), fs)
    power = st.power[:, columns]
    out = []
    for lo, hi in bands:
        sel = (st.freqs >= lo - 1e-9) & (st.freqs < hi - 1e-9)
        out.append(power[sel].mean(axis=0))
    return np.array(out)


def test_equals_the_full_transform_on_an_integer_grid() -> None:
    fs, L, rate = 256.0, 1024, 4.0  # 4 s, fs / rate = 64 samples: the output times are columns
    bp = BandPower(L, fs, BANDS, rate)
    x = eeg_like(L, fs, 0)
    K = bp.n_times
    columns = (2 * L - 1) - (K - 1 - np.arange(K)) * 64
    ref = reference(x, fs, BANDS, columns)
    got = bp.power(x[None])[0]
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(bp.times, (np.arange(K) - (K - 1)) / rate)


def test_equals_the_definition_between_samples() -> None:
    """fs / rate = 62.5 samples: times fall between samples, where S is evaluated from its spectral sum."""
    fs, L, rate = 250.0, 500, 4.0
    bands = [(1.0, 5.0), (8.0, 13.0)]
    bp = BandPower(L, fs, bands, rate)
    x = eeg_like(L, fs, 1)
    N = 3 * L
    y = np.concatenate([x[::-1], x, x[::-1]])
    H = np.fft.fft(y) / N
    m = np.fft.fftfreq(N, 1 / N)
    K = bp.n_times
    taus = (2 * L - 1) - (K - 1 - np.arange(K)) * fs / rate
    expected = np.zeros((len(bands), K))
    for b, band in enumerate(bands):
        first, last = band_rows(band, N, fs)
        for n in range(first, last + 1):
            coef = H[(n + m.astype(int)) % N] * np.exp(-2 * np.pi**2 * m**2 / n**2)
            s = np.exp(2j * np.pi * np.outer(taus, m) / N) @ coef
            expected[b] += np.abs(s) ** 2
        expected[b] /= last - first + 1
    np.testing.assert_allclose(bp.power(x[None])[0], expected, rtol=1e-6)


def test_channels_are_independent_and_sines_land_in_their_band() -> None:
    fs, L = 250.0, 3000
    t = np.arange(L) / fs
    bands = [(4.0, 8.0), (8.0, 12.0), (12.0, 20.0)]
    bp = BandPower(L, fs, bands, 4.0)
    x = np.stack([np.sin(2 * np.pi * 6.0 * t), np.sin(2 * np.pi * 10.0 * t), np.sin(2 * np.pi * 16.0 * t)])
    p = bp.power(x)
    assert p.shape == (3, 3, 48)
    np.testing.assert_array_equal(np.argmax(p[:, :, 24], axis=1), [0, 1, 2])
    np.testing.assert_allclose(bp.power(x[1:2]), p[1:2], rtol=1e-12)


def test_band_rows_follow_the_window_length() -> None:
    assert band_rows((8.0, 12.0), 9000, 250.0) == (288, 431)
    bp = BandPower(3000, 250.0, [(8.0, 12.0)], 4.0)
    assert bp.freqs[0][0] == 8.0 and bp.freqs[0][-1] == pytest.approx(12.0 - 1 / 36)


def test_rank_stays_small() -> None:
    bp = BandPower(3000, 250.0, [(0.5, 2.0), (30.0, 45.0)], 4.0)
    assert bp.n_filters < 40  # instead of 54 + 540 Stockwell rows


def test_log_power_is_finite_for_silence() -> None:
    bp = BandPower(256, 64.0, [(1.0, 4.0)], 4.0)
    assert np.all(np.isfinite(bp.log_power(np.zeros((2, 256)))))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((3000, 250.0, [(8.0, 12.0)], 3.3), {}, "whole number"),
        ((3000, 250.0, [(8.0, 200.0)], 4.0), {}, "fs / 2"),
        ((3000, 250.0, [(12.0, 8.0)], 4.0), {}, "low < high"),
        ((3000, 250.0, [(10.01, 10.02)], 4.0), {}, "no Stockwell row"),
        ((3000, 250.0, [], 4.0), {}, "non-empty"),
        ((3000, 250.0, [(8.0, 12.0)], 4.0), {"gamma": -1.0}, "gamma"),
        ((2, 250.0, [(8.0, 12.0)], 4.0), {}, "n_samples"),
    ],
)
def test_bad_settings_are_named(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(EegConfigError, match=match):
        BandPower(*args, **kwargs)


def test_bad_windows_are_refused() -> None:
    bp = BandPower(256, 64.0, [(1.0, 4.0)], 4.0)
    with pytest.raises(EegConfigError, match=r"\(n_channels, 256\)"):
        bp.power(np.zeros((2, 255)))
    with pytest.raises(EegConfigError, match="NaN"):
        bp.power(np.full((1, 256), math.nan))
