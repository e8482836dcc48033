"""Multivariate decoding feedback: a scikit-learn model, loaded only when its sha256 matches."""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import structlog

from nfd._files import file_sha256 as _file_sha256
from nfd.design import Design
from nfd.feedback._computer import FeedbackComputer, check_signal
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep

__all__ = ["DECODER_INPUTS", "DECODER_OUTPUTS", "DecoderError", "DecoderFeedback", "file_sha256", "load_decoder"]

#: What a decoder is fed each volume.
DECODER_INPUTS: tuple[str, ...] = ("means", "voxels")
#: Which output of the model is the feedback measure.
DECODER_OUTPUTS: tuple[str, ...] = ("auto", "decision", "probability", "prediction")

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")

log = structlog.get_logger(__name__)


class DecoderError(FeedbackError):
    """A decoder model file is missing, does not match its sha256, or is not a usable model."""


def file_sha256(path: str | PathLike[str]) -> str:
    """The sha256 of a file's content, lowercase hexadecimal.

    Raises
    ------
    DecoderError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nfd.feedback import file_sha256
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> file_sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    try:
        return _file_sha256(path)
    except OSError as exc:
        raise DecoderError(f"cannot read decoder model {path}: {exc}") from exc


def load_decoder(path: str | PathLike[str], sha256: str) -> Any:
    """Load a joblib-saved scikit-learn model after checking its sha256.

    A joblib file is a pickle: loading it runs code. The file is read once,
    its sha256 compared with the configured one, and only then are those
    same bytes unpickled (no window for the file to change in between).

    Parameters
    ----------
    path : path
        The ``.joblib`` file (e.g. a :class:`sklearn.pipeline.Pipeline` of
        a scaler and a classifier or regressor, saved with
        :func:`joblib.dump`).
    sha256 : str
        The expected sha256 of the file, 64 hexadecimal digits (``sha256sum
        model.joblib``).

    Returns
    -------
    object
        The model (it has ``predict``).

    Raises
    ------
    DecoderError
        If `sha256` is not 64 hexadecimal digits, the file cannot be read,
        its sha256 differs (the message gives both), it cannot be unpickled,
        or the object has no ``predict`` method.
    """
    if not isinstance(sha256, str) or not _SHA256.match(sha256.strip()):
        raise DecoderError(
            f"decoder sha256 must be 64 hexadecimal digits (the output of sha256sum {Path(path).name}), got {sha256!r}"
        )
    file = Path(path)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise DecoderError(f"cannot read decoder model {file}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256.strip().lower():
        raise DecoderError(
            f"decoder model {file} has sha256 {actual}, but the configuration expects {sha256.strip().lower()}; "
            "refusing to load it (a joblib file is a pickle and runs code when loaded)"
        )
    try:
        model = joblib.load(io.BytesIO(content))
    except Exception as exc:  # unpickling can raise anything; report it as a bad model file
        raise DecoderError(f"cannot load decoder model {file} with joblib: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(model, "predict", None)):
        raise DecoderError(f"decoder model {file} holds a {type(model).__name__}, which has no predict() method")
    log.info("decoder_loaded", path=str(file), sha256=actual, model=type(model).__name__)
    return model


class DecoderFeedback(FeedbackComputer):
    """Multivariate decoding feedback: a scikit-learn model's output every volume.

    Each volume, the model is fed one sample: the ROI voxels concatenated
    in ROI order (``input="voxels"``, the values the daemon passes) or one
    value per ROI (``input="means"``, the chosen chain series), and its
    output is the measure (e.g. deCharms et al., 2005; LaConte et al.,
    2007, Hum Brain Mapp 28:1033; Shibata et al., 2011, Science 334:1413):

    - ``decision``: ``decision_function`` (signed distance to the boundary;
      for several classes, the column of `positive_class`);
    - ``probability``: ``predict_proba`` of `positive_class` (default the
      last class);
    - ``prediction``: ``predict`` (a regressor's output, or a numeric class);
    - ``auto``: decision if the model has it, else probability, else
      prediction.

    The model (a pipeline with its scaler) is loaded only when the file's
    sha256 matches `sha256` (:func:`load_decoder`); loading is blocking
    file I/O, done at construction.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names, in the order the model's features were built.
    model_path : path
        The joblib file.
    sha256 : str
        Its expected sha256.
    input : {"means", "voxels"}
        What the model is fed.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series fed with ``input="means"``.
    output : {"auto", "decision", "probability", "prediction"}
        Which output is the measure.
    positive_class : optional
        The class whose decision value or probability is the measure
        (classifiers; default the last of ``classes_``).

    Raises
    ------
    DecoderError
        If the model cannot be loaded (see :func:`load_decoder`), lacks the
        requested output, or `positive_class` is not one of its classes.
    """

    kind = "decoder"

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        model_path: str | PathLike[str],
        sha256: str,
        input: str = "means",
        signal: str = "raw",
        output: str = "auto",
        positive_class: Any = None,
    ) -> None:
        super().__init__(design, rois)
        if input not in DECODER_INPUTS:
            raise FeedbackError(f"decoder input must be one of {list(DECODER_INPUTS)}, got {input!r}")
        if output not in DECODER_OUTPUTS:
            raise FeedbackError(f"decoder output must be one of {list(DECODER_OUTPUTS)}, got {output!r}")
        self._input = input
        self.needs_voxels = input == "voxels"
        self._signal = check_signal(signal)
        self._path = Path(model_path)
        self._model = load_decoder(self._path, sha256)
        self._output = self._choose_output(output)
        self._column = self._class_column(positive_class)
        self._n_features = getattr(self._model, "n_features_in_", None)
        self._values: list[float] = []
        self._regulation: list[bool] = []

    def _choose_output(self, output: str) -> str:
        has = {
            "decision": callable(getattr(self._model, "decision_function", None)),
            "probability": callable(getattr(self._model, "predict_proba", None)),
            "prediction": True,
        }
        if output == "auto":
            return next(name for name in ("decision", "probability", "prediction") if has[name])
        if not has[output]:
            raise DecoderError(f"decoder model {self._path} ({type(self._model).__name__}) has no {output} output")
        return output

    def _class_column(self, positive_class: Any) -> int | None:
        classes = getattr(self._model, "classes_", None)
        if self._output == "prediction" or classes is None:
            return None
        labels = list(np.asarray(classes).tolist())
        if positive_class is None:
            return len(labels) - 1
        if positive_class not in labels:
            raise DecoderError(
                f"positive_class {positive_class!r} is not a class of the model; its classes are {labels}"
            )
        return labels.index(positive_class)

    def _sample(self, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
        if self._input == "means":
            values = self._signal_values(steps, self._signal)
            sample = np.array([values[n] for n in self._rois], dtype=np.float64)
        else:
            if voxels is None:
                raise FeedbackError("decoder feedback with input='voxels' needs the ROI voxels of every volume")
            parts = []
            for name in self._rois:
                if name not in voxels:
                    raise FeedbackError(f"no voxels for ROI {name!r}; the decoder reads {list(self._rois)}")
                parts.append(np.asarray(voxels[name], dtype=np.float64).ravel())
            sample = np.concatenate(parts)
        if self._n_features is not None and sample.size != self._n_features:
            raise DecoderError(
                f"decoder model {self._path} expects {self._n_features} features, but {self._input} of the ROIs "
                f"{list(self._rois)} give {sample.size}"
            )
        return sample if np.all(np.isfinite(sample)) else None

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        sample = self._sample(steps, voxels)
        if index < self._design.skip_volumes or sample is None:
            return None
        x = sample[None, :]
        if self._output == "decision":
            raw = np.asarray(self._model.decision_function(x), dtype=np.float64)
            if raw.ndim == 1 or raw.shape[1] == 1:  # two classes: positive towards classes_[1]
                value = float(raw.ravel()[0]) * (-1.0 if self._column == 0 else 1.0)
            else:
                value = float(raw[0, self._column])
        elif self._output == "probability":
            value = float(np.asarray(self._model.predict_proba(x), dtype=np.float64)[0, self._column])
        else:
            value = float(np.asarray(self._model.predict(x), dtype=np.float64).ravel()[0])
        if not math.isfinite(value):
            return None
        self._detail = {"output": self._output, "value": value}
        self._values.append(value)
        self._regulation.append(not self._design.is_baseline(index))
        return value

    def summary(self) -> dict[str, Any]:
        """Adds the model file, the output used and the mean output over regulation and baseline volumes."""
        out = super().summary()
        values = np.asarray(self._values)
        regulation = np.asarray(self._regulation, dtype=bool)
        out.update(
            model=str(self._path),
            model_type=type(self._model).__name__,
            input=self._input,
            output=self._output,
            mean_regulation=float(values[regulation].mean()) if regulation.any() else None,
            mean_baseline=float(values[~regulation].mean()) if (~regulation).any() else None,
        )
        return out
