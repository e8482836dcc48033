"""Streaming EEG preprocessing, chunk by chunk, with the filters' state carried across chunks.

The chain, all causal (so that training on a recording and running live
give the same samples):

0. optional MR artifact removal at the input rate (:class:`nfd.eeg.ArtifactSpec`):
   gradient artifacts by average artifact subtraction on the scanner's
   triggers (Allen et al. 2000) before the anti-alias low-pass, and the
   ballistocardiogram on R peaks of an ECG channel after it, still at the
   input rate, before the decimation (so the gradient's residue above the
   output band does not enter the BCG template, whose cut edges would
   otherwise spread it into the EEG band); both hold the samples back by
   a fixed delay (:attr:`Preprocessor.delay`: one epoch, at most one TR,
   for the gradient, plus 0.55 s for the BCG), and the output's times are
   those of the samples output;
1. anti-alias low-pass at the input rate and decimation by an integer factor
   ``q`` (the filter of ``scipy.signal.decimate``: Chebyshev type I, order 8,
   0.05 dB ripple, cut-off at 0.8 x the output Nyquist frequency), keeping
   every ``q``-th sample of the input's running count;
2. optional notch filters at the output rate (``scipy.signal.iirnotch``,
   quality factor 30: -3 dB width = f0 / 30), e.g. at the mains frequency;
3. an optional band-pass at the output rate (Butterworth, order 4, as
   second-order sections).

Processing a recording in one call or in any chunking gives the same output
(the state is carried exactly).  Each filter starts in the steady state of
the first sample's value, so a DC offset does not ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from nfd.eeg._artifacts import ArtifactRemover, ArtifactSpec
from nfd.eeg._errors import EegConfigError

__all__ = ["PreprocessSpec", "Preprocessor", "preprocess_recording"]


def _decimation_factor(fs_in: float, fs_out: float) -> int:
    q = fs_in / fs_out
    q_int = round(q)
    if q_int < 1 or abs(q - q_int) > 1e-6 * q:
        raise EegConfigError(
            f"the stream's rate {fs_in} Hz is not an integer multiple of the output rate fs={fs_out} Hz "
            f"(ratio {q:.6g}); choose an output rate that divides it"
        )
    return int(q_int)


@dataclass(frozen=True)
class PreprocessSpec:
    """What the preprocessing does (rates and frequencies in Hz).

    Attributes
    ----------
    fs : float or None
        Output sampling rate; the input rate must be an integer multiple of
        it.  None: no decimation (output rate = input rate).
    bandpass : (low, high) or None
        Band-pass edges, Hz, at the output rate; None: none.
    notch : tuple of float
        Notch frequencies, Hz (each below the output Nyquist frequency).
    """

    fs: float | None = None
    bandpass: tuple[float, float] | None = None
    notch: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.fs is not None and not (math.isfinite(self.fs) and self.fs > 0):
            raise EegConfigError(f"fs (output sampling rate) must be a number > 0 Hz or None, got {self.fs!r}")
        if self.bandpass is not None:
            if len(self.bandpass) != 2:
                raise EegConfigError(f"bandpass must be [low, high] in Hz, got {self.bandpass!r}")
            lo, hi = (float(v) for v in self.bandpass)
            if not (0 < lo < hi):
                raise EegConfigError(f"bandpass must be [low, high] Hz with 0 < low < high, got {self.bandpass!r}")
            object.__setattr__(self, "bandpass", (lo, hi))
        notch = tuple(float(f) for f in self.notch)
        if any(not (math.isfinite(f) and f > 0) for f in notch):
            raise EegConfigError(f"notch frequencies must be numbers > 0 Hz, got {self.notch!r}")
        object.__setattr__(self, "notch", notch)

    def output_rate(self, fs_in: float) -> float:
        """Output sampling rate for an input at ``fs_in`` Hz (checks the ratio is an integer)."""
        if self.fs is None:
            return float(fs_in)
        return fs_in / _decimation_factor(fs_in, self.fs)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for model metadata)."""
        return {
            "fs": self.fs,
            "bandpass": None if self.bandpass is None else list(self.bandpass),
            "notch": list(self.notch),
        }


