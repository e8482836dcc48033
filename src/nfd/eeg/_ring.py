"""A preallocated ring buffer of multichannel samples with their times.

The inlet's thread writes each preprocessed chunk into it; predictors read
the newest window from any thread.  The arrays are allocated once: a chunk
is copied into place (in at most two slices when it wraps), nothing grows,
and the oldest samples are overwritten.  One lock guards the write position;
it is held only while a chunk or a window is copied.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float, ensure_int
from nfd.eeg._errors import EegConfigError

__all__ = ["BufferView", "RingBuffer", "Window"]


@dataclass(frozen=True)
class Window:
    """A copy of the newest samples up to a time.

    Attributes
    ----------
    data : ndarray
        float64 ``(n_channels, n_samples)``, oldest sample first, signal units.
    times : ndarray
        float64 ``(n_samples,)``, each sample's time, seconds since the epoch.
    end_index : int
        0-based count of the last sample among all samples ever written
        (so ``end_index + 1`` samples were written up to it).
    """

    data: np.ndarray
    times: np.ndarray
    end_index: int

    @property
    def t_end(self) -> float:
        """Time of the window's last sample, s since the epoch."""
        return float(self.times[-1])

    @property
    def span(self) -> float:
        """Time from the first to the last sample, s."""
        return float(self.times[-1] - self.times[0])


class RingBuffer:
    """Fixed-capacity ring of samples ``(capacity, n_channels)`` float64 with one time per sample.

    Parameters
    ----------
    capacity : int
        Samples kept (the newest ones).
    channel_names : sequence of str
        One name per channel.
    fs : float
        Sampling rate of the samples written, Hz.

    Examples
    --------
    >>> ring = RingBuffer(4, ["a", "b"], fs=10.0)
    >>> ring.write(np.arange(12.0).reshape(6, 2), np.arange(6) / 10.0)
    >>> w = ring.window(3)
    >>> w.data.tolist(), w.end_index
    ([[6.0, 8.0, 10.0], [7.0, 9.0, 11.0]], 5)
    >>> ring.window(3, t_end=0.45).times.tolist()   # the newest samples at or before 0.45 s
    [0.2, 0.3, 0.4]
    """

    def __init__(self, capacity: int, channel_names: Sequence[str], fs: float) -> None:
        capacity = ensure_int(capacity, "capacity (samples)", minimum=1, error=EegConfigError)
        names = [str(n) for n in channel_names]
        if not names:
            raise EegConfigError("channel_names must name at least one channel")
        self.capacity = capacity
        self.channel_names: tuple[str, ...] = tuple(names)
        self.fs = ensure_float(fs, "fs (Hz)", positive=True, error=EegConfigError)
        # written through now, so that the memory is committed at start (np.zeros pages arrive lazily,
        # and the process would seem to grow until the ring has wrapped once)
        self._data = np.empty((self.capacity, len(names)), dtype=np.float64)
        self._data.fill(0.0)
        self._times = np.empty(self.capacity, dtype=np.float64)
        self._times.fill(0.0)
        self._total = 0
        self._lock = threading.Lock()

    @property
    def n_channels(self) -> int:
        """Channels per sample."""
        return len(self.channel_names)

    @property
    def total(self) -> int:
        """Samples written so far (including those overwritten since)."""
        return self._total

    @property
    def last_time(self) -> float | None:
        """Time of the newest sample (s since the epoch), or None when empty."""
        with self._lock:
            if self._total == 0:
                return None
            return float(self._times[(self._total - 1) % self.capacity])

    def write(self, data: np.ndarray, times: np.ndarray) -> None:
        """Append samples ``(n, n_channels)`` with their times ``(n,)`` (non-decreasing, after the last).

        Only the newest ``capacity`` are kept if ``n`` exceeds it.
        """
        n = data.shape[0]
        if n == 0:
            return
        if data.ndim != 2 or data.shape[1] != self.n_channels or times.shape != (n,):
            raise EegConfigError(
                f"write expects data (n, {self.n_channels}) and times (n,), got {data.shape} and {times.shape}"
            )
        if n > self.capacity:
            data = data[n - self.capacity :]
            times = times[n - self.capacity :]
            skipped = n - self.capacity
            n = self.capacity
        else:
            skipped = 0
        with self._lock:
            start = (self._total + skipped) % self.capacity
            first = min(n, self.capacity - start)
            self._data[start : start + first] = data[:first]
            self._times[start : start + first] = times[:first]
            if first < n:
                self._data[: n - first] = data[first:]
                self._times[: n - first] = times[first:]
            self._total += n + skipped

    def _stored(self) -> int:
        return min(self._total, self.capacity)

    def _count_until(self, t_end: float) -> int:
        """How many of the stored samples have a time <= t_end (times are non-decreasing)."""
        stored = self._stored()
        start = (self._total - stored) % self.capacity
        if start + stored <= self.capacity:
            return int(np.searchsorted(self._times[start : start + stored], t_end, side="right"))
        older = self._times[start:]
        k = int(np.searchsorted(older, t_end, side="right"))
        if k < older.size:
            return k
        return older.size + int(np.searchsorted(self._times[: stored - older.size], t_end, side="right"))

    def window(
        self, n_samples: int, *, t_end: float | None = None, channels: ArrayLike | None = None
    ) -> Window | None:
        """Copy the newest ``n_samples`` samples with time <= ``t_end`` (default: the newest).

        Parameters
        ----------
        n_samples : int
            Window length in samples.
        t_end : float, optional
            Latest sample time accepted, s since the epoch.
        channels : array_like of int, optional
            Channel indices to copy, in that order (default: all).

        Returns
        -------
        Window or None
            None when fewer than ``n_samples`` such samples are stored.
        """
        n_samples = ensure_int(n_samples, "n_samples", minimum=1, error=EegConfigError)
        chans = np.arange(self.n_channels) if channels is None else np.asarray(channels, dtype=np.intp)
        with self._lock:
            stored = self._stored()
            available = stored if t_end is None else self._count_until(t_end)
            if available < n_samples:
                return None
            end = self._total - stored + available  # one past the window's last sample (absolute count)
            begin = end - n_samples
            p0 = begin % self.capacity
            first = min(n_samples, self.capacity - p0)
            data = np.empty((chans.size, n_samples), dtype=np.float64)
            times = np.empty(n_samples, dtype=np.float64)
            data[:, :first] = self._data[p0 : p0 + first][:, chans].T
            times[:first] = self._times[p0 : p0 + first]
            if first < n_samples:
                data[:, first:] = self._data[: n_samples - first][:, chans].T
                times[first:] = self._times[: n_samples - first]
        return Window(data=data, times=times, end_index=end - 1)

    def view(self) -> BufferView:
        """A read-only handle on this buffer (what predictors are given)."""
        return BufferView(self)


class BufferView:
    """Read-only access to a :class:`RingBuffer`: its channels, rate, totals and windows."""

    def __init__(self, ring: RingBuffer) -> None:
        self._ring = ring

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The channels' names, in stream order."""
        return self._ring.channel_names

    @property
    def fs(self) -> float:
        """Sampling rate of the buffered samples, Hz."""
        return self._ring.fs

    @property
    def total(self) -> int:
        """Samples written so far."""
        return self._ring.total

    @property
    def last_time(self) -> float | None:
        """Time of the newest sample, s since the epoch (None when empty)."""
        return self._ring.last_time

    def window(
        self, n_samples: int, *, t_end: float | None = None, channels: ArrayLike | None = None
    ) -> Window | None:
        """See :meth:`RingBuffer.window`."""
        return self._ring.window(n_samples, t_end=t_end, channels=channels)
