"""The EEG inlet: an LSL stream pulled by a thread into a preallocated ring buffer.

One thread owns the LSL inlet.  It waits for a chunk inside liblsl (a C
call that releases the GIL) and, per chunk: dejitters the time stamps and
maps them onto ``time.time()`` (:mod:`nfd.eeg._clock`), filters and
decimates (:mod:`nfd.eeg._preprocess`), and copies the result into the
:class:`~nfd.eeg._ring.RingBuffer`.  The samples land in staging arrays
allocated once (liblsl writes into them directly), so nothing grows per
chunk, and liblsl's own buffer is drained as fast as the sender fills it.

The event loop never calls liblsl: :meth:`EegInlet.run` only starts the
thread and waits for it, so the loop is never blocked by a pull, a
resolve, or liblsl's first clock-synchronisation exchange (which takes
hundreds of milliseconds).

A lost stream is logged (``eeg_stream_lost``), looked for again with
back-off (0.25 s doubling to ``retry_max``), and logged when found
(``eeg_stream_recovered``, with the missing span).  The time between is a
gap in the buffer's times; predictors see it and mark EEG missing.
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pylsl
import pylsl.lib
import pylsl.util
import structlog

from nfd._checks import ensure_float
from nfd.eeg._artifacts import ArtifactSpec
from nfd.eeg._clock import Dejitter
from nfd.eeg._errors import EegConfigError
from nfd.eeg._lsl import StreamDescription, stream_query
from nfd.eeg._lsl_thread import LslInletThread
from nfd.eeg._model import StreamSpec
from nfd.eeg._preprocess import Preprocessor, PreprocessSpec
from nfd.eeg._ring import BufferView, RingBuffer

__all__ = ["EegInlet"]

log = structlog.get_logger(__name__)

#: Called with the number of samples buffered from each chunk (what it returns is ignored).
ChunkListener = Callable[[int], object]

#: Longest wait inside liblsl for the next sample, s (bounds how long stop() takes).
_PULL_WAIT = 0.05
#: The wall-clock offset is measured again this often, s.
_CLOCK_INTERVAL = 1.0
#: liblsl's buffer is checked this often, s.
_BACKLOG_INTERVAL = 1.0
#: Missing spans remembered (the oldest are forgotten).
_MAX_SPANS = 100


def _seconds(value: float, name: str) -> float:
    """A duration in seconds, finite and > 0."""
    return ensure_float(value, f"{name} (s)", positive=True, error=EegConfigError)


class EegInlet(LslInletThread):
    """Pull a continuous LSL stream (EEG) into a ring buffer, preprocessed, with times on ``time.time()``.

    The stream is found by any combination of ``name``, ``type`` and
    ``source_id`` (give ``source_id`` when several amplifiers may stream).

    Parameters
    ----------
    name, type, source_id : str, optional
        Stream properties to match (at least one).
    timeout : float
        Seconds each resolve attempt looks for the stream (default 1 s).
    preprocess : PreprocessSpec, optional
        Decimation and filters applied before buffering (default: none).
    buffer_seconds : float
        Seconds of preprocessed samples kept (default 60 s).
    lsl_buffer_seconds : float
        liblsl's own buffer (``max_buflen``), s (default 10 s): samples not
        pulled within it are lost.
    stall_timeout : float
        A stream silent for this long (s) is logged as stalled (default 1 s).
    retry_max : float
        Longest delay between attempts to find a lost stream, s (default 5 s).
    artifacts : ArtifactSpec, optional
        MR artifact removal before the preprocessing's filters (default:
        none); its triggers come through :meth:`add_marker`.

    Attributes
    ----------
    description : StreamDescription or None
        The stream, once found.
    buffer : BufferView or None
        Read access to the samples, once the stream is found.

    Notes
    -----
    Blocking work happens in the inlet's own thread; the public methods are
    safe to call from the event loop.  Use it as an asyncio task
    (``asyncio.create_task(inlet.run())``, cancel to stop) or from plain
    threads (:meth:`start` / :meth:`stop`); the thread's lifetime is
    :class:`~nfd.eeg._lsl_thread.LslInletThread`'s.
    """

    _event = "eeg"
    _thread_name = "nfd-eeg-inlet"
    _what = "stream"

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        *,
        timeout: float = 1.0,
        preprocess: PreprocessSpec | None = None,
        buffer_seconds: float = 60.0,
        lsl_buffer_seconds: float = 10.0,
        stall_timeout: float = 1.0,
        retry_max: float = 5.0,
        artifacts: ArtifactSpec | None = None,
    ) -> None:
        super().__init__(stream_query(name, type, source_id), timeout=timeout, retry_max=retry_max)
        self.artifacts = artifacts
        self._preprocessor: Preprocessor | None = None
        self.preprocess = preprocess if preprocess is not None else PreprocessSpec()
        self.buffer_seconds = _seconds(buffer_seconds, "buffer_seconds")
        self.lsl_buffer_seconds = _seconds(lsl_buffer_seconds, "lsl_buffer_seconds")
        self.stall_timeout = _seconds(stall_timeout, "stall_timeout")
        self.fs_out: float | None = None
        self._ring: RingBuffer | None = None
        self._view: BufferView | None = None
        self._listeners: list[ChunkListener] = []
        self._stats_lock = threading.Lock()
        self._received = 0
        self._emitted = 0
        self._chunks = 0
        self._lost = 0
        self._found = 0
        self._backlog_max = 0
        self._missing_spans: list[tuple[float, float]] = []
        self._dejitter: Dejitter | None = None
        self._t_lost: float | None = None
        self._last_data: float | None = None

    # -- public state ------------------------------------------------------------
    @property
    def buffer(self) -> BufferView | None:
        """Read access to the buffered samples (None until the stream is first found)."""
        return self._view

    @property
    def stream_spec(self) -> StreamSpec | None:
        """Channels, buffered rate and preprocessing, for checking a model (None until found)."""
        if self.description is None or self.fs_out is None:
            return None
        return StreamSpec(
            channel_names=self.description.channel_names, fs=self.fs_out, preprocess=self.preprocess,
            source_rate=self.description.nominal_rate,
        )

    def add_marker(self, marker: Any) -> None:
        """Hand a :class:`~nfd.eeg.Marker` to the artifact removal (its triggers); thread-safe, a marker listener."""
        if self._preprocessor is not None:
            self._preprocessor.add_marker(str(marker.value), float(marker.time))

    def add_listener(self, callback: ChunkListener) -> None:
        """Call ``callback(n_samples)`` in the inlet's thread after each chunk is buffered.

        Keep it short and thread-safe (e.g. ``loop.call_soon_threadsafe(event.set)``).
        """
        self._listeners.append(callback)

    def stats(self) -> dict[str, Any]:
        """Counters since start: samples received and buffered, chunks, gaps, dropped samples, losses.

        ``dropped`` counts samples missing inside a connection (gaps in the
        stamps, actual against nominal rate); ``missing_s`` the seconds
        between a loss and the stream's return.
        """
        dj = self._dejitter
        with self._stats_lock:
            return {
                "stream": None if self.description is None else self.description.as_dict(),
                "connected": self.connected,
                "received": self._received,
                "buffered": self._emitted,
                "chunks": self._chunks,
                "gaps": 0 if dj is None else dj.gaps,
                "dropped": 0 if dj is None else dj.dropped,
                "jitter_ms": None if dj is None else dj.jitter * 1e3,
                "rate_hz": None if dj is None else dj.rate,
                "lost": self._lost,
                "missing_s": float(sum(b - a for a, b in self._missing_spans)),
                "missing_spans": [list(span) for span in self._missing_spans],
                "lsl_backlog_max": self._backlog_max,
                "clock_steps": self._clock.steps,
            }

    # -- the thread --------------------------------------------------------------------
    def _open(self, info: pylsl.StreamInfo) -> pylsl.StreamInlet:
        """An inlet whose liblsl buffer holds ``lsl_buffer_seconds`` (whole seconds, at least 1)."""
        return pylsl.StreamInlet(
            info,
            max_buflen=max(1, math.ceil(self.lsl_buffer_seconds)),
            recover=False,
            processing_flags=pylsl.proc_clocksync,
        )

    def _accept(self, description: StreamDescription) -> bool:
        """Check a (re)found stream; set up the buffer and preprocessing the first time."""
        if description.nominal_rate <= 0 or description.channel_format == "string":
            raise EegConfigError(
                f"LSL stream {description.name!r} ({self.query}) is not a continuous numeric stream "
                f"(rate {description.nominal_rate} Hz, format {description.channel_format}): EEG needs a nominal rate"
            )
        if self.description is None:
            preprocessor = Preprocessor(
                self.preprocess, description.nominal_rate, description.n_channels, artifacts=self.artifacts,
                channel_names=description.channel_names,
            )
            self.fs_out = preprocessor.fs_out
            capacity = max(1, math.ceil(self.buffer_seconds * self.fs_out))
            self._ring = RingBuffer(capacity, description.channel_names, self.fs_out)
            self._view = self._ring.view()
            self._preprocessor = preprocessor
            self.description = description
            self._dejitter = Dejitter(description.nominal_rate)
            stage = max(64, math.ceil(description.nominal_rate))  # up to 1 s per pull
            self._stage = np.zeros((stage, description.n_channels), dtype=np.float64)
            self._raw_ts = np.zeros(stage, dtype=np.float64)
            self._times = np.zeros(stage, dtype=np.float64)
            log.info(
                "eeg_stream_found", query=self.query, name=description.name, source_id=description.source_id,
                hostname=description.hostname, channels=description.n_channels, rate_hz=description.nominal_rate,
                fs_out=self.fs_out,
            )
            return True
        if not self.description.same_layout(description):
            log.error(
                "eeg_stream_changed", query=self.query,
                expected=self.description.as_dict(), found=description.as_dict(),
                reason="the stream came back with other channels, rate or format; not accepted",
            )
            return False
        self.description = description
        return True

    def _on_connect(self, description: StreamDescription) -> None:
        """A new segment: the time line and the filters start again; a return is logged."""
        assert self._dejitter is not None
        self._dejitter.reset()
        assert self._preprocessor is not None
        self._preprocessor.reset()
        self._found += 1
        if self._found > 1:
            log.info("eeg_stream_recovered", query=self.query, uid=description.uid, lost_at=self._t_lost)

    def _pull(self, inlet: pylsl.StreamInlet, description: StreamDescription) -> None:
        """Pull chunks straight into the staging arrays (liblsl's C call) and ingest them, until stopped."""
        assert self._dejitter is not None and self._ring is not None
        n_ch = description.n_channels
        capacity = self._stage.shape[0]
        err = ctypes.c_int()
        err_ref = ctypes.byref(err)
        pull = pylsl.lib.lib.lsl_pull_chunk_d  # liblsl's C function (the CDLL handle pylsl loaded)
        obj = inlet.obj
        data0 = ctypes.c_void_p(self._stage.ctypes.data)
        ts0 = ctypes.c_void_p(self._raw_ts.ctypes.data)
        data1 = ctypes.c_void_p(self._stage[1:].ctypes.data)
        ts1 = ctypes.c_void_p(self._raw_ts[1:].ctypes.data)
        one_values, one_sample = ctypes.c_size_t(n_ch), ctypes.c_size_t(1)
        rest_values, rest_samples = ctypes.c_size_t(n_ch * (capacity - 1)), ctypes.c_size_t(capacity - 1)
        wait, no_wait = ctypes.c_double(_PULL_WAIT), ctypes.c_double(0.0)
        handle_error = pylsl.util.handle_error

        new_segment = True
        stalled = False
        now = time.monotonic()
        self._last_data = now
        next_clock = now + _CLOCK_INTERVAL
        next_backlog = now + _BACKLOG_INTERVAL
        while not self._stop.is_set():
            # wait (in C, GIL released) for one sample, then take whatever else is there
            n = pull(obj, data0, ts0, one_values, one_sample, wait, err_ref) // n_ch
            handle_error(err)
            if n:
                n += pull(obj, data1, ts1, rest_values, rest_samples, no_wait, err_ref) // n_ch
                handle_error(err)
            now = time.monotonic()
            if now >= next_clock:
                self._clock.update()
                next_clock = now + _CLOCK_INTERVAL
            if now >= next_backlog:
                backlog = inlet.samples_available()
                self._backlog_max = max(self._backlog_max, backlog)
                if backlog > description.nominal_rate * 0.5:
                    log.warning("eeg_inlet_backlog", samples=backlog, seconds=backlog / description.nominal_rate)
                next_backlog = now + _BACKLOG_INTERVAL
            if n == 0:
                if not stalled and now - self._last_data > self.stall_timeout:
                    stalled = True
                    log.warning("eeg_stream_stalled", query=self.query, silent_s=round(now - self._last_data, 3))
                continue
            if stalled:
                stalled = False
                log.info("eeg_stream_resumed", query=self.query, silent_s=round(now - self._last_data, 3))
            self._last_data = now
            self._ingest(n, new_segment)
            new_segment = False

    def _ingest(self, n: int, new_segment: bool) -> None:
        assert self._dejitter is not None and self._ring is not None
        raw = self._raw_ts[:n]
        times = self._times[:n]
        missing = self._dejitter.process(raw, times)
        times += self._clock.offset
        if missing:
            log.warning(
                "eeg_samples_dropped", query=self.query, samples=missing, total_dropped=self._dejitter.dropped,
                gaps=self._dejitter.gaps,
            )
        if new_segment:
            previous = self._ring.last_time
            if previous is not None and times[0] > previous:
                span = (previous, float(times[0]))
                with self._stats_lock:
                    self._missing_spans.append(span)
                    del self._missing_spans[:-_MAX_SPANS]
                log.warning(
                    "eeg_missing_span", query=self.query, start=span[0], end=span[1],
                    seconds=round(span[1] - span[0], 3),
                    samples=round((span[1] - span[0]) * self._dejitter.fs) - 1,
                )
        assert self._preprocessor is not None
        y, ty = self._preprocessor.process(self._stage[:n], times)
        self._ring.write(y, ty)
        with self._stats_lock:
            self._received += n
            self._emitted += y.shape[0]
            self._chunks += 1
        for listener in self._listeners:
            listener(y.shape[0])

    def _on_lost(self, description: StreamDescription) -> None:
        """Count the loss and remember the last sample's time (the missing span starts there)."""
        self._lost += 1
        self._t_lost = self._ring.last_time if self._ring is not None else None
        log.warning(
            "eeg_stream_lost", query=self.query, uid=description.uid,
            last_sample_time=self._t_lost, retry_max_s=self.retry_max,
        )
