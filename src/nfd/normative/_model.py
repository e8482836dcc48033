"""The normative autoencoder: an encoder-decoder MLP trained on healthy controls' FC features.

Boldisor, Udrea & Trascau (2025, "Normative Modeling of Functional Connectivity Alterations in Psychiatric
Disorders and Chronic Pain") train an MLP to reconstruct healthy controls' lower-triangle FC features through a
bottleneck (136 -> 68 -> 23 -> 68 -> 136 for 17 networks); a subject's deviation is how badly it reconstructs.
Here the MLP is scikit-learn's :class:`~sklearn.neural_network.MLPRegressor` fitted X -> X on features
standardised by the training controls' mean and SD (kept with the model), with early stopping on a validation
split. The saved model is arrays and JSON, never a pickle: ``model.npz`` (weights, biases, scaler) and
``model.json`` (edges, atlas, metric, strategy, training subjects, sizes, activation, versions and the npz's
SHA-256, checked on load). :func:`forward` is the forward pass in numpy alone, what the real-time
``normative`` kind calls per volume.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd._files import file_sha256, write_atomic
from nfd._version import __version__
from nfd.normative._errors import NormativeError

__all__ = [
    "ACTIVATIONS",
    "NormativeModel",
    "check_edges",
    "default_sizes",
    "fit_normative",
    "forward",
    "load_model",
    "save_model",
]

#: Hidden-layer activations the forward pass knows (scikit-learn's names).
ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


@dataclasses.dataclass(frozen=True)
class NormativeModel:
    """A fitted normative autoencoder.

    Attributes
    ----------
    coefs : tuple of ndarray
        Layer weights, ``coefs[k]`` of shape (units_k, units_k+1) (scikit-learn's ``coefs_``).
    intercepts : tuple of ndarray
        Layer biases, ``intercepts[k]`` of shape (units_k+1,).
    activation : str
        Hidden-layer activation (one of :data:`ACTIVATIONS`); the output layer is linear.
    mean, sd : ndarray, (n_edges,)
        The training controls' mean and SD per edge (feature units), the standardisation.
    edges : tuple of str
        The edge labels, in the feature order.
    training_subjects : tuple of str
        The controls the model was fitted on.
    meta : dict
        Atlas, metric, strategy (from the feature file), validation fraction, seed, epochs, loss curve, the
        ComBat flag and versions.
    """

    coefs: tuple[npt.NDArray[np.float64], ...]
    intercepts: tuple[npt.NDArray[np.float64], ...]
    activation: str
    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    edges: tuple[str, ...]
    training_subjects: tuple[str, ...]
    meta: dict[str, Any]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer, input to output (e.g. ``(136, 68, 23, 68, 136)``)."""
        return (self.coefs[0].shape[0], *(c.shape[1] for c in self.coefs))

    def standardise(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Features as z by the training controls' mean and SD (standardised units)."""
        return (np.asarray(features, dtype=np.float64) - self.mean) / self.sd

    def reconstruct(self, z: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The reconstruction of standardised features (:func:`forward` with this model's arrays)."""
        return forward(self.coefs, self.intercepts, self.activation, z)


def default_sizes(n_features: int) -> tuple[int, ...]:
    """Layer sizes following the feature count F: F -> F/2 -> F/6 -> F/2 -> F (rounded, at least 1).

    >>> default_sizes(136)
    (136, 68, 23, 68, 136)
    """
    half = max(1, round(n_features / 2))
    return (n_features, half, max(1, round(n_features / 6)), half, n_features)


def _hidden(x: npt.NDArray[np.float64], activation: str) -> npt.NDArray[np.float64]:
    if activation == "relu":
        return np.maximum(x, 0.0, out=x)
    if activation == "tanh":
        return np.tanh(x, out=x)
    if activation == "logistic":
        return np.divide(1.0, 1.0 + np.exp(-x), out=x)
    return x


def forward(
    coefs: Sequence[npt.NDArray[np.float64]],
    intercepts: Sequence[npt.NDArray[np.float64]],
    activation: str,
    x: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """The MLP's forward pass in numpy (equal to ``MLPRegressor.predict`` on the same arrays).

    Parameters
    ----------
    coefs, intercepts : sequence of ndarray
        Weights (units_k, units_k+1) and biases (units_k+1,) per layer.
    activation : str
        Hidden activation: ``relu``, ``tanh``, ``logistic`` or ``identity``; the last layer is linear.
    x : array_like, (n_features,) or (n_samples, n_features)
        Input in standardised units; a single vector gives a vector.

    Returns
    -------
    ndarray
        The output, the shape of ``x``'s batch with the last layer's units.
    """
    out = np.asarray(x, dtype=np.float64)
    last = len(coefs) - 1
    for k, (weights, bias) in enumerate(zip(coefs, intercepts, strict=True)):
        out = out @ weights
        out += bias
        if k < last:
            out = _hidden(out, activation)
    return out


def _regressor(sizes: Sequence[int], activation: str, validation: float, seed: int, max_iter: int) -> Any:
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=tuple(sizes[1:-1]), activation=activation, early_stopping=True,
        validation_fraction=validation, random_state=seed, max_iter=max_iter, n_iter_no_change=20,
    )  # fmt: skip


def _warm_regressor(init: NormativeModel, z: npt.NDArray[np.float64], validation: float, seed: int) -> Any:
    """An MLPRegressor whose weights are ``init``'s, ready for a ``warm_start`` fit.

    scikit-learn sets its fitted state (layer counts, output activation, early-stopping bookkeeping) in a
    first ``fit``; one epoch sets it, then the weights are replaced by copies of ``init``'s and the loss and
    validation histories cleared, so the next ``fit`` with ``warm_start=True`` continues from ``init``.
    """
    from sklearn.exceptions import ConvergenceWarning

    regressor = _regressor(init.sizes, init.activation, validation, seed, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor.fit(z, z)
    regressor.coefs_ = [c.copy() for c in init.coefs]
    regressor.intercepts_ = [b.copy() for b in init.intercepts]
    regressor.loss_curve_ = []
    regressor.validation_scores_ = []
    regressor.best_validation_score_ = -np.inf
    regressor.warm_start = True
    return regressor


def fit_normative(
    features: npt.ArrayLike,
    edges: Sequence[str],
    subjects: Sequence[str],
    *,
    sizes: Sequence[int] | None = None,
    activation: str = "relu",
    validation: float = 0.1,
    seed: int = 0,
    max_iter: int = 500,
    init: NormativeModel | None = None,
    meta: dict[str, Any] | None = None,
) -> NormativeModel:
    """Fit the autoencoder on healthy controls' features (X -> X, standardised, early stopping).

    Parameters
    ----------
    features : array_like, (n_controls, n_edges)
        The training controls' features (feature units, harmonised if wanted).
    edges, subjects : sequence of str
        Column and row labels.
    sizes : sequence of int, optional
        Units per layer, input to output; :func:`default_sizes` by default.
    activation : str
        Hidden activation (:data:`ACTIVATIONS`).
    validation : float
        Fraction of the controls held out for early stopping, in (0, 1).
    seed : int
        Random state (initial weights, validation split, shuffling).
    max_iter : int
        Most epochs.
    init : NormativeModel, optional
        Fine-tuning: continue from this model's weights and keep its standardisation (a new site's controls).
    meta : dict, optional
        Extra metadata kept with the model (atlas, metric, strategy, ...).

    Returns
    -------
    NormativeModel
    """
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(edges) or x.shape[0] != len(subjects):
        raise NormativeError(f"features {x.shape}, expected ({len(subjects)} subjects, {len(edges)} edges)")
    if activation not in ACTIVATIONS:
        raise NormativeError(f"activation {activation!r}, expected one of {', '.join(ACTIVATIONS)}")
    if not 0.0 < validation < 1.0 or round(validation * x.shape[0]) < 2:
        raise NormativeError(f"validation {validation} of {x.shape[0]} controls, expected a fraction giving >= 2")
    if init is not None:
        check_edges(init, edges)
        mean, sd = init.mean, init.sd
    else:
        mean, sd = x.mean(axis=0), x.std(axis=0, ddof=1)
        if np.any(sd <= 0):
            raise NormativeError(f"edge {edges[int(np.argmin(sd))]} is constant across the controls")
    z = (x - mean) / sd
    if init is not None:
        regressor = _warm_regressor(init, z, validation, seed)
        regressor.max_iter = max_iter
    else:
        layer_sizes = tuple(sizes) if sizes is not None else default_sizes(x.shape[1])
        if layer_sizes[0] != x.shape[1] or layer_sizes[-1] != x.shape[1]:
            raise NormativeError(f"sizes {layer_sizes}, expected first and last = {x.shape[1]} edges")
        regressor = _regressor(layer_sizes, activation, validation, seed, max_iter)
    # The matrices are small (a batch of 200 x F): one BLAS thread is faster, and much faster on a busy machine.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor.fit(z, z)
    info = dict(meta or {})
    info.update(
        validation=validation, seed=seed, epochs=int(regressor.n_iter_), loss_curve=list(regressor.loss_curve_),
        best_validation_r2=float(regressor.best_validation_score_), fine_tuned=init is not None,
    )  # fmt: skip
    return NormativeModel(
        coefs=tuple(np.asarray(c, dtype=np.float64) for c in regressor.coefs_),
        intercepts=tuple(np.asarray(b, dtype=np.float64) for b in regressor.intercepts_),
        activation=activation if init is None else init.activation,
        mean=np.asarray(mean, dtype=np.float64), sd=np.asarray(sd, dtype=np.float64),
        edges=tuple(edges), training_subjects=tuple(subjects), meta=info,
    )  # fmt: skip


def check_edges(model: NormativeModel, edges: Sequence[str]) -> None:
    """Refuse data whose edges differ from the model's.

    Raises
    ------
    NormativeError
        The first differing edge (or the counts) named.
    """
    for k, (mine, theirs) in enumerate(zip(model.edges, edges, strict=False)):
        if mine != theirs:
            raise NormativeError(
                f"edge {k} is {theirs!r} in the data but {mine!r} in the model, expected the same edges"
            )
    if len(edges) != len(model.edges):
        raise NormativeError(f"the data have {len(edges)} edges, the model {len(model.edges)}, expected the same edges")


def _versions() -> dict[str, str]:
    import sklearn

    return {"nfd": __version__, "sklearn": str(sklearn.__version__), "numpy": np.__version__}


def save_model(model: NormativeModel, folder: str | os.PathLike[str]) -> Path:
    """Write ``model.npz`` and ``model.json`` (metadata and the npz's SHA-256) in ``folder``; return the JSON's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[np.float64]] = {"mean": model.mean, "sd": model.sd}
    for k, (weights, bias) in enumerate(zip(model.coefs, model.intercepts, strict=True)):
        arrays[f"coef_{k}"], arrays[f"intercept_{k}"] = weights, bias
    np.savez(folder / "model.npz", **arrays)  # type: ignore[arg-type]
    meta = {
        "kind": "nfd.normative autoencoder",
        "edges": list(model.edges),
        "sizes": list(model.sizes),
        "activation": model.activation,
        "scaler": "z by the training controls' mean and SD (model.npz: mean, sd)",
        "training_subjects": list(model.training_subjects),
        "meta": model.meta,
        "versions": _versions(),
        "sha256": file_sha256(folder / "model.npz"),
    }
    path = folder / "model.json"
    write_atomic(path, (json.dumps(meta, indent=1) + "\n").encode())
    return path


def load_model(folder: str | os.PathLike[str], *, sha256: str | None = None) -> NormativeModel:
    """Read a model written by :func:`save_model`, checking ``model.npz`` against the SHA-256 in ``model.json``
    (and against `sha256` when the caller pins it too); the bytes hashed are the bytes loaded.

    Raises
    ------
    NormativeError
        A missing or unreadable file, or a hash mismatch (one line naming the file).
    """
    from nfd.normative._pinned import read_pinned

    meta, arrays = read_pinned(Path(folder), "model", "a model folder", sha256)
    n_layers = len(meta["sizes"]) - 1
    coefs = tuple(np.asarray(arrays[f"coef_{k}"], dtype=np.float64) for k in range(n_layers))
    intercepts = tuple(np.asarray(arrays[f"intercept_{k}"], dtype=np.float64) for k in range(n_layers))
    mean, sd = np.asarray(arrays["mean"], dtype=np.float64), np.asarray(arrays["sd"], dtype=np.float64)
    return NormativeModel(
        coefs=coefs, intercepts=intercepts, activation=str(meta["activation"]), mean=mean, sd=sd,
        edges=tuple(meta["edges"]), training_subjects=tuple(meta["training_subjects"]), meta=dict(meta["meta"]),
    )  # fmt: skip
