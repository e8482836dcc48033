"""Band-averaged Stockwell power of a window, evaluated only where it is needed.

The EEG fingerprint (Meir-Hasson et al. 2014, NeuroImage 102:128) needs, per
channel and frequency band, the mean over the band's Stockwell rows of
``|S[n, tau]|**2`` at a few dozen times ``tau`` (4 per second over a 12 s
window), not the whole transform.  pyOpenNFT computes the full transform of
the mirrored window (9000 samples x 2160 rows at 250 Hz) and throws almost
all of it away.  :class:`BandPower` computes the same numbers exactly (to a
stated tolerance) from two facts:

1. **Low rank.**  For a fixed time, ``S[n, tau] = g_n . v_tau`` where ``g_n``
   is row ``n``'s Gaussian (a real vector over DFT bins) and
   ``v_tau[k] = H[k] exp(i 2 pi k tau / N)``.  The band's summed power is
   ``|G v|^2 = sum_r lambda_r |u_r . v|^2`` with ``G = W diag(sqrt(lambda)) U^T``
   the singular value decomposition of the band's rows.  Neighbouring rows
   overlap almost entirely, so the eigenvalues fall off fast: 6 to 20
   filters ``f_r = sqrt(lambda_r) u_r`` per band reproduce all the band's
   rows (hundreds) to a relative ``tolerance`` of the largest eigenvalue.
   The decomposition is data-independent and made once per plan, from the
   small Gram matrix ``G G^T``.
2. **Folding.**  The times wanted are equally spaced, ``N / M`` samples
   apart; sampling a signal at ``M`` points folds its spectrum onto ``M``
   bins, so ``sum_k c_k exp(i 2 pi k (tau0 + j N / M) / N)`` for
   ``j = 0 .. M-1`` is one ``M``-point inverse FFT of ``c`` folded modulo
   ``M`` (after a phase ramp for ``tau0``).  Exact, whatever the filter's
   length.

The signal is the window mirrored at both ends (``[x[::-1], x, x[::-1]]``,
as pyOpenNFT does, so the transform of the window's newest samples is not
dragged towards its oldest), hence ``N = 3 L`` and rows ``1 / (3 W)`` Hz
apart.  The folding loop is the Cython kernel ``nfd._cext.stockwell.fold``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from nfd._cext.stockwell import fold
from nfd._checks import ensure_float, ensure_int
from nfd.eeg._errors import EegConfigError
from nfd.eeg._stockwell import gaussian_spectrum

__all__ = ["BandPower", "band_rows"]

#: The Gaussian window's spectrum is cut where it falls below exp(-CUT^2 / 2) = 1e-10.
_GAUSS_CUT = math.sqrt(2.0 * math.log(1e10))
#: A filter's coefficients below this fraction of its largest one are left out.
_TRIM = 1e-9
#: Channels transformed together (bounds the time any one numpy call holds the GIL).
_BLOCK = 4


def band_rows(band: tuple[float, float], n_total: int, fs: float) -> tuple[int, int]:
    """First and last Stockwell row of ``band`` = [lo, hi) Hz for an ``n_total``-sample signal at ``fs`` Hz.

    Row ``n`` (frequency ``n fs / n_total``) belongs to the band when
    ``lo <= n fs / n_total < hi``.

    Raises
    ------
    EegConfigError
        The band holds no row.

    Examples
    --------
    >>> band_rows((8.0, 12.0), 9000, 250.0)   # 36 s: rows 1/36 Hz apart
    (288, 431)
    """
    lo, hi = band
    first = math.ceil(lo * n_total / fs - 1e-9)
    last = math.ceil(hi * n_total / fs - 1e-9) - 1
    if last < first:
        raise EegConfigError(
            f"band {lo}-{hi} Hz holds no Stockwell row: rows are {fs / n_total:.4g} Hz apart for this window"
        )
    return first, last


def _check_bands(bands: Sequence[Sequence[float]], fs: float) -> tuple[tuple[float, float], ...]:
    if isinstance(bands, (str, bytes)) or not isinstance(bands, Sequence) or len(bands) == 0:
        raise EegConfigError(f"bands must be a non-empty list of [low, high] Hz pairs, got {bands!r}")
    out: list[tuple[float, float]] = []
    for band in bands:
        if isinstance(band, (str, bytes)) or not isinstance(band, Sequence) or len(band) != 2:
            raise EegConfigError(f"each band must be a [low, high] pair in Hz, got {band!r}")
        lo, hi = (float(v) for v in band)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi <= lo or hi > fs / 2:
            raise EegConfigError(
                f"band {band!r}: need 0 <= low < high <= fs / 2 = {fs / 2} Hz (the window's Nyquist frequency)"
            )
        out.append((lo, hi))
    return tuple(out)


def _leading_eigenpairs(gram: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric PSD ``gram`` with eigenvalue > ``tolerance`` x the largest, largest first.

    Asks LAPACK (``?syevx``) for the top few only, and for more while the
    smallest returned one is still above the threshold.
    """
    n = gram.shape[0]
    count = min(n, 32)
    while True:
        lam, w = scipy.linalg.eigh(gram, subset_by_index=[n - count, n - 1], driver="evx")
        lam, w = lam[::-1], w[:, ::-1]
        threshold = tolerance * lam[0]
        if count == n or lam[-1] <= threshold:
            keep = int(np.count_nonzero(lam > threshold))
            return lam[:keep], w[:, :keep]
        count = min(n, 2 * count)


