"""Sample times on the daemon's clock: LSL's clock to ``time.time()``, and dejittering.

Two clocks meet here.  LSL stamps samples with ``pylsl.local_clock()`` (a
monotonic clock; liblsl's clock synchronisation, ``proc_clocksync``, maps a
remote sender's stamps onto the receiving machine's), while the scan files'
arrival times, and everything else in a run folder, use ``time.time()``.
:class:`WallClock` measures the offset between the two and keeps it current
(``time.time()`` may be slewed or stepped by NTP; a step is logged).

Amplifier drivers push chunks, and liblsl stamps a chunk's last sample with
the push time and back-extrapolates the others at the nominal rate, so raw
stamps jitter by the push delays (milliseconds, i.e. tens of samples at
5 kHz).  :class:`Dejitter` replaces them by a straight line ``t = a + b i``
in the sample counter ``i``, fitted by least squares with exponential
forgetting (the recursive-least-squares approach of liblsl's
``proc_dejitter`` and of pyxdf's ``_jitter_removal``), and -- unlike
liblsl's -- it notices gaps: a chunk whose first stamp is later than the
line predicts by more than the jitter allows means samples were lost in
between; their number is counted (actual against the nominal rate) and the
counter skips them, so the line stays valid across the gap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

import numpy as np
import structlog

from nfd._checks import ensure_float
from nfd.eeg._errors import EegConfigError

__all__ = ["Dejitter", "WallClock"]

log = structlog.get_logger(__name__)

#: A change of the measured offset larger than this (s) is logged as a clock step.
_STEP_LOG: Final[float] = 0.005


class WallClock:
    """The offset ``time.time() - local_clock()`` between the wall clock and LSL's clock, in seconds.

    Parameters
    ----------
    local_clock : callable
        LSL's clock (``pylsl.local_clock``), seconds.
    wall_clock : callable
        The daemon's clock (``time.time``), seconds since the epoch.

    Notes
    -----
    Each measurement reads the wall clock between two reads of LSL's clock
    and keeps the tightest of three brackets, so its error is below the
    bracket's half width (about a microsecond).  Not thread-safe: one owner
    thread measures; reading :attr:`offset` from another thread is fine
    (a float attribute).

    Examples
    --------
    >>> import time
    >>> clock = WallClock(time.monotonic)
    >>> abs(clock.to_wall(time.monotonic()) - time.time()) < 0.01
    True
    """

    def __init__(self, local_clock: Callable[[], float], wall_clock: Callable[[], float] = time.time) -> None:
        self._local = local_clock
        self._wall = wall_clock
        self.offset = self._measure()
        self.steps = 0

    def _measure(self) -> float:
        best_width = math.inf
        best = 0.0
        for _ in range(3):
            a = self._local()
            w = self._wall()
            b = self._local()
            if b - a < best_width:
                best_width = b - a
                best = w - 0.5 * (a + b)
        return best

    def update(self) -> float:
        """Measure the offset again; log ``eeg_wall_clock_step`` if it moved by more than 5 ms. Returns it."""
        new = self._measure()
        if abs(new - self.offset) > _STEP_LOG:
            self.steps += 1
            log.warning("eeg_wall_clock_step", step_s=round(new - self.offset, 6))
        self.offset = new
        return new

    def to_wall(self, t_local: float | np.ndarray) -> float | np.ndarray:
        """LSL-clock time(s) on the wall clock (s since the epoch)."""
        return t_local + self.offset


class Dejitter:
    """Regularise the time stamps of a stream with a nominal rate, and detect gaps.

    Parameters
    ----------
    fs : float
        Nominal sampling rate, Hz.
    half_life : float
        Half-life of the fit's memory, seconds of samples (default 30 s).
    min_gap : float
        Smallest lateness counted as a gap, seconds (default 10 ms); the
        threshold used is the larger of this, 5 sample periods and four
        times the jitter measured so far.
    confirm : float
        A lateness is a gap only if it lasts this long, seconds of stamps
        (default 0.25 s): a sender that pushed late and then catches up in a
        burst is jitter, a sender whose stamps stay late lost samples.

    Attributes
    ----------
    gaps : int
        Gaps detected.
    dropped : int
        Samples missing in those gaps (lateness x nominal rate, rounded).
    jitter : float
        Running mean of each chunk's median absolute deviation of the raw
        stamps from the line, s.
    rate : float
        The fitted rate, Hz (the nominal one until the fit has 2 s of samples).

    Examples
    --------
    >>> dj = Dejitter(100.0)
    >>> raw = np.arange(50) / 100.0 + 3.0
    >>> out = np.empty(50)
    >>> dj.process(raw[:25], out[:25]), dj.process(raw[25:], out[25:])
    (0, 0)
    >>> bool(np.allclose(out, raw))
    True
    >>> late = 3.0 + (np.arange(50, 80) + 20) / 100.0     # 20 samples never arrived
    >>> [dj.process(late[i:i + 10], out[:10]) for i in (0, 10, 20)], dj.dropped   # confirmed after 0.25 s
    ([0, 0, 20], 20)
    """

    def __init__(self, fs: float, *, half_life: float = 30.0, min_gap: float = 0.01, confirm: float = 0.25) -> None:
        self.fs = ensure_float(fs, "fs (nominal sampling rate, Hz)", positive=True, error=EegConfigError)
        half_life = ensure_float(half_life, "half_life (s)", positive=True, error=EegConfigError)
        self.min_gap = ensure_float(min_gap, "min_gap (s)", positive=True, error=EegConfigError)
        self.confirm = ensure_float(confirm, "confirm (s)", positive=True, error=EegConfigError)
        self.period = 1.0 / self.fs
        self._lambda = 0.5 ** (1.0 / (half_life * self.fs))
        self.gaps = 0
        self.dropped = 0
        self.reset()

    def reset(self) -> None:
        """Forget the fit (a new segment: the stream was lost and found again). Counters are kept."""
        self._started = False
        self._next = 0  # counter of the next sample
        self._i_ref = 0
        self._t_ref = 0.0
        self._w = self._x = self._y = self._xx = self._xy = 0.0
        self._a = 0.0
        self._b = self.period
        self._last_out = -math.inf
        self._pending: tuple[float, float] | None = None  # (first late stamp, least lateness since), s
        self.jitter = 0.0
        self.rate = self.fs

    @property
    def next_index(self) -> int:
        """Sample counter of the next sample (gaps included), since the last reset."""
        return self._next

    def predict(self, index: int) -> float:
        """The line's time for sample counter ``index`` (LSL clock, s)."""
        return self._t_ref + self._a + self._b * (index - self._i_ref)

    def process(self, raw: np.ndarray, out: np.ndarray) -> int:
        """Dejitter one chunk's raw stamps into ``out``; returns the samples found missing before it.

        Parameters
        ----------
        raw : ndarray
            float64 ``(n,)`` raw stamps of consecutive samples, LSL clock, s.
        out : ndarray
            float64 ``(n,)``, written with the dejittered stamps.
        """
        n = raw.shape[0]
        if n == 0:
            return 0
        missing = self._missing_before(raw)
        first = self._next
        self._next += n
        # move the reference to the chunk's last sample: keeps the sums well conditioned
        self._move_reference((first + n - 1) - self._i_ref, float(raw[n - 1]) - self._t_ref)
        x = np.arange(-(n - 1), 1, dtype=np.float64)
        self._add_chunk(raw, x)
        self._refit()
        np.multiply(x, self._b, out=out)
        out += self._t_ref + self._a
        if out[0] <= self._last_out:  # never step back across chunks
            out += self._last_out - out[0] + 1e-3 * self.period
        self._last_out = float(out[n - 1])
        if self._pending is None:  # late chunks say nothing about the jitter either
            self._update_jitter(raw, out)
        return missing

    def _missing_before(self, raw: np.ndarray) -> int:
        """Start the fit on the first chunk; later, the samples a lasting lateness of ``raw`` says were lost."""
        if not self._started:
            self._started = True
            self._i_ref = 0
            self._t_ref = float(raw[0])
            return 0
        lateness = float(raw[0]) - self.predict(self._next)
        threshold = max(self.min_gap, 5.0 * self.period, 4.0 * self.jitter)
        if lateness <= threshold:
            self._pending = None
        elif self._pending is None:
            self._pending = (float(raw[0]), lateness)
        else:
            self._pending = (self._pending[0], min(self._pending[1], lateness))
        # a lateness that lasts is a gap; one that a burst of chunks catches up with is jitter
        if self._pending is None or float(raw[-1]) - self._pending[0] < self.confirm:
            return 0
        missing = round(self._pending[1] * self.fs)
        self._pending = None
        if missing <= 0:
            return 0
        self.gaps += 1
        self.dropped += missing
        self._next += missing
        return missing

    def _move_reference(self, c: int, d: float) -> None:
        """Shift the sums' origin by ``c`` samples and ``d`` seconds, keeping the line where it was."""
        self._xx += -2.0 * c * self._x + c * c * self._w
        self._xy += -c * self._y
        self._x -= c * self._w
        self._xy -= d * self._x
        self._y -= d * self._w
        self._a -= d - self._b * c
        self._i_ref += c
        self._t_ref += d

    def _add_chunk(self, raw: np.ndarray, x: np.ndarray) -> None:
        """Decay the sums by the chunk's length and add its stamps ``raw`` at counters ``x`` (0 = its last).

        Weights are ``lambda ** (age in samples)``; a chunk that is late,
        pending a decision, is left out so that jitter does not bend the line.
        """
        decay = self._lambda ** raw.shape[0]
        self._w *= decay
        self._x *= decay
        self._y *= decay
        self._xx *= decay
        self._xy *= decay
        if self._pending is not None:
            return
        y = raw - self._t_ref
        w = self._lambda ** (-x)
        self._w += float(w.sum())
        self._x += float(w @ x)
        self._y += float(w @ y)
        self._xx += float(w @ (x * x))
        self._xy += float(w @ (x * y))

    def _refit(self) -> None:
        """The least-squares line from the sums; the nominal slope until it can be trusted."""
        det = self._w * self._xx - self._x * self._x
        # the slope is trusted once the samples span ~2 s (its error then ~ jitter / 2 s)
        spread = math.sqrt(max(det, 0.0)) / self._w if self._w > 0 else 0.0
        b = self.period
        if spread * self.period > 0.5 and det > 0:
            fitted = (self._w * self._xy - self._x * self._y) / det
            if abs(fitted * self.fs - 1.0) < 0.01:
                b = fitted
        self._b = b
        self._a = (self._y - b * self._x) / self._w
        self.rate = 1.0 / b

    def _update_jitter(self, raw: np.ndarray, out: np.ndarray) -> None:
        """Fold the chunk's median absolute deviation of ``raw`` from the line ``out`` into :attr:`jitter`."""
        dev = float(np.median(np.abs(raw - out)))
        if self.jitter == 0.0:
            self.jitter = dev
        else:  # running mean of the chunks' median deviation, over about 1 s of samples
            self.jitter += (dev - self.jitter) * min(1.0, raw.shape[0] / self.fs)
