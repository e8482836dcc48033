"""The Stockwell transform against its definition, Parseval, known sines and the ``stockwell`` package."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.eeg import EegConfigError, stockwell_frequencies, stockwell_transform


def direct_definition(h: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Stockwell et al. (1996) computed term by term in the time domain.

    ``S[n, j] = sum_t h[t] g_n(j - t) exp(-i 2 pi n t / N)`` with the
    Gaussian window ``g_n(u) = n / (gamma N sqrt(2 pi)) exp(-u^2 n^2 / (2 gamma^2 N^2))``
    (``|f| / (gamma sqrt(2 pi)) exp(-tau^2 f^2 / (2 gamma^2))`` in samples),
    periodised over the signal's length as the discrete transform is
    circular; row 0 is the mean.
    """
    N = h.size
    t = np.arange(N)
    out = np.empty((N // 2 + 1, N), dtype=np.complex128)
    out[0] = h.mean()
    for n in range(1, N // 2 + 1):
        u = (t[:, None] - t[None, :]).astype(float)  # j - t
        window = np.zeros_like(u)
        for p in range(-40, 41):
            scale = n / (gamma * N * math.sqrt(2 * math.pi))
            window += scale * np.exp(-((u + p * N) ** 2) * n**2 / (2 * gamma**2 * N**2))
        out[n] = window @ (h * np.exp(-2j * math.pi * n * t / N))
    return out


@pytest.mark.parametrize(("n", "gamma"), [(64, 1.0), (63, 1.0), (50, 2.5), (40, 0.7)])
def test_equals_the_definition_computed_directly(n: int, gamma: float) -> None:
    rng = np.random.default_rng(n)
    h = rng.standard_normal(n) + 0.3
    st = stockwell_transform(h, fs=1.0, gamma=gamma)
    ref = direct_definition(h, gamma)
    np.testing.assert_array_equal(st.rows, np.arange(n // 2 + 1))
    # The discrete transform (Stockwell's eq. 10) takes the window's spectrum over one period; the sampled
    # time-domain window's spectrum is that spectrum aliased. They agree wherever the Gaussian has fallen
    # below 1e-12 at the Nyquist offset: rows n < 0.4 gamma N (all rows for gamma >= 1.25).
    rows = min(n // 2 + 1, math.ceil(0.4 * gamma * n))
    np.testing.assert_allclose(st.S[:rows], ref[:rows], rtol=0, atol=1e-9 * np.abs(ref).max())


def test_frequency_axis_is_rows_times_fs_over_n() -> None:
    # a 12 s window at 250 Hz mirrored to 36 s: rows are 1/36 Hz apart (pyOpenNFT assumes 0.05 Hz)
    freqs = stockwell_frequencies(9000, 250.0)
    assert freqs[1] == pytest.approx(1 / 36)
    assert freqs[-1] == 125.0
    st = stockwell_transform(np.zeros(9000), 250.0, fmin=9.0, fmax=12.0)
    np.testing.assert_allclose(np.diff(st.freqs), 1 / 36)
    assert st.freqs[0] == pytest.approx(9.0) and st.freqs[-1] == pytest.approx(12.0)


@pytest.mark.parametrize("f0", [10.25, 7.0, 31.5])
def test_pure_sine_peaks_at_its_frequency_in_hz(f0: float) -> None:
    fs = 250.0
    x = np.sin(2 * np.pi * f0 * np.arange(3000) / fs + 0.4)  # 12 s
    mirrored = np.concatenate([x[::-1], x, x[::-1]])
    st = stockwell_transform(mirrored, fs, fmin=f0 - 3, fmax=f0 + 3)
    for column in (3250, 4500, 5750):  # 1 s inside the window, its middle, 1 s before its end
        assert st.freqs[np.argmax(np.abs(st.S[:, column]))] == pytest.approx(f0, abs=1 / 36)


def test_cosine_on_a_row_has_half_its_amplitude_everywhere() -> None:
    fs, n, amplitude = 100.0, 400, 3.0
    t = np.arange(n) / fs
    st = stockwell_transform(amplitude * np.cos(2 * np.pi * 10.0 * t + 1.0), fs, fmin=10.0, fmax=10.0)
    np.testing.assert_allclose(np.abs(st.S[0]), amplitude / 2, rtol=1e-9)


def test_time_marginal_is_the_dft_and_keeps_the_energy() -> None:
    """Parseval through the time marginal: sum_j S[n, j] = DFT(h)[n], so the rows carry the signal's energy."""
    rng = np.random.default_rng(7)
    for n in (128, 129):
        h = rng.standard_normal(n)
        st = stockwell_transform(h, fs=1.0)
        marginal = st.S.sum(axis=1)
        np.testing.assert_allclose(marginal, np.fft.fft(h)[: n // 2 + 1], atol=1e-9)
        weights = np.full(marginal.size, 2.0)
        weights[0] = 1.0
        if n % 2 == 0:
            weights[-1] = 1.0
        energy = float(np.sum(weights * np.abs(marginal) ** 2)) / n
        assert energy == pytest.approx(float(np.sum(h**2)), rel=1e-12)


def test_white_noise_power_matches_its_window() -> None:
    """E|S[n, j]|^2 = sigma^2 / N * sum_m G(m, n)^2 for white noise: mean power per row over many samples."""
    rng = np.random.default_rng(3)
    n, sigma = 256, 2.0
    powers = np.zeros(n // 2 + 1)
    trials = 60
    for _ in range(trials):
        st = stockwell_transform(rng.normal(0, sigma, n), fs=1.0)
        powers += st.power.mean(axis=1)
    powers /= trials
    m = np.fft.fftfreq(n, 1 / n)
    rows = np.arange(8, 100)
    expected = [sigma**2 / n * np.sum(np.exp(-2 * np.pi**2 * m**2 / r**2) ** 2) for r in rows]
    np.testing.assert_allclose(powers[rows], expected, rtol=0.08)


def test_agrees_with_the_stockwell_package_where_it_is_right() -> None:
    st_pkg = pytest.importorskip("stockwell.st")
    rng = np.random.default_rng(11)
    for n, gamma in ((1000, 1.0), (999, 1.0), (1200, 3.0)):
        x = rng.standard_normal(n) + np.sin(np.arange(n) * 0.3)
        lo, hi = 0, n // 4  # the package transforms the analytic signal: equal to 2 S up to N / 4
        theirs = st_pkg.st(x, lo, hi, gamma)
        ours = stockwell_transform(x, fs=1.0, fmax=hi / n, gamma=gamma).S
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours[0], theirs[0], atol=1e-12)  # the mean, in both
        np.testing.assert_allclose(2 * ours[1:], theirs[1:], atol=1e-8 * np.abs(theirs).max())


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros((2, 8)), {}, "1-D"),
        (np.zeros(1), {}, "at least 2"),
        (np.array([0.0, np.nan, 1.0]), {}, "NaN"),
        (np.zeros(8), {"fmin": 3.0, "fmax": 2.0}, "fmin <= fmax"),
        (np.zeros(8), {"fmax": 1.0}, "fs / 2"),
        (np.zeros(8), {"fmin": 0.01, "fmax": 0.02}, "no Stockwell row"),
        (np.zeros(8), {"gamma": 0.0}, "gamma"),
    ],
)
def test_bad_input_is_named(x: np.ndarray, kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(EegConfigError, match=match):
        stockwell_transform(x, 1.0, **kwargs)


def kazemi_row(x: np.ndarray, n: int, gamma: float) -> np.ndarray:
    """The ``stockwell`` package's row ``n`` with its Kazemi window, in floating point throughout.

    The package transforms the analytic signal (positive frequencies doubled,
    negative ones zeroed) with the window spectrum ``1 / (1 + (m^2 gamma / n)^2)``.
    """
    N = x.size
    H = np.fft.fft(x)
    H[1 : (N + 1) // 2] *= 2
    H[N // 2 + 1 :] = 0
    m = np.fft.fftfreq(N, 1 / N)
    return np.fft.ifft(H[(n + np.arange(N)) % N] / (1 + (m * m * gamma / n) ** 2))


@pytest.mark.parametrize(("n_samples", "right"), [(90_000, True), (140_000, False)])
def test_the_stockwell_packages_kazemi_window_overflows_beyond_92k_samples(n_samples: int, right: bool) -> None:
    """Where the package is not right: it squares the bin offset in a C int, which wraps above 46 340."""
    st_pkg = pytest.importorskip("stockwell.st")
    x = np.random.default_rng(5).standard_normal(n_samples)
    theirs = st_pkg.st(x, 2000, 2000, 1.0, "kazemi")[0]
    expected = kazemi_row(x, 2000, 1.0)
    error = float(np.max(np.abs(theirs - expected)) / np.max(np.abs(expected)))
    assert (error < 1e-8) is right, error


def test_band_power_is_right_for_a_raw_5_khz_window() -> None:
    """12 s of raw 5 kHz EEG mirrored to 180 000 samples, where that package would wrap around."""
    from nfd.eeg import BandPower

    fs, L = 5000.0, 60_000
    t = np.arange(L) / fs
    x = np.sin(2 * np.pi * 10.05 * t) + 0.1 * np.random.default_rng(6).standard_normal(L)
    bp = BandPower(L, fs, [(10.0, 10.1)], 4.0)
    full = stockwell_transform(np.concatenate([x[::-1], x, x[::-1]]), fs, fmin=10.0, fmax=10.09)
    columns = (2 * L - 1) - (bp.n_times - 1 - np.arange(bp.n_times)) * 1250
    expected = full.power[:, columns].mean(axis=0)
    np.testing.assert_allclose(bp.power(x[None])[0, 0], expected, rtol=1e-6)