def _check_settings(
    n_samples: int, fs: float, rate: float, gamma: float, tolerance: float
) -> tuple[int, float, float, float, float]:
    """The plan's window length (samples) and its rates (Hz), width factor and tolerance, checked."""
    n = ensure_int(n_samples, "n_samples (window length)", minimum=4, error=EegConfigError)
    fs_hz = ensure_float(fs, "fs (Hz)", positive=True, error=EegConfigError)
    rate_hz = ensure_float(rate, "rate (Hz)", positive=True, error=EegConfigError)
    gamma = ensure_float(gamma, "gamma", positive=True, error=EegConfigError)
    tolerance = ensure_float(tolerance, "tolerance", positive=True, error=EegConfigError)
    if rate_hz > fs_hz:
        raise EegConfigError(f"rate ({rate_hz} Hz) must not exceed the sampling rate fs ({fs_hz} Hz)")
    return n, fs_hz, rate_hz, gamma, tolerance


def _output_times(n_samples: int, fs: float, rate: float) -> int:
    """Output times ``K = L rate / fs`` in a window of ``n_samples`` at ``fs`` Hz; it must be a whole number."""
    k_float = n_samples * rate / fs
    n_times = round(k_float)
    if n_times < 1 or abs(k_float - n_times) > 1e-6:
        raise EegConfigError(
            f"the window ({n_samples} samples = {n_samples / fs} s) times rate ({rate} Hz) "
            f"must be a whole number of output times, got {k_float}"
        )
    return n_times


