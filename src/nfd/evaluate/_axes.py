"""The columns of ``nfd evaluate``'s tables, shared by the grid, the statistics and the report.

``cells`` has one row per variant, target set, subject and run: the axis columns, ``variant`` (a label joining
them), ``target_set`` (ROI names joined by ``+``), ``subject``, ``run``, ``output`` (the algorithm's output over
the run: the proxy's event count, the mean windowed r, the mean PSC over regulation volumes, the mean of the
intermittent values), ``gold`` (the gold standard), ``r_targets`` (mean target-target r of the gold
series), ``tsnr`` (mean ROI-averaged voxelwise tSNR of the set's targets, minimally processed) and ``standard``
(the composite measure of the minimally processed full series).
"""

from __future__ import annotations

__all__ = ["AXES", "CELL_COLUMNS"]

#: The axes of the algorithm grid, in the tables' column order.
AXES: tuple[str, ...] = (
    "kind", "points", "window", "n_targets", "min_agree", "min_change_sd", "radius_mm", "echo", "level",
    "delay", "reference", "signal",
)
#: The columns of the cells table.
CELL_COLUMNS: tuple[str, ...] = (
    *AXES,
    "variant",
    "target_set",
    "subject",
    "run",
    "output",
    "gold",
    "r_targets",
    "tsnr",
    "standard",
)
