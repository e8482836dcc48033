"""The marker inlet: an irregular LSL string stream (scanner triggers, task events), recorded.

Like :class:`nfd.eeg.EegInlet`, a thread owns the LSL inlet; each marker gets
a time on ``time.time()`` (liblsl's clock synchronisation, then the
wall-clock offset) and is kept in memory (the newest ``keep``) and handed to
the listeners, e.g. a :class:`nfd.eeg.MarkerWriter` appending to the run
folder's ``eeg_markers.tsv``.  A lost marker stream is looked for again
with back-off, as the EEG stream is (the thread's lifetime is
:class:`~nfd.eeg._lsl_thread.LslInletThread`'s, as the EEG inlet's is).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

import pylsl
import structlog

from nfd._checks import ensure_int
from nfd.eeg._errors import EegConfigError
from nfd.eeg._lsl import StreamDescription, stream_query
from nfd.eeg._lsl_thread import LslInletThread

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


class MarkerInlet(LslInletThread):
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
    description : StreamDescription or None
        The marker stream, once found.
    count : int
        Markers received.
    lost : int
        Times the stream was lost.
    """

    _event = "eeg_marker"
    _thread_name = "nfd-marker-inlet"
    _what = "marker stream"

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
        super().__init__(stream_query(name, type, source_id), timeout=timeout, retry_max=retry_max)
        keep = ensure_int(keep, "keep (markers)", minimum=1, error=EegConfigError)
        self.markers: collections.deque[Marker] = collections.deque(maxlen=keep)
        self.count = 0
        self.lost = 0
        self._listeners: list[Callable[[Marker], object]] = []

    def add_listener(self, callback: Callable[[Marker], object]) -> None:
        """Call ``callback(marker)`` in the inlet's thread for each marker (keep it short, thread-safe)."""
        self._listeners.append(callback)

    # -- the thread --------------------------------------------------------------------
    def _on_connect(self, description: StreamDescription) -> None:
        """Log the stream found."""
        log.info("eeg_marker_stream_found", query=self.query, name=description.name)

    def _pull(self, inlet: pylsl.StreamInlet, description: StreamDescription) -> None:
        """Pull markers, stamp them on the daemon's clock, keep them and hand them to the listeners."""
        next_clock = time.monotonic() + 1.0
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
                    stream=description.name,
                )
                self.markers.append(marker)
                self.count += 1
                for listener in self._listeners:
                    listener(marker)

    def _on_lost(self, description: StreamDescription) -> None:
        """Count the loss."""
        self.lost += 1
        log.warning("eeg_marker_stream_lost", query=self.query)
