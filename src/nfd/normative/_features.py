"""The FC feature table and the participants table that every ``nfd normative`` step reads.

The feature file is what ``nfd connectivity compute`` writes (issue 16): an ``.npz`` holding ``features``
(n_samples, n_edges) float64, ``subjects``, ``sessions``, ``runs``, ``edges`` and ``networks`` (str arrays) and
``meta`` (a JSON string: metric, atlas, strategy, fisher_z, version); nfd.connectivity also writes ``nodes``.
Its rows are runs: rows of the same subject are averaged on reading (:func:`read_features`, ``combine``).
Edges follow the lower triangle ``np.tril_indices(N, k=-1)`` (row i > column j), labelled
``f"{names[i]}--{names[j]}"``. This module reads that format on its own (no import of :mod:`nfd.connectivity`)
so that either side can change its code but not the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd.normative._errors import NormativeError

__all__ = [
    "FeatureTable",
    "edge_labels",
    "edges_to_matrix",
    "network_names",
    "read_features",
    "read_participants",
    "write_features",
]

_REQUIRED = ("features", "subjects", "edges")


@dataclasses.dataclass(frozen=True)
class FeatureTable:
    """FC features of a cohort: one row per subject, one column per edge.

    Attributes
    ----------
    features : ndarray, (n_subjects, n_edges) float64
        The edge values in the metric's unit (e.g. Pearson r, or Fisher z when ``meta["fisher_z"]``).
    subjects : tuple of str
        BIDS participant labels with the ``sub-`` prefix, one per row, unique.
    edges : tuple of str
        Edge labels ``"A--B"``, one per column, in the lower-triangle order.
    meta : dict
        The file's metadata (metric, atlas, strategy, fisher_z, version); empty when absent.
    """

    features: npt.NDArray[np.float64]
    subjects: tuple[str, ...]
    edges: tuple[str, ...]
    meta: dict[str, Any]

    def subset(self, rows: npt.ArrayLike) -> FeatureTable:
        """The table restricted to ``rows`` (indices or a boolean mask over subjects)."""
        index = np.arange(len(self.subjects))[np.asarray(rows)]
        return FeatureTable(self.features[index], tuple(self.subjects[i] for i in index), self.edges, self.meta)


def _subject_label(value: str) -> str:
    return value if value.startswith("sub-") else f"sub-{value}"


def read_features(path: str | os.PathLike[str], combine: str = "mean") -> FeatureTable:
    """Read a feature file written by ``nfd connectivity compute`` (or :func:`write_features`).

    Parameters
    ----------
    path : path-like
        The ``.npz`` file (read with ``allow_pickle=False``).
    combine : str
        Rows of the same subject (several sessions or runs): ``mean`` averages them into one row (feature
        units, e.g. the mean Fisher z), ``refuse`` raises.

    Returns
    -------
    FeatureTable

    Raises
    ------
    NormativeError
        The file is missing or unreadable, lacks a key, has non-finite values, mismatched shapes or (with
        ``combine="refuse"``) a subject twice (one line naming the file and what is wrong).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in _REQUIRED if key not in data.files]
            if missing:
                raise NormativeError(f"{path}: no {missing[0]!r} array, expected an nfd connectivity feature file")
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as error:
        if isinstance(error, NormativeError):
            raise
        raise NormativeError(f"{path}: cannot read ({error}), expected an .npz feature file") from None
    return _table_from_arrays(path, arrays, combine)


def _table_from_arrays(path: Path, arrays: dict[str, np.ndarray], combine: str) -> FeatureTable:
    features = np.asarray(arrays["features"], dtype=np.float64)
    subjects = tuple(_subject_label(str(s)) for s in np.asarray(arrays["subjects"]).ravel())
    edges = tuple(str(e) for e in np.asarray(arrays["edges"]).ravel())
    if features.ndim != 2 or features.shape != (len(subjects), len(edges)):
        raise NormativeError(
            f"{path}: features have shape {features.shape}, expected (subjects, edges) ({len(subjects)}, {len(edges)})"
        )
    if not np.all(np.isfinite(features)):
        row = int(np.nonzero(~np.all(np.isfinite(features), axis=1))[0][0])
        raise NormativeError(f"{path}: {subjects[row]} has non-finite features, expected finite values")
    order = list(dict.fromkeys(subjects))
    if len(order) < len(subjects):
        if combine != "mean":
            twice = next(s for k, s in enumerate(subjects) if s in subjects[:k])
            raise NormativeError(f"{path}: {twice} appears twice, expected one row per subject")
        index = np.array([order.index(s) for s in subjects])
        counts = np.bincount(index, minlength=len(order))
        sums = np.zeros((len(order), features.shape[1]))
        np.add.at(sums, index, features)
        features, subjects = sums / counts[:, None], tuple(order)
    meta: dict[str, Any] = {}
    if "meta" in arrays:
        try:
            meta = dict(json.loads(str(arrays["meta"])))
        except (ValueError, TypeError):
            raise NormativeError(f"{path}: meta is not a JSON object, expected a JSON string") from None
    return FeatureTable(features, subjects, edges, meta)


