"""Multivariate decoding feedback: a scikit-learn model, loaded only when its sha256 matches."""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import joblib
import nibabel as nib
import numpy as np
import structlog

from nfd._files import file_sha256 as _file_sha256
from nfd.design import Design
from nfd.feedback._computer import FeedbackComputer, check_signal
from nfd.feedback._errors import FeedbackError
from nfd.feedback._opennft import svm_logistic
from nfd.timeseries import ChainStep, RoiSet

__all__ = [
    "DECODER_INPUTS",
    "DECODER_OUTPUTS",
    "DecoderError",
    "DecoderFeedback",
    "file_sha256",
    "load_decoder",
    "load_weight_map",
    "project_voxels",
]

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
    file = Path(path)
    content, actual = _read_checked(
        file, sha256, "decoder model", "refusing to load it (a joblib file is a pickle and runs code when loaded)"
    )
    try:
        model = joblib.load(io.BytesIO(content))
    except Exception as exc:  # unpickling can raise anything; report it as a bad model file
        raise DecoderError(f"cannot load decoder model {file} with joblib: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(model, "predict", None)):
        raise DecoderError(f"decoder model {file} holds a {type(model).__name__}, which has no predict() method")
    log.info("decoder_loaded", path=str(file), sha256=actual, model=type(model).__name__)
    return model


def _read_checked(file: Path, sha256: str, what: str, refusal: str) -> tuple[bytes, str]:
    """The bytes of `file` and their sha256, read once; :class:`DecoderError` unless the sha256 is `sha256`."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256.strip()):
        label = "decoder" if what == "decoder model" else what
        raise DecoderError(
            f"{label} sha256 must be 64 hexadecimal digits (the output of sha256sum {file.name}), got {sha256!r}"
        )
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise DecoderError(f"cannot read {what} {file}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256.strip().lower():
        raise DecoderError(
            f"{what} {file} has sha256 {actual}, but the configuration expects {sha256.strip().lower()}; {refusal}"
        )
    return content, actual


def load_weight_map(path: str | PathLike[str], sha256: str) -> tuple[np.ndarray, np.ndarray]:
    """Load a decoder weight map (NIfTI, e.g. OpenNFT's SVM weights) after checking its sha256.

    The file is read once; its sha256 is compared with `sha256` and only
    those same bytes are parsed (``.nii`` or gzipped ``.nii.gz``, NIfTI-1
    or NIfTI-2), as :func:`load_decoder` does for a model.

    Parameters
    ----------
    path : path
        The NIfTI file: one weight per voxel (unitless), on the ROI masks'
        grid; a 4-D file must have one volume.
    sha256 : str
        Its expected sha256, 64 hexadecimal digits.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The weights, float64 of shape (i, j, k), and the voxel -> mm affine.

    Raises
    ------
    DecoderError
        If `sha256` is malformed, the file cannot be read, its sha256
        differs, it is not NIfTI, or not one 3-D volume.
    """
    file = Path(path)
    content, actual = _read_checked(file, sha256, "decoder weight map", "refusing to use it")
    data = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
    image: Any = None
    for cls in (nib.Nifti1Image, nib.Nifti2Image):
        try:
            image = cls.from_bytes(data)
            break
        except Exception:  # noqa: BLE001 - not this format; the next one is tried, then a DecoderError
            continue
    if image is None:
        raise DecoderError(f"decoder weight map {file} is not a NIfTI-1 or NIfTI-2 image")
    weights = np.asarray(image.dataobj, dtype=np.float64)
    if weights.ndim == 4 and weights.shape[3] == 1:
        weights = weights[..., 0]
    if weights.ndim != 3:
        raise DecoderError(f"decoder weight map {file} must be one 3-D volume, got shape {weights.shape}")
    log.info("decoder_weights_loaded", path=str(file), sha256=actual, shape=list(weights.shape))
    return weights, np.asarray(image.affine, dtype=np.float64)


def project_voxels(voxels: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per ROI, the dot product of its voxels with its weights (OpenNFT's SVM raw value).

    ``raw_r = sum(v_r * w_r)``: no bias, no normalisation
    (``opennft/matlab/nfbPreprSig/preprSig.m``, "Get Raw time-series",
    SVM). Units: the voxels' unit times the weights'.

    Raises
    ------
    DecoderError
        If an ROI's voxels are missing or not as many as its weights.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.feedback import project_voxels
    >>> project_voxels({"a": np.array([1.0, 2.0])}, {"a": np.array([0.5, -1.0])})
    {'a': -1.5}
    """
    out = {}
    for name, w in weights.items():
        if name not in voxels:
            raise DecoderError(f"no voxels for ROI {name!r}; the weight map is projected on {list(weights)}")
        v = np.asarray(voxels[name], dtype=np.float64).ravel()
        if v.size != w.size:
            raise DecoderError(f"ROI {name!r} has {v.size} voxels but {w.size} weights")
        out[name] = float(np.dot(v, w))
    return out


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

    **A weight map instead** (`weights`, OpenNFT's SVM feedback,
    ``opennft/matlab/nfbPreprSig/preprSig.m`` and ``nfbCalc.m``,
    "continuous SVM NF"): each ROI's raw value is the projection of its
    voxels on the map, ``dot(voxels, weights)`` (:meth:`raw_values`, which
    the caller feeds to the ROI's signal chain *instead of the ROI mean*,
    after :meth:`bind_rois`). Each volume, per ROI, the chain's `signal`
    ("scaled" by default, as OpenNFT) is appended to a stored series, the
    series is z-scored (sd with n - 1; a zero sd divides by 1) and its last
    entry replaced by the logistic ``1 / (1 + exp(-z))``; later z-scores
    run over those logistic outputs (OpenNFT's quirk, kept). The measure is
    the mean of the ROIs' logistic values in a regulation volume, 0.0 in a
    baseline volume, None for a skipped one; OpenNFT shows it rounded,
    not clipped (:func:`nfd.feedback.scale_feedback` with ``lo = hi =
    None``). The map is read once and hashed like a model
    (:func:`load_weight_map`).

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names, in the order the model's features were built.
    model_path : path, optional
        The joblib file; exactly one of `model_path` and `weights`.
    sha256 : str
        The expected sha256 of the model or weight map file.
    input : {"means", "voxels"}
        What the model is fed (a model only).
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}, optional
        The chain series fed to a model with ``input="means"`` (default
        "raw"), or the series OpenNFT's SVM rule reads with `weights`
        (default "scaled").
    output : {"auto", "decision", "probability", "prediction"}
        Which output is the measure.
    positive_class : optional
        The class whose decision value or probability is the measure
        (classifiers; default the last of ``classes_``).
    weights : path, optional
        A NIfTI weight map on the ROI masks' grid (unitless weights), e.g.
        OpenNFT's ``WeightsFileName``.

    Raises
    ------
    DecoderError
        If the model or weight map cannot be loaded (see :func:`load_decoder`,
        :func:`load_weight_map`), the model lacks the requested output, or
        `positive_class` is not one of its classes.
    FeedbackError
        If both or neither of `model_path` and `weights` are given, or a
        model-only option (`input`, `output`, `positive_class`) is set with
        `weights`.
    """

    kind = "decoder"

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        model_path: str | PathLike[str] | None = None,
        sha256: str,
        input: str = "means",
        signal: str | None = None,
        output: str = "auto",
        positive_class: Any = None,
        weights: str | PathLike[str] | None = None,
    ) -> None:
        super().__init__(design, rois)
        if input not in DECODER_INPUTS:
            raise FeedbackError(f"decoder input must be one of {list(DECODER_INPUTS)}, got {input!r}")
        if output not in DECODER_OUTPUTS:
            raise FeedbackError(f"decoder output must be one of {list(DECODER_OUTPUTS)}, got {output!r}")
        has_model, has_weights = model_path not in (None, ""), weights not in (None, "")
        if has_model == has_weights:
            raise FeedbackError(
                "decoder feedback needs exactly one of model_path (a joblib model) and weights (a NIfTI weight map)"
            )
        self._input = input
        self.needs_voxels = input == "voxels" and has_model
        self._values: list[float] = []
        self._regulation: list[bool] = []
        self._model: Any = None
        self._weights: np.ndarray | None = None
        self._roi_weights: dict[str, np.ndarray] | None = None
        self._history: dict[str, np.ndarray] = {}
        if has_weights:
            if input != "means" or output != "auto" or positive_class is not None:
                raise FeedbackError("decoder options input, output and positive_class apply to a model, not to weights")
            self._signal = check_signal("scaled" if signal is None else signal)
            self._path = Path(weights)  # type: ignore[arg-type]
            self._weights, self._weights_affine = load_weight_map(self._path, sha256)
            self.projects_voxels = True
            self._output = "svm_logistic"
            self._history = {n: np.empty(0) for n in self._rois}
            return
        self._signal = check_signal("raw" if signal is None else signal)
        self._path = Path(model_path)  # type: ignore[arg-type]
        self._model = load_decoder(self._path, sha256)
        self._output = self._choose_output(output)
        self._column = self._class_column(positive_class)
        self._n_features = getattr(self._model, "n_features_in_", None)

    def bind_rois(self, rois: RoiSet) -> None:
        """Take the weights at every ROI's voxels (weight-map mode), in :meth:`RoiSet.voxels` order.

        Call once, when the ROI masks are known, before :meth:`raw_values`.

        Raises
        ------
        DecoderError
            If this decoder has no weight map, the map is on another grid
            (shape, or an affine more than 1e-3 mm apart), an ROI is not in
            `rois`, or a weight inside an ROI is not finite.
        """
        if self._weights is None:
            raise DecoderError("bind_rois is for a decoder with a weight map (weights); this one has a model")
        if tuple(rois.shape) != self._weights.shape:
            raise DecoderError(
                f"decoder weight map {self._path} has shape {self._weights.shape}, the ROIs {tuple(rois.shape)}"
            )
        if rois.affine is not None and not np.allclose(rois.affine, self._weights_affine, atol=1e-3):
            raise DecoderError(f"decoder weight map {self._path} is not on the ROI masks' grid (the affines differ)")
        missing = [n for n in self._rois if n not in rois.names]
        if missing:
            raise DecoderError(f"the decoder's ROIs {missing} are not in the ROI set {list(rois.names)}")
        chosen = {n: rois.voxels(self._weights, n) for n in self._rois}
        bad = [n for n, w in chosen.items() if not np.all(np.isfinite(w))]
        if bad:
            raise DecoderError(f"decoder weight map {self._path} has non-finite weights inside ROI(s) {bad}")
        self._roi_weights = chosen

    def raw_values(self, voxels: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Every ROI's raw value for its signal chain: ``dot(voxels, weights)`` (:func:`project_voxels`).

        Parameters
        ----------
        voxels : mapping of str to numpy.ndarray
            ROI name -> this volume's voxel values (:meth:`RoiSet.voxels`
            order), signal units.

        Raises
        ------
        DecoderError
            Before :meth:`bind_rois`, or with missing or miscounted voxels.
        """
        if self._roi_weights is None:
            raise DecoderError("raw_values needs the weights at the ROIs: call bind_rois(rois) first")
        return project_voxels(voxels, self._roi_weights)

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

    def _svm_update(self, index: int, steps: Mapping[str, ChainStep]) -> float | None:
        """OpenNFT's SVM rule at `index` (weight-map mode): the logistic of the z-scored stored series."""
        if index < self._design.skip_volumes:
            return None
        per_roi: dict[str, float] = {}
        for name, value in self._signal_values(steps, self._signal).items():
            if math.isnan(value):
                per_roi[name] = math.nan
                continue
            self._history[name], per_roi[name] = svm_logistic(self._history[name], value)
        regulation = not self._design.is_baseline(index)
        value = float(np.mean(list(per_roi.values()))) if regulation else 0.0
        self._detail = {"output": self._output, "roi": per_roi, "value": value}
        if not math.isfinite(value):
            return None
        self._values.append(value)
        self._regulation.append(regulation)
        return value

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        if self._weights is not None:
            return self._svm_update(index, steps)
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
            model=None if self._model is None else str(self._path),
            weights=None if self._weights is None else str(self._path),
            model_type=None if self._model is None else type(self._model).__name__,
            input=self._input,
            output=self._output,
            mean_regulation=float(values[regulation].mean()) if regulation.any() else None,
            mean_baseline=float(values[~regulation].mean()) if (~regulation).any() else None,
        )
        return out