def _band_filters(
    rows: np.ndarray, n_total: int, gamma: float, tolerance: float, tau0: float
) -> tuple[list[np.ndarray], list[int]]:
    """The filters ``f_r`` (module docstring, fact 1) of one band's Stockwell ``rows``, and their first DFT bins.

    Each filter is trimmed to the bins where it exceeds ``_TRIM`` of its
    largest coefficient and multiplied by the phase ramp that puts the
    first output time at sample ``tau0`` of the ``n_total``-sample mirrored
    signal (fact 2).
    """
    m_lo, m_hi = -((n_total - 1) // 2), n_total // 2
    reach = np.minimum(np.ceil(_GAUSS_CUT * rows / (2 * math.pi * gamma)).astype(np.int64), m_hi)
    k0 = int(np.min(rows + np.maximum(-reach, m_lo)))
    k1 = int(np.max(rows + np.minimum(reach, m_hi)))
    k = np.arange(k0, k1 + 1)
    m = k[None, :] - rows[:, None]
    inside = (m >= np.maximum(-reach, m_lo)[:, None]) & (m <= np.minimum(reach, m_hi)[:, None])
    G = np.where(inside, gaussian_spectrum(m, rows[:, None], gamma), 0.0)
    # one BLAS thread: these are small products, and threads contending on a busy machine made
    # them 5-10x slower (threadpoolctl comes with scikit-learn)
    with threadpool_limits(1):
        lam, w = _leading_eigenpairs(G @ G.T, tolerance)
    F = w[:, : lam.size].T @ G  # (keep, len(k)): f_r = G^T w_r, |f_r . v|^2 summed = |G v|^2
    filters: list[np.ndarray] = []
    starts: list[int] = []
    for f in F:
        big = np.flatnonzero(np.abs(f) > _TRIM * np.abs(f).max())
        lo_i, hi_i = int(big[0]), int(big[-1])
        kk = k[lo_i : hi_i + 1]
        filters.append(f[lo_i : hi_i + 1] * np.exp(2j * math.pi * kk * tau0 / n_total))
        starts.append(int(kk[0]))
    return filters, starts


@dataclass(frozen=True)
class _FoldLayout:
    """The filters packed for the folding kernel :func:`nfd._cext.stockwell.fold`.

    Attributes
    ----------
    coefs : ndarray
        float64, every filter's complex coefficients one after the other, as (re, im) pairs.
    offsets : ndarray
        intp ``(n_filters + 1,)``: filter ``r``'s coefficients are ``offsets[r]:offsets[r + 1]``.
    first : ndarray
        intp ``(n_filters,)``: each filter's first bin, counted in the gathered spectrum.
    phase : ndarray
        intp ``(n_filters,)``: each filter's first bin modulo the folded length ``M``.
    gather : ndarray
        intp: the rfft bins that make up the bins ``k_min .. k_max`` the filters span.
    conj : ndarray of bool
        The gathered bins above ``N / 2``, taken conjugated (a real signal's spectrum).
    band_starts : ndarray
        intp: the first filter of each band (for ``np.add.reduceat``).
    """

    coefs: np.ndarray
    offsets: np.ndarray
    first: np.ndarray
    phase: np.ndarray
    gather: np.ndarray
    conj: np.ndarray
    band_starts: np.ndarray


def _fold_layout(
    filters: list[np.ndarray], starts: list[int], band_of_filter: list[int], n_total: int, n_fold: int
) -> _FoldLayout:
    """Pack the filters (first DFT bins ``starts``, bands ``band_of_filter``) of an ``n_total``-bin signal."""
    lengths = np.array([f.size for f in filters], dtype=np.intp)
    starts_arr = np.asarray(starts, dtype=np.int64)
    k_min = int(starts_arr.min())
    k_max = int((starts_arr + lengths - 1).max())
    bins = np.arange(k_min, k_max + 1) % n_total
    conj = bins > n_total // 2
    band_of = np.asarray(band_of_filter)
    return _FoldLayout(
        coefs=np.ascontiguousarray(np.concatenate(filters)).view(np.float64),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.intp),
        first=(starts_arr - k_min).astype(np.intp),
        phase=(starts_arr % n_fold).astype(np.intp),
        gather=np.where(conj, n_total - bins, bins).astype(np.intp),
        conj=conj,
        band_starts=np.flatnonzero(np.r_[True, band_of[1:] != band_of[:-1]]).astype(np.intp),
    )


