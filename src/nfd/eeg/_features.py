"""EEG-fingerprint features: log band power per channel and band, at several delays, over a causal window.

Meir-Hasson et al. (2014, NeuroImage 102:128) predict a deep region's BOLD
signal from the time-frequency representation of one or more electrodes over
the preceding seconds: every (channel, frequency band, delay) is one
feature of a ridge regression.  nfd computes, for the window of ``window``
seconds ending at the newest sample at or before a time ``t``:

* the Stockwell transform of the mirrored window (Gaussian window,
  ``gamma``), via :class:`nfd.eeg.BandPower`;
* per band, the mean power over the band's Stockwell rows, at ``rate`` Hz
  across the window (the "resampling to a fixed rate");
* its ``log10`` at each delay ``d`` (seconds before the window's last
  sample; multiples of ``1 / rate``).

With an HRF (:class:`HrfKernel`), each channel and band gives one feature
instead: its log band power convolved with the haemodynamic response,
``sum_k h_k logP(t - k / rate)`` over the kernel's taps ``h_0 .. h_{K-1}``
(the delays are the kernel's grid ``0 .. (K - 1) / rate``).  This is the
"EEG-informed fMRI" regressor (band power convolved with the canonical HRF:
Goldman et al. 2002, NeuroReport 13:2487; Laufs et al. 2003, PNAS 100:11053),
the form of Meir-Hasson et al.'s model with the response fixed, which needs
one coefficient per channel and band instead of one per delay.

The band power at each delay can instead be averaged (``average_s``): the
log of the mean Stockwell power over the ``average_s`` seconds ending at the
delay (the log of the mean rather than the mean of the log, so that the three
estimators below estimate the same quantity, the span's band power, and differ
only in how; a mean of logs would also be a linear combination of the
instantaneous features a ridge already sees).  Or it is estimated from the
``average_s`` seconds of EEG ending at the delay (``power``): Welch's method
or Thomson's multitaper PSD integrated over the band
(:class:`nfd.eeg.SpanPower`).  Every delay plus the span must fit in the
window.

The feature vector is ordered channel, then band, then delay
(:meth:`FeatureSpec.feature_names`).  The same function serves training
(:func:`feature_matrix`, windows ending at each volume's time) and live
prediction, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from nfd._checks import check_option, ensure_float
from nfd.eeg._bandpower import BandPower
from nfd.eeg._errors import EegConfigError
from nfd.eeg._spectra import SpanMethod, SpanPower, span_ends

__all__ = ["DEFAULT_BANDS", "POWER_METHODS", "FeatureSpec", "HrfKernel", "feature_matrix", "window_end_indices"]

#: Ten bands from delta to low gamma, Hz, each [low, high).
DEFAULT_BANDS: tuple[tuple[float, float], ...] = (
    (0.5, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0),
    (10.0, 12.0), (12.0, 15.0), (15.0, 20.0), (20.0, 30.0), (30.0, 45.0),
)


@functools.lru_cache(maxsize=8)
def _plan(
    n_samples: int, fs: float, bands: tuple[tuple[float, float], ...], rate: float, gamma: float
) -> BandPower:
    """Plans are immutable and take ~0.3 s to make: models and trainings with the same settings share one."""
    return BandPower(n_samples, fs, bands, rate, gamma=gamma)


@functools.lru_cache(maxsize=8)
def _span_plan(
    n_samples: int, fs: float, bands: tuple[tuple[float, float], ...], ends: tuple[int, ...], n_span: int,
    method: str, n_segment: int, nw: float,
) -> SpanPower:
    """Welch and multitaper plans (the DPSS tapers take a moment for long spans), shared like :func:`_plan`."""
    kind: SpanMethod = "welch" if method == "welch" else "multitaper"
    return SpanPower(n_samples, fs, bands, ends, n_span, kind, n_segment=n_segment, nw=nw or 2.0)


#: The band-power estimators of :attr:`FeatureSpec.power`.
POWER_METHODS: tuple[str, ...] = ("stockwell", "welch", "multitaper")

_SHA256_DIGITS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class HrfKernel:
    """A haemodynamic response sampled on the features' grid, and where it came from.

    Attributes
    ----------
    weights : tuple of float
        The response at 0, 1 / rate, 2 / rate, ... s after a neural impulse
        (unitless; :meth:`canonical` and :meth:`from_file` make kernels that
        sum to 1, so a sustained unit log power gives 1).
    rate : float
        Rate of the grid, Hz: the :class:`FeatureSpec`'s ``rate``.
    source : str
        ``"canonical"`` (SPM's double gamma, :func:`nfd.design.spm_hrf`) or the
        HRF file's path.
    column : str or None
        The file's column (a parcel of ``nfd hrf estimate``'s output; None
        for the canonical HRF).
    sha256 : str or None
        SHA-256 of the HRF file (None for the canonical HRF).

    Examples
    --------
    >>> h = HrfKernel.canonical(4.0)
    >>> h.n_taps, h.length, round(sum(h.weights), 12), h.source
    (129, 32.0, 1.0, 'canonical')
    >>> h.covering_window(250.0)
    32.5
    """

    weights: tuple[float, ...]
    rate: float
    source: str = "canonical"
    column: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        try:
            weights = tuple(float(w) for w in self.weights)
        except (TypeError, ValueError):
            raise EegConfigError(f"hrf weights must be numbers, got {self.weights!r}") from None
        if not weights or not all(math.isfinite(w) for w in weights) or not any(weights):
            raise EegConfigError(f"hrf weights must be finite numbers, not all zero, got {list(weights)[:8]}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(
            self, "rate", ensure_float(self.rate, "hrf rate (Hz)", positive=True, error=EegConfigError)
        )
        sha = self.sha256
        if sha is not None and (len(sha) != 64 or not set(sha) <= _SHA256_DIGITS):
            raise EegConfigError(f"hrf sha256 must be 64 lower-case hexadecimal digits, got {sha!r}")

    @property
    def n_taps(self) -> int:
        """Number of weights."""
        return len(self.weights)

    @property
    def length(self) -> float:
        """Time of the last tap after the impulse, s."""
        return (self.n_taps - 1) / self.rate

    def covering_window(self, fs: float) -> float:
        """The shortest window (s) holding every tap that is a whole number of samples at ``fs`` Hz.

        Raises
        ------
        EegConfigError
            No window up to 100 taps longer is a whole number of samples.
        """
        for m in range(self.n_taps, self.n_taps + 100):
            window = m / self.rate
            if abs(window * fs - round(window * fs)) < 1e-6:
                return window
        raise EegConfigError(
            f"no window covering the HRF ({self.length:g} s at {self.rate:g} Hz) is a whole number of samples "
            f"at {fs:g} Hz, expected rates with a common grid"
        )

    @classmethod
    def canonical(cls, rate: float) -> HrfKernel:
        """SPM's canonical HRF (Friston et al. 1998; :func:`nfd.design.spm_hrf`, 32 s) every ``1 / rate`` s."""
        from nfd.design import DesignError, spm_hrf

        rate = ensure_float(rate, "hrf rate (Hz)", positive=True, error=EegConfigError)
        try:
            weights = spm_hrf(1.0 / rate)
        except DesignError as exc:
            raise EegConfigError(str(exc)) from None
        return cls(weights=tuple(weights.tolist()), rate=rate)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], rate: float, column: str | None = None) -> HrfKernel:
        """An HRF TSV (``nfd hrf estimate``'s, or time and value columns) resampled every ``1 / rate`` s.

        Read by :func:`nfd.design.read_hrf_tsv`, sampled at 0, 1 / rate, ...
        over the file's length and normalised to sum 1; the file's SHA-256
        is kept with the weights.

        Raises
        ------
        EegConfigError
            The file is unreadable or malformed, or has no column ``column``
            (the reader's message, naming the file).
        """
        from nfd._files import file_sha256
        from nfd.design import DesignError, read_hrf_tsv

        rate = ensure_float(rate, "hrf rate (Hz)", positive=True, error=EegConfigError)
        try:
            sampled = read_hrf_tsv(path, column=column)
            weights = sampled.kernel(1.0 / rate)
            sha = file_sha256(path)
        except (DesignError, OSError) as exc:
            raise EegConfigError(str(exc)) from None
        return cls(
            weights=tuple(np.asarray(weights, dtype=np.float64).tolist()), rate=rate, source=str(path),
            column=sampled.column, sha256=sha,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (in the model's feature specification)."""
        return {
            "weights": list(self.weights), "rate": self.rate, "source": self.source, "column": self.column,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HrfKernel:
        """Inverse of :meth:`as_dict`."""
        try:
            return cls(
                weights=tuple(d["weights"]), rate=d["rate"], source=str(d["source"]), column=d.get("column"),
                sha256=d.get("sha256"),
            )
        except (KeyError, TypeError) as exc:
            raise EegConfigError(f"hrf specification lacks or mistypes {exc}") from None


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a model uses (all times in seconds, frequencies and rates in Hz).

    Attributes
    ----------
    channels : tuple of str
        Channel names, in feature order.
    fs : float
        Sampling rate of the preprocessed samples the windows are cut from.
    window : float
        Window length (default 12 s); ``window * fs`` and ``window * rate``
        must be whole numbers.
    bands : tuple of (low, high)
        Frequency bands, each [low, high) Hz (default :data:`DEFAULT_BANDS`).
    rate : float
        Rate of the band-power time course inside the window (default 4 Hz).
    delays : tuple of float
        Delays before the window's last sample, multiples of ``1 / rate`` in
        [0, window); default: all of them (0, 0.25, ..., 11.75 s).  With
        ``hrf``: the kernel's taps ``0, 1 / rate, ...`` (set from it).
    gamma : float
        Stockwell window width factor (default 1).
    hrf : HrfKernel or None
        Convolve each channel's and band's log power with this response
        (one feature per channel and band, named ``<channel>_<band>_hrf``);
        its rate must be ``rate`` and the window must hold all its taps.
    power : {"stockwell", "welch", "multitaper"}
        How the band power at each delay is estimated (default
        ``"stockwell"``): the Stockwell power at that instant (or averaged,
        ``average_s``), or the PSD of the ``average_s`` seconds of EEG ending
        there by Welch's method or multitaper (:mod:`nfd.eeg._spectra`),
        integrated over the band.
    average_s : float
        Averaging span, s (default 0).  Stockwell: 0 = the instantaneous
        power; > 0 (a multiple of ``1 / rate``) = the log of the mean power
        over the ``average_s * rate`` band-power samples ending at each delay.
        Welch and multitaper: the span of EEG each estimate uses (0 = 2 s;
        ``average_s * fs`` a whole number).  Every delay plus ``average_s``
        must fit in the window; the default delays are those that do.
    segment_s : float
        Welch's sub-segment length, s (0 = ``average_s / 2`` rounded to whole
        samples: three segments overlapping by half); welch only.
    nw : float
        Multitaper time-half-bandwidth product ``NW`` (default 2: resolution
        ``2 NW / average_s`` Hz, ``2 NW - 1 = 3`` tapers); multitaper only.

    Examples
    --------
    >>> spec = FeatureSpec(channels=("Cz", "Pz"), fs=250.0, delays=(0.0, 2.0, 4.0))
    >>> spec.n_samples, spec.n_features, spec.feature_names()[:2]
    (3000, 60, ['Cz_0.5-2Hz_0s', 'Cz_0.5-2Hz_2s'])
    """

    channels: tuple[str, ...]
    fs: float
    window: float = 12.0
    bands: tuple[tuple[float, float], ...] = DEFAULT_BANDS
    rate: float = 4.0
    delays: tuple[float, ...] = field(default=())
    gamma: float = 1.0
    hrf: HrfKernel | None = None
    power: str = "stockwell"
    average_s: float = 0.0
    segment_s: float = 0.0
    nw: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.channels, str) or not isinstance(self.channels, Sequence) or not self.channels:
            raise EegConfigError(f"channels must be a non-empty list of channel names, got {self.channels!r}")
        channels = tuple(str(c) for c in self.channels)
        if len(set(channels)) != len(channels):
            raise EegConfigError(f"channels must be unique, got {list(channels)}")
        object.__setattr__(self, "channels", channels)
        for name, unit in (("fs", " (Hz)"), ("window", " (s)"), ("rate", " (Hz)"), ("gamma", "")):
            value = ensure_float(getattr(self, name), name + unit, positive=True, error=EegConfigError)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "bands", tuple((float(lo), float(hi)) for lo, hi in self.bands))
        n = self.window * self.fs
        if abs(n - round(n)) > 1e-6:
            raise EegConfigError(f"window ({self.window} s) times fs ({self.fs} Hz) must be a whole number of samples")
        k = self.window * self.rate
        if abs(k - round(k)) > 1e-6:
            raise EegConfigError(f"window ({self.window} s) times rate ({self.rate} Hz) must be a whole number")
        step = 1.0 / self.rate
        self._check_power()
        delays = tuple(float(d) for d in self.delays) if self.delays else self._default_delays(round(k))
        if self.hrf is not None:
            delays = self._hrf_delays(round(k))
        for d in delays:
            if not (0 <= d < self.window) or abs(d / step - round(d / step)) > 1e-6:
                raise EegConfigError(
                    f"delay {d} s must be a multiple of 1 / rate = {step} s in [0, window = {self.window} s)"
                )
        if len({round(d / step) for d in delays}) != len(delays):
            raise EegConfigError(f"delays must be distinct, got {list(delays)}")
        object.__setattr__(self, "delays", delays)
        self._check_span()
        # validates the bands against the window's (or span's) frequency resolution and Nyquist frequency
        _ = self.estimator

    def _check_power(self) -> None:
        """Check ``power`` and its settings, filling in the defaults (welch/multitaper span 2 s, segment, NW 2)."""
        check_option("power", self.power, POWER_METHODS, error=EegConfigError)
        for name in ("average_s", "segment_s", "nw"):
            value = ensure_float(getattr(self, name), f"{name}", minimum=0.0, error=EegConfigError)
            object.__setattr__(self, name, value)
        if self.power != "welch" and self.segment_s:
            raise EegConfigError(f"segment_s is Welch's sub-segment length, expected 0 with power {self.power!r}")
        if self.power != "multitaper" and self.nw:
            raise EegConfigError(f"nw is the multitaper's bandwidth, expected 0 with power {self.power!r}")
        if self.power == "stockwell":
            m = self.average_s * self.rate
            if abs(m - round(m)) > 1e-6:
                raise EegConfigError(
                    f"average_s ({self.average_s:g} s) must be a multiple of 1 / rate = {1 / self.rate:g} s"
                )
            return
        if not self.average_s:
            object.__setattr__(self, "average_s", 2.0)
        if self.power == "welch" and not self.segment_s:  # half the span, in whole samples
            object.__setattr__(self, "segment_s", round(self.average_s * self.fs / 2) / self.fs)
        if self.power == "multitaper" and not self.nw:
            object.__setattr__(self, "nw", 2.0)
        for name in ("average_s", "segment_s"):
            n = getattr(self, name) * self.fs
            if (name == "average_s" or self.power == "welch") and abs(n - round(n)) > 1e-6:
                raise EegConfigError(
                    f"{name} ({getattr(self, name):g} s) times fs ({self.fs:g} Hz) must be a whole number of samples"
                )

    def _span_samples(self) -> int:
        """Samples before each delay's own that its estimate reaches back (0 for instantaneous Stockwell)."""
        if self.power == "stockwell":
            return 0
        return round(self.average_s * self.fs) - 1

    def _default_delays(self, n_columns: int) -> tuple[float, ...]:
        """Every multiple of 1 / rate whose span (``average_s`` before it) fits in the window."""
        m = round(self.average_s * self.rate)
        delays = [i / self.rate for i in range(n_columns - max(m - 1, 0))]
        if self.power != "stockwell":
            ends = span_ends(self.n_samples, self.fs, delays)
            delays = [d for d, e in zip(delays, ends, strict=True) if e - self._span_samples() >= 0]
        if not delays:
            raise EegConfigError(
                f"window ({self.window:g} s) is shorter than the averaging span ({self.average_s:g} s), "
                "expected a longer window"
            )
        return tuple(delays)

    def _check_span(self) -> None:
        """The longest delay plus the averaging span must fit in the window."""
        if self.hrf is not None and (self.power != "stockwell" or self.average_s):
            raise EegConfigError(
                "an HRF kernel takes the instantaneous Stockwell power, expected power 'stockwell' and average_s 0"
            )
        longest = max(self.delays)
        if self.power == "stockwell":
            m = max(round(self.average_s * self.rate), 1)
            fits = round(longest * self.rate) + m <= round(self.window * self.rate)
        else:
            fits = int(span_ends(self.n_samples, self.fs, [longest])[0]) - self._span_samples() >= 0
        if not fits:
            raise EegConfigError(
                f"window ({self.window:g} s) must hold the longest delay ({longest:g} s) plus the averaging span "
                f"({self.average_s:g} s), expected a window of at least {longest + self.average_s:g} s"
            )

    def _hrf_delays(self, n_columns: int) -> tuple[float, ...]:
        """The delays of the HRF's taps (s); refuses another rate, a kernel longer than the window, other delays."""
        hrf = self.hrf
        if not isinstance(hrf, HrfKernel):
            raise EegConfigError(f"hrf must be an HrfKernel, got {type(hrf).__name__}")
        if abs(hrf.rate - self.rate) > 1e-9 * self.rate:
            raise EegConfigError(f"the HRF is sampled at {hrf.rate:g} Hz, expected the features' rate {self.rate:g} Hz")
        if hrf.n_taps > n_columns:
            raise EegConfigError(
                f"window ({self.window:g} s, {n_columns} band-power samples at {self.rate:g} Hz) is shorter than "
                f"the HRF ({hrf.length:g} s, {hrf.n_taps} taps), expected a window of at least "
                f"{hrf.n_taps / self.rate:g} s"
            )
        delays = tuple(i / self.rate for i in range(hrf.n_taps))
        if self.delays and (len(self.delays) != len(delays) or not np.allclose(self.delays, delays)):
            raise EegConfigError(
                "delays and an HRF are exclusive (the HRF's taps are the delays), expected one of them"
            )
        return delays

    @property
    def n_samples(self) -> int:
        """Window length in samples."""
        return round(self.window * self.fs)

    @property
    def n_features(self) -> int:
        """Channels x bands x delays (channels x bands with an HRF)."""
        per_band = 1 if self.hrf is not None else len(self.delays)
        return len(self.channels) * len(self.bands) * per_band

    @property
    def plan(self) -> BandPower:
        """The :class:`BandPower` plan the Stockwell features are computed with (made once per settings)."""
        return _plan(self.n_samples, self.fs, self.bands, self.rate, self.gamma)

    @property
    def estimator(self) -> BandPower | SpanPower:
        """The band-power plan of :attr:`power`: :attr:`plan`, or a :class:`SpanPower` (each made once)."""
        if self.power == "stockwell":
            return self.plan
        ends = tuple(span_ends(self.n_samples, self.fs, self.delays).tolist())
        return _span_plan(
            self.n_samples, self.fs, self.bands, ends, round(self.average_s * self.fs), self.power,
            round(self.segment_s * self.fs), self.nw,
        )

    @cached_property
    def _delay_columns(self) -> np.ndarray:
        k = round(self.window * self.rate)
        return np.array([k - 1 - round(d * self.rate) for d in self.delays], dtype=np.intp)

    @cached_property
    def _hrf_weights(self) -> np.ndarray | None:
        return None if self.hrf is None else np.asarray(self.hrf.weights, dtype=np.float64)

    def feature_names(self) -> list[str]:
        """``<channel>_<low>-<high>Hz_<delay>s`` for every feature, in order (``..._hrf`` with an HRF)."""
        if self.hrf is not None:
            return [f"{ch}_{lo:g}-{hi:g}Hz_hrf" for ch in self.channels for lo, hi in self.bands]
        return [
            f"{ch}_{lo:g}-{hi:g}Hz_{d:g}s" for ch in self.channels for lo, hi in self.bands for d in self.delays
        ]

    def features(self, windows: np.ndarray) -> np.ndarray:
        """Features of windows ``(n_windows, n_channels, n_samples)`` -> ``(n_windows, n_features)``.

        Also accepts one window ``(n_channels, n_samples)`` -> ``(n_features,)``.
        Units: log10 of (signal units)^2 (weighted by the HRF's taps, which
        sum to 1 for nfd's kernels).
        """
        x = np.asarray(windows, dtype=np.float64)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (len(self.channels), self.n_samples):
            raise EegConfigError(
                f"windows must be (n, {len(self.channels)} channels, {self.n_samples} samples), got {np.shape(windows)}"
            )
        n = x.shape[0]
        logp = self._log_power(x.reshape(n * len(self.channels), self.n_samples))
        logp = logp.reshape(n, len(self.channels), len(self.bands), -1)
        weights = self._hrf_weights
        if weights is not None:  # delay k is tap k: sum_k h_k logP(t - k / rate)
            logp = logp @ weights
        out = logp.reshape(n, self.n_features)
        return out[0] if single else out

    def _log_power(self, x: np.ndarray) -> np.ndarray:
        """``(rows, n_samples)`` -> ``(rows, n_bands, n_delays)`` log10 band power at the delays."""
        if self.power != "stockwell":
            span = self.estimator
            assert isinstance(span, SpanPower)
            return span.log_power(x)
        if not self.average_s:
            return self.plan.log_power(x)[..., self._delay_columns]
        # the log of the mean power over the m band-power samples ending at each delay's column
        m = round(self.average_s * self.rate)
        p = self.plan.power(x)
        csum = np.concatenate([np.zeros((*p.shape[:-1], 1)), np.cumsum(p, axis=-1)], axis=-1)
        c = self._delay_columns
        mean = (csum[..., c + 1] - csum[..., c + 1 - m]) / m
        return np.log10(np.maximum(mean, 1e-30))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (model metadata); ``hrf``, ``power``... only when set (older models have none)."""
        out: dict[str, Any] = {
            "channels": list(self.channels), "fs": self.fs, "window": self.window,
            "bands": [list(b) for b in self.bands], "rate": self.rate, "delays": list(self.delays),
            "gamma": self.gamma,
        }
        if self.hrf is not None:
            out["hrf"] = self.hrf.as_dict()
        if self.power != "stockwell" or self.average_s:
            out.update(power=self.power, average_s=self.average_s)
        if self.segment_s:
            out["segment_s"] = self.segment_s
        if self.nw:
            out["nw"] = self.nw
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`as_dict`."""
        try:
            return cls(
                channels=tuple(d["channels"]), fs=d["fs"], window=d["window"],
                bands=tuple(tuple(b) for b in d["bands"]), rate=d["rate"], delays=tuple(d["delays"]),
                gamma=d["gamma"], hrf=None if d.get("hrf") is None else HrfKernel.from_dict(d["hrf"]),
                power=d.get("power", "stockwell"), average_s=d.get("average_s", 0.0),
                segment_s=d.get("segment_s", 0.0), nw=d.get("nw", 0.0),
            )
        except KeyError as exc:
            raise EegConfigError(f"feature specification lacks {exc.args[0]!r}") from None


def window_end_indices(times: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the newest sample at or before each time in ``ends`` (-1 if none).

    ``times`` are the samples' times, non-decreasing (any clock, s).

    Examples
    --------
    >>> window_end_indices(np.arange(5) * 0.5, np.array([0.0, 0.7, 9.0, -1.0])).tolist()
    [0, 1, 4, -1]
    """
    return np.searchsorted(times, ends, side="right") - 1


def feature_matrix(
    data: np.ndarray, times: np.ndarray, ends: np.ndarray, spec: FeatureSpec, *, batch: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the windows ending at each time in ``ends`` (strictly causal).

    Parameters
    ----------
    data : ndarray
        ``(n_samples, n_channels)`` preprocessed samples at ``spec.fs``, the
        channels in ``spec.channels`` order.
    times : ndarray
        ``(n_samples,)`` sample times, s (non-decreasing).
    ends : ndarray
        ``(n_windows,)`` window end times, s: each window is the
        ``spec.n_samples`` newest samples with time <= end.
    spec : FeatureSpec
    batch : int
        Windows computed together (memory vs. speed).

    Returns
    -------
    X : ndarray
        ``(n_windows, spec.n_features)``; rows of invalid windows are NaN.
    valid : ndarray of bool
        False where the data do not cover a whole window before the end
        time, or the end time is beyond the data.
    """
    if data.ndim != 2 or data.shape[1] != len(spec.channels) or times.shape != (data.shape[0],):
        raise EegConfigError(
            f"data must be (n_samples, {len(spec.channels)}) with times (n_samples,), got {data.shape}, {times.shape}"
        )
    L = spec.n_samples
    last = window_end_indices(times, np.asarray(ends, dtype=np.float64))
    beyond = np.asarray(ends) > times[-1] + 1.0 / spec.fs
    valid = (last >= L - 1) & ~beyond
    X = np.full((len(ends), spec.n_features), np.nan)
    rows = np.flatnonzero(valid)
    for start in range(0, rows.size, batch):
        chosen = rows[start : start + batch]
        windows = np.stack([data[e - L + 1 : e + 1].T for e in last[chosen]])
        X[chosen] = spec.features(windows)
    return X, valid
