"""Live prediction of the fMRI signal from the EEG buffer with a loaded model.

:meth:`EegPredictor.predict` takes the window of the model's channels ending
at the newest sample at or before the requested time (strictly causal, as in
training), computes the features and applies the model.  It answers None
while there is no usable window, with :attr:`EegPredictor.status` saying why:

``filling``
    fewer samples than one window since the stream was first found;
``gap``
    the window spans missing EEG (the stream was lost, or samples dropped):
    predictions resume once a whole window has arrived after the gap;
``stale``
    the newest sample is older than ``stale_after`` seconds (EEG missing now).

It is blocking (about 5-10 ms for 32 channels, 12 s, 10 bands, 48 delays;
as much with the band power averaged over 2 s, with Welch's or with
multitaper power over 2 s spans; a 4 s multitaper span takes ~40 ms): call it
from a worker thread (``asyncio.to_thread``), never on the event loop.  One
predictor is meant for one thread at a time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nfd._checks import ensure_float
from nfd.eeg._errors import EegConfigError
from nfd.eeg._model import EegModel, StreamSpec, load_model
from nfd.eeg._ring import BufferView

__all__ = ["EegPredictor", "Prediction", "PredictionStatus"]

PredictionStatus = Literal["ok", "filling", "gap", "stale"]


@dataclass(frozen=True)
class Prediction:
    """One prediction of the modelled fMRI signal.

    Attributes
    ----------
    value : float
        The prediction, in the training target's units (e.g. the ROI's raw
        mean for nfd's ``timeseries.tsv``).
    t : float
        The time asked for, s since the epoch.
    t_window_end : float
        Time of the newest EEG sample used, s since the epoch (<= ``t``).
    window_end_index : int
        0-based count of that sample among all buffered samples.
    t_available : float
        When the prediction was ready, s since the epoch.
    compute_ms : float
        Time spent computing it, ms.
    values : dict of str to float
        Every target's prediction by name (:attr:`EegModel.target_names`);
        ``value`` is the first's. Empty when built without names.
    """

    value: float
    t: float
    t_window_end: float
    window_end_index: int
    t_available: float
    compute_ms: float
    values: dict[str, float] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float:
        """From the newest sample used to the prediction being ready, ms."""
        return (self.t_available - self.t_window_end) * 1e3

    def as_dict(self) -> dict[str, float | int | dict[str, float]]:
        """JSON-friendly form (the REST answer)."""
        return {
            "value": self.value, "t": self.t, "t_window_end": self.t_window_end,
            "window_end_index": self.window_end_index, "t_available": self.t_available,
            "compute_ms": self.compute_ms, "latency_ms": self.latency_ms, "values": dict(self.values),
        }


class EegPredictor:
    """Apply an EEG-fingerprint model to a live buffer.

    Parameters
    ----------
    model_path : path or EegModel
        The model file (its SHA-256 checked before loading), or a loaded model.
    sha256 : str or None
        The hash pinned in the configuration (required with a path).
    stream_info : StreamSpec
        The live stream's channels, buffered rate and preprocessing (e.g.
        :attr:`nfd.eeg.EegInlet.stream_spec`); checked against the model.
    stale_after : float
        The newest sample may be at most this old, s (default 1 s).
    max_gap : float
        A window may span at most this much more than its nominal length
        before it counts as crossing a gap, s (default 0.1 s).

    Raises
    ------
    ModelHashError, ModelFormatError
        See :func:`nfd.eeg.load_model`.
    ModelMismatchError
        The model does not fit the stream.

    Attributes
    ----------
    model : EegModel
    status : str
        Why the last :meth:`predict` returned None, or ``ok``.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | EegModel,
        sha256: str | None,
        stream_info: StreamSpec,
        *,
        stale_after: float = 1.0,
        max_gap: float = 0.1,
    ) -> None:
        if isinstance(model_path, EegModel):
            self.model = model_path
        else:
            if sha256 is None:
                raise EegConfigError("a model file is loaded only with its pinned sha256 (eeg.model_sha256)")
            self.model = load_model(model_path, sha256)
        self.stale_after = ensure_float(stale_after, "stale_after (s)", positive=True, error=EegConfigError)
        self.max_gap = ensure_float(max_gap, "max_gap (s)", positive=True, error=EegConfigError)
        self.stream = stream_info
        self.channels = self.model.check_stream(stream_info)
        spec = self.model.spec
        self._n = spec.n_samples
        self._max_span = (spec.n_samples - 1) / spec.fs + self.max_gap
        _ = spec.estimator  # build the Stockwell (or Welch, multitaper) plan now, not at the first prediction
        self.status: PredictionStatus = "filling"

    def predict(self, buffer_view: BufferView, t_now: float | None = None) -> Prediction | None:
        """Predict from the window ending at the newest sample at or before ``t_now``.

        Parameters
        ----------
        buffer_view : BufferView
            The live buffer (:attr:`nfd.eeg.EegInlet.buffer`).
        t_now : float, optional
            Time to predict at, s since the epoch (default: now).

        Returns
        -------
        Prediction or None
            None while no usable window exists (see :attr:`status`).
        """
        t_start = time.time()
        t = t_start if t_now is None else float(t_now)
        window = buffer_view.window(self._n, t_end=t, channels=self.channels)
        if window is None:
            self.status = "filling"
            return None
        if t - window.t_end > self.stale_after:
            self.status = "stale"
            return None
        if window.span > self._max_span:
            self.status = "gap"
            return None
        t0 = time.perf_counter()
        features = self.model.spec.features(window.data)
        predicted = self.model.predict(features)
        compute_ms = (time.perf_counter() - t0) * 1e3
        self.status = "ok"
        values = {name: float(v) for name, v in zip(self.model.target_names, predicted, strict=True)}
        return Prediction(
            value=float(predicted[0]), t=t, t_window_end=window.t_end, window_end_index=window.end_index,
            t_available=time.time(), compute_ms=compute_ms, values=values,
        )

    def predict_window(self, data: np.ndarray) -> float:
        """The model's (first target's) prediction for one window ``(n_channels, n_samples)`` of its channels."""
        return float(self.model.predict(self.model.spec.features(data))[0])
