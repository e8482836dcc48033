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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from nfd._checks import check_bool, ensure_float
from nfd.eeg._errors import EegConfigError
from nfd.eeg._inlet import EegInlet
from nfd.eeg._markers import MarkerInlet
from nfd.eeg._model import EegModel
from nfd.eeg._predictor import EegPredictor, Prediction
from nfd.eeg._tables import MarkerWriter, PredictionWriter

__all__ = ["EegSession"]

log = structlog.get_logger(__name__)

PREDICTIONS_FILE = "eeg_predictions.tsv"
MARKERS_FILE = "eeg_markers.tsv"


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
        ``waiting`` (no stream yet), or the predictor's status.
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
        self.counts: dict[str, int] = {"ok": 0, "filling": 0, "gap": 0, "stale": 0, "waiting": 0}
        self._writer: PredictionWriter | None = None
        self._marker_writer: MarkerWriter | None = None
        self._lock = asyncio.Lock()
        self._new_data = asyncio.Event()
        self._compute_ms: list[float] = []
        self._latency_ms: list[float] = []

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
            self._writer = PredictionWriter(self.run_folder / PREDICTIONS_FILE)
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
        t_req = time.time() if t is None else float(t)
        predictor = await self._ensure_predictor()
        buffer = self.inlet.buffer
        async with self._lock:
            if predictor is None or buffer is None:
                prediction, status = None, "waiting"
            else:
                prediction = await asyncio.to_thread(predictor.predict, buffer, t_req)
                status = predictor.status
        self.status = status
        self.counts[status] = self.counts.get(status, 0) + 1
        if prediction is not None:
            if self.latest is None or prediction.t >= self.latest.t:
                self.latest = prediction
            self._compute_ms.append(prediction.compute_ms)
            self._latency_ms.append(prediction.latency_ms)
            del self._compute_ms[:-10_000], self._latency_ms[:-10_000]
        if self._writer is not None:
            self._writer.write(prediction, t=t_req, status=status, index=index, trigger=trigger)
        return prediction

    async def predict_volume(self, index: int, t: float | None = None) -> Prediction | None:
        """The prediction for volume ``index`` (0-based acquisition index) at time ``t`` (default now)."""
        return await self.predict(t, index=index, trigger="volume")

    def summary(self) -> dict[str, Any]:
        """Counts and timing for ``summary.json``: inlet statistics, prediction statuses, compute and latency."""
        compute = np.asarray(self._compute_ms)
        latency = np.asarray(self._latency_ms)

        def pct(a: np.ndarray, q: float) -> float | None:
            return float(np.percentile(a, q)) if a.size else None

        return {
            "model": str(self.model.path), "model_sha256": self.model.sha256,
            "inlet": self.inlet.stats(),
            "markers": None if self.marker_inlet is None else self.marker_inlet.count,
            "predictions": dict(self.counts),
            "compute_ms_median": pct(compute, 50), "compute_ms_p99": pct(compute, 99),
            "latency_ms_median": pct(latency, 50), "latency_ms_p99": pct(latency, 99),
        }
