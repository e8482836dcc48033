"""The WebSocket messages: pure functions from the daemon's records to JSON objects.

Every message is one JSON object (UTF-8 text frame) with a ``type``:

``hello``
    Sent first to each client: ``version``, ``status`` (as ``GET
    /api/v1/status``), ``run`` (the current run's ``run_start`` payload or
    ``null``), ``run_state``, ``volumes`` (every ``volume`` message of the
    current run so far, in order), ``eeg`` (the current run's EEG
    predictions), ``events``, ``warnings`` (the latest) and ``summary``
    (when the run has ended).  A client that connects mid-run thus starts
    with the full picture, and every later message follows it in order.
``run_start``
    :meth:`RunInfo.to_json`: ``run_id``, ``n_volumes``, ``tr`` (s),
    ``skip_volumes``, ``baseline``, ``blocks`` (``[{"condition", "first",
    "last", "baseline"}]``, 0-based inclusive volume indices), ``rois``,
    ``feedback_range``, ``fd_threshold`` (mm), ``dvars_threshold``,
    ``folder``, ``started`` (s since the epoch).
``volume``
    :func:`volume_message`: ``index`` (0-based acquisition index),
    ``condition``, ``baseline`` (bool or null), ``feedback``, ``roi`` (name
    -> raw mean), ``psc`` (name -> %), ``motion`` (trans x, y, z in mm, rot
    x, y, z in rad), ``fd`` (mm), ``dvars``, ``latency_ms``, ``t_sent`` (s
    since the epoch), ``converged``.  Missing or non-finite values are
    ``null``.
``eeg``
    :func:`eeg_message`: the prediction's fields (at least ``time``, s since
    the epoch, and ``value``) plus ``at_volume``: where it falls on the
    volume axis (fractional index, from the run's first volume and TR;
    ``null`` before the first volume).
``event``
    ``name``, ``time`` (s since the epoch), ``at_volume``.
``warning``
    ``event`` (a snake_case name), ``time``, ``index`` (or null), ``message``
    and the warning's other fields.
``run_end``
    ``run_id`` and ``summary`` (as written to ``summary.json``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from nfd._checks import ensure_float, ensure_int
from nfd._json import dumps as json_dumps
from nfd.outputs.web._errors import LiveStateError

__all__ = ["volume_message", "eeg_message", "prediction_fields", "dumps", "json_safe", "finite_or_none"]

def dumps(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON (:func:`nfd._json.dumps`): NaN and infinities ``null``, numpy values numbers."""
    return json_dumps(obj)


def json_safe(obj: Any) -> Any:
    """``obj`` round-tripped through :func:`dumps`: plain dicts, lists, numbers and ``None`` only."""
    return orjson.loads(dumps(obj))


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a real number, NaN or infinite."""
    try:
        return ensure_float(value, "value")
    except ValueError:  # missing, a bool, not a number, NaN or infinite
        return None


def _number_map(value: Any) -> dict[str, float | None]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): finite_or_none(v) for k, v in value.items()}


def _dvars(record: Mapping[str, Any]) -> float | None:
    if "dvars" in record:
        return finite_or_none(record["dvars"])
    quality = record.get("quality")
    if isinstance(quality, Mapping):
        return finite_or_none(quality.get("dvars"))
    return None


def volume_message(record: Mapping[str, Any], baseline: str | None = None) -> dict[str, Any]:
    """The ``volume`` message for one of the daemon's per-volume records.

    Parameters
    ----------
    record : mapping
        The record appended to ``volumes.jsonl`` (keys specified in
        :mod:`nfd.outputs._runfolder`); ``index`` is required.  DVARS is read
        from ``record["dvars"]`` or else ``record["quality"]["dvars"]``.
    baseline : str, optional
        The run's baseline condition name, to fill ``baseline``.

    Returns
    -------
    dict
        The message (see the module docstring); every number finite or None.

    Raises
    ------
    LiveStateError
        If the record is not a mapping or has no 0-based ``index``.

    Examples
    --------
    >>> msg = volume_message({"index": 7, "condition": "NFBREG", "feedback": 1.5,
    ...                       "roi": {"v1": 812.5}, "fd": float("nan")}, baseline="BAS")
    >>> msg["index"], msg["baseline"], msg["roi"], msg["fd"], msg["dvars"]
    (7, False, {'v1': 812.5}, None, None)
    """
    if not isinstance(record, Mapping):
        raise LiveStateError(f"a volume record must be a mapping (the run folder's record), got {type(record)}")
    index = ensure_int(
        record.get("index"), "a volume record's 'index' (0-based volume index)", minimum=0, error=LiveStateError
    )
    condition = record.get("condition")
    condition = condition if isinstance(condition, str) else None
    motion = record.get("motion")
    motion_out: list[float | None] | None = None
    if isinstance(motion, (list, tuple, np.ndarray)) and len(motion) == 6:
        motion_out = [finite_or_none(v) for v in motion]
    converged = record.get("converged")
    return {
        "type": "volume",
        "index": index,
        "condition": condition,
        "baseline": (condition == baseline) if (baseline is not None and condition is not None) else None,
        "feedback": finite_or_none(record.get("feedback")),
        "roi": _number_map(record.get("roi")),
        "psc": _number_map(record.get("psc")),
        "motion": motion_out,
        "fd": finite_or_none(record.get("fd")),
        "dvars": _dvars(record),
        "latency_ms": finite_or_none(record.get("latency_ms")),
        "t_sent": finite_or_none(record.get("t_sent")),
        "converged": bool(converged) if isinstance(converged, (bool, np.bool_)) else None,
    }


def prediction_fields(prediction: Any) -> dict[str, Any]:
    """An EEG prediction (a mapping, a dataclass, or an object with attributes) as a plain dict.

    Raises
    ------
    LiveStateError
        If it has no finite ``time`` (s since the epoch) or no ``value``.
    """
    if isinstance(prediction, Mapping):
        fields = dict(prediction)
    elif dataclasses.is_dataclass(prediction) and not isinstance(prediction, type):
        fields = dataclasses.asdict(prediction)
    elif hasattr(prediction, "__dict__") or hasattr(prediction, "__slots__"):
        names = list(getattr(prediction, "__dict__", {})) or list(getattr(prediction, "__slots__", ()))
        fields = {n: getattr(prediction, n) for n in names if not n.startswith("_")}
    else:
        raise LiveStateError(f"an EEG prediction must be a mapping or a dataclass, got {type(prediction)}")
    t = finite_or_none(fields.get("time"))
    if t is None:
        raise LiveStateError(
            f"an EEG prediction needs 'time', finite seconds since the epoch, got {fields.get('time')!r}"
        )
    if "value" not in fields:
        raise LiveStateError(f"an EEG prediction needs 'value' (the predicted feedback), got keys {sorted(fields)}")
    fields["time"] = t
    return fields


def eeg_message(prediction: Any, at_volume: float | None) -> dict[str, Any]:
    """The ``eeg`` message: the prediction's fields (JSON-safe) with ``type`` and ``at_volume``.

    Examples
    --------
    >>> eeg_message({"time": 1763712000.0, "value": 0.4}, at_volume=12.5)
    {'time': 1763712000.0, 'value': 0.4, 'type': 'eeg', 'at_volume': 12.5}
    """
    fields = json_safe(prediction_fields(prediction))
    fields["type"] = "eeg"
    fields["at_volume"] = at_volume
    return fields