def _steady_state(sos: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Initial state ``(n_sections, 2, n_channels)`` of ``sos`` for a constant input ``level`` per channel."""
    return signal.sosfilt_zi(sos)[:, :, None] * level[None, None, :]


def _dc_gain(sos: np.ndarray) -> float:
    return float(np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1)))


class Preprocessor:
    """Apply a :class:`PreprocessSpec` to a stream of chunks of ``n_channels`` at ``fs_in`` Hz.

    Parameters
    ----------
    spec : PreprocessSpec
    fs_in : float
        Input sampling rate, Hz.
    n_channels : int
    artifacts : ArtifactSpec, optional
        MR artifact removal before the filters (default: none).
    channel_names : sequence of str, optional
        The channels' names (needed for the BCG's ECG channel).

    Attributes
    ----------
    fs_out : float
        Output sampling rate, Hz.
    factor : int
        Decimation factor.
    delay : int
        Input samples the artifact removal holds back (0 without it).

    Examples
    --------
    >>> pre = Preprocessor(PreprocessSpec(fs=250.0, notch=(50.0,)), fs_in=1000.0, n_channels=2)
    >>> x = np.random.default_rng(0).standard_normal((1000, 2))
    >>> t = np.arange(1000) / 1000.0
    >>> y, ty = pre.process(x, t)
    >>> y.shape, pre.fs_out, ty[:2].tolist()
    ((250, 2), 250.0, [0.0, 0.004])
    """

    def __init__(
        self, spec: PreprocessSpec, fs_in: float, n_channels: int, *, artifacts: ArtifactSpec | None = None,
        channel_names: Sequence[str] | None = None,
    ) -> None:
        if not (math.isfinite(fs_in) and fs_in > 0):
            raise EegConfigError(f"fs_in (input sampling rate) must be a number > 0 Hz, got {fs_in!r}")
        if n_channels < 1:
            raise EegConfigError(f"n_channels must be >= 1, got {n_channels}")
        self.spec = spec
        self.fs_in = float(fs_in)
        self.n_channels = int(n_channels)
        self.factor = 1 if spec.fs is None else _decimation_factor(self.fs_in, spec.fs)
        self.fs_out = self.fs_in / self.factor
        nyquist = self.fs_out / 2
        self._antialias = (
            signal.cheby1(8, 0.05, 0.8 / self.factor, output="sos") if self.factor > 1 else None
        )
        post: list[np.ndarray] = []
        for f0 in spec.notch:
            if f0 >= nyquist:
                raise EegConfigError(f"notch {f0} Hz must be below the output Nyquist frequency {nyquist} Hz")
            b, a = signal.iirnotch(f0, 30.0, fs=self.fs_out)
            post.append(signal.tf2sos(b, a))
        if spec.bandpass is not None:
            lo, hi = spec.bandpass
            if hi >= nyquist:
                raise EegConfigError(
                    f"bandpass high edge {hi} Hz must be below the output Nyquist frequency {nyquist} Hz"
                )
            post.append(signal.butter(4, [lo, hi], btype="bandpass", fs=self.fs_out, output="sos"))
        self._post = post
        self._artifacts: ArtifactRemover | None = None
        if artifacts is not None and artifacts.enabled:
            names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(n_channels)]
            if len(names) != n_channels:
                raise EegConfigError(f"channel_names: expected {n_channels} names, got {len(names)}")
            self._artifacts = ArtifactRemover(artifacts, self.fs_in, names)
        self.delay = 0 if self._artifacts is None else self._artifacts.delay
        self.reset()

    @property
    def artifacts(self) -> ArtifactRemover | None:
        """The MR artifact remover (None without one)."""
        return self._artifacts

    def add_marker(self, value: str, time: float) -> None:
        """A marker (``time`` on the samples' clock, s) for the artifact removal's triggers; thread-safe."""
        if self._artifacts is not None:
            self._artifacts.add_marker(value, time)

    def reset(self) -> None:
        """Forget the filters' state and the decimation phase (a new segment of the stream)."""
        self._zi_antialias: np.ndarray | None = None
        self._zi_post: list[np.ndarray] | None = None
        self._count = 0
        if self._artifacts is not None:
            self._artifacts.reset()

    def _init_state(self, first: np.ndarray) -> None:
        level = np.asarray(first, dtype=np.float64)
        if self._antialias is not None:
            self._zi_antialias = _steady_state(self._antialias, level)
            level = level * _dc_gain(self._antialias)
        self._zi_post = []
        for sos in self._post:
            self._zi_post.append(_steady_state(sos, level))
            level = level * _dc_gain(sos)

    def process(self, x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter and decimate one chunk.

        Parameters
        ----------
        x : ndarray
            ``(n, n_channels)`` samples at ``fs_in``, signal units.
        times : ndarray
            ``(n,)`` their times (any clock), s.

        Returns
        -------
        y : ndarray
            float64 ``(k, n_channels)`` output samples at ``fs_out``.
        times : ndarray
            ``(k,)`` their times: those of the input samples kept.
        """
        n = x.shape[0]
        if x.ndim != 2 or x.shape[1] != self.n_channels or times.shape != (n,):
            raise EegConfigError(
                f"process expects x (n, {self.n_channels}) and times (n,), got {x.shape} and {times.shape}"
            )
        gradient = None if self._artifacts is None else self._artifacts.gradient
        bcg = None if self._artifacts is None else self._artifacts.bcg
        if gradient is not None:
            x, times = gradient.process(x, times)
            n = x.shape[0]
        if n == 0:
            return np.empty((0, self.n_channels)), np.empty(0)
        if self._zi_post is None:
            self._init_state(x[0])
        y = np.asarray(x, dtype=np.float64)
        if self._antialias is not None:
            y, self._zi_antialias = signal.sosfilt(self._antialias, y, axis=0, zi=self._zi_antialias)
        if bcg is not None:
            y, times = bcg.process(y, times)
            n = y.shape[0]
        start = (-self._count) % self.factor
        self._count += n
        if self.factor > 1:
            y = y[start :: self.factor]
            times = times[start :: self.factor]
        assert self._zi_post is not None
        for i, sos in enumerate(self._post):
            if y.shape[0]:
                y, self._zi_post[i] = signal.sosfilt(sos, y, axis=0, zi=self._zi_post[i])
        if y is x:
            y = y.copy()
        return y, times


def preprocess_recording(
    data: np.ndarray, fs: float, spec: PreprocessSpec, chunk: int | None = None
) -> tuple[np.ndarray, float]:
    """Preprocess a whole recording ``(n_samples, n_channels)`` as the live chain would.

    Returns the output samples and their rate (Hz); sample ``j`` of the
    output is input sample ``j * factor``.
    """
    pre = Preprocessor(spec, fs, data.shape[1])
    times = np.arange(data.shape[0], dtype=np.float64)
    if chunk is None:
        y, _ = pre.process(data, times)
        return y, pre.fs_out
    parts = [pre.process(data[i : i + chunk], times[i : i + chunk])[0] for i in range(0, data.shape[0], chunk)]
    return np.concatenate(parts, axis=0), pre.fs_out

