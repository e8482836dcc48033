"""Play an EEG recording as an LSL outlet in real time, chunked like an amplifier, with its markers.

For tests and rehearsals without an amplifier (like mne-lsl's player).  A
thread pushes ``chunk_duration`` seconds of samples (float32) each time that
much time has passed on LSL's clock, stamped with the push time as
amplifier drivers do (liblsl back-extrapolates the chunk's other samples at
the nominal rate), or with exact nominal stamps.  The recording's markers go
out on a second, irregular string stream (type ``Markers``) stamped with the
time of the sample they belong to.  ``nfd simulate-eeg FILE`` is
:func:`player_main`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pylsl
import structlog

from nfd._checks import ensure_float
from nfd.eeg._errors import EegConfigError, EegError
from nfd.eeg._recording import Recording, read_recording
from nfd.eeg._thread_end import ThreadEnd

__all__ = ["EegPlayer", "player_main"]

log = structlog.get_logger(__name__)

Stamping = Literal["push", "nominal"]


class EegPlayer:
    """Stream a recording over LSL in real time.

    Parameters
    ----------
    recording : Recording or path
        What to play (a path is read with :func:`nfd.eeg.read_recording`).
    name, type : str
        The EEG stream's name (default ``nfd-player``) and type (``EEG``).
    source_id : str, optional
        The stream's source id (default: ``nfd-player-<file stem>``).
        Inlets that resolve by source id find a restarted player again.
    chunk_duration : float
        Seconds per pushed chunk (default 0.01 s; amplifiers send 1-40 ms).
    loop : bool
        Start again at the end (markers too) instead of stopping.
    markers : bool
        Also stream the recording's markers (when it has any), on
        ``<name>-markers`` / ``<source_id>-markers``, type ``Markers``.
    duration : float, optional
        Stop after this many seconds of samples.
    stamps : {"push", "nominal"}
        ``push``: each chunk stamped with LSL's clock when pushed (jitter
        included, like a driver); ``nominal``: exact ``start + k / fs``.
    wait_for_consumer : float
        Seconds to wait for an inlet on the EEG stream (and on the marker
        stream, if any) before the first sample (0: don't).

    Attributes
    ----------
    pushed : int
        Samples pushed so far.
    markers_pushed : int
        Markers pushed so far.
    t_start : float or None
        LSL time of the first sample's capture.
    """

    def __init__(
        self,
        recording: Recording | str | os.PathLike[str],
        *,
        name: str = "nfd-player",
        type: str = "EEG",
        source_id: str | None = None,
        chunk_duration: float = 0.01,
        loop: bool = False,
        markers: bool = True,
        duration: float | None = None,
        stamps: Stamping = "push",
        wait_for_consumer: float = 0.0,
    ) -> None:
        rec = recording if isinstance(recording, Recording) else read_recording(recording)
        chunk_duration = ensure_float(chunk_duration, "chunk_duration (s)", positive=True, error=EegConfigError)
        if duration is not None:
            duration = ensure_float(duration, "duration (s)", positive=True, error=EegConfigError)
        if loop and round(chunk_duration * rec.fs) > rec.n_samples:
            raise EegConfigError(f"a looped recording must be longer than one chunk ({chunk_duration} s)")
        if stamps not in ("push", "nominal"):
            raise EegConfigError(f"stamps must be 'push' or 'nominal', got {stamps!r}")
        self.recording = rec
        self.name = name
        self.type = type
        stem = Path(rec.source).stem if rec.source else "recording"
        self.source_id = source_id if source_id is not None else f"nfd-player-{stem}"
        self.chunk = max(1, round(chunk_duration * rec.fs))
        self.loop = bool(loop)
        self.with_markers = bool(markers) and bool(rec.markers)
        self.limit = None if duration is None else round(duration * rec.fs)
        self.stamps: Stamping = stamps
        self.wait_for_consumer = float(wait_for_consumer)
        #: seconds the outlets stay up after the last sample when the recording ends
        self.linger = 0.2
        self.pushed = 0
        self.markers_pushed = 0
        self.t_start: float | None = None
        self._data = np.ascontiguousarray(rec.data, dtype=np.float32)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._end = ThreadEnd()

    # -- outlets -------------------------------------------------------------------
    def _eeg_info(self) -> pylsl.StreamInfo:
        rec = self.recording
        info = pylsl.StreamInfo(self.name, self.type, rec.data.shape[1], rec.fs, pylsl.cf_float32, self.source_id)
        channels = info.desc().append_child("channels")
        units = rec.units if len(rec.units) == len(rec.channel_names) else ("",) * len(rec.channel_names)
        for label, unit in zip(rec.channel_names, units, strict=True):
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "microvolts" if unit == "uV" else unit)
            ch.append_child_value("type", self.type)
        info.desc().append_child_value("manufacturer", "nfd simulate-eeg")
        info.desc().append_child_value("source_file", rec.source)
        return info

    def _marker_info(self) -> pylsl.StreamInfo:
        return pylsl.StreamInfo(
            f"{self.name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"{self.source_id}-markers"
        )

    # -- lifetime ------------------------------------------------------------------------
    def start(self) -> None:
        """Create the outlets and start pushing in a thread (returns once the outlets exist)."""
        if self._thread is not None:
            raise RuntimeError("EegPlayer already started")
        self._thread = threading.Thread(target=self._main, name=f"nfd-eeg-player[{self.source_id}]", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._end.error is not None:
            raise self._end.error

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pushing and destroy the outlets (inlets then see the stream lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the end of the recording (not in loop mode); True if the player has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """True while the thread pushes."""
        return self._thread is not None and self._thread.is_alive()

    async def run(self) -> None:
        """Play until the end (or cancellation, which stops the player)."""
        await self._end.run(self.start, self.stop)

    async def __aenter__(self) -> EegPlayer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> EegPlayer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        outlet: pylsl.StreamOutlet | None = None
        marker_outlet: pylsl.StreamOutlet | None = None
        try:
            outlet = pylsl.StreamOutlet(self._eeg_info(), chunk_size=self.chunk, max_buffered=60)
            if self.with_markers:
                marker_outlet = pylsl.StreamOutlet(self._marker_info())
            self._ready.set()
            if self.wait_for_consumer > 0:
                deadline = pylsl.local_clock() + self.wait_for_consumer
                for which in (outlet, marker_outlet):
                    if which is not None and not which.wait_for_consumers(max(0.0, deadline - pylsl.local_clock())):
                        log.warning(
                            "eeg_player_no_consumer", source_id=self.source_id, waited_s=self.wait_for_consumer,
                            stream="markers" if which is marker_outlet else "eeg",
                        )
            log.info(
                "eeg_player_started", name=self.name, source_id=self.source_id, channels=self._data.shape[1],
                rate_hz=self.recording.fs, chunk_samples=self.chunk, loop=self.loop, file=self.recording.source,
            )
            if self._play(outlet, marker_outlet):
                # the recording ended (not stop()): let the last chunk reach the inlets
                self._stop.wait(self.linger)
        except BaseException as exc:  # noqa: BLE001 -- the thread's end: handed over to start() and run()
            self._end.error = exc  # before _ready: start() reads it as soon as it wakes
            self._ready.set()
            log.error("eeg_player_failed", source_id=self.source_id, error=repr(exc))
        finally:
            # destroy the outlets now, so that inlets see the stream end
            del outlet, marker_outlet
            log.info("eeg_player_stopped", source_id=self.source_id, samples=self.pushed, markers=self.markers_pushed)
            self._end.notify()

    def _play(self, outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet | None) -> bool:
        """Push until the end (returns True) or until stopped (False)."""
        fs = self.recording.fs
        n_total = self._data.shape[0]
        onsets = np.array([round(m.onset * fs) for m in self.recording.markers], dtype=np.int64)
        labels = [m.label for m in self.recording.markers]
        stage = np.empty((self.chunk, self._data.shape[1]), dtype=np.float32)
        lag = 0 if self.stamps == "nominal" else 1  # push stamps put sample k at t0 + (k + 1) / fs
        t0 = pylsl.local_clock()
        self.t_start = t0
        next_marker = 0
        marker_base = 0  # first sample of the loop the next marker belongs to
        loop_offset = 0  # samples played in earlier loops
        while not self._stop.is_set():
            n = self.chunk
            if self.limit is not None:
                n = min(n, self.limit - self.pushed)
            pos = self.pushed - loop_offset
            if not self.loop:
                n = min(n, n_total - pos)
            if n <= 0:
                return True
            due = t0 + (self.pushed + n) / fs
            wait = due - pylsl.local_clock()
            if wait > 0 and self._stop.wait(wait):
                return False
            if pos + n <= n_total:
                chunk = self._data[pos : pos + n]
            else:  # loop: wrap around
                first = n_total - pos
                stage[:first] = self._data[pos:]
                stage[first:n] = self._data[: n - first]
                chunk = stage[:n]
            stamp = due - 1.0 / fs if self.stamps == "nominal" else 0.0
            outlet.push_chunk(chunk, stamp)
            end = self.pushed + n
            while marker_outlet is not None:
                if next_marker == len(onsets):
                    if not self.loop:
                        break
                    next_marker = 0
                    marker_base += n_total
                k = marker_base + int(onsets[next_marker])
                if k >= end:
                    break
                marker_outlet.push_sample([labels[next_marker]], t0 + (k + lag) / fs)
                self.markers_pushed += 1
                next_marker += 1
            self.pushed = end
            if self.loop and self.pushed - loop_offset >= n_total:
                loop_offset += n_total
        return False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nfd simulate-eeg",
        description="Play an EEG recording as an LSL stream in real time (with its markers), for tests and rehearsals.",
    )
    p.add_argument("file", type=Path, help="recording: .vhdr, .edf, .bdf, .gdf, .set, .fif or .xdf")
    p.add_argument("--name", default="nfd-player", help="LSL stream name (default nfd-player)")
    p.add_argument("--type", default="EEG", help="LSL stream type (default EEG)")
    p.add_argument("--source-id", default=None, help="LSL source id (default nfd-player-<file stem>)")
    p.add_argument("--stream", default=None, help="XDF: name of the EEG stream to play")
    p.add_argument("--chunk-ms", type=float, default=10.0, help="milliseconds per chunk (default 10)")
    p.add_argument("--loop", action="store_true", help="start again at the end, until stopped")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--no-markers", action="store_true", help="do not stream the recording's markers")
    p.add_argument(
        "--stamps", choices=("push", "nominal"), default="push",
        help="time stamps: push time like a driver (default) or exact nominal times",
    )
    return p


def player_main(argv: Sequence[str] | None = None) -> int:
    """``nfd simulate-eeg FILE``: play until the recording ends, or until SIGINT/SIGTERM.

    Returns
    -------
    int
        0 when done or stopped; 2 when the file or an option is unusable
        (one line on standard error).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        player = EegPlayer(
            read_recording(args.file, stream=args.stream), name=args.name, type=args.type,
            source_id=args.source_id, chunk_duration=args.chunk_ms / 1000.0, loop=args.loop,
            markers=not args.no_markers, duration=args.duration, stamps=args.stamps,
        )
    except EegError as exc:
        print(f"nfd simulate-eeg: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        player.start()
        print(
            f"playing {args.file} as LSL stream {player.name!r} (type {player.type}, source_id {player.source_id!r}, "
            f"{player.recording.data.shape[1]} channels at {player.recording.fs:g} Hz)",
            file=sys.stderr,
        )
        while player.running and not stop.wait(0.1):
            pass
    finally:
        player.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
