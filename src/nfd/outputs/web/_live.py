"""What the operator's window shows: the live state the daemon updates and the server reads.

The daemon owns one :class:`LiveState` for its lifetime and tells it what
happens (:meth:`~LiveState.run_started`, :meth:`~LiveState.volume`,
:meth:`~LiveState.eeg_prediction`, :meth:`~LiveState.run_ended` ...).
Each call updates the state the REST routes read and publishes one
WebSocket message (see :mod:`nfd.outputs.web._messages`) through the
state's :class:`~nfd.outputs.web._hub.Broadcaster`.  Every call is
synchronous, cheap (one JSON encoding, one ``put_nowait`` per client) and
never waits on a client.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from nfd._checks import ensure_float, ensure_int
from nfd._version import __version__
from nfd.outputs.web._errors import LiveStateError
from nfd.outputs.web._hub import Broadcaster
from nfd.outputs.web._messages import dumps, eeg_message, finite_or_none, json_safe, volume_message

__all__ = ["RunInfo", "LiveState", "RunState", "EegState", "EEG_STATES"]

RunState = Literal["idle", "running", "ended"]
EegState = Literal["disabled", "waiting", "filling", "streaming", "lost"]
#: The EEG stream states :meth:`LiveState.eeg_status` accepts.
EEG_STATES: Final[tuple[str, ...]] = ("disabled", "waiting", "filling", "streaming", "lost")


def _run_int(name: str, value: object, minimum: int) -> int:
    """``value`` as the int ``RunInfo.<name>``, at least ``minimum``."""
    return ensure_int(value, f"RunInfo.{name}", minimum=minimum, error=LiveStateError)


def _optional_real(name: str, value: object) -> float | None:
    """``value`` as the finite float ``RunInfo.<name>``, or None."""
    return None if value is None else ensure_float(value, f"RunInfo.{name}", error=LiveStateError)


@dataclass(frozen=True)
class RunInfo:
    """What the page needs to know about a run before its first volume.

    Parameters
    ----------
    run_id : str
        The run's name, e.g. its folder's name ``run-20251121-103000``.
    n_volumes : int
        Volumes in the run, skipped ones included.
    tr : float
        Repetition time, in seconds.
    blocks : sequence of (str, int, int)
        The protocol's blocks ``(condition, first, last)``: 0-based
        acquisition indices, both inclusive -- exactly
        :attr:`nfd.design.Design.blocks`.
    baseline : str
        The baseline condition's name.
    rois : sequence of str
        ROI names, in the order the page shows them.
    skip_volumes : int
        Initial volumes read but not processed.
    feedback_range : (float, float), optional
        The lowest and highest feedback value sent (``feedback.min``, ``feedback.max``).
    fd_threshold : float, optional
        Framewise displacement threshold, in mm (drawn on the FD plot).
    dvars_threshold : float, optional
        DVARS threshold, in the quality monitor's DVARS units (drawn on the DVARS plot).
    folder : str, optional
        The run folder's path.
    started : float
        When the run started, seconds since the epoch (default: now).

    Raises
    ------
    LiveStateError
        If a field has the wrong type or a block lies outside ``0 .. n_volumes - 1``.

    Examples
    --------
    >>> info = RunInfo("run-1", n_volumes=12, tr=2.0,
    ...                blocks=[("BAS", 0, 3), ("UP", 4, 7), ("BAS", 8, 11)], rois=["v1"])
    >>> info.to_json()["blocks"][1]
    {'condition': 'UP', 'first': 4, 'last': 7, 'baseline': False}
    """

    run_id: str
    n_volumes: int
    tr: float
    blocks: Sequence[tuple[str, int, int]] = ()
    baseline: str = "BAS"
    rois: Sequence[str] = ()
    skip_volumes: int = 0
    feedback_range: tuple[float, float] | None = None
    fd_threshold: float | None = None
    dvars_threshold: float | None = None
    folder: str | None = None
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not self.run_id:
            raise LiveStateError(f"RunInfo.run_id must be a non-empty str, got {self.run_id!r}")
        n = _run_int("n_volumes", self.n_volumes, 1)
        object.__setattr__(self, "n_volumes", n)
        tr = ensure_float(self.tr, "RunInfo.tr (the repetition time in s)", positive=True, error=LiveStateError)
        object.__setattr__(self, "tr", tr)
        object.__setattr__(self, "skip_volumes", _run_int("skip_volumes", self.skip_volumes, 0))
        blocks = []
        for block in self.blocks:
            try:
                condition, first, last = block
            except (TypeError, ValueError):
                raise LiveStateError(f"RunInfo.blocks holds {block!r}: expected (condition, first, last)") from None
            if not isinstance(condition, str):
                raise LiveStateError(f"RunInfo.blocks: condition must be a str, got {condition!r}")
            first_i, last_i = _run_int("blocks first", first, 0), _run_int("blocks last", last, 0)
            if not first_i <= last_i < n:
                raise LiveStateError(
                    f"RunInfo.blocks: block {block!r} must satisfy 0 <= first <= last < n_volumes ({n})"
                )
            blocks.append((condition, first_i, last_i))
        object.__setattr__(self, "blocks", tuple(blocks))
        if not isinstance(self.baseline, str):
            raise LiveStateError(f"RunInfo.baseline must be a str, got {self.baseline!r}")
        if isinstance(self.rois, str) or not all(isinstance(r, str) for r in self.rois):
            raise LiveStateError(f"RunInfo.rois must be a sequence of ROI names, got {self.rois!r}")
        object.__setattr__(self, "rois", tuple(self.rois))
        if self.feedback_range is not None:
            lo_hi = [ensure_float(v, "RunInfo.feedback_range bound", error=LiveStateError) for v in self.feedback_range]
            if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
                raise LiveStateError(
                    f"RunInfo.feedback_range must be (min, max) with min <= max, got {self.feedback_range!r}"
                )
            object.__setattr__(self, "feedback_range", (lo_hi[0], lo_hi[1]))
        object.__setattr__(self, "fd_threshold", _optional_real("fd_threshold", self.fd_threshold))
        object.__setattr__(self, "dvars_threshold", _optional_real("dvars_threshold", self.dvars_threshold))
        started = ensure_float(self.started, "RunInfo.started (s since the epoch)", error=LiveStateError)
        object.__setattr__(self, "started", started)

    def to_json(self) -> dict[str, Any]:
        """The ``run_start`` payload (without ``type``)."""
        return {
            "run_id": self.run_id,
            "n_volumes": self.n_volumes,
            "tr": self.tr,
            "skip_volumes": self.skip_volumes,
            "baseline": self.baseline,
            "blocks": [
                {"condition": c, "first": f, "last": la, "baseline": c == self.baseline} for c, f, la in self.blocks
            ],
            "rois": list(self.rois),
            "feedback_range": list(self.feedback_range) if self.feedback_range is not None else None,
            "fd_threshold": self.fd_threshold,
            "dvars_threshold": self.dvars_threshold,
            "folder": self.folder,
            "started": self.started,
        }


class LiveState:
    """The live state of the daemon, updated by the daemon, read and broadcast by the web server.

    Use it from the event loop's thread only (it is not thread-safe).  It
    keeps the current run's records (for ``runs/current/volumes``), the
    latest EEG predictions (a bounded window), the latest warnings and
    events, and the latest values pushed by external feedback sources.

    Parameters
    ----------
    queue_size : int
        WebSocket messages a client may fall behind before it is dropped.
    max_warnings : int
        Warnings kept (the oldest are forgotten; the count goes on).
    max_predictions : int
        EEG predictions kept for late-joining clients (the oldest are forgotten).
    clock : callable
        Seconds since the epoch (``time.time``; replaceable for tests).

    Examples
    --------
    >>> state = LiveState()
    >>> state.run_started(RunInfo("run-1", n_volumes=10, tr=2.0, blocks=[("BAS", 0, 4), ("UP", 5, 9)]))
    >>> state.volume({"index": 5, "condition": "UP", "feedback": 0.8, "latency_ms": 9.5})
    >>> state.status()["volumes_processed"], state.latest_feedback()["feedback"]
    (1, 0.8)
    >>> state.run_ended({"volumes_processed": 1})
    >>> state.run_state
    'ended'
    """

    def __init__(
        self,
        *,
        queue_size: int = 256,
        max_warnings: int = 200,
        max_predictions: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("max_warnings", max_warnings), ("max_predictions", max_predictions)):
            ensure_int(value, f"LiveState {name}", minimum=1, error=LiveStateError)
        self.hub = Broadcaster(queue_size)
        self._clock = clock
        self._started = clock()
        self._info: RunInfo | None = None
        self._run_state: RunState = "idle"
        self._summary: dict[str, Any] | None = None
        self._records: list[dict[str, Any]] = []
        self._indices: list[int] = []
        self._messages: list[dict[str, Any]] = []
        self._volumes_total = 0
        self._anchor: tuple[int, float] | None = None  # (index, t_complete) of the run's first volume
        self._eeg_state: EegState = "disabled"
        self._eeg_details: dict[str, Any] = {}
        self._eeg: deque[dict[str, Any]] = deque(maxlen=max_predictions)
        self._eeg_total = 0
        self._warnings: deque[dict[str, Any]] = deque(maxlen=max_warnings)
        self._warnings_total = 0
        self._events: list[dict[str, Any]] = []
        self._external: dict[str, dict[str, float]] = {}

    # -- what the daemon calls ---------------------------------------------------
    def run_started(self, info: RunInfo) -> None:
        """A run starts: forget the previous run's volumes, events and summary; publish ``run_start``."""
        if not isinstance(info, RunInfo):
            raise LiveStateError(f"run_started expects a RunInfo, got {type(info).__name__}")
        self._info = info
        self._run_state = "running"
        self._summary = None
        self._records, self._indices, self._messages = [], [], []
        self._anchor = None
        self._events = []
        self._publish({"type": "run_start", **info.to_json()})

    def volume(self, record: Mapping[str, Any]) -> None:
        """A volume was processed: keep its record and publish its ``volume`` message.

        Parameters
        ----------
        record : mapping
            The record the daemon appended to ``volumes.jsonl``.  Indices must
            increase within a run.

        Raises
        ------
        LiveStateError
            If the record has no valid ``index`` or its index does not
            follow the previous one.
        """
        baseline = self._info.baseline if self._info is not None else None
        msg = volume_message(record, baseline)
        index = msg["index"]
        if self._indices and index <= self._indices[-1]:
            raise LiveStateError(
                f"volume index {index} does not follow the previous volume's ({self._indices[-1]}): "
                "volumes must be reported in increasing index order"
            )
        if self._anchor is None:
            t = finite_or_none(record.get("t_complete")) or finite_or_none(record.get("t_sent"))
            if t is not None:
                self._anchor = (index, t)
        self._records.append(dict(record))
        self._indices.append(index)
        self._messages.append(msg)
        self._volumes_total += 1
        self._publish(msg)

    def eeg_status(self, state: EegState, **details: Any) -> None:
        """The EEG stream's state: ``disabled`` (no EEG configured; the default), ``waiting`` (for the
        stream), ``filling`` (the prediction window), ``streaming`` or ``lost``; ``details`` are shown in
        ``status`` (e.g. ``stream="BrainAmp"``, ``dropped_samples=0``)."""
        if state not in EEG_STATES:
            raise LiveStateError(f"EEG state {state!r} is unknown: expected one of {', '.join(EEG_STATES)}")
        self._eeg_details = json_safe(details)
        self._set_eeg_state(state)

    def eeg_prediction(self, prediction: Any) -> None:
        """An EEG prediction was made: keep it and publish an ``eeg`` message.

        Parameters
        ----------
        prediction : mapping or dataclass
            With at least ``time`` (s since the epoch) and ``value``; any other
            fields (e.g. ``window_s``, ``latency_ms``) are passed on.

        Raises
        ------
        LiveStateError
            If it has no finite ``time`` or no ``value``.
        """
        msg = eeg_message(prediction, None)
        msg["at_volume"] = self.at_volume(msg["time"])
        self._set_eeg_state("streaming")  # a prediction proves the stream is there
        self._eeg.append(msg)
        self._eeg_total += 1
        self._publish(msg)

    def warning(self, event: str, message: str | None = None, *, index: int | None = None, **fields: Any) -> None:
        """Something the operator should see in the status line (e.g. ``volume_missing``); publish it."""
        if not isinstance(event, str) or not event:
            raise LiveStateError(f"a warning needs an event name (str), got {event!r}")
        entry = {
            "type": "warning", "event": event, "time": self._clock(), "index": index,
            "message": message if message is not None else event.replace("_", " "), **json_safe(fields),
        }
        self._warnings.append(entry)
        self._warnings_total += 1
        self._publish(entry)

    def event_marked(self, name: str, t: float) -> dict[str, Any]:
        """An event was marked (``POST /api/v1/events``): keep it, publish it, return it."""
        entry = {"type": "event", "name": name, "time": float(t), "at_volume": self.at_volume(float(t))}
        self._events.append(entry)
        self._publish(entry)
        return entry

    def external_value(self, source: str, value: float, t: float) -> None:
        """An external feedback source pushed a value (kept for ``status``; not broadcast)."""
        self._external[source] = {"value": float(value), "time": float(t)}

    def run_ended(self, summary: Mapping[str, Any] | None = None) -> None:
        """The run ended: keep its summary and publish ``run_end``."""
        self._run_state = "ended"
        self._summary = json_safe(dict(summary or {}))
        self._publish({"type": "run_end", "run_id": self.run_id, "summary": self._summary})

    # -- what the server reads ---------------------------------------------------
    @property
    def run_state(self) -> RunState:
        """``idle`` (no run yet), ``running`` or ``ended``."""
        return self._run_state

    @property
    def run_info(self) -> RunInfo | None:
        """The current (or last) run's :class:`RunInfo`."""
        return self._info

    @property
    def run_id(self) -> str | None:
        """The current (or last) run's id."""
        return self._info.run_id if self._info is not None else None

    @property
    def eeg_state(self) -> EegState:
        """The EEG stream's state (see :meth:`eeg_status`)."""
        return self._eeg_state

    @property
    def uptime_s(self) -> float:
        """Seconds since this state was made (the daemon's start)."""
        return self._clock() - self._started

    def at_volume(self, t: float) -> float | None:
        """Where time ``t`` (s since the epoch) falls on the run's volume axis (fractional 0-based index).

        Anchored on the run's first processed volume (its ``t_complete``)
        and the TR; None before the first volume.
        """
        if self._anchor is None or self._info is None:
            return None
        index, t0 = self._anchor
        return index + (t - t0) / self._info.tr

    def volumes_since(self, since: int = -1, limit: int | None = None) -> list[dict[str, Any]]:
        """The current run's records whose index is greater than ``since``, oldest first, at most ``limit``."""
        start = bisect.bisect_right(self._indices, since)
        stop = len(self._records) if limit is None else min(len(self._records), start + limit)
        return self._records[start:stop]

    def latest_feedback(self) -> dict[str, Any] | None:
        """The last volume's feedback (``index``, ``condition``, ``feedback``, ``t_sent``, ``latency_ms``)."""
        if not self._messages:
            return None
        msg = self._messages[-1]
        return {
            "run_id": self.run_id,
            "index": msg["index"],
            "condition": msg["condition"],
            "baseline": msg["baseline"],
            "feedback": msg["feedback"],
            "t_sent": msg["t_sent"],
            "latency_ms": msg["latency_ms"],
        }

    def latest_prediction(self) -> dict[str, Any] | None:
        """The last EEG prediction (its ``eeg`` message without ``type``), or None."""
        if not self._eeg:
            return None
        return {k: v for k, v in self._eeg[-1].items() if k != "type"}

    def current_run(self) -> dict[str, Any] | None:
        """The ``runs/current`` document, or None before the first run."""
        if self._info is None:
            return None
        return {
            "run": self._info.to_json(),
            "state": self._run_state,
            "volumes_processed": len(self._records),
            "first_index": self._indices[0] if self._indices else None,
            "last_index": self._indices[-1] if self._indices else None,
            "events": [{k: v for k, v in e.items() if k != "type"} for e in self._events],
            "summary": self._summary,
        }

    def status(self) -> dict[str, Any]:
        """The ``status`` document: version, uptime, run state, counts, last latency, EEG state."""
        last = self._messages[-1] if self._messages else None
        last_eeg = self._eeg[-1] if self._eeg else None
        return {
            "version": __version__,
            "uptime_s": round(self.uptime_s, 3),
            "started": self._started,
            "run_state": self._run_state,
            "run_id": self.run_id,
            "volumes_processed": len(self._records),
            "volumes_processed_total": self._volumes_total,
            "last_index": last["index"] if last else None,
            "last_latency_ms": last["latency_ms"] if last else None,
            "eeg": {
                "state": self._eeg_state,
                "predictions": self._eeg_total,
                "last_time": last_eeg["time"] if last_eeg else None,
                **self._eeg_details,
            },
            "external_sources": {k: dict(v) for k, v in self._external.items()},
            "warnings": self._warnings_total,
            "ws_clients": self.hub.clients,
            "ws_clients_dropped": self.hub.dropped,
        }

    def hello(self) -> dict[str, Any]:
        """The snapshot sent first to each WebSocket client (see :mod:`nfd.outputs.web._messages`)."""
        run_start = self._info.started if self._info is not None else -math.inf
        return {
            "type": "hello",
            "version": __version__,
            "status": self.status(),
            "run": {"type": "run_start", **self._info.to_json()} if self._info is not None else None,
            "run_state": self._run_state,
            "volumes": self._messages,
            "eeg": [m for m in self._eeg if m["time"] >= run_start],
            "events": self._events,
            "warnings": list(self._warnings)[-20:],
            "summary": self._summary,
        }

    def hello_text(self) -> str:
        """:meth:`hello` encoded as JSON text."""
        return dumps(self.hello()).decode("utf-8")

    # -- internals -----------------------------------------------------------------
    def _set_eeg_state(self, state: EegState) -> None:
        if state != self._eeg_state:
            self._eeg_state = state
            self._publish({"type": "eeg_state", "state": state, **self._eeg_details})

    def _publish(self, msg: Mapping[str, Any]) -> None:
        if self.hub.clients:
            self.hub.publish(dumps(msg).decode("utf-8"))