def write_features(
    path: str | os.PathLike[str],
    features: npt.ArrayLike,
    subjects: Sequence[str],
    edges: Sequence[str],
    meta: dict[str, Any] | None = None,
) -> None:
    """Write a feature file in the ``nfd connectivity compute`` format (sessions and runs empty, nodes = networks).

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    features : array_like, (n_subjects, n_edges)
        Edge values.
    subjects, edges : sequence of str
        Row and column labels.
    meta : dict, optional
        Metadata, stored as a JSON string.
    """
    names = network_names(edges)
    np.savez(
        path,
        features=np.asarray(features, dtype=np.float64),
        subjects=np.asarray(subjects, dtype=str),
        sessions=np.asarray([""] * len(subjects), dtype=str),
        runs=np.asarray([""] * len(subjects), dtype=str),
        edges=np.asarray(edges, dtype=str),
        nodes=np.asarray(names, dtype=str),
        networks=np.asarray(names, dtype=str),
        meta=np.asarray(json.dumps(meta or {})),
    )


def edge_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Edge labels of the lower triangle ``np.tril_indices(N, k=-1)``: ``f"{names[i]}--{names[j]}"``, i > j."""
    rows, cols = np.tril_indices(len(names), k=-1)
    return tuple(f"{names[i]}--{names[j]}" for i, j in zip(rows.tolist(), cols.tolist(), strict=True))


def network_names(edges: Sequence[str]) -> tuple[str, ...]:
    """The N network names behind N(N-1)/2 lower-triangle edge labels.

    Raises
    ------
    NormativeError
        The count is not triangular or the labels do not follow the convention.
    """
    n_edges = len(edges)
    n = round(float((1 + np.sqrt(1 + 8 * n_edges)) / 2))
    if n * (n - 1) // 2 != n_edges or n_edges == 0:
        raise NormativeError(f"{n_edges} edges, expected N(N-1)/2 for some N >= 2")
    names = [""] * n
    rows, cols = np.tril_indices(n, k=-1)
    for label, i, j in zip(edges, rows, cols, strict=True):
        parts = label.split("--")
        if len(parts) != 2:
            raise NormativeError(f"edge {label!r}, expected 'A--B'")
        names[int(i)], names[int(j)] = names[int(i)] or parts[0], names[int(j)] or parts[1]
    if edge_labels(names) != tuple(edges):
        raise NormativeError("edge labels do not follow np.tril_indices(N, k=-1), expected 'names[i]--names[j]'")
    return tuple(names)


def edges_to_matrix(values: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    """A symmetric N x N matrix from lower-triangle edge values (diagonal NaN)."""
    vector = np.asarray(values, dtype=np.float64)
    matrix = np.full((n, n), np.nan)
    rows, cols = np.tril_indices(n, k=-1)
    matrix[rows, cols] = vector
    matrix[cols, rows] = vector
    return matrix


def read_participants(path: str | os.PathLike[str], columns: Sequence[str] = ("group",)) -> Any:
    """Read a BIDS ``participants.tsv`` (pandas), indexed by ``participant_id`` with the ``sub-`` prefix.

    Parameters
    ----------
    path : path-like
        The TSV (``n/a`` read as missing).
    columns : sequence of str
        Columns that must be present.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    NormativeError
        The file is unreadable or lacks ``participant_id`` or a required column.
    """
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], dtype={"participant_id": str})
    except (OSError, ValueError) as error:
        raise NormativeError(f"{path}: cannot read ({error}), expected a participants.tsv") from None
    for column in ("participant_id", *columns):
        if column not in table.columns:
            raise NormativeError(f"{path}: no column {column!r}, expected participant_id, {', '.join(columns)}")
    table["participant_id"] = [_subject_label(str(s)) for s in table["participant_id"]]
    twice = table["participant_id"][table["participant_id"].duplicated()]
    if len(twice):
        raise NormativeError(f"{path}: {twice.iloc[0]} appears twice, expected one row per participant")
    return table.set_index("participant_id")
