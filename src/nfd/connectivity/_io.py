"""The files: a run's series TSV, the dataset's series npz and the features npz (open formats, no pickle).

``series.npz`` (:func:`write_series` / :func:`read_series`), every run of a dataset:

- ``values`` float64 ``(sum of T_kept, N)``, the runs one after the other; ``offsets`` int64 ``(n_runs + 1,)``:
  run ``k`` is rows ``offsets[k]:offsets[k + 1]``; ``volumes`` int64, each row's volume index in its run;
- ``subjects``, ``sessions``, ``tasks``, ``runs`` str ``(n_runs,)``; ``t_r`` float64 s and ``n_volumes`` int64
  ``(n_runs,)``;
- ``labels``, ``networks`` str ``(N,)``; ``coords`` float64 ``(N, 3)`` world mm (NaN where unknown);
- ``meta``: a JSON string (atlas, strategy, scrubbing, filters, networks, nfd version).

``features.npz`` (:func:`write_features` / :func:`read_features`): ``features`` float64 ``(n_rows, n_edges)``
in :func:`~nfd.connectivity.edge_labels` order, ``subjects``, ``sessions``, ``runs`` str ``(n_rows,)``,
``edges`` str ``(n_edges,)``, ``nodes`` and ``networks`` str ``(N,)`` (each node's network, "" when none) and
``meta`` (JSON: metric, atlas, strategy, fisher_z, split, nfd version). Both read with
``numpy.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd._files import write_atomic
from nfd.connectivity._extract import RunSeries

__all__ = ["FeatureSet", "SeriesSet", "read_features", "read_series", "write_features", "write_run_tsv",
           "write_series"]  # fmt: skip


def _strings(values: Sequence[str]) -> npt.NDArray[np.str_]:
    return np.asarray([str(v) for v in values], dtype=np.str_).reshape(len(values))


def _save(path: Path, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    write_atomic(path, buffer.getvalue())


def write_run_tsv(path: str | Path, series: RunSeries) -> None:
    """A run's series as a ``T_kept x N`` TSV, the labels as header, ``n/a`` for NaN."""
    lines = ["\t".join(series.labels)]
    lines += ["\t".join("n/a" if not np.isfinite(v) else repr(float(v)) for v in row) for row in series.values]
    write_atomic(Path(path), ("\n".join(lines) + "\n").encode("utf-8"), sync_directory=False)


@dataclass
class SeriesSet:
    """A dataset's series as :func:`read_series` gives them: the runs, the nodes, the metadata."""

    runs: list[RunSeries]
    labels: tuple[str, ...]
    networks: tuple[str, ...]
    coords: npt.NDArray[np.float64]
    meta: dict[str, Any]


def write_series(path: str | Path, data: SeriesSet) -> None:
    """Write :class:`SeriesSet` as ``series.npz`` (see the module docstring).

    Raises
    ------
    ValueError
        No runs, or runs with different labels.
    """
    if not data.runs or any(r.labels != data.labels for r in data.runs):
        raise ValueError("series: expected at least one run, every run with the dataset's labels")
    lengths = [r.values.shape[0] for r in data.runs]
    _save(Path(path), {
        "values": np.concatenate([r.values for r in data.runs]).astype(np.float64),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "volumes": np.concatenate([r.volumes for r in data.runs]).astype(np.int64),
        "subjects": _strings([r.subject for r in data.runs]), "sessions": _strings([r.session for r in data.runs]),
        "tasks": _strings([r.task for r in data.runs]), "runs": _strings([r.run for r in data.runs]),
        "t_r": np.asarray([r.t_r for r in data.runs], dtype=np.float64),
        "n_volumes": np.asarray([r.n_volumes for r in data.runs], dtype=np.int64),
        "labels": _strings(data.labels), "networks": _strings(data.networks),
        "coords": np.asarray(data.coords, dtype=np.float64).reshape(len(data.labels), 3),
        "meta": np.asarray(json.dumps(data.meta, sort_keys=True)),
    })  # fmt: skip


def read_series(path: str | Path) -> SeriesSet:
    """Read ``series.npz`` (see the module docstring).

    Raises
    ------
    ValueError
        Not such a file (the message names the missing key).
    """
    with np.load(Path(path), allow_pickle=False) as z:
        keys = ("values", "offsets", "volumes", "subjects", "sessions", "tasks", "runs", "t_r", "n_volumes",
                "labels", "networks", "coords", "meta")  # fmt: skip
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(f"{Path(path).name} lacks {', '.join(missing)}: expected an nfd connectivity series.npz")
        a = {k: z[k] for k in keys}
    labels = tuple(str(v) for v in a["labels"])
    o = a["offsets"]
    runs = [RunSeries(str(a["subjects"][k]), str(a["sessions"][k]), str(a["tasks"][k]), str(a["runs"][k]), labels,
                      a["values"][o[k]:o[k + 1]], a["volumes"][o[k]:o[k + 1]], float(a["t_r"][k]),
                      int(a["n_volumes"][k])) for k in range(len(a["subjects"]))]  # fmt: skip
    return SeriesSet(runs, labels, tuple(str(v) for v in a["networks"]), a["coords"], json.loads(str(a["meta"])))


@dataclass
class FeatureSet:
    """Lower-triangle FC features of a dataset: ``features`` ``(n_rows, n_edges)``, one row per run."""

    features: npt.NDArray[np.float64]
    subjects: tuple[str, ...]
    sessions: tuple[str, ...]
    runs: tuple[str, ...]
    edges: tuple[str, ...]
    nodes: tuple[str, ...]
    networks: tuple[str, ...]
    meta: dict[str, Any]


def write_features(path: str | Path, data: FeatureSet) -> None:
    """Write :class:`FeatureSet` as ``features.npz`` (see the module docstring).

    Raises
    ------
    ValueError
        Shapes that disagree.
    """
    f = np.asarray(data.features, dtype=np.float64)
    n = len(data.nodes)
    if f.ndim != 2 or f.shape[1] != len(data.edges) or len(data.edges) != n * (n - 1) // 2 or not (
            f.shape[0] == len(data.subjects) == len(data.sessions) == len(data.runs)):
        raise ValueError(f"features {f.shape} for {len(data.subjects)} rows, {len(data.edges)} edges and {n} "
                         "nodes: expected (rows, n (n - 1) / 2)")
    _save(Path(path), {"features": f, "subjects": _strings(data.subjects), "sessions": _strings(data.sessions),
                       "runs": _strings(data.runs), "edges": _strings(data.edges), "nodes": _strings(data.nodes),
                       "networks": _strings(data.networks),
                       "meta": np.asarray(json.dumps(data.meta, sort_keys=True))})  # fmt: skip


def read_features(path: str | Path) -> FeatureSet:
    """Read ``features.npz`` (see the module docstring).

    Raises
    ------
    ValueError
        Not such a file (the message names the missing key).
    """
    keys = ("features", "subjects", "sessions", "runs", "edges", "nodes", "networks", "meta")
    with np.load(Path(path), allow_pickle=False) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(f"{Path(path).name} lacks {', '.join(missing)}: expected an nfd connectivity "
                             "features.npz")
        a = {k: z[k] for k in keys}

    def strs(key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in a[key])

    return FeatureSet(np.asarray(a["features"], dtype=np.float64), strs("subjects"), strs("sessions"), strs("runs"),
                      strs("edges"), strs("nodes"), strs("networks"), json.loads(str(a["meta"])))  # fmt: skip
