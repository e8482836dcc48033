"""The Stockwell transform (S-transform) of a real signal, with its frequency axis in Hz.

Stockwell, Mansinha & Lowe (1996, IEEE Trans. Signal Process. 44:998) define

.. math::

    S(\\tau, f) = \\int h(t)\\, \\frac{|f|}{\\gamma\\sqrt{2\\pi}}
                  e^{-(\\tau - t)^2 f^2 / (2\\gamma^2)}\\, e^{-i 2\\pi f t}\\, dt ,

a short-time Fourier transform whose Gaussian window narrows as the frequency
rises (``gamma`` = 1 in the paper; larger values trade time resolution for
frequency resolution, as in Mansinha et al. 1997).  For ``N`` samples
``h[t]`` taken at ``fs`` Hz its discrete form (eq. 10 of the paper) is

.. math::

    S[n, j] = \\sum_{m} H[n + m]\\, e^{-2\\pi^2 m^2 \\gamma^2 / n^2}\\, e^{i 2\\pi m j / N},
    \\qquad H[k] = \\frac{1}{N} \\sum_t h[t] e^{-i 2\\pi k t / N},

with ``m`` over one period (``-N/2 < m <= N/2``, indices of ``H`` taken
modulo ``N``) and ``S[0, j]`` the signal's mean.  Row ``n`` is the frequency
``n * fs / N`` Hz -- the step is ``fs / N`` = 1 / (the signal's duration); a
12 s window mirrored to 36 s has a step of 1/36 Hz, not the 0.05 Hz pyOpenNFT
assumes -- and column ``j`` is the time ``j / fs`` s.

Normalisation: a cosine ``A cos(2 pi f0 t)`` on a row's exact frequency gives
``|S| = A / 2`` (the positive-frequency half of its spectrum), and
``sum_j S[n, j]`` is the signal's DFT at ``n``.  The ``stockwell`` package
(NIMH code) transforms the analytic signal instead, so its rows are twice
these wherever the window's spectrum does not reach negative frequencies
(for the Gaussian with ``gamma >= 1``: everywhere but the DC row, within
1e-8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float, ensure_int
from nfd.eeg._errors import EegConfigError

__all__ = ["StockwellTransform", "gaussian_spectrum", "stockwell_frequencies", "stockwell_transform"]

#: Complex values computed per block of rows (bounds the transform's scratch memory, 64 MiB).
_BLOCK_VALUES = 1 << 22


def gaussian_spectrum(m: np.ndarray, n: int | np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """The Fourier transform of row ``n``'s Gaussian window at frequency offsets ``m`` (both in DFT bins).

    ``exp(-2 pi^2 m^2 gamma^2 / n^2)`` (Stockwell et al. 1996, eq. 10); for
    ``n = 0`` it is 1 at ``m = 0`` and 0 elsewhere (the DC row is the mean).

    Parameters
    ----------
    m : ndarray
        Frequency offsets in bins (any integers, broadcast against ``n``).
    n : int or ndarray
        Row (frequency) index in bins, >= 0.
    gamma : float
        Window width factor (> 0; 1 = Stockwell's window).

    Returns
    -------
    ndarray
        float64 window values in [0, 1].

    Examples
    --------
    >>> gaussian_spectrum(np.array([0, 5]), 10).round(6).tolist()   # exp(-pi^2 / 2) half a row-width out
    [1.0, 0.007192]
    """
    m = np.asarray(m, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.exp(-2.0 * math.pi**2 * m**2 * gamma**2 / n**2)
    return np.where(n == 0, (m == 0).astype(np.float64), g)


def stockwell_frequencies(n_samples: int, fs: float) -> np.ndarray:
    """Frequencies in Hz of the rows 0 .. ``n_samples // 2`` of a Stockwell transform.

    Row ``n`` is ``n * fs / n_samples`` Hz.

    Parameters
    ----------
    n_samples : int
        Length of the transformed signal, in samples (>= 2).
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray
        float64, shape ``(n_samples // 2 + 1,)``.

    Examples
    --------
    >>> stockwell_frequencies(9000, 250.0)[:3] * 36   # a 12 s window mirrored to 36 s
    array([0., 1., 2.])
    """
    n = ensure_int(n_samples, "n_samples", minimum=2, error=EegConfigError)
    fs = ensure_float(fs, "fs (Hz)", positive=True, error=EegConfigError)
    return np.arange(n // 2 + 1, dtype=np.float64) * fs / n


@dataclass(frozen=True)
class StockwellTransform:
    """A Stockwell transform: ``S[i, j]`` at frequency ``freqs[i]`` (Hz) and time ``times[j]`` (s).

    Attributes
    ----------
    S : ndarray
        complex128, shape ``(len(freqs), len(times))``.
    freqs : ndarray
        Row frequencies, Hz (``rows * fs / N``).
    rows : ndarray
        Row indices ``n`` (DFT bins) of ``freqs``.
    times : ndarray
        Column times, seconds from the first sample (``j / fs``).
    """

    S: np.ndarray
    freqs: np.ndarray
    rows: np.ndarray
    times: np.ndarray

    @property
    def power(self) -> np.ndarray:
        """``|S|**2`` (signal units squared)."""
        return self.S.real**2 + self.S.imag**2


def stockwell_transform(
    x: ArrayLike,
    fs: float,
    *,
    fmin: float = 0.0,
    fmax: float | None = None,
    gamma: float = 1.0,
) -> StockwellTransform:
    """The discrete Stockwell transform of a real signal, rows ``fmin`` <= f <= ``fmax``.

    Computed exactly as the discrete definition (module docstring): one FFT
    of the signal, then per row the spectrum shifted by ``n``, multiplied by
    the row's Gaussian and inverse-transformed -- ``O(N log N)`` per row, the
    whole window, no truncation.  For features on long signals use
    :class:`nfd.eeg.BandPower`, which evaluates band-averaged power only
    where it is needed.

    Parameters
    ----------
    x : array_like
        1-D real signal, ``N >= 2`` samples.
    fs : float
        Sampling rate, Hz.
    fmin, fmax : float
        Frequency range in Hz (inclusive); rows ``ceil(fmin N / fs)`` to
        ``floor(fmax N / fs)``.  ``fmax`` defaults to the Nyquist frequency.
    gamma : float
        Window width factor (> 0; 1 = Stockwell's Gaussian).

    Returns
    -------
    StockwellTransform

    Raises
    ------
    EegConfigError
        ``x`` is not a finite 1-D signal of at least 2 samples, or the
        frequency range holds no row.

    Examples
    --------
    >>> fs = 100.0
    >>> t = np.arange(400) / fs
    >>> st = stockwell_transform(np.cos(2 * np.pi * 10.0 * t), fs, fmin=5.0, fmax=15.0)
    >>> float(st.freqs[np.argmax(np.abs(st.S[:, 200]))])
    10.0
    >>> round(float(np.abs(st.S[st.freqs == 10.0, 200][0])), 6)   # A / 2
    0.5
    """
    h = np.asarray(x, dtype=np.float64)
    if h.ndim != 1 or h.size < 2:
        raise EegConfigError(f"x must be a 1-D signal of at least 2 samples, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise EegConfigError("x holds NaN or infinite values")
    fs = ensure_float(fs, "fs (Hz)", positive=True, error=EegConfigError)
    gamma = ensure_float(gamma, "gamma", positive=True, error=EegConfigError)
    n_samples = h.size
    nyquist = fs / 2.0
    fmin = ensure_float(fmin, "fmin (Hz)", error=EegConfigError)
    fmax = nyquist if fmax is None else ensure_float(fmax, "fmax (Hz)", error=EegConfigError)
    if fmin < 0 or fmax > nyquist or fmin > fmax:
        raise EegConfigError(f"need 0 <= fmin <= fmax <= fs / 2 = {nyquist} Hz, got fmin={fmin}, fmax={fmax}")
    lo = math.ceil(fmin * n_samples / fs - 1e-9)
    hi = math.floor(fmax * n_samples / fs + 1e-9)
    if hi < lo:
        raise EegConfigError(
            f"no Stockwell row between {fmin} and {fmax} Hz: the rows are {fs / n_samples} Hz apart"
        )
    rows = np.arange(lo, hi + 1)
    spectrum = np.fft.fft(h) / n_samples
    # offsets m of the inverse FFT's bins: 0, 1, ..., then negative (one period)
    m = np.fft.fftfreq(n_samples, d=1.0 / n_samples)
    positions = np.arange(n_samples)
    out = np.empty((rows.size, n_samples), dtype=np.complex128)
    block = max(1, _BLOCK_VALUES // n_samples)
    for start in range(0, rows.size, block):
        ns = rows[start : start + block]
        shifted = spectrum[(ns[:, None] + positions[None, :]) % n_samples]
        shifted *= gaussian_spectrum(m[None, :], ns[:, None], gamma)
        out[start : start + ns.size] = np.fft.ifft(shifted, axis=1) * n_samples
    return StockwellTransform(
        S=out, freqs=rows * fs / n_samples, rows=rows, times=np.arange(n_samples) / fs
    )
