"""Normative connectivity feedback: the normative autoencoder's reconstruction error of sliding-window FC."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from nfd.design import Design
from nfd.feedback._computer import FeedbackComputer, check_count, check_signal
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep

if TYPE_CHECKING:
    from nfd.normative import NormativeModel

__all__ = ["NORMATIVE_ERRORS", "NormativeFeedback"]

#: How an edge's reconstruction error is measured (standardised units, squared or not).
NORMATIVE_ERRORS: tuple[str, ...] = ("squared", "absolute")

#: Most per-edge errors named in a volume's detail (the largest when more edges are chosen).
DETAIL_EDGES = 20

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
#: Correlations are clipped to +-(1 - this) before Fisher's z, so that a perfect correlation stays finite.
_Z_CLIP = 1e-7

log = structlog.get_logger(__name__)


def _load_checked(model: str | PathLike[str], sha256: object) -> tuple[NormativeModel, Path]:
    """The model of the folder `model` (``nfd normative fit``'s), once its ``model.npz`` has sha256 `sha256`."""
    from nfd.normative import NormativeError, load_model

    folder = Path(model)
    if folder.name in ("model.json", "model.npz"):
        folder = folder.parent
    npz = folder / "model.npz"
    if not isinstance(sha256, str) or not _SHA256.match(sha256.strip()):
        raise FeedbackError(
            f"normative sha256 must be 64 hexadecimal digits (the output of sha256sum {npz}), got {sha256!r}"
        )
    try:  # the bytes checked against the configuration's sha256 are the bytes loaded
        return load_model(folder, sha256=sha256), npz
    except NormativeError as exc:
        raise FeedbackError(f"normative model: {exc}") from None


def _chosen_edges(all_edges: Sequence[str], edges: Sequence[str] | None) -> np.ndarray:
    """Indices (in the model's edge order) of `edges`, all of them when None."""
    if edges is None:
        return np.arange(len(all_edges))
    if isinstance(edges, str) or not isinstance(edges, Sequence) or len(edges) == 0:
        raise FeedbackError(f"normative edges must be a non-empty list of edge labels 'A--B', got {edges!r}")
    position = {label: k for k, label in enumerate(all_edges)}
    out: list[int] = []
    for label in edges:
        if label not in position:
            shown = ", ".join(list(all_edges)[:6]) + (", ..." if len(all_edges) > 6 else "")
            raise FeedbackError(f"normative edges: unknown edge label {label!r}; the model's edges are {shown}")
        if position[label] in out:
            raise FeedbackError(f"normative edges: edge {label!r} is given twice")
        out.append(position[label])
    return np.asarray(out, dtype=np.intp)


class NormativeFeedback(FeedbackComputer):
    """Normative connectivity feedback: how far the window's FC is from healthy controls', every volume.

    Boldisor, Udrea & Trascau (2025, "Normative Modeling of Functional
    Connectivity Alterations in Psychiatric Disorders and Chronic Pain")
    train an autoencoder on healthy controls' lower-triangle FC and take a
    subject's per-edge reconstruction error as the deviation
    (:mod:`nfd.normative`). Here the subject is the current window: at
    each volume, once `window` volumes are in,

    1. ``R``: Pearson's correlation of the model's networks' `signal` over
       the last `window` volumes (the current one included), Fisher's
       ``z = artanh(r)`` when the model's metadata say ``fisher_z``;
    2. ``x``: its lower triangle in the model's edge order
       (``np.tril_indices(N, k=-1)``, labels ``"A--B"``), standardised by
       the model's scaler, ``z = (x - mean) / sd``;
    3. the reconstruction ``AE(z)`` (:func:`nfd.normative.forward`);
    4. the measure: the mean over the chosen `edges` of ``(z - AE(z))**2``
       (``error="squared"``, z units squared) or ``|z - AE(z)|``
       (``"absolute"``, z units), as :func:`nfd.normative.deviations`.

    Lower is closer to the normative pattern: feedback shown so that a
    lower value is better (or with a negative gain) rewards moving toward
    it. None until the window is full, for a skipped volume, a volume
    where a network's value is missing, or a window in which a network is
    constant. The detail of each volume holds the per-edge errors of the
    chosen edges (the :data:`DETAIL_EDGES` largest when more are chosen)
    and the window FC's mean, min and max. The window's correlation is one
    centred product of a ``window x N`` array (about 20 us for 17
    networks; no running sums, so nothing drifts over a long run).

    The networks are the model's (:func:`nfd.normative.network_names` of
    its edges); they must be among `rois` (with an ``[atlas]``, the
    daemon's network ROIs). A model of ComBat-harmonised features is used
    as it is: the live features are not harmonised. The scale of the
    measure depends on what the model was fitted on: a window's r varies
    more than a whole run's (SD about ``(1 - r**2) / sqrt(window)``), so a
    model of controls' whole-run FC gives every window a larger error; a
    model fitted on controls' FC over windows of the same length makes the
    normative pattern's error that of a typical control.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        The run's ROI names; the model's networks are read from them.
    model : path
        The model folder written by ``nfd normative fit``
        (:func:`nfd.normative.save_model`: ``model.npz`` and ``model.json``).
    sha256 : str
        The expected sha256 of its ``model.npz`` (64 hexadecimal digits,
        ``sha256sum model.npz``); a file with another is never used.
    window : int
        Window length, volumes (>= 3).
    edges : sequence of str, optional
        The edge labels averaged into the measure; all the model's by default.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series correlated.
    error : {"squared", "absolute"}
        The per-edge error.

    Raises
    ------
    FeedbackError
        A malformed or differing sha256, an unreadable model folder, a
        metric other than Pearson, networks of the model not among `rois`
        (named), an unknown or repeated edge label, a bad window, signal
        or error.
    """

    kind = "normative"
    min_rois = 2

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        model: str | PathLike[str],
        sha256: str,
        window: int = 30,
        edges: Sequence[str] | None = None,
        signal: str = "kalman",
        error: str = "squared",
    ) -> None:
        super().__init__(design, rois)
        from nfd.normative import NormativeError, network_names

        self._signal = check_signal(signal)
        self._window = check_count("window", window, 3)
        if error not in NORMATIVE_ERRORS:
            raise FeedbackError(f"normative error must be one of {list(NORMATIVE_ERRORS)}, got {error!r}")
        self._error = error
        self._model, self._path = _load_checked(model, sha256)
        metric = self._model.meta.get("metric")
        if metric not in (None, "", "pearson"):
            raise FeedbackError(
                f"normative model {self._path} was fitted on {metric!r} FC; the real-time kind computes Pearson's"
            )
        self._fisher_z = bool(self._model.meta.get("fisher_z"))
        try:
            self._networks = network_names(self._model.edges)
        except NormativeError as exc:
            raise FeedbackError(f"normative model {self._path}: {exc}") from None
        missing = [n for n in self._networks if n not in self._rois]
        if missing:
            raise FeedbackError(
                f"the normative model's networks {missing} are not among the run's ROIs {list(self._rois)}"
            )
        self._chosen = _chosen_edges(self._model.edges, edges)
        self._labels = tuple(self._model.edges[k] for k in self._chosen)
        self._all_chosen = len(self._chosen) == len(self._model.edges)
        n = len(self._networks)
        self._tril = np.tril_indices(n, k=-1)
        self._flat = np.ravel_multi_index(self._tril, (n, n))
        self._rows = np.empty((self._window, n))
        self._next = 0
        self._filled = 0
        self._values: list[float] = []
        self._regulation: list[bool] = []
        log.info("normative_model_loaded", path=str(self._path), networks=n, edges=len(self._model.edges),
                 chosen=len(self._chosen), fisher_z=self._fisher_z)

    @property
    def networks(self) -> tuple[str, ...]:
        """The model's networks, the ROIs read, in the model's order."""
        return self._networks

    @property
    def edges(self) -> tuple[str, ...]:
        """The chosen edge labels, in the model's order."""
        return self._labels

    def features(self) -> np.ndarray | None:
        """The current window's FC edges in the model's order (feature units), or None before it is full."""
        if self._filled < self._window:
            return None
        d = self._rows - self._rows.mean(axis=0)
        cross = d.T @ d
        sd = np.sqrt(cross.diagonal())
        if not np.all(sd > 0):
            return None
        rows, cols = self._tril
        r = cross.take(self._flat) / (sd.take(rows) * sd.take(cols))
        np.clip(r, -1.0, 1.0, out=r)
        if self._fisher_z:
            return np.arctanh(np.clip(r, _Z_CLIP - 1.0, 1.0 - _Z_CLIP))
        return r

    def _row(self, steps: Mapping[str, ChainStep]) -> list[float] | None:
        row: list[float] = []
        for name in self._networks:
            try:
                value = float(getattr(steps[name], self._signal))
            except KeyError:
                raise FeedbackError(
                    f"no chain step for ROI {name!r}; {self.kind} feedback reads {list(self._networks)}"
                ) from None
            if not math.isfinite(value):
                return None
            row.append(value)
        return row

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        row = self._row(steps)
        if index < self._design.skip_volumes or row is None:
            return None
        self._rows[self._next] = row  # the window's order does not matter to a correlation
        self._next = (self._next + 1) % self._window
        self._filled = min(self._window, self._filled + 1)
        x = self.features()
        if x is None:
            return None
        model = self._model
        z = (x - model.mean) / model.sd
        diff = z - model.reconstruct(z)
        if not self._all_chosen:
            diff = diff[self._chosen]
        per_edge = np.square(diff) if self._error == "squared" else np.abs(diff)
        value = float(per_edge.mean())
        self._detail = self._volume_detail(per_edge, x)
        if not math.isfinite(value):
            return None
        self._values.append(value)
        self._regulation.append(not self._design.is_baseline(index))
        return value

    def _volume_detail(self, per_edge: np.ndarray, x: np.ndarray) -> dict[str, Any]:
        if per_edge.size > DETAIL_EDGES:
            shown = np.argpartition(per_edge, -DETAIL_EDGES)[-DETAIL_EDGES:]
            shown.sort()
        else:
            shown = np.arange(per_edge.size)
        values = per_edge.tolist()
        return {
            "edges": {self._labels[k]: values[k] for k in shown.tolist()},
            "fc": {"mean": float(x.mean()), "min": float(x.min()), "max": float(x.max())},
        }

    def summary(self) -> dict[str, Any]:
        """Adds the model, window, signal, error, edge count and the mean measure over regulation and baseline."""
        out = super().summary()
        values = np.asarray(self._values)
        regulation = np.asarray(self._regulation, dtype=bool)
        out.update(
            model=str(self._path.parent),
            networks=list(self._networks),
            edges=len(self._labels),
            window=self._window,
            signal=self._signal,
            error=self._error,
            fisher_z=self._fisher_z,
            mean_regulation=float(values[regulation].mean()) if regulation.any() else None,
            mean_baseline=float(values[~regulation].mean()) if (~regulation).any() else None,
        )
        return out
