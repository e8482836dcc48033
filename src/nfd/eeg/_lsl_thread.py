"""The lifetime of a thread that owns one LSL inlet, shared by the EEG and marker inlets.

:class:`LslInletThread` looks for the stream (``resolve`` with back-off,
0.25 s doubling to ``retry_max``), opens an inlet on it (liblsl's clock
synchronisation on), pulls until :meth:`~LslInletThread.stop`, and looks for
the stream again when it is lost.  What ends the thread (an unusable stream,
a failing listener, a bug) is kept and handed over: :meth:`run` and
:meth:`wait_connected` raise it.  The event loop never calls liblsl:
:meth:`run` starts the thread and waits, on an :class:`asyncio.Event` the
thread sets as it ends, without polling.

A subclass says what differs: how big liblsl's buffer is
(:meth:`~LslInletThread._open`), whether a (re)found stream is accepted
(:meth:`~LslInletThread._accept`), what happens once it is open
(:meth:`~LslInletThread._on_connect`), the pull loop itself
(:meth:`~LslInletThread._pull`) and the bookkeeping of a loss
(:meth:`~LslInletThread._on_lost`).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import pylsl
import pylsl.util
import structlog

from nfd._checks import ensure_float
from nfd.eeg._clock import WallClock
from nfd.eeg._errors import EegConfigError, StreamNotFoundError
from nfd.eeg._lsl import Backoff, StreamDescription, resolve_stream
from nfd.eeg._thread_end import ThreadEnd

__all__ = ["LslInletThread"]

log = structlog.get_logger(__name__)


class LslInletThread:
    """Find an LSL stream, keep an inlet open on it and pull from it in a thread of its own.

    Parameters
    ----------
    query : str
        The stream's XPath predicate (:func:`nfd.eeg.stream_query`).
    timeout : float
        Seconds each resolve attempt looks for the stream (> 0).
    retry_max : float
        Longest delay between attempts to find the stream, s (> 0).

    Attributes
    ----------
    description : StreamDescription or None
        The stream, once found.

    Notes
    -----
    Subclasses name their events and thread with the class attributes
    :attr:`_event` (log events ``<_event>_stream_not_found`` and
    ``<_event>_inlet_failed``), :attr:`_thread_name` and :attr:`_what`
    (``"stream"``, ``"marker stream"``: the not-found message).
    """

    #: Prefix of the log events.
    _event: ClassVar[str] = "eeg"
    #: The thread's name, before ``[query]``.
    _thread_name: ClassVar[str] = "nfd-eeg-inlet"
    #: What is looked for, in messages.
    _what: ClassVar[str] = "stream"

    def __init__(self, query: str, *, timeout: float, retry_max: float) -> None:
        self.query = query
        self.timeout = ensure_float(timeout, "timeout (s)", positive=True, error=EegConfigError)
        self.retry_max = ensure_float(retry_max, "retry_max (s)", positive=True, error=EegConfigError)
        self.description: StreamDescription | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._end = ThreadEnd()
        self._clock = WallClock(pylsl.local_clock)

    @property
    def connected(self) -> bool:
        """True while an LSL inlet is open on the stream."""
        return self._connected.is_set()

    # -- lifetime ------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (it looks for the stream, then pulls until :meth:`stop`)."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._thread = threading.Thread(target=self._main, name=f"{self._thread_name}[{self.query}]", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it (at most ``timeout`` s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_connected(self, timeout: float) -> StreamDescription:
        """Block until the stream is found and open (from a thread, not the event loop).

        Raises
        ------
        StreamNotFoundError
            Not within ``timeout`` seconds.
        Exception
            What ended the thread, as soon as it has ended.
        """
        deadline = time.monotonic() + timeout
        while not self._connected.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if self._end.error is not None:
                raise self._end.error
            if time.monotonic() >= deadline:
                raise StreamNotFoundError(f"no LSL {self._what} matching {self.query} was open within {timeout:g} s")
        assert self.description is not None
        return self.description

    async def run(self) -> None:
        """Run until cancelled (then stop); re-raise what ended the thread, if anything."""
        await self._end.run(self.start, self.stop)

    # -- the thread --------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 -- the thread's end: raised by run() and wait_connected()
            self._end.error = exc
            log.error(f"{self._event}_inlet_failed", query=self.query, error=repr(exc))
        finally:
            self._connected.clear()
            self._end.notify()

    def _loop(self) -> None:
        backoff = Backoff(0.25, self.retry_max)
        while not self._stop.is_set():
            try:
                info = resolve_stream(self.query, self.timeout)
                inlet = self._open(info)
                full = inlet.info(self.timeout)
                inlet.open_stream(self.timeout)
            except (StreamNotFoundError, TimeoutError, pylsl.util.LostError) as exc:
                delay = backoff.next()
                log.warning(f"{self._event}_stream_not_found", query=self.query, retry_in_s=delay, reason=str(exc))
                self._stop.wait(delay)
                continue
            description = StreamDescription.from_info(full)
            if not self._accept(description):
                inlet.close_stream()
                self._stop.wait(backoff.next())
                continue
            backoff.reset()
            self._serve(inlet, description)

    def _serve(self, inlet: pylsl.StreamInlet, description: StreamDescription) -> None:
        """Pull from the open ``inlet`` until :meth:`stop` or the stream is lost; close it either way."""
        try:
            self._on_connect(description)
            self._connected.set()
            self._pull(inlet, description)
        except pylsl.util.LostError:
            self._connected.clear()
            self._on_lost(description)
        finally:
            self._connected.clear()
            try:
                inlet.close_stream()
            except Exception as exc:  # noqa: BLE001 -- liblsl may already have torn it down; nothing to do
                log.debug(f"{self._event}_inlet_close_failed", error=repr(exc))

    # -- what subclasses say ------------------------------------------------------------
    def _open(self, info: pylsl.StreamInfo) -> pylsl.StreamInlet:
        """An inlet on ``info``: 60 s of liblsl buffer, clock synchronisation, no silent recovery."""
        return pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)

    def _accept(self, description: StreamDescription) -> bool:
        """Whether to pull from a (re)found stream; by default every one is, and becomes :attr:`description`."""
        self.description = description
        return True

    def _on_connect(self, description: StreamDescription) -> None:
        """Called in the thread just before the inlet counts as connected."""

    def _pull(self, inlet: pylsl.StreamInlet, description: StreamDescription) -> None:
        """Pull until :meth:`stop` (return) or the stream is lost (``pylsl.util.LostError``)."""
        raise NotImplementedError

    def _on_lost(self, description: StreamDescription) -> None:
        """Called in the thread when the stream is lost (the inlet no longer counts as connected)."""
