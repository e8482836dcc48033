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

The feature vector is ordered channel, then band, then delay
(:meth:`FeatureSpec.feature_names`).  The same function serves training
(:func:`feature_matrix`, windows ending at each volume's time) and live
prediction, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from nfd._checks import ensure_float
from nfd.eeg._bandpower import BandPower
from nfd.eeg._errors import EegConfigError

__all__ = ["DEFAULT_BANDS", "FeatureSpec", "feature_matrix", "window_end_indices"]

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
        [0, window); default: all of them (0, 0.25, ..., 11.75 s).
    gamma : float
        Stockwell window width factor (default 1).

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
        delays = tuple(float(d) for d in self.delays) if self.delays else tuple(i * step for i in range(round(k)))
        for d in delays:
            if not (0 <= d < self.window) or abs(d / step - round(d / step)) > 1e-6:
                raise EegConfigError(
                    f"delay {d} s must be a multiple of 1 / rate = {step} s in [0, window = {self.window} s)"
                )
        if len({round(d / step) for d in delays}) != len(delays):
            raise EegConfigError(f"delays must be distinct, got {list(delays)}")
        object.__setattr__(self, "delays", delays)
        # validates the bands against the window's frequency resolution and Nyquist frequency
        _ = self.plan

    @property
    def n_samples(self) -> int:
        """Window length in samples."""
        return round(self.window * self.fs)

    @property
    def n_features(self) -> int:
        """Channels x bands x delays."""
        return len(self.channels) * len(self.bands) * len(self.delays)

    @property
    def plan(self) -> BandPower:
        """The :class:`BandPower` plan these features are computed with (made once per settings)."""
        return _plan(self.n_samples, self.fs, self.bands, self.rate, self.gamma)

    @cached_property
    def _delay_columns(self) -> np.ndarray:
        k = round(self.window * self.rate)
        return np.array([k - 1 - round(d * self.rate) for d in self.delays], dtype=np.intp)

    def feature_names(self) -> list[str]:
        """``<channel>_<low>-<high>Hz_<delay>s`` for every feature, in order."""
        return [
            f"{ch}_{lo:g}-{hi:g}Hz_{d:g}s" for ch in self.channels for lo, hi in self.bands for d in self.delays
        ]

    def features(self, windows: np.ndarray) -> np.ndarray:
        """Features of windows ``(n_windows, n_channels, n_samples)`` -> ``(n_windows, n_features)``.

        Also accepts one window ``(n_channels, n_samples)`` -> ``(n_features,)``.
        Units: log10 of (signal units)^2.
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
        logp = self.plan.log_power(x.reshape(n * len(self.channels), self.n_samples))
        logp = logp.reshape(n, len(self.channels), len(self.bands), -1)[..., self._delay_columns]
        out = logp.reshape(n, self.n_features)
        return out[0] if single else out

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (model metadata)."""
        return {
            "channels": list(self.channels), "fs": self.fs, "window": self.window,
            "bands": [list(b) for b in self.bands], "rate": self.rate, "delays": list(self.delays),
            "gamma": self.gamma,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`as_dict`."""
        try:
            return cls(
                channels=tuple(d["channels"]), fs=d["fs"], window=d["window"],
                bands=tuple(tuple(b) for b in d["bands"]), rate=d["rate"], delays=tuple(d["delays"]),
                gamma=d["gamma"],
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
