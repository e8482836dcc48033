"""Figures of an FC matrix (matplotlib, Agg): the matrix with its labels, and the strongest edges."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["plot_matrix", "plot_strongest_edges", "strongest_edges"]


def strongest_edges(matrix: npt.ArrayLike, k: int) -> list[tuple[int, int]]:
    """The ``k`` lower-triangle edges ``(i, j)``, ``i > j``, of largest ``|value|``, strongest first (NaN last).

    Examples
    --------
    >>> strongest_edges([[1, 0.1, -0.9], [0.1, 1, 0.5], [-0.9, 0.5, 1]], 2)
    [(2, 0), (2, 1)]
    """
    m = np.asarray(matrix, dtype=np.float64)
    i, j = np.tril_indices(m.shape[0], k=-1)
    strength = np.nan_to_num(np.abs(m[i, j]), nan=-1.0)
    order = np.argsort(-strength, kind="stable")[:k]
    return [(int(i[o]), int(j[o])) for o in order]


def plot_matrix(matrix: npt.ArrayLike, labels: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """The matrix as an image with its labels on both axes (a symmetric colour scale around 0), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    shown = m.copy()
    np.fill_diagonal(shown, np.nan)
    limit = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    size = min(4 + 0.25 * len(labels), 16)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(shown, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_strongest_edges(
    matrix: npt.ArrayLike, labels: Sequence[str], path: str | Path, *, k: int = 20,
    coords_mm: npt.ArrayLike | None = None, title: str = "",
) -> Path:
    """The ``k`` strongest edges as a connectome: :func:`nilearn.plotting.plot_connectome` on the nodes'
    coordinates (world mm) when every node has them, else the nodes on a circle with the edges as chords."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    edges = strongest_edges(m, k)
    kept = np.zeros_like(m)
    for i, j in edges:
        kept[i, j] = kept[j, i] = np.nan_to_num(m[i, j])
    coords = None if coords_mm is None else np.asarray(coords_mm, dtype=np.float64)
    if coords is not None and coords.shape == (n, 3) and np.isfinite(coords).all():
        from nilearn.plotting import plot_connectome

        display = plot_connectome(kept, coords, node_size=8, title=title or None)
        display.savefig(str(path), dpi=100)
        display.close()
        return Path(path)
    angle = 2 * np.pi * np.arange(n) / n
    x, y = np.cos(angle), np.sin(angle)
    fig, ax = plt.subplots(figsize=(7, 7))
    limit = max((abs(kept[i, j]) for i, j in edges), default=1.0) or 1.0
    for i, j in edges:
        ax.plot([x[i], x[j]], [y[i], y[j]], color="tab:red" if kept[i, j] > 0 else "tab:blue",
                linewidth=0.5 + 3 * abs(kept[i, j]) / limit)  # fmt: skip
    ax.scatter(x, y, s=15, color="k", zorder=3)
    if n <= 60:
        for a, name in enumerate(labels):
            ax.annotate(name, (1.08 * x[a], 1.08 * y[a]), ha="center", va="center", fontsize=7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"strongest {len(edges)} edges")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
