"""The marker inlet: an irregular LSL string stream (scanner triggers, task events), recorded.

Like :class:`nfd.eeg.EegInlet`, a thread owns the LSL inlet; each marker gets
a time on ``time.time()`` (liblsl's clock synchronisation, then the
wall-clock offset) and is kept in memory (the newest ``keep``) and handed to
the listeners, e.g. a :class:`nfd.eeg.MarkerWriter` appending to the run
folder's ``eeg_markers.tsv``.  A lost marker stream is looked for again
with back-off, as the EEG stream is.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pylsl
import pylsl.util
import structlog

from nfd.eeg._clock import WallClock
from nfd.eeg._errors import EegConfigError, StreamNotFoundError
from nfd.eeg._lsl import Backoff, StreamDescription, resolve_stream, stream_query

__all__ = ["Marker", "MarkerInlet"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Marker:
    """One marker.

    Attributes
    ----------
    time : float
        Its time on the daemon's clock, s since the epoch.
    lsl_time : float
        Its LSL time stamp on this machine's LSL clock, s.
    value : str
        The marker (channels joined by ``|`` if the stream has several).
    stream : str
        The marker stream's name.
    """

    time: float
    lsl_time: float
    value: str
    stream: str


class MarkerInlet:
    """Record an LSL marker stream (found by ``name``, ``type`` -- default ``Markers`` -- or ``source_id``).

    Parameters
    ----------
    name, type, source_id : str, optional
        Stream properties to match; ``type`` defaults to ``"Markers"`` when
        neither ``name`` nor ``source_id`` is given.
    timeout : float
        Seconds each resolve attempt looks for the stream.
    keep : int
        Markers kept in :attr:`markers` (the newest).
    retry_max : float
        Longest delay between attempts to find the stream, s.

    Attributes
    ----------
    markers : collections.deque of Marker
        The newest ``keep`` markers.
    """

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        *,
        timeout: float = 1.0,
        keep: int = 10_000,
        retry_max: float = 5.0,
    ) -> None:
        if name is None and type is None and source_id is None:
            type = "Markers"
        self.query = stream_query(name, type, source_id)
        if not (math.isfinite(timeout) and timeout > 0 and math.isfinite(retry_max) and retry_max > 0):
            raise EegConfigError(f"timeout and retry_max must be seconds > 0, got {timeout!r}, {retry_max!r}")
        if keep < 1:
            raise EegConfigError(f"keep must be >= 1 marker, got {keep!r}")
        self.timeout = float(timeout)
        self.retry_max = float(retry_max)
        self.markers: collections.deque[Marker] = collections.deque(maxlen=int(keep))
        self.description: StreamDescription | None = None
        self.count = 0
        self.lost = 0
        self._listeners: list[Callable[[Marker], None]] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._clock = WallClock(pylsl.local_clock)

    @property
    def connected(self) -> bool:
        """True while the marker stream is open."""
        return self._connected.is_set()

    def add_listener(self, callback: Callable[[Marker], None]) -> None:
        """Call ``callback(marker)`` in the inlet's thread for each marker (keep it short, thread-safe)."""
        self._listeners.append(callback)

    def start(self) -> None:
        """Start the inlet's thread."""
        if self._thread is not None:
            raise RuntimeError("MarkerInlet already started")
        self._thread = threading.Thread(target=self._main, name=f"nfd-marker-inlet[{self.query}]", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_connected(self, timeout: float) -> StreamDescription:
        """Block until the marker stream is open (from a thread).

        Raises
        ------
        StreamNotFoundError
            Not within ``timeout`` seconds.
        """
        if not self._connected.wait(timeout) or self.description is None:
            raise StreamNotFoundError(f"no LSL marker stream matching {self.query} was open within {timeout:g} s")
        return self.description

    async def run(self) -> None:
        """Run until cancelled; re-raise what ended the thread, if anything."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                await asyncio.sleep(0.1)
        finally:
            self._stop.set()
            await asyncio.to_thread(self._thread.join, 5.0)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            self._error = exc
            log.error("eeg_marker_inlet_failed", query=self.query, error=repr(exc))
        finally:
            self._connected.clear()

    def _loop(self) -> None:
        backoff = Backoff(0.25, self.retry_max)
        while not self._stop.is_set():
            try:
                info = resolve_stream(self.query, self.timeout)
                inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)
                full = inlet.info(self.timeout)
                inlet.open_stream(self.timeout)
            except (StreamNotFoundError, TimeoutError, pylsl.util.LostError) as exc:
                delay = backoff.next()
                log.warning("eeg_marker_stream_not_found", query=self.query, retry_in_s=delay, reason=str(exc))
                self._stop.wait(delay)
                continue
            backoff.reset()
            self.description = StreamDescription.from_info(full)
            self._connected.set()
            log.info("eeg_marker_stream_found", query=self.query, name=self.description.name)
            next_clock = time.monotonic() + 1.0
            try:
                while not self._stop.is_set():
                    values, stamps = inlet.pull_chunk(timeout=0.05)
                    if time.monotonic() >= next_clock:
                        self._clock.update()
                        next_clock = time.monotonic() + 1.0
                    for value, stamp in zip(values, stamps, strict=True):
                        marker = Marker(
                            time=float(stamp) + self._clock.offset,
                            lsl_time=float(stamp),
                            value="|".join(str(v) for v in value),
                            stream=self.description.name,
                        )
                        self.markers.append(marker)
                        self.count += 1
                        for listener in self._listeners:
                            listener(marker)
            except pylsl.util.LostError:
                self.lost += 1
                log.warning("eeg_marker_stream_lost", query=self.query)
            finally:
                self._connected.clear()
