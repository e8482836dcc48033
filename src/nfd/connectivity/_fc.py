"""Functional connectivity of a ``(T, N)`` series: the metrics, Fisher's z, the lower-triangle edge convention.

Every part of issue 16 shares one edge convention: the strict lower triangle in :func:`numpy.tril_indices`
order (``np.tril_indices(n, k=-1)``: row ``i`` > column ``j``, row by row), the edge between nodes ``i`` and
``j`` labelled ``f"{names[i]}--{names[j]}"``. Pure functions on arrays; no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS", "Metric", "edge_labels", "fc_matrix", "fisher_z", "from_lower_triangle", "kendall", "lower_triangle",
    "partial_correlation", "pearson", "prepost_change", "segment_bounds", "spearman",
]  # fmt: skip

Metric = Literal["pearson", "spearman", "kendall", "covariance", "partial"]
#: The metrics :func:`fc_matrix` computes.
METRICS: tuple[str, ...] = ("pearson", "spearman", "kendall", "covariance", "partial")

#: |r| is clipped to ``1 - FISHER_EPS`` before arctanh, so a diagonal of ones gives a finite z (about 8.3).
FISHER_EPS = 1e-7


def _series(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 3 or a.shape[1] < 2:
        raise ValueError(f"series of shape {a.shape}: expected (T, N) with T >= 3 volumes and N >= 2 nodes")
    if not np.all(np.isfinite(a)):
        raise ValueError("series holds NaN or infinite values: expected finite numbers (drop empty regions first)")
    return a


def pearson(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pearson's correlation between the columns of a ``(T, N)`` series: ``(N, N)``, as :func:`numpy.corrcoef`.

    A constant column gives NaN in its row and column.
    """
    a = _series(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.corrcoef(a, rowvar=False), dtype=np.float64)


def spearman(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Spearman's rank correlation between columns (Pearson's on the ranks, ties as mean ranks, as
    :func:`scipy.stats.spearmanr`): ``(N, N)``."""
    from scipy.stats import rankdata

    return pearson(rankdata(_series(x), axis=0))


def kendall(x: npt.ArrayLike, *, chunk: int = 4096) -> npt.NDArray[np.float64]:
    """Kendall's tau-b between columns, as :func:`scipy.stats.kendalltau` (its default, tau-b): ``(N, N)``.

    Over all ``T (T - 1) / 2`` pairs of volumes, ``tau_b = sum sign(dx) sign(dy) / sqrt(n_x n_y)``, ``n_x``
    the pairs untied in ``x`` (Kendall 1945, Biometrika 33:239-251). Computed for every column pair at once as
    a product of sign matrices, ``chunk`` volume pairs at a time (memory ``chunk * N`` floats).
    """
    a = _series(x)
    i, j = np.triu_indices(a.shape[0], k=1)
    n = a.shape[1]
    num = np.zeros((n, n))
    untied = np.zeros(n)
    for start in range(0, i.size, chunk):
        s = np.sign(a[j[start:start + chunk]] - a[i[start:start + chunk]])
        num += s.T @ s
        untied += np.abs(s).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = num / np.sqrt(np.outer(untied, untied))
    return np.asarray(np.clip(tau, -1.0, 1.0), dtype=np.float64)


def partial_correlation(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Partial correlation from the Ledoit-Wolf shrunk precision matrix: ``(N, N)``, ones on the diagonal.

    ``rho_ij = -P_ij / sqrt(P_ii P_jj)``, ``P`` the inverse of :class:`sklearn.covariance.LedoitWolf`'s
    covariance (Ledoit & Wolf 2004, J Multivar Anal 88:365-411; used for FC by Smith et al. 2011, NeuroImage
    54:875-891). Columns are centred by the estimator.
    """
    from sklearn.covariance import LedoitWolf

    precision = np.asarray(LedoitWolf().fit(_series(x)).precision_, dtype=np.float64)
    d = np.sqrt(np.diag(precision))
    out = -precision / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return out


def fc_matrix(x: npt.ArrayLike, metric: str = "pearson") -> npt.NDArray[np.float64]:
    """The ``(N, N)`` connectivity of a ``(T, N)`` series by one of :data:`METRICS`.

    ``covariance`` is :func:`numpy.cov` (unbiased, ``T - 1``), in the series' units squared; the others are
    unitless in ``[-1, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [4.0, 8.0]])
    >>> float(fc_matrix(x, "spearman")[1, 0])
    1.0
    """
    if metric == "pearson":
        return pearson(x)
    if metric == "spearman":
        return spearman(x)
    if metric == "kendall":
        return kendall(x)
    if metric == "covariance":
        return np.asarray(np.cov(_series(x), rowvar=False), dtype=np.float64)
    if metric == "partial":
        return partial_correlation(x)
    raise ValueError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")


