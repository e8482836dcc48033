"""The figures of ``nfd normative``: deviation heatmaps per group and the significant edges (matplotlib, Agg)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from nfd.normative._features import edges_to_matrix, network_names

__all__ = ["deviation_heatmap", "significant_edges_figure"]


def _axes_labels(ax: object, names: Sequence[str]) -> None:
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=90, fontsize=6)  # type: ignore[attr-defined]
    ax.set_yticks(ticks, names, fontsize=6)  # type: ignore[attr-defined]


def deviation_heatmap(
    path: str | os.PathLike[str], group_means: Mapping[str, npt.ArrayLike], edges: Sequence[str]
) -> None:
    """Write a PNG: one N x N matrix per group of the mean deviation z per edge (held-out controls' units).

    Parameters
    ----------
    path : path-like
        The PNG.
    group_means : mapping of str to array_like, (n_edges,)
        Mean z per edge of each group.
    edges : sequence of str
        Edge labels (lower-triangle convention).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = network_names(edges)
    matrices = {g: edges_to_matrix(v, len(names)) for g, v in group_means.items()}
    limit = max(1.0, float(np.nanmax([np.nanmax(np.abs(m)) for m in matrices.values()])))
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.5 * len(matrices), 4.2), squeeze=False)
    for ax, (group, matrix) in zip(axes[0], matrices.items(), strict=True):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{group}: mean deviation z")
        _axes_labels(ax, names)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def significant_edges_figure(
    path: str | os.PathLike[str], q: npt.ArrayLike, edges: Sequence[str], alpha: float, title: str
) -> None:
    """Write a PNG: -log10 q per edge as an N x N matrix, the edges with q < ``alpha`` outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = network_names(edges)
    values = np.asarray(q, dtype=np.float64)
    score = edges_to_matrix(-np.log10(np.clip(np.nan_to_num(values, nan=1.0), 1e-300, 1.0)), len(names))
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    image = ax.imshow(score, cmap="magma")
    rows, cols = np.nonzero(edges_to_matrix(values < alpha, len(names)) == 1)
    ax.scatter(cols, rows, s=12, facecolors="none", edgecolors="cyan", linewidths=0.8)
    ax.set_title(f"{title}: {int(np.sum(values < alpha))} edges q < {alpha:g}")
    _axes_labels(ax, names)
    fig.colorbar(image, ax=ax, shrink=0.8, label="-log10 q")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
