"""Average artifact subtraction (AAS) on a stream: the machinery shared by the gradient and BCG removers.

An *epoch* is a window of ``length`` samples that starts ``pre`` samples
before an event (a scanner trigger, an R peak) at a fractional sample
position.  Its correction is the mean of the previous ``n_template``
epochs (Allen et al. 1998, NeuroImage 8:229; Allen, Josephs & Turner
2000, NeuroImage 12:230), each resampled onto the template's grid at the
event's sub-sample position, and read back at the new event's position
(both with Keys' cubic convolution, Keys 1981, IEEE Trans. ASSP 29:1153).
Samples are output a fixed ``delay`` after they arrive; an epoch cut
short by the next one ends where the next starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Template samples kept beyond each end of the epoch (for the cubic interpolation).
MARGIN = 2


def keys_weights(g: float) -> np.ndarray:
    """Weights of ``x[i-1], x[i], x[i+1], x[i+2]`` for the value at ``i + g`` (``0 <= g < 1``; Keys, a = -0.5)."""
    a = -0.5
    s = np.array([1.0 + g, g, 1.0 - g, 2.0 - g])
    near = (a + 2.0) * s**3 - (a + 3.0) * s**2 + 1.0
    far = a * s**3 - 5.0 * a * s**2 + 8.0 * a * s - 4.0 * a
    return np.where(s <= 1.0, near, far)


def read_at(arr: np.ndarray, start: float, n: int) -> np.ndarray:
    """``arr`` (rows = samples) interpolated at rows ``start, start + 1, ..., start + n - 1``.

    Needs rows ``floor(start) - 1`` to ``floor(start) + n + 1``; an integer
    ``start`` is a plain copy.
    """
    i0 = math.floor(start)
    g = start - i0
    if g < 1e-9:
        return np.array(arr[i0 : i0 + n], dtype=np.float64)
    w = keys_weights(g)
    out = w[0] * arr[i0 - 1 : i0 - 1 + n]
    for k in (1, 2, 3):
        out += w[k] * arr[i0 - 1 + k : i0 - 1 + k + n]
    return np.asarray(out, dtype=np.float64)


class SlidingTemplate:
    """The mean of the last ``n`` epochs ``(width, n_channels)``, kept as float32 in a ring.

    Memory: ``n * width * n_channels * 4`` bytes (30 volumes of 2 s at
    5 kHz, 64 channels: 77 MB; 30 slices of 66.7 ms: 2.6 MB).
    """

    def __init__(self, n: int, width: int, n_channels: int) -> None:
        self._ring = np.zeros((n, width, n_channels), dtype=np.float32)
        self._sum = np.zeros((width, n_channels), dtype=np.float64)
        self.count = 0
        self._next = 0

    def add(self, epoch: np.ndarray) -> None:
        """Add one aligned epoch, dropping the oldest once ``n`` are held."""
        n = self._ring.shape[0]
        if self.count == n:
            self._sum -= self._ring[self._next]
        else:
            self.count += 1
        self._ring[self._next] = epoch
        self._sum += self._ring[self._next]
        self._next = (self._next + 1) % n

    def mean(self) -> np.ndarray | None:
        """The template (None before the first epoch)."""
        return None if self.count == 0 else self._sum / self.count


@dataclass
class _Epoch:
    start: float  # absolute fractional sample position of the epoch's first template sample
    corr: np.ndarray | None = None  # correction of samples ceil(start) .., computed once
    computed: bool = False
    added: bool = False


class AasStream:
    """Streaming AAS of ``(n, n_channels)`` chunks given the epochs' start positions.

    Parameters
    ----------
    n_channels : int
    length : int
        Epoch length, samples.
    n_template : int
        Epochs averaged into the template.
    delay : int
        Samples held back: sample ``i`` is output once sample ``i + delay``
        has arrived.
    skip : sequence of int
        Channels never corrected (e.g. the ECG for the BCG).
    detrend : bool
        Subtract from the template, per channel, its least-squares line over the epoch before it corrects:
        signal not locked to the events (the EEG, a ballistocardiogram) leaks into a mean of ``n_template``
        epochs by about ``1 / sqrt(n_template)`` of its amplitude, and over an epoch much shorter than its
        periods (a slice epoch of tens of ms) that leak is mostly an offset and a slope. For gradient slice
        epochs; the artifact's own offset and slope over one slice repeat at the slice rate and above, or
        are DC.

    Notes
    -----
    At the start, an epoch is corrected with the mean of the epochs so far
    (the first one is passed through uncorrected); the template is full
    after ``n_template`` epochs.
    """

    def __init__(self, n_channels: int, length: int, n_template: int, delay: int, skip: tuple[int, ...] = (),
                 *, detrend: bool = False):
        self.n_channels = n_channels
        self.length = length
        self.delay = delay
        self.width = length + 2 * MARGIN
        self.template = SlidingTemplate(n_template, self.width, n_channels)
        self._skip = list(skip)
        self._detrend = detrend
        x = np.linspace(-1.0, 1.0, self.width)
        self._line = np.column_stack([np.full(self.width, 1.0 / math.sqrt(self.width)), x / np.linalg.norm(x)])
        self.late = 0
        self.reset()

    def reset(self) -> None:
        """Forget the held samples and epochs (the template is kept)."""
        self._buf = np.zeros((0, self.n_channels))
        self._tbuf = np.zeros(0)
        self._base = 0
        self._total = 0
        self._out = 0
        self._epochs: list[_Epoch] = []

    @property
    def total(self) -> int:
        """Samples received since the last reset."""
        return self._total

    def time_to_position(self, t: float, fs: float) -> float | None:
        """Absolute sample position of time ``t`` (the held samples' clock); None if after the newest."""
        if self._tbuf.size == 0 or t > self._tbuf[-1]:
            return None
        j = max(0, int(np.searchsorted(self._tbuf, t, side="right")) - 1)
        return self._base + j + (t - float(self._tbuf[j])) * fs

    def add_epoch(self, start: float) -> bool:
        """Register an epoch starting at absolute position ``start``; False if all of it was output already."""
        if start + self.length <= self._out:
            self.late += 1
            return False
        self._epochs.append(_Epoch(start))
        if len(self._epochs) > 1 and start < self._epochs[-2].start:
            self._epochs.sort(key=lambda e: e.start)
        return True

    @property
    def last_start(self) -> float | None:
        """The newest epoch's start, or None."""
        return self._epochs[-1].start if self._epochs else None

    def append(self, x: np.ndarray, times: np.ndarray) -> None:
        """Hold a new chunk (call :meth:`emit` after registering the epochs it brings)."""
        self._buf = np.concatenate([self._buf, np.asarray(x, dtype=np.float64)], axis=0)
        self._tbuf = np.concatenate([self._tbuf, times])
        self._total += x.shape[0]

    def _compute(self, ep: _Epoch) -> None:
        mean = self.template.mean()
        if mean is not None and self._detrend:
            mean = mean - self._line @ (self._line.T @ mean)
        if mean is not None:
            first = math.ceil(ep.start)
            corr = read_at(mean, first - ep.start + MARGIN, self.length)
            if self._skip:
                corr[:, self._skip] = 0.0
            ep.corr = corr
        ep.computed = True

    def _fill_template(self) -> None:
        for ep in self._epochs:
            if ep.added:
                continue
            lo = math.floor(ep.start) - MARGIN - 1
            if lo + self.width + 3 > self._total:
                break
            if not ep.computed:
                self._compute(ep)
            if lo >= self._base:
                self.template.add(read_at(self._buf, ep.start - self._base - MARGIN, self.width))
            ep.added = True

    def emit(self) -> tuple[np.ndarray, np.ndarray]:
        """The corrected samples now ``delay`` old, and their times."""
        self._fill_template()
        end = self._total - self.delay
        if end <= self._out:
            return np.zeros((0, self.n_channels)), np.zeros(0)
        a, b = self._out - self._base, end - self._base
        y = self._buf[a:b].copy()
        ty = self._tbuf[a:b].copy()
        for k, ep in enumerate(self._epochs):
            first = math.ceil(ep.start)
            stop = first + self.length
            if k + 1 < len(self._epochs):
                stop = min(stop, math.ceil(self._epochs[k + 1].start))
            lo, hi = max(first, self._out), min(stop, end)
            if lo >= hi:
                continue
            if not ep.computed:
                self._compute(ep)
            if ep.corr is not None:
                y[lo - self._out : hi - self._out] -= ep.corr[lo - first : hi - first]
        self._out = end
        self._trim()
        return y, ty

    def _trim(self) -> None:
        keep = self._out - MARGIN - 2
        pending = [ep for ep in self._epochs if not ep.added]
        if pending:
            keep = min(keep, math.floor(pending[0].start) - MARGIN - 2)
        # an epoch stays while it may still correct samples (or the next one's cut needs it)
        while len(self._epochs) > 1 and self._epochs[0].added and math.ceil(self._epochs[1].start) <= self._out:
            self._epochs.pop(0)
        drop = keep - self._base
        if drop > 0:
            self._buf = self._buf[drop:]
            self._tbuf = self._tbuf[drop:]
            self._base += drop