def fisher_z(r: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Fisher's z, ``arctanh(r)``, with ``|r|`` clipped to ``1 - 1e-7`` (Fisher 1915, Biometrika 10:507-521).

    Examples
    --------
    >>> round(float(fisher_z(0.5)), 6)
    0.549306
    """
    a = np.clip(np.asarray(r, dtype=np.float64), -1.0 + FISHER_EPS, 1.0 - FISHER_EPS)
    return np.asarray(np.arctanh(a), dtype=np.float64)


def edge_labels(names: Sequence[str]) -> list[str]:
    """``names[i]--names[j]`` for every edge in ``np.tril_indices(n, k=-1)`` order (``i > j``).

    Examples
    --------
    >>> edge_labels(["a", "b", "c"])
    ['b--a', 'c--a', 'c--b']
    """
    i, j = np.tril_indices(len(names), k=-1)
    return [f"{names[a]}--{names[b]}" for a, b in zip(i.tolist(), j.tolist(), strict=True)]


def lower_triangle(matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The strict lower triangle of a square matrix (or a stack ``(..., N, N)``) as ``N (N - 1) / 2`` values,
    in :func:`edge_labels` order."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"matrix of shape {m.shape}: expected (..., N, N)")
    i, j = np.tril_indices(m.shape[-1], k=-1)
    return np.asarray(m[..., i, j], dtype=np.float64)


def from_lower_triangle(vector: npt.ArrayLike, n: int, *, diagonal: float = 1.0) -> npt.NDArray[np.float64]:
    """The symmetric ``(N, N)`` matrix of a :func:`lower_triangle` vector, ``diagonal`` on the diagonal.

    Examples
    --------
    >>> from_lower_triangle([0.1, 0.2, 0.3], 3)[2, 1]
    np.float64(0.3)
    """
    v = np.asarray(vector, dtype=np.float64)
    if v.shape != (n * (n - 1) // 2,):
        raise ValueError(f"vector of shape {v.shape}: expected ({n * (n - 1) // 2},) for n = {n}")
    out = np.full((n, n), float(diagonal))
    i, j = np.tril_indices(n, k=-1)
    out[i, j] = v
    out[j, i] = v
    return out


def segment_bounds(n_volumes: int, split: Sequence[float], *, t_r: float | None = None) -> list[tuple[int, int]]:
    """Volume ranges ``[start, stop)`` of the segments a run splits into at given times (s) or volumes.

    With ``t_r`` (s) the split points are times from the run's start: volume ``k`` (acquired at ``k * t_r``)
    belongs to the segment whose start time is at most ``k * t_r``; without it they are volume indices.
    ``n_points`` split points give ``n_points + 1`` segments.

    Examples
    --------
    >>> segment_bounds(10, [4.0], t_r=2.0)
    [(0, 2), (2, 10)]
    """
    points = [float(p) for p in split]
    if sorted(points) != points or any(p <= 0 for p in points):
        raise ValueError(f"split points {points}: expected increasing positive values")
    cuts = [int(np.ceil(p / t_r - 1e-9)) if t_r else int(np.ceil(p - 1e-9)) for p in points]
    edges = [0, *[min(c, n_volumes) for c in cuts], n_volumes]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 1)]


def prepost_change(
    x: npt.ArrayLike, split: Sequence[float], *, t_r: float | None = None, metric: str = "pearson",
    volumes: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """PRE and POST Fisher-z FC of a run and their change, ``z(POST) - z(PRE)``: three ``(N, N)`` matrices.

    One split point: PRE before it, POST from it. Two: PRE before the first, POST from the second (the
    stimulus between them left out). Points are times (s) with ``t_r`` or volume indices without it (see
    :func:`segment_bounds`). ``volumes`` are the rows' volume indices in the acquired run (after FD scrubbing
    they have gaps): a row belongs to the segment of its acquisition time, not of its position.
    """
    a = _series(x)
    if len(split) not in (1, 2):
        raise ValueError(f"{len(split)} split points: expected 1 (PRE | POST) or 2 (PRE | stimulus | POST)")
    index = np.arange(a.shape[0]) if volumes is None else np.asarray(volumes, dtype=np.int64)
    if index.shape != (a.shape[0],):
        raise ValueError(f"{index.size} volume indices for {a.shape[0]} rows: expected one per row")
    bounds = segment_bounds(int(index.max()) + 1, split, t_r=t_r)
    pre_rows = (index >= bounds[0][0]) & (index < bounds[0][1])
    post_rows = (index >= bounds[-1][0]) & (index < bounds[-1][1])
    if pre_rows.sum() < 3 or post_rows.sum() < 3:
        raise ValueError(f"split {list(split)}: PRE has {pre_rows.sum()} and POST {post_rows.sum()} volumes, "
                         "expected at least 3 each")
    pre = fisher_z(fc_matrix(a[pre_rows], metric))
    post = fisher_z(fc_matrix(a[post_rows], metric))
    return pre, post, post - pre
