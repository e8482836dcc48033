"""The EEG files of a run folder: ``eeg_predictions.tsv`` and ``eeg_markers.tsv``, with JSON sidecars.

Both are tab-separated with a header line, appended one row at a time with
``os.write`` on an ``O_APPEND`` descriptor (each row reaches the OS as it is
made; a crash loses at most a partial last line), missing values as BIDS's
``n/a``.  Times are seconds since the epoch (``time.time()``'s clock, like
``volumes.jsonl``).

``eeg_predictions.tsv`` columns:

``time``
    the time the prediction is for (s since the epoch).
``trigger``
    ``interval`` (periodic) or ``volume`` (asked for at a volume).
``index``
    the volume's 0-based acquisition index for ``volume`` rows, else n/a.
``status``
    ``ok``, ``filling``, ``gap`` or ``stale`` (see :class:`nfd.eeg.EegPredictor`),
    or ``waiting`` (no EEG stream found yet).
``value``
    the prediction in the model's target units (n/a unless ``ok``).
``window_end``
    time of the newest EEG sample used (s since the epoch).
``latency_ms``
    from that sample to the prediction being ready, ms.
``compute_ms``
    features and model, ms.

``eeg_markers.tsv`` columns: ``time`` (s since the epoch), ``lsl_time``
(this machine's LSL clock, s), ``value``, ``stream``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from nfd.eeg._markers import Marker
from nfd.eeg._predictor import Prediction

__all__ = ["MarkerWriter", "PredictionWriter"]

PREDICTION_COLUMNS: Final[tuple[str, ...]] = (
    "time", "trigger", "index", "status", "value", "window_end", "latency_ms", "compute_ms",
)
MARKER_COLUMNS: Final[tuple[str, ...]] = ("time", "lsl_time", "value", "stream")

_PREDICTION_SIDECAR: Final[dict[str, Any]] = {
    "time": {"Description": "time the prediction is for", "Units": "s since the epoch (time.time())"},
    "trigger": {"Description": "interval: periodic prediction; volume: asked for at a volume", "Levels": {
        "interval": "periodic", "volume": "at a volume"}},
    "index": {"Description": "0-based acquisition index of the volume (volume rows)"},
    "status": {"Description": "ok, or why there is no value", "Levels": {
        "ok": "predicted", "waiting": "no EEG stream found yet", "filling": "fewer samples than one window so far",
        "gap": "the window spans missing EEG", "stale": "no recent EEG (stream lost or stalled)"}},
    "value": {"Description": "predicted fMRI signal, in the model's target units (see the model's metadata)"},
    "window_end": {"Description": "time of the newest EEG sample used", "Units": "s since the epoch"},
    "latency_ms": {"Description": "from the newest EEG sample used to the prediction being ready", "Units": "ms"},
    "compute_ms": {"Description": "time to compute the features and apply the model", "Units": "ms"},
}
_MARKER_SIDECAR: Final[dict[str, Any]] = {
    "time": {"Description": "marker time on the daemon's clock", "Units": "s since the epoch (time.time())"},
    "lsl_time": {"Description": "marker time on this machine's LSL clock (pylsl.local_clock)", "Units": "s"},
    "value": {"Description": "the marker's value (channels joined by |)"},
    "stream": {"Description": "name of the LSL marker stream"},
}


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else repr(value)
    text = str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ") if text else "n/a"


class _TsvAppender:
    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str], sidecar: dict[str, Any]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd: int | None = os.open(self.path, flags, 0o644)
        self.rows = 0
        self._append("\t".join(columns))
        self.path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")

    def _append(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path} is closed")
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])

    def close(self) -> None:
        """Sync and close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> _TsvAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PredictionWriter(_TsvAppender):
    """Append predictions to ``eeg_predictions.tsv`` (columns in the module docstring).

    Parameters
    ----------
    path : path
        The file to create (it must not exist); ``<stem>.json`` describes the columns.
    targets : tuple of str
        The model's target names; with several, one ``value_<target>`` column per target follows ``value``
        (the first target's).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "eeg_predictions.tsv"
    >>> with PredictionWriter(path) as w:
    ...     w.write(None, t=1700000000.0, status="filling")
    >>> path.read_text().splitlines()[1]
    '1700000000.0\\tinterval\\tn/a\\tfilling\\tn/a\\tn/a\\tn/a\\tn/a'
    """

    def __init__(self, path: str | os.PathLike[str], targets: tuple[str, ...] = ()) -> None:
        self._names = tuple(targets) if len(targets) > 1 else ()
        if not self._names:
            super().__init__(path, PREDICTION_COLUMNS, _PREDICTION_SIDECAR)
            return
        names = self._names
        columns = [f"value_{n}" for n in names]
        sidecar = dict(_PREDICTION_SIDECAR)
        sidecar["value"] = {"Description": f"predicted fMRI signal of the first target ({names[0]}), in its units"}
        for column, name in zip(columns, names, strict=True):
            sidecar[column] = {"Description": f"predicted fMRI signal of the target {name}, in its units"}
        order = list(PREDICTION_COLUMNS)
        at = order.index("value") + 1
        super().__init__(path, [*order[:at], *columns, *order[at:]], sidecar)

    def write(
        self,
        prediction: Prediction | None,
        *,
        t: float,
        status: str,
        index: int | None = None,
        trigger: str = "interval",
    ) -> None:
        """Append one row: a prediction (with several targets, each one's value), or its absence with ``status``."""
        n = len(self._names)
        if prediction is None:
            cells: list[Any] = [t, trigger, index, status, None, *([None] * n), None, None, None]
        else:
            values = prediction.values
            cells = [
                prediction.t, trigger, index, status, prediction.value, *(values.get(name) for name in self._names),
                prediction.t_window_end, round(prediction.latency_ms, 3), round(prediction.compute_ms, 3),
            ]
        self._append("\t".join(_cell(c) for c in cells))
        self.rows += 1


class MarkerWriter(_TsvAppender):
    """Append markers to ``eeg_markers.tsv``; :meth:`write` is safe from the marker inlet's thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, MARKER_COLUMNS, _MARKER_SIDECAR)

    def write(self, marker: Marker) -> None:
        """Append one marker."""
        self._append("\t".join(_cell(c) for c in (marker.time, marker.lsl_time, marker.value, marker.stream)))
        self.rows += 1
