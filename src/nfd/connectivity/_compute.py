"""A dataset's FC features: every run's matrix (or PRE/POST change) as one lower-triangle row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nfd._version import __version__
from nfd.connectivity._fc import METRICS, edge_labels, fc_matrix, fisher_z, lower_triangle, prepost_change
from nfd.connectivity._io import FeatureSet, SeriesSet

__all__ = ["compute_features", "run_matrix"]


def run_matrix(
    values: npt.NDArray[np.float64], metric: str, *, fisher: bool = False, split: Sequence[float] = (),
    t_r: float | None = None, volumes: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """One run's ``(N, N)`` FC (optionally Fisher z), or with ``split`` its PRE/POST Fisher-z change.

    Nodes whose column holds NaN (a region empty on the data's grid) are left out of the computation and
    get NaN rows and columns.
    """
    good = np.flatnonzero(np.isfinite(values).all(axis=0))
    n = values.shape[1]
    out = np.full((n, n), np.nan)
    if good.size < 2:
        return out
    if split:
        part = prepost_change(values[:, good], split, t_r=t_r, metric=metric, volumes=volumes)[2]
    else:
        part = fc_matrix(values[:, good], metric)
        part = fisher_z(part) if fisher else part
    out[np.ix_(good, good)] = part
    return out


def compute_features(
    data: SeriesSet, metric: str = "pearson", *, fisher: bool = False, split: Sequence[float] = (), by: str = "run",
) -> tuple[FeatureSet, npt.NDArray[np.float64]]:
    """Every run's FC as a lower-triangle row (see :func:`run_matrix`), and the ``(n_rows, N, N)`` matrices.

    ``split`` points are times in s (each run's ``t_r``); the features are then ``z(POST) - z(PRE)``. With
    ``by="subject"`` a subject's runs (sessions, runs) are averaged into one row (in Fisher z when it is on),
    its ``sessions`` and ``runs`` left empty: one row per subject, as ``nfd normative`` wants.

    Raises
    ------
    ValueError
        An unknown metric, Fisher z (or a split) of covariance, or a split that leaves a segment too short.
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    if metric == "covariance" and (fisher or split):
        raise ValueError("Fisher z of a covariance: expected a correlation metric with --fisher-z or --split")
    stack = []
    for r in data.runs:
        try:
            stack.append(run_matrix(r.values, metric, fisher=fisher, split=split, t_r=r.t_r, volumes=r.volumes))
        except ValueError as err:
            key = "_".join(p for p in (f"sub-{r.subject}", r.session and f"ses-{r.session}", r.task and
                                       f"task-{r.task}", r.run and f"run-{r.run}") if p)  # fmt: skip
            raise ValueError(f"{key}: {err}") from None
    matrices = np.stack(stack)
    subjects = tuple(r.subject for r in data.runs)
    sessions, runs = tuple(r.session for r in data.runs), tuple(r.run for r in data.runs)
    if by == "subject":
        subjects = tuple(dict.fromkeys(subjects))
        owner = np.asarray([r.subject for r in data.runs])
        matrices = np.stack([matrices[owner == s].mean(axis=0) for s in subjects])
        sessions = runs = ("",) * len(subjects)
    elif by != "run":
        raise ValueError(f"by {by!r}: expected run or subject")
    meta = {"metric": metric, "fisher_z": bool(fisher or split), "split_s": [float(s) for s in split],
            "atlas": data.meta.get("atlas", ""), "strategy": data.meta.get("strategy", []),
            "by": by, "series_meta": data.meta, "version": __version__}  # fmt: skip
    features = FeatureSet(lower_triangle(matrices), subjects, sessions, runs, tuple(edge_labels(data.labels)),
                          data.labels, data.networks, meta)  # fmt: skip
    return features, matrices