class BandPower:
    """Mean Stockwell power per frequency band of mirrored windows, at ``rate`` Hz over each window.

    Parameters
    ----------
    n_samples : int
        Window length ``L`` in samples; the window spans ``L / fs`` seconds.
    fs : float
        Sampling rate of the windows, Hz.
    bands : sequence of (low, high)
        Frequency bands in Hz, each ``[low, high)``, ``high <= fs / 2``.
    rate : float
        Rate of the output times, Hz; ``L * rate / fs`` must be an integer
        (e.g. 12 s at 4 Hz: 48 times).
    gamma : float
        Stockwell window width factor (> 0; 1 = Stockwell's Gaussian).
    tolerance : float
        Eigenvalues below ``tolerance`` times a band's largest are dropped:
        the power is exact to ``tolerance`` relative to the band's largest
        eigen-power (default 1e-10).

    Attributes
    ----------
    times : ndarray
        Output times in seconds relative to the window's last sample,
        ``-(K - 1) / rate, ..., -1 / rate, 0``.
    freqs : tuple of ndarray
        Per band, the frequencies (Hz) of the Stockwell rows it averages.
    n_filters : int
        Filters evaluated per channel (the sum of the bands' ranks).

    Notes
    -----
    ``power(x)[c, b, k]`` equals ``mean over rows n of band b of |S[n, tau_k]|^2``
    where ``S`` is :func:`nfd.eeg.stockwell_transform` of
    ``[x[c, ::-1], x[c], x[c, ::-1]]`` and ``tau_k = (2 L - 1) - (K - 1 - k) fs / rate``
    samples (the ``k``-th output time; ``fs / rate`` need not be an integer).

    Examples
    --------
    >>> fs = 250.0
    >>> t = np.arange(3000) / fs
    >>> bp = BandPower(3000, fs, [(4.0, 8.0), (8.0, 12.0)], rate=4.0)
    >>> p = bp.power(np.sin(2 * np.pi * 10.0 * t)[None, :])
    >>> p.shape, float(bp.times[-1])
    ((1, 2, 48), 0.0)
    >>> bool(p[0, 1, 24] > 100 * p[0, 0, 24])   # 6 s before the window's end: alpha, not theta
    True
    """

    def __init__(
        self,
        n_samples: int,
        fs: float,
        bands: Sequence[Sequence[float]],
        rate: float,
        *,
        gamma: float = 1.0,
        tolerance: float = 1e-10,
    ) -> None:
        self.n_samples, self.fs, self.rate, self.gamma, self.tolerance = _check_settings(
            n_samples, fs, rate, gamma, tolerance
        )
        self.bands = _check_bands(bands, self.fs)
        self.n_times = _output_times(self.n_samples, self.fs, self.rate)
        L = self.n_samples
        N = self.n_total = 3 * L
        K = self.n_times
        self.n_fold = 3 * K
        self.times = (np.arange(K) - (K - 1)) / self.rate
        tau0 = (2 * L - 1) - (K - 1) * self.fs / self.rate
        filters: list[np.ndarray] = []
        starts: list[int] = []
        band_of_filter: list[int] = []
        self._band_scale = np.empty(len(self.bands))
        freqs: list[np.ndarray] = []
        for b, band in enumerate(self.bands):
            first, last = band_rows(band, N, self.fs)
            rows = np.arange(first, last + 1)
            freqs.append(rows * self.fs / N)
            band_filters, band_starts = _band_filters(rows, N, self.gamma, self.tolerance, tau0)
            filters += band_filters
            starts += band_starts
            band_of_filter += [b] * len(band_filters)
            self._band_scale[b] = 1.0 / rows.size
        self.freqs = tuple(freqs)
        self.n_filters = len(filters)
        self._layout = _fold_layout(filters, starts, band_of_filter, N, self.n_fold)

    def __repr__(self) -> str:
        return (
            f"BandPower(n_samples={self.n_samples}, fs={self.fs}, bands={list(self.bands)}, rate={self.rate}, "
            f"gamma={self.gamma}; {self.n_filters} filters)"
        )

    def power(self, windows: ArrayLike) -> np.ndarray:
        """Mean Stockwell power of each band at each output time, per channel.

        Parameters
        ----------
        windows : array_like
            ``(n_channels, n_samples)`` real windows (oldest sample first),
            signal units (e.g. microvolts).

        Returns
        -------
        ndarray
            float64 ``(n_channels, n_bands, n_times)``, signal units squared;
            time ``k`` is :attr:`times` ``[k]`` seconds from the last sample.

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
        bands = np.empty((x.shape[0], len(self.bands), self.n_times))
        # a few channels at a time: none of the numpy/scipy calls below then holds the GIL for more
        # than a fraction of a millisecond, so an event loop in another thread is never held up
        for start in range(0, x.shape[0], _BLOCK):
            self._power_block(x[start : start + _BLOCK], bands[start : start + _BLOCK])
        return bands

    def _power_block(self, x: np.ndarray, bands: np.ndarray) -> None:
        n_ch, L = x.shape
        y = np.empty((n_ch, 3 * L))
        y[:, :L] = x[:, ::-1]
        y[:, L : 2 * L] = x
        y[:, 2 * L :] = x[:, ::-1]
        spectrum = scipy.fft.rfft(y, axis=1, overwrite_x=True)
        spectrum *= 1.0 / self.n_total
        layout = self._layout
        ext = np.take(spectrum, layout.gather, axis=1)
        np.conjugate(ext, out=ext, where=layout.conj[None, :])
        out = np.empty((n_ch, self.n_filters, 2 * self.n_fold))
        fold(ext.view(np.float64), layout.coefs, layout.offsets, layout.first, layout.phase, out)
        # scipy's FFT may work in place on our scratch array (a third faster than numpy's here)
        s = scipy.fft.ifft(out.view(np.complex128), axis=2, overwrite_x=True)[:, :, : self.n_times]
        s *= self.n_fold
        p = s.real**2 + s.imag**2
        np.add.reduceat(p, layout.band_starts, axis=1, out=bands)
        bands *= self._band_scale[None, :, None]

    def log_power(self, windows: ArrayLike) -> np.ndarray:
        """``log10`` of :meth:`power` (bels of signal units squared), floored at 1e-30 to stay finite."""
        return np.log10(np.maximum(self.power(windows), 1e-30))
