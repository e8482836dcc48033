"""EEG in the daemon's loop: inlet, markers, predictions and their files, as one asyncio task.

:class:`EegSession` is what the daemon creates for a run with ``[eeg]``
configured.  It loads the model first (so a wrong hash fails the run's start,
before any stream is awaited), starts the EEG inlet with the model's
preprocessing, and once the stream is found checks the model against it.
Then it predicts every ``interval`` seconds (or on every chunk when the
interval is 0) and whenever the daemon asks at a volume, writes each
prediction to ``eeg_predictions.tsv`` and each marker to
``eeg_markers.tsv``, and keeps the latest prediction for the REST API and
the feedback.  Predictions run in a worker thread, one at a time.

A model with several targets writes one ``value_<target>`` column per
target after ``value`` (the first target's, as for one target).

:meth:`EegSession.stream_status` says how the stream stands for the
operator's window: ``waiting``, ``filling``, ``streaming`` or ``lost``, with
why it is lost (``reconnecting``: the inlet looks for the stream again;
``stale``: connected but no recent sample; ``refilling``: the stream is
back but the window still spans the missing EEG) and since when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import structlog

from nfd._checks import check_bool, ensure_float
from nfd.eeg._errors import EegConfigError
from nfd.eeg._inlet import EegInlet
from nfd.eeg._markers import MarkerInlet
from nfd.eeg._model import EegModel
from nfd.eeg._predictor import EegPredictor, Prediction
from nfd.eeg._tables import (
    MarkerWriter,
    PredictionWriter,
)

__all__ = ["LATENCY_FROM", "EegSession", "prediction_values"]

log = structlog.get_logger(__name__)

PREDICTIONS_FILE = "eeg_predictions.tsv"
MARKERS_FILE = "eeg_markers.tsv"

#: What each kind of prediction's latency is measured from (``summary.json``'s ``latency_from``).
LATENCY_FROM: Final[dict[str, str]] = {
    "periodic": "the newest EEG sample used (the window ends at the time of the prediction)",
    "volume": "the volume's acquisition start: its window ends one TR before the volume's file is complete, as in "
              "training, so these latencies include about one TR by design",
    "volume_after_request": "the daemon asking for the volume's prediction (its file complete) to the prediction "
                            "being ready",
}
#: The triggers of :meth:`EegSession.predict` and their names in the summary.
_KINDS: Final[dict[str, str]] = {"interval": "periodic", "volume": "volume"}


def prediction_values(prediction: Prediction, names: tuple[str, ...]) -> dict[str, float]:
    """Each target's predicted value: ``prediction.values`` when it has them, else ``{names[0]: value}``.

    Parameters
    ----------
    prediction : Prediction
        A prediction (its ``values`` maps target name to value, in the
        target's units, for models with several targets).
    names : tuple of str
        The model's target names (:attr:`nfd.eeg.EegModel.target_names`).

    Returns
    -------
    dict
        Target name -> predicted value, in the model's order.
    """
    values = getattr(prediction, "values", None)
    if isinstance(values, Mapping) and values:
        return {str(k): float(v) for k, v in values.items()}
    return {names[0]: float(prediction.value)}


class EegSession:
    """Run the EEG side of a neurofeedback run inside the daemon's event loop.

    Parameters
    ----------
    model : EegModel
        Loaded with :func:`nfd.eeg.load_model` (hash checked).
    name, type, source_id : str, optional
        The EEG stream to find (at least one).
    interval : float
        Seconds between periodic predictions; 0: predict on every chunk.
    run_folder : path, optional
        Where ``eeg_predictions.tsv`` and ``eeg_markers.tsv`` go (nothing is
        written without it).
    markers : bool
        Record a marker stream too.
    marker_name, marker_type, marker_source_id : str, optional
        The marker stream (default: type ``Markers``).
    timeout : float
        Seconds per attempt to find a stream.
    retry_max : float
        Longest wait between attempts to find a lost stream, s.
    buffer_seconds : float
        EEG kept in memory (>= the model's window; default 60 s).
    stale_after, max_gap : float
        See :class:`nfd.eeg.EegPredictor`.

    Attributes
    ----------
    latest : Prediction or None
        The newest prediction (None before the first).
    status : str
        ``waiting`` (no stream yet), or the predictor's status at the last
        prediction (periodic or at a volume).
    window_s : float
        The model's window, s: a stream lost longer than this has no EEG in
        any window the model could use.
    """

    def __init__(
        self,
        model: EegModel,
        *,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        interval: float = 0.5,
        run_folder: str | os.PathLike[str] | None = None,
        markers: bool = True,
        marker_name: str | None = None,
        marker_type: str | None = None,
        marker_source_id: str | None = None,
        timeout: float = 1.0,
        retry_max: float = 5.0,
        buffer_seconds: float = 60.0,
        stale_after: float = 1.0,
        max_gap: float = 0.1,
    ) -> None:
        self.interval = ensure_float(interval, "interval (s)", minimum=0.0, error=EegConfigError)
        buffer_seconds = ensure_float(buffer_seconds, "buffer_seconds (s)", positive=True, error=EegConfigError)
        if buffer_seconds < model.spec.window + 1.0:
            raise EegConfigError(
                f"buffer_seconds ({buffer_seconds}) must exceed the model's window ({model.spec.window} s) by >= 1 s"
            )
        self.model = model
        self.stale_after = float(stale_after)
        self.max_gap = float(max_gap)
        self.inlet = EegInlet(
            name, type, source_id, timeout=timeout, preprocess=model.preprocess, buffer_seconds=buffer_seconds,
            retry_max=retry_max,
        )
        self.marker_inlet = (
            MarkerInlet(marker_name, marker_type, marker_source_id, timeout=timeout, retry_max=retry_max)
            if check_bool(markers, "markers", error=EegConfigError)
            else None
        )
        self.run_folder = None if run_folder is None else Path(run_folder)
        self.predictor: EegPredictor | None = None
        self.latest: Prediction | None = None
        self.status = "waiting"
        self.window_s = model.spec.n_samples / model.spec.fs
        self.counts: dict[str, int] = dict.fromkeys(("ok", "filling", "gap", "stale", "waiting"), 0)
        self._kind_counts: dict[str, dict[str, int]] = {kind: dict(self.counts) for kind in _KINDS.values()}
        self._writer: PredictionWriter | None = None
        self._marker_writer: MarkerWriter | None = None
        self._lock = asyncio.Lock()
        self._new_data = asyncio.Event()
        self._compute_ms: list[float] = []
        self._latency_ms: dict[str, list[float]] = {kind: [] for kind in (*_KINDS.values(), "volume_after_request")}
        self._periodic_status: str | None = None
        self._lost_since: float | None = None

    # -- lifetime ------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled: inlets, periodic predictions, files.

        Raises
        ------
        ModelMismatchError
            The stream, once found, does not fit the model.
        """
        loop = asyncio.get_running_loop()
        if self.run_folder is not None:
            names = tuple(self.model.target_names)
            path = self.run_folder / PREDICTIONS_FILE
            self._writer = PredictionWriter(path, names)
            if self.marker_inlet is not None:
                self._marker_writer = MarkerWriter(self.run_folder / MARKERS_FILE)
                self.marker_inlet.add_listener(self._marker_writer.write)
        self.inlet.add_listener(lambda _n: loop.call_soon_threadsafe(self._new_data.set))
        tasks = [asyncio.create_task(self.inlet.run(), name="nfd-eeg-inlet")]
        if self.marker_inlet is not None:
            tasks.append(asyncio.create_task(self.marker_inlet.run(), name="nfd-eeg-markers"))
        tasks.append(asyncio.create_task(self._predict_loop(), name="nfd-eeg-predictions"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for writer in (self._writer, self._marker_writer):
                if writer is not None:
                    writer.close()

    async def _ensure_predictor(self) -> EegPredictor | None:
        if self.predictor is None:
            spec = self.inlet.stream_spec
            if spec is None:
                return None
            # the plan was built with the model; this only checks channels, rate, filters
            self.predictor = EegPredictor(
                self.model, None, spec, stale_after=self.stale_after, max_gap=self.max_gap
            )
            log.info(
                "eeg_model_matched", model=str(self.model.path), sha256=self.model.sha256,
                channels=list(self.model.spec.channels), fs=self.model.spec.fs,
            )
        return self.predictor

    async def _predict_loop(self) -> None:
        while True:
            if self.interval > 0:
                await asyncio.sleep(self.interval - (time.time() % self.interval))
            else:
                await self._new_data.wait()
                self._new_data.clear()
            await self.predict(trigger="interval")

    # -- predictions -------------------------------------------------------------------------
    async def predict(
        self, t: float | None = None, *, index: int | None = None, trigger: str = "interval"
    ) -> Prediction | None:
        """Predict for time ``t`` (default now) in a worker thread; record it; return it (or None).

        Raises
        ------
        ModelMismatchError
            The stream does not fit the model (first call after the stream is found).
        """
        t_asked = time.time()
        t_req = t_asked if t is None else float(t)
        predictor = await self._ensure_predictor()
        buffer = self.inlet.buffer
        async with self._lock:
            if predictor is None or buffer is None:
                prediction, status = None, "waiting"
            else:
                prediction = await asyncio.to_thread(predictor.predict, buffer, t_req)
                status = predictor.status
        self._account(prediction, status, trigger, t_asked)
        if self._writer is not None:
            self._writer.write(prediction, t=t_req, status=status, index=index, trigger=trigger)
        return prediction

    async def predict_volume(self, index: int, t: float | None = None) -> Prediction | None:
        """The prediction for volume ``index`` (0-based acquisition index) at time ``t`` (default now)."""
        return await self.predict(t, index=index, trigger="volume")

    def _account(self, prediction: Prediction | None, status: str, trigger: str, t_asked: float) -> None:
        """Count the status (in all and per kind), keep the latest prediction and its timing per kind."""
        kind = _KINDS.get(trigger, "periodic")
        self.status = status
        self.counts[status] = self.counts.get(status, 0) + 1
        per_kind = self._kind_counts[kind]
        per_kind[status] = per_kind.get(status, 0) + 1
        if kind == "periodic":
            self._periodic_status = status
        if prediction is not None:
            if self.latest is None or prediction.t >= self.latest.t:
                self.latest = prediction
            self._compute_ms.append(prediction.compute_ms)
            self._latency_ms[kind].append(prediction.latency_ms)
            if kind == "volume":
                self._latency_ms["volume_after_request"].append((prediction.t_available - t_asked) * 1e3)
            del self._compute_ms[:-10_000]
            for kept in self._latency_ms.values():
                del kept[:-10_000]
        self._track_loss(time.time())

    # -- the stream's state ----------------------------------------------------------------
    def _state_now(self, now: float) -> tuple[str, str | None]:
        """The stream's state and, when lost, why (see the module docstring)."""
        buffer = self.inlet.buffer
        if self.predictor is None or buffer is None:
            return "waiting", None
        if not self.inlet.connected:
            return "lost", "reconnecting"
        last = buffer.last_time
        if last is None:
            return "filling", None
        if now - last > self.stale_after:
            return "lost", "stale"
        status = self._periodic_status or self.status
        if status == "filling" or (status == "waiting" and self.latest is None):
            return "filling", None
        if status == "gap":
            return "lost", "refilling"
        if status == "stale":
            return "lost", "stale"
        return "streaming", None

    def _track_loss(self, now: float) -> tuple[str, str | None]:
        """The state now, remembering when the stream was lost (its newest sample then; now without one)."""
        state, reason = self._state_now(now)
        if state != "lost":
            self._lost_since = None
        elif self._lost_since is None:
            buffer = self.inlet.buffer
            last = None if buffer is None else buffer.last_time
            self._lost_since = now if last is None else min(last, now)
        return state, reason

    def stream_status(self) -> dict[str, Any]:
        """How the stream stands now, for the operator's window (call it on the event loop).

        Returns
        -------
        dict
            ``state``: ``waiting`` (no stream found yet), ``filling`` (the
            first window), ``streaming`` or ``lost``; ``reason`` when lost:
            ``reconnecting`` (the inlet looks for the stream again),
            ``stale`` (no sample for ``stale_after`` s) or ``refilling``
            (the stream is back, the window still spans the missing EEG);
            ``lost_since`` (s since the epoch: the newest sample when the
            loss was noticed) and ``lost_s`` (s) while lost, else None;
            ``window_s`` (the model's window, s); ``connected`` (bool).
        """
        now = time.time()
        state, reason = self._track_loss(now)
        since = self._lost_since
        return {
            "state": state, "reason": reason, "lost_since": since,
            "lost_s": None if since is None else now - since, "window_s": self.window_s,
            "connected": self.inlet.connected,
        }

    def summary(self) -> dict[str, Any]:
        """Counts and timing for ``summary.json``: inlet statistics, prediction statuses, compute and latency.

        The latencies are split by kind: ``latency_ms_periodic_*`` (periodic
        predictions, from the newest sample used), ``latency_ms_volume_*``
        (per-volume predictions, from the volume's acquisition start, one TR
        before its file is complete: about one TR more, by design) and
        ``latency_ms_volume_after_request_*`` (from the daemon asking at the
        volume to the prediction being ready); ``latency_from`` says so.
        ``predictions`` counts statuses over both kinds,
        ``predictions_periodic`` and ``predictions_volume`` per kind.
        ``latency_ms_median`` and ``latency_ms_p99`` repeat the periodic
        figures (for readers of older summaries).
        """

        def pct(values: list[float], q: float) -> float | None:
            return float(np.percentile(np.asarray(values), q)) if values else None

        out: dict[str, Any] = {
            "model": str(self.model.path), "model_sha256": self.model.sha256,
            "targets": list(self.model.target_names),
            "inlet": self.inlet.stats(),
            "markers": None if self.marker_inlet is None else self.marker_inlet.count,
            "predictions": dict(self.counts),
            **{f"predictions_{kind}": dict(counts) for kind, counts in self._kind_counts.items()},
            "compute_ms_median": pct(self._compute_ms, 50), "compute_ms_p99": pct(self._compute_ms, 99),
        }
        for kind, values in self._latency_ms.items():
            out[f"latency_ms_{kind}_median"], out[f"latency_ms_{kind}_p99"] = pct(values, 50), pct(values, 99)
        out["latency_ms_median"] = out["latency_ms_periodic_median"]
        out["latency_ms_p99"] = out["latency_ms_periodic_p99"]
        out["latency_from"] = dict(LATENCY_FROM)
        return out
