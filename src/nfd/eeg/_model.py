"""EEG-fingerprint model files: a scikit-learn regressor with its metadata, pinned by SHA-256.

A model file is a joblib pickle of a dict::

    {"format": "nfd-eeg-model", "format_version": 1,
     "estimator": <any fitted scikit-learn regressor>,
     "feature_mean": ndarray, "feature_std": ndarray,     # z-scoring of the features
     "metadata": {...}}                                     # JSON-friendly, see below

``metadata`` holds ``features`` (:meth:`FeatureSpec.as_dict`: channels,
rate fs in Hz, window in s, bands in Hz, rate in Hz, delays in s, gamma;
and for a model fitted with an HRF, ``hrf``: its weights on the delays'
grid, rate in Hz, source ("canonical" or the file's path), column and the
file's SHA-256 -- absent in models without one, which load as before),
``preprocess`` (output rate, band-pass and notch in Hz), ``source_rate``
(Hz of the training recording), ``target`` (``names``: the targets' columns,
one or several; ``detrend``; ``mean`` and ``std``: one number per target, in
the target's units: predictions are ``mean + std * estimator(z)`` per
target; a single-target model also keeps ``name`` and scalar ``mean`` and
``std``, as model files before several targets, which load as one target
named by their ``name``), ``training`` (files, volumes, penalty, held-out
metrics), ``nfd_version``, ``sklearn_version`` and ``created``.

Unpickling runs code, so :func:`load_model` checks the file's SHA-256
against the one the configuration pins *before* loading it, and refuses a
mismatch (:class:`ModelHashError`).  A loaded model is then checked against
the live stream (:meth:`EegModel.check_stream`): its channels must be in the
stream and the preprocessed rate and filters must be the model's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import structlog

from nfd._files import file_sha256
from nfd._version import __version__
from nfd.eeg._errors import EegConfigError, ModelFormatError, ModelHashError, ModelMismatchError
from nfd.eeg._features import FeatureSpec
from nfd.eeg._preprocess import PreprocessSpec

__all__ = ["EegModel", "StreamSpec", "file_sha256", "load_model"]

log = structlog.get_logger(__name__)

MODEL_FORMAT = "nfd-eeg-model"
MODEL_FORMAT_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StreamSpec:
    """What a predictor needs to know of the live stream: its channels and how it is preprocessed.

    Attributes
    ----------
    channel_names : tuple of str
        The stream's channels, in order.
    fs : float
        Sampling rate of the buffered (preprocessed) samples, Hz.
    preprocess : PreprocessSpec
        The preprocessing applied before buffering.
    source_rate : float
        The stream's nominal rate, Hz.
    """

    channel_names: tuple[str, ...]
    fs: float
    preprocess: PreprocessSpec
    source_rate: float


class EegModel:
    """A loaded EEG-fingerprint model: estimator, feature z-scoring, target scaling and metadata.

    Build one with :meth:`create` (training) or :func:`load_model`.

    Attributes
    ----------
    estimator : sklearn regressor
        Fitted on z-scored features, predicting the z-scored target.
    spec : FeatureSpec
    preprocess : PreprocessSpec
    metadata : dict
    target_names : tuple of str
        The targets predicted, in order (one or several ROIs or parcels).
    target_mean, target_std : ndarray
        ``(n_targets,)`` scaling of the targets, in their units.
    sha256 : str or None
        The file's hash once saved or loaded.
    path : Path or None
    """

    def __init__(
        self,
        estimator: Any,
        feature_mean: np.ndarray,
        feature_std: np.ndarray,
        metadata: Mapping[str, Any],
        *,
        sha256: str | None = None,
        path: Path | None = None,
    ) -> None:
        self.estimator = estimator
        self.feature_mean = np.asarray(feature_mean, dtype=np.float64)
        self.feature_std = np.asarray(feature_std, dtype=np.float64)
        self.metadata = dict(metadata)
        self.sha256 = sha256
        self.path = path
        try:
            self.spec = FeatureSpec.from_dict(self.metadata["features"])
            pre = self.metadata["preprocess"]
            self.preprocess = PreprocessSpec(
                fs=pre.get("fs"), bandpass=None if pre.get("bandpass") is None else tuple(pre["bandpass"]),
                notch=tuple(pre.get("notch", ())),
            )
            self.target_names, self.target_mean, self.target_std = _target_scaling(self.metadata["target"])
        except (KeyError, TypeError, ValueError, EegConfigError) as exc:
            raise ModelFormatError(f"model {path or ''}: metadata incomplete or invalid: {exc}") from None
        if self.feature_mean.shape != (self.spec.n_features,) or self.feature_std.shape != (self.spec.n_features,):
            raise ModelFormatError(
                f"model {path or ''}: normalisation has {self.feature_mean.shape} values "
                f"for {self.spec.n_features} features"
            )
        if not hasattr(estimator, "predict"):
            raise ModelFormatError(f"model {path or ''}: the estimator has no predict method")

    @classmethod
    def create(
        cls,
        estimator: Any,
        spec: FeatureSpec,
        preprocess: PreprocessSpec,
        *,
        feature_mean: np.ndarray,
        feature_std: np.ndarray,
        target: Mapping[str, Any],
        source_rate: float,
        training: Mapping[str, Any] | None = None,
    ) -> EegModel:
        """A model from its parts.

        ``target`` holds ``name`` (one target) or ``names`` (several), and
        ``mean`` and ``std`` in the targets' units (a number, or one per
        target), plus anything else to keep (``detrend``).  It is stored
        with ``names`` and per-target lists; a single target also keeps
        ``name`` and scalar ``mean`` and ``std`` (readable by older nfd).
        """
        from datetime import datetime, timezone

        import sklearn

        metadata = {
            "features": spec.as_dict(),
            "preprocess": preprocess.as_dict(),
            "source_rate": float(source_rate),
            "target": _target_metadata(target),
            "training": dict(training or {}),
            "n_features": spec.n_features,
            "estimator": type(estimator).__name__,
            "nfd_version": __version__,
            "sklearn_version": sklearn.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return cls(estimator, feature_mean, feature_std, metadata)

    @property
    def n_targets(self) -> int:
        """Number of targets predicted."""
        return len(self.target_names)

    def predict_rows(self, features: np.ndarray) -> np.ndarray:
        """Predictions ``(n, n_targets)`` in target units for feature rows ``(n, n_features)``."""
        z = (np.atleast_2d(np.asarray(features, dtype=np.float64)) - self.feature_mean) / self.feature_std
        y = np.asarray(self.estimator.predict(z), dtype=np.float64).reshape(z.shape[0], self.n_targets)
        return self.target_mean + self.target_std * y

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The prediction ``(n_targets,)`` in target units for one feature vector ``(n_features,)``.

        Examples
        --------
        >>> model.predict(model.spec.features(window))  # doctest: +SKIP
        array([101.3, 99.8])
        """
        row = np.asarray(features, dtype=np.float64).reshape(1, -1)
        return self.predict_rows(row)[0]

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Predictions for feature rows ``(n, n_features)``, in target units.

        Returns
        -------
        ndarray
            ``(n,)`` for a single-target model (as before several targets;
            one row: ``(1,)``), ``(n, n_targets)`` for several targets.
        """
        y = self.predict_rows(features)
        return y[:, 0] if self.n_targets == 1 else y

    def check_stream(self, stream: StreamSpec) -> np.ndarray:
        """Check the live stream fits the model; return the model's channels' indices in the stream.

        Raises
        ------
        ModelMismatchError
            A channel is missing, or the buffered rate or the filters differ
            from the model's.
        """
        where = self.path or "the model"
        missing = [c for c in self.spec.channels if c not in stream.channel_names]
        if missing:
            raise ModelMismatchError(
                f"{where} needs channels {missing} that the stream does not have (it has {list(stream.channel_names)})"
            )
        if not np.isclose(stream.fs, self.spec.fs, rtol=1e-9):
            raise ModelMismatchError(
                f"{where} was trained at {self.spec.fs} Hz but the stream is buffered at {stream.fs} Hz "
                f"({stream.source_rate} Hz, decimated to preprocess.fs={stream.preprocess.fs})"
            )
        mine, theirs = self.preprocess, stream.preprocess
        if mine.bandpass != theirs.bandpass or mine.notch != theirs.notch:
            raise ModelMismatchError(
                f"{where} was trained with band-pass {mine.bandpass} and notch {list(mine.notch)} Hz, "
                f"the stream is filtered with band-pass {theirs.bandpass} and notch {list(theirs.notch)} Hz"
            )
        return np.array([stream.channel_names.index(c) for c in self.spec.channels], dtype=np.intp)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the model file (and ``<path>.json``, its metadata and hash); returns the SHA-256."""
        p = Path(path)
        payload = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "estimator": self.estimator,
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "metadata": self.metadata,
        }
        tmp = p.with_name(f".{p.name}.tmp")
        joblib.dump(payload, tmp)
        os.replace(tmp, p)
        self.sha256 = file_sha256(p)
        self.path = p
        sidecar = {"model_file": p.name, "sha256": self.sha256, **self.metadata}
        p.with_name(p.name + ".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        return self.sha256


def _target_scaling(target: Mapping[str, Any]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The target names, means and standard deviations (target units) from a model's ``target`` metadata.

    Accepts ``names`` with one ``mean`` and ``std`` per name, or a single
    target's ``name`` with scalars (model files before several targets).

    Raises
    ------
    KeyError, TypeError, ValueError
        Missing keys; lengths that differ; a standard deviation that is not
        positive and finite.
    """
    names = tuple(str(n) for n in (target["names"] if "names" in target else [target["name"]]))
    mean = np.atleast_1d(np.asarray(target["mean"], dtype=np.float64))
    std = np.atleast_1d(np.asarray(target["std"], dtype=np.float64))
    if not names or mean.shape != (len(names),) or std.shape != (len(names),):
        raise ValueError(f"target has {len(names)} names, {mean.size} means and {std.size} standard deviations")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError("target mean and std must be finite, std > 0")
    return names, mean, std


def _target_metadata(target: Mapping[str, Any]) -> dict[str, Any]:
    """``target`` metadata with ``names`` and per-target lists (and, for one target, ``name`` and scalars)."""
    names, mean, std = _target_scaling(target)
    out = {k: v for k, v in target.items() if k not in ("name", "names", "mean", "std")}
    out.update(names=list(names), mean=[float(m) for m in mean], std=[float(v) for v in std])
    if len(names) == 1:
        out.update(name=names[0], mean=float(mean[0]), std=float(std[0]))
    return out


def load_model(path: str | os.PathLike[str], sha256: str) -> EegModel:
    """Load a model file after checking its SHA-256.

    Parameters
    ----------
    path : path
        The model file (``joblib``).
    sha256 : str
        The expected lower- or upper-case hex SHA-256 (64 digits), as pinned
        in the configuration.

    Raises
    ------
    EegConfigError
        ``sha256`` is not 64 hex digits.
    ModelHashError
        The file's hash differs (the file is not unpickled).
    ModelFormatError
        Missing file, or not an nfd EEG model.

    Examples
    --------
    >>> load_model("model.joblib", "0" * 64)  # doctest: +SKIP
    Traceback (most recent call last):
    nfd.eeg._errors.ModelHashError: model file model.joblib has SHA-256 3b1f..., but eeg.model_sha256 pins 0000...
    """
    expected = str(sha256).strip().lower()
    if not _SHA256.match(expected):
        raise EegConfigError(f"model sha256 must be 64 hexadecimal digits, got {sha256!r}")
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError(f"model file {p} does not exist")
    try:  # read once: the bytes hashed are the bytes unpickled (no swap of the file between the two)
        content = p.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"model file {p} cannot be read: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise ModelHashError(
            f"model file {p} has SHA-256 {actual}, but eeg.model_sha256 pins {expected}: refusing to load it "
            "(a different or modified file; pin the new hash only if you trust the file)"
        )
    try:
        payload = joblib.load(io.BytesIO(content))
    except Exception as exc:  # unpickling errors come in many types
        raise ModelFormatError(f"model file {p} cannot be loaded: {exc!r}") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFormatError(f"{p} is not an nfd EEG model file (no 'format': {MODEL_FORMAT!r})")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFormatError(
            f"{p}: model format version {payload.get('format_version')!r}; "
            f"this nfd reads version {MODEL_FORMAT_VERSION}"
        )
    try:
        model = EegModel(
            payload["estimator"], payload["feature_mean"], payload["feature_std"], payload["metadata"],
            sha256=actual, path=p,
        )
    except KeyError as exc:
        raise ModelFormatError(f"{p}: model file lacks {exc.args[0]!r}") from None
    import sklearn

    trained_with = model.metadata.get("sklearn_version")
    if trained_with != sklearn.__version__:
        log.warning(
            "eeg_model_sklearn_version", file=str(p), trained_with=trained_with, running=sklearn.__version__,
        )
    return model
