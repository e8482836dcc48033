"""Band power of the span of EEG ending at each delay: Welch's method or multitaper, vectorised over delays.

Both estimate the one-sided power spectral density ``S(f)`` (signal units
squared per Hz) of the ``n_span`` samples ending at each delay, then
integrate it over each band: ``P_b = sum over bins lo <= f < hi of S(f) df``
(signal units squared), ``df`` the bins' spacing.

* Welch (1967, IEEE Trans. Audio Electroacoust. 15:70): Hann-windowed
  (periodic Hann, scipy's ``"hann"``) sub-segments of ``n_segment`` samples
  overlapping by half (``n_segment // 2``), each segment's mean removed, the
  periodograms averaged: exactly :func:`scipy.signal.welch` with its
  defaults (``detrend="constant"``, ``scaling="density"``, ``average="mean"``).
* Multitaper (Thomson 1982, Proc. IEEE 70:1055; Percival & Walden 1993,
  *Spectral Analysis for Physical Applications*, ch. 7): the span's mean
  removed, ``K = 2 NW - 1`` discrete prolate spheroidal (Slepian) tapers
  :func:`scipy.signal.windows.dpss` (``sym=False``, unit energy), the
  eigenspectra ``|FFT(h_k x)|^2 / fs`` averaged with the tapers'
  concentrations ``lambda_k`` as weights (P&W eq. 369a with fixed weights;
  no adaptive weighting).  This is MNE's ``psd_array_multitaper`` with
  ``adaptive=False``, ``normalization="full"``.  Its resolution is
  ``2 W = 2 NW / T`` Hz for a span of ``T`` seconds.

Spans end at the newest sample at or before each delay:
:func:`span_ends` gives their last samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.fft
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from nfd._checks import ensure_float, ensure_int
from nfd.eeg._bandpower import _check_bands
from nfd.eeg._errors import EegConfigError

__all__ = ["SpanPower", "span_ends"]

SpanMethod = Literal["welch", "multitaper"]
#: Channels (x delays) transformed together: bounds the memory and the time one numpy call holds the GIL.
_BLOCK = 4


def span_ends(n_samples: int, fs: float, delays: Sequence[float]) -> np.ndarray:
    """Index of the newest sample at or before each delay, in a window of ``n_samples`` at ``fs`` Hz.

    The window's last sample (index ``n_samples - 1``) is at delay 0;
    delay ``d`` s ends at sample ``n_samples - 1 - ceil(d fs)``.

    Examples
    --------
    >>> span_ends(1000, 250.0, [0.0, 0.25, 1.0]).tolist()
    [999, 936, 749]
    """
    d = np.asarray(delays, dtype=np.float64)
    return (n_samples - 1 - np.ceil(d * fs - 1e-6)).astype(np.intp)


def _band_bins(
    bands: tuple[tuple[float, float], ...], n_fft: int, fs: float, what: str
) -> list[tuple[int, int]]:
    """First and last rfft bin ``[first, last]`` of each band [lo, hi) for an ``n_fft``-point transform."""
    out: list[tuple[int, int]] = []
    for lo, hi in bands:
        first = math.ceil(lo * n_fft / fs - 1e-9)
        last = min(math.ceil(hi * n_fft / fs - 1e-9) - 1, n_fft // 2)
        if last < first:
            raise EegConfigError(
                f"band {lo:g}-{hi:g} Hz holds no frequency of the {what} ({n_fft / fs:g} s: bins "
                f"{fs / n_fft:.4g} Hz apart), expected a wider band or a longer span"
            )
        out.append((first, last))
    return out


class SpanPower:
    """Band power of the ``n_span`` samples ending at each of several points of a window.

    Parameters
    ----------
    n_samples : int
        Window length, samples.
    fs : float
        Sampling rate, Hz.
    bands : sequence of (low, high)
        Bands in Hz, each ``[low, high)``, ``high <= fs / 2``.
    ends : sequence of int
        The last sample (0-based, in the window) of each span
        (:func:`span_ends`); each span must lie inside the window.
    n_span : int
        Span length, samples.
    method : {"welch", "multitaper"}
    n_segment : int
        Welch: sub-segment length, samples (``<= n_span``; overlap half).
    nw : float
        Multitaper: time-half-bandwidth product ``NW`` (``2 NW`` an integer
        >= 3; ``K = 2 NW - 1`` tapers).

    Attributes
    ----------
    n_fft : int
        Length of each transform (``n_segment`` or ``n_span``), samples.
    freqs : ndarray
        The transform's frequencies, Hz.
    tapers : ndarray
        ``(K, n_fft)``: the Hann window (``K = 1``) or the DPSS tapers.
    weights : ndarray
        ``(K,)``: the taper weights (1, or the DPSS concentrations).

    Examples
    --------
    >>> fs = 128.0
    >>> x = np.sin(2 * np.pi * 10.0 * np.arange(512) / fs)[None, :]
    >>> sp = SpanPower(512, fs, [(4.0, 8.0), (8.0, 12.0)], [511, 255], 256, "multitaper", nw=2.0)
    >>> p = sp.power(x)           # (channel, band, span)
    >>> p.shape, bool(p[0, 1, 0] > 100 * p[0, 0, 0]), round(float(p[0, 1, 0]), 2)   # a sine's power: 1/2
    ((1, 2, 2), True, 0.5)
    """

    def __init__(
        self,
        n_samples: int,
        fs: float,
        bands: Sequence[Sequence[float]],
        ends: Sequence[int],
        n_span: int,
        method: SpanMethod,
        *,
        n_segment: int = 0,
        nw: float = 2.0,
    ) -> None:
        self.n_samples = ensure_int(n_samples, "n_samples (window length)", minimum=4, error=EegConfigError)
        self.fs = ensure_float(fs, "fs (Hz)", positive=True, error=EegConfigError)
        self.bands = _check_bands(bands, self.fs)
        self.n_span = ensure_int(n_span, "span (samples)", minimum=4, error=EegConfigError)
        self.ends = np.asarray(ends, dtype=np.intp)
        if self.ends.ndim != 1 or self.ends.size == 0:
            raise EegConfigError(f"ends must be a non-empty list of sample indices, got {ends!r}")
        if self.ends.min() - self.n_span + 1 < 0 or self.ends.max() >= self.n_samples:
            raise EegConfigError(
                f"a span of {self.n_span} samples ending at sample {int(self.ends.min())} starts before the window "
                f"({self.n_samples} samples = {self.n_samples / self.fs:g} s), expected a longer window"
            )
        self.method = method
        if method == "welch":
            self.n_fft = ensure_int(
                n_segment, "welch segment (samples)", minimum=4, maximum=self.n_span, error=EegConfigError
            )
            self.tapers = scipy.signal.get_window("hann", self.n_fft)[None, :]
            self.weights = np.ones(1)
            self._scale = 1.0 / (self.fs * float(np.sum(self.tapers**2)))
            self._hop = self.n_fft - self.n_fft // 2
        elif method == "multitaper":
            self.n_fft = self.n_span
            self.tapers, self.weights = _dpss(self.n_span, nw)
            self._scale = 1.0 / (self.fs * float(np.sum(self.weights)))
            self._hop = 0
        else:
            raise EegConfigError(f"method must be 'welch' or 'multitaper', got {method!r}")
        self.freqs = scipy.fft.rfftfreq(self.n_fft, 1.0 / self.fs)
        what = "Welch segment" if method == "welch" else "multitaper span"
        bins = _band_bins(self.bands, self.n_fft, self.fs, what)
        self._lo = min(b[0] for b in bins)
        self._hi = max(b[1] for b in bins) + 1
        # one-sided density: every bin but 0 and (even n_fft) n_fft / 2 counts twice; times df, summed per band
        k = np.arange(self._lo, self._hi)
        one_sided = np.where((k == 0) | ((self.n_fft % 2 == 0) & (k == self.n_fft // 2)), 1.0, 2.0)
        self._band_matrix = np.zeros((self._hi - self._lo, len(self.bands)))
        for b, (first, last) in enumerate(bins):
            self._band_matrix[first - self._lo : last + 1 - self._lo, b] = 1.0
        self._band_matrix *= (one_sided * self._scale * self.fs / self.n_fft)[:, None]

    def __repr__(self) -> str:
        return (
            f"SpanPower({self.method}, n_samples={self.n_samples}, fs={self.fs}, {len(self.bands)} bands, "
            f"{self.ends.size} spans of {self.n_span} samples, n_fft={self.n_fft}, {self.tapers.shape[0]} tapers)"
        )

    def power(self, windows: ArrayLike) -> np.ndarray:
        """Band power of every span, per channel.

        Parameters
        ----------
        windows : array_like
            ``(n_channels, n_samples)`` real windows (oldest sample first),
            signal units.

        Returns
        -------
        ndarray
            float64 ``(n_channels, n_bands, n_spans)``, signal units squared
            (the PSD integrated over each band).

        Raises
        ------
        EegConfigError
            The windows do not have ``n_samples`` columns or hold NaN.
        """
        x = np.asarray(windows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_samples:
            raise EegConfigError(
                f"windows must be (n_channels, {self.n_samples}) samples, got shape {np.shape(windows)}"
            )
        if not np.all(np.isfinite(x)):
            raise EegConfigError("windows hold NaN or infinite values")
        out = np.empty((x.shape[0], len(self.bands), self.ends.size))
        starts = self.ends - self.n_span + 1
        for first in range(0, x.shape[0], _BLOCK):
            spans = sliding_window_view(x[first : first + _BLOCK], self.n_span, axis=1)[:, starts]
            out[first : first + _BLOCK] = np.swapaxes(self._span_power(spans), 1, 2)
        return out

    def _span_power(self, spans: np.ndarray) -> np.ndarray:
        """``(c, n_spans, n_span)`` spans -> ``(c, n_spans, n_bands)`` band power."""
        if self.method == "welch":
            segments = sliding_window_view(spans, self.n_fft, axis=2)[:, :, :: self._hop]  # (c, s, j, n_fft)
            y = segments - segments.mean(axis=3, keepdims=True)
            y *= self.tapers[0]
            spectra = scipy.fft.rfft(y, axis=3)[..., self._lo : self._hi]
            periodogram = (spectra.real**2 + spectra.imag**2).mean(axis=2)  # (c, s, bins)
        else:
            y = spans - spans.mean(axis=2, keepdims=True)
            spectra = scipy.fft.rfft(y[:, :, None, :] * self.tapers, axis=3)[..., self._lo : self._hi]
            periodogram = np.einsum("csjf,j->csf", spectra.real**2 + spectra.imag**2, self.weights)
        result: np.ndarray = periodogram @ self._band_matrix
        return result

    def log_power(self, windows: ArrayLike) -> np.ndarray:
        """``log10`` of :meth:`power`, floored at 1e-30 to stay finite."""
        return np.log10(np.maximum(self.power(windows), 1e-30))


def _dpss(n: int, nw: float) -> tuple[np.ndarray, np.ndarray]:
    """``K = 2 NW - 1`` periodic unit-energy DPSS tapers ``(K, n)`` and their concentrations ``(K,)``."""
    nw = ensure_float(nw, "nw (multitaper time-half-bandwidth)", minimum=1.5, error=EegConfigError)
    k = round(2 * nw) - 1
    if abs(2 * nw - round(2 * nw)) > 1e-9 or nw >= n / 2:
        raise EegConfigError(f"nw must be a multiple of 0.5 in [1.5, {n / 2:g}) (K = 2 NW - 1 tapers), got {nw:g}")
    tapers, ratios = scipy.signal.windows.dpss(n, nw, Kmax=k, sym=False, return_ratios=True)
    return np.asarray(tapers, dtype=np.float64), np.asarray(ratios, dtype=np.float64)
