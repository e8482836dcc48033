"""EEG in the same loop: LSL acquisition, the Stockwell transform, and fMRI prediction from EEG.

This subpackage owns:

- acquisition: :class:`EegInlet` (an LSL stream pulled by a thread into a
  preallocated :class:`RingBuffer`, time stamps dejittered and put on
  ``time.time()``'s clock, lost streams looked for again, gaps and dropped
  samples counted), :class:`MarkerInlet` (a marker stream, recorded), and
  the streaming :class:`Preprocessor` (anti-alias and decimation, notch,
  band-pass, with carried filter state), optionally after online MR
  artifact removal (:class:`ArtifactSpec`, :class:`ArtifactRemover`:
  gradient artifacts by average artifact subtraction on the scanner's
  triggers, Allen et al. 2000; the ballistocardiogram on ECG R peaks found
  by :class:`RPeakDetector`, Pan & Tompkins 1985);
- the Stockwell transform: :func:`stockwell_transform` (the definition,
  frequency axis in Hz) and :class:`BandPower` (band-averaged power of
  mirrored windows at a fixed rate, evaluated exactly but only where
  needed, with a Cython folding kernel);
- the EEG fingerprint (Meir-Hasson et al. 2014): :class:`FeatureSpec`
  (log band power per channel, band and delay, or per channel and band
  convolved with a haemodynamic response, :class:`HrfKernel`: SPM's
  canonical one or a subject's from an HRF TSV; the power instantaneous
  or averaged Stockwell, or Welch or multitaper over the span ending at
  each delay, :class:`SpanPower`), model files
  (:class:`EegModel`, :func:`load_model`, pinned by SHA-256),
  :class:`EegPredictor` (``predict(buffer, t) -> Prediction | None``),
  training (:func:`fit_model` on one recording, :func:`fit_runs` on several
  :class:`FitRun`; features and targets detrended and scaled alike on the
  training part, leave-one-run-out, several targets in one model, any
  scikit-learn regressor; ``nfd eeg fit`` is :func:`fit_main`);
- the run folder's ``eeg_predictions.tsv`` and ``eeg_markers.tsv``
  (:class:`PredictionWriter`, :class:`MarkerWriter`) and
  :class:`EegSession`, which runs all of it as one task of the daemon;
- recordings: :func:`read_recording` (BrainVision, EDF/BDF, EEGLAB, FIF via
  MNE; XDF via pyxdf; optional ``eeg`` extra) and :class:`EegPlayer`
  (``nfd simulate-eeg`` is :func:`player_main`).

Errors derive from :class:`EegError`.
"""

from __future__ import annotations

from nfd.eeg._artifacts import ArtifactRemover, ArtifactSpec, GradientRemover
from nfd.eeg._bandpower import BandPower, band_rows
from nfd.eeg._bcg import BcgRemover, RPeakDetector
from nfd.eeg._clock import Dejitter, WallClock
from nfd.eeg._errors import (
    EegConfigError,
    EegDependencyError,
    EegError,
    EegRecordingError,
    FitError,
    ModelError,
    ModelFormatError,
    ModelHashError,
    ModelMismatchError,
    StreamNotFoundError,
)
from nfd.eeg._features import (
    DEFAULT_BANDS,
    POWER_METHODS,
    FeatureSpec,
    HrfKernel,
    feature_matrix,
    window_end_indices,
)
from nfd.eeg._fit import (
    FitResult,
    FitRun,
    fit_main,
    fit_model,
    fit_runs,
    read_target,
    read_targets,
    volume_times_from_onsets,
    volume_times_from_triggers,
)
from nfd.eeg._inlet import EegInlet
from nfd.eeg._lsl import StreamDescription, stream_query
from nfd.eeg._markers import Marker, MarkerInlet
from nfd.eeg._model import EegModel, StreamSpec, file_sha256, load_model
from nfd.eeg._player import EegPlayer, player_main
from nfd.eeg._predictor import EegPredictor, Prediction, PredictionStatus
from nfd.eeg._preprocess import Preprocessor, PreprocessSpec, preprocess_recording
from nfd.eeg._recording import RecordedMarker, Recording, read_recording
from nfd.eeg._ring import BufferView, RingBuffer, Window
from nfd.eeg._session import EegSession, prediction_values
from nfd.eeg._spectra import SpanPower, span_ends
from nfd.eeg._stockwell import StockwellTransform, stockwell_frequencies, stockwell_transform
from nfd.eeg._tables import MarkerWriter, PredictionWriter

__all__ = [
    "BandPower",
    "BcgRemover",
    "BufferView",
    "DEFAULT_BANDS",
    "ArtifactRemover",
    "ArtifactSpec",
    "Dejitter",
    "EegConfigError",
    "EegDependencyError",
    "EegError",
    "EegInlet",
    "EegModel",
    "EegPlayer",
    "EegPredictor",
    "EegRecordingError",
    "EegSession",
    "FeatureSpec",
    "FitError",
    "FitResult",
    "GradientRemover",
    "FitRun",
    "HrfKernel",
    "Marker",
    "MarkerInlet",
    "MarkerWriter",
    "ModelError",
    "ModelFormatError",
    "ModelHashError",
    "ModelMismatchError",
    "POWER_METHODS",
    "Prediction",
    "PredictionStatus",
    "PredictionWriter",
    "PreprocessSpec",
    "RPeakDetector",
    "Preprocessor",
    "RecordedMarker",
    "Recording",
    "RingBuffer",
    "SpanPower",
    "StockwellTransform",
    "StreamDescription",
    "StreamNotFoundError",
    "StreamSpec",
    "WallClock",
    "Window",
    "band_rows",
    "feature_matrix",
    "file_sha256",
    "fit_main",
    "fit_model",
    "fit_runs",
    "load_model",
    "player_main",
    "prediction_values",
    "preprocess_recording",
    "read_recording",
    "read_target",
    "read_targets",
    "span_ends",
    "stockwell_frequencies",
    "stockwell_transform",
    "stream_query",
    "volume_times_from_onsets",
    "volume_times_from_triggers",
    "window_end_indices",
]
