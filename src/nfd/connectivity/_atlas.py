"""Atlases: a label image with its names (and networks), or coordinates with a sphere radius.

- a label image: a NIfTI of integer labels (a ``dseg``; 0 is background) and a TSV with columns ``index`` and
  ``name`` and optionally ``network`` (BIDS's ``dseg.tsv``); without a TSV the labels are named by their value;
- coordinates: a TSV or CSV with columns ``x``, ``y``, ``z`` (world mm, the data's space; any case) and
  optionally ``name`` (or ``roi``/``label``) and ``network``. The Power et al. (2011, Neuron 72:665-678) 264
  coordinates as nilearn ships them (``ROI,X,Y,Z``) read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["NILEARN_COORDINATES", "Atlas", "atlas_coordinates", "load_atlas"]


@dataclass(frozen=True)
class Atlas:
    """An atlas: its regions' names and networks, and either a label image or sphere centres.

    Attributes
    ----------
    source : str
        The file it was read from (its name goes into the outputs' metadata).
    names : tuple of str
        One per region, in order.
    networks : tuple of str
        One per region ("" when the atlas gives none).
    values : tuple of int
        Label image: each region's value in it; coordinates: empty.
    coords_mm : numpy.ndarray or None
        Coordinates: ``(N, 3)`` world mm; label image: None.
    radius_mm : float
        Coordinates: the sphere radius, mm.
    """

    source: str
    names: tuple[str, ...]
    networks: tuple[str, ...]
    values: tuple[int, ...] = ()
    coords_mm: npt.NDArray[np.float64] | None = None
    radius_mm: float = 5.0

    @property
    def kind(self) -> str:
        """``"labels"`` or ``"spheres"``."""
        return "spheres" if self.coords_mm is not None else "labels"


def _label_table(labels_tsv: Path | None, present: list[int]) -> tuple[list[int], list[str], list[str]]:
    import pandas as pd

    if labels_tsv is None:
        return present, [str(v) for v in present], [""] * len(present)
    table = pd.read_csv(labels_tsv, sep="\t", dtype={"name": str, "network": str}, keep_default_na=False)
    if not {"index", "name"} <= set(table.columns):
        raise ValueError(f"labels {labels_tsv.name} has columns {', '.join(map(str, table.columns))}: "
                         "expected index, name [, network]")
    table = table[table["index"].astype(int) != 0]
    nets = table["network"].astype(str).tolist() if "network" in table.columns else [""] * len(table)
    return table["index"].astype(int).tolist(), table["name"].astype(str).tolist(), nets


def _coordinates(path: Path, radius_mm: float) -> Atlas:
    import pandas as pd

    table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", keep_default_na=False)
    table.columns = [str(c).strip().lower() for c in table.columns]
    if not {"x", "y", "z"} <= set(table.columns):
        raise ValueError(f"coordinates {path.name} has columns {', '.join(table.columns)}: "
                         "expected x, y, z [, name, network]")
    key = next((k for k in ("name", "roi", "label") if k in table.columns), None)
    names = table[key].astype(str).tolist() if key else [f"roi{k + 1:03d}" for k in range(len(table))]
    nets = table["network"].astype(str).tolist() if "network" in table.columns else [""] * len(table)
    coords = np.asarray(table[["x", "y", "z"]], dtype=np.float64)
    return Atlas(str(path), tuple(names), tuple(nets), coords_mm=coords, radius_mm=float(radius_mm))


#: Coordinate atlases nilearn ships (no download): ``nilearn:<name>`` as an atlas path.
NILEARN_COORDINATES: tuple[str, ...] = ("power_2011", "dosenbach_2010", "seitzman_2018")


def _nilearn_coordinates(name: str, radius_mm: float) -> Atlas:
    """One of nilearn's bundled coordinate atlases (Power et al. 2011, Dosenbach et al. 2010, Seitzman et al.
    2018), with its region names and networks where nilearn gives them."""
    if name not in NILEARN_COORDINATES:
        known = ", ".join("nilearn:" + n for n in NILEARN_COORDINATES)
        raise ValueError(f"atlas nilearn:{name}: expected one of {known}")
    from nilearn import datasets

    bunch = getattr(datasets, f"fetch_coords_{name}")()
    rois = bunch.rois
    coords = np.asarray(rois[["x", "y", "z"]], dtype=np.float64)
    if "labels" in bunch:
        names = [str(x) for x in bunch.labels]
    elif "roi" in rois.columns:
        names = [f"roi{int(x):03d}" for x in rois["roi"]]
    else:
        names = [f"roi{k + 1:03d}" for k in range(len(rois))]
    nets = [str(x) for x in bunch.networks] if "networks" in bunch else [""] * len(rois)
    return Atlas(f"nilearn:{name}", tuple(names), tuple(nets), coords_mm=coords, radius_mm=float(radius_mm))


def load_atlas(path: str | Path, *, labels: str | Path | None = None, radius_mm: float = 5.0) -> Atlas:
    """An atlas from a label image (``.nii``/``.nii.gz``, names from ``labels``), coordinates (``.tsv``/``.csv``),
    or one of nilearn's bundled coordinate atlases (``"nilearn:power_2011"``, see :data:`NILEARN_COORDINATES`).

    Parameters
    ----------
    path : path
        The label image or the coordinates table (see the module docstring).
    labels : path, optional
        The label image's TSV (``index``, ``name`` [, ``network``]); only its listed labels are used.
    radius_mm : float
        Coordinates: the sphere radius, mm (> 0).

    Raises
    ------
    ValueError
        An unreadable or malformed atlas (the message names the file and what was expected).
    """
    if radius_mm <= 0:
        raise ValueError(f"sphere radius {radius_mm} mm: expected > 0")
    if str(path).startswith("nilearn:"):
        return _nilearn_coordinates(str(path)[len("nilearn:"):], radius_mm)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"atlas {p} does not exist: expected a label NIfTI, a coordinates TSV/CSV or "
                         f"nilearn:<{'|'.join(NILEARN_COORDINATES)}>")  # fmt: skip
    if p.name.endswith((".tsv", ".csv", ".TSV", ".CSV")):
        return _coordinates(p, radius_mm)
    if not p.name.endswith((".nii", ".nii.gz")):
        raise ValueError(f"atlas {p.name}: expected a .nii/.nii.gz label image or a .tsv/.csv of coordinates")
    import nibabel as nib

    data = np.asarray(nib.load(p).dataobj)  # type: ignore[attr-defined]
    present = sorted(int(v) for v in np.unique(data) if v != 0)
    values, names, nets = _label_table(Path(labels) if labels else None, present)
    if not values:
        raise ValueError(f"atlas {p.name} has no labels: expected non-zero integer regions")
    return Atlas(str(p), tuple(names), tuple(nets), values=tuple(values))


def atlas_coordinates(atlas: Atlas) -> npt.NDArray[np.float64]:
    """Each region's position, world mm ``(N, 3)``: the sphere centres, or a label's centre of mass in its image
    (NaN for a label absent from it)."""
    if atlas.coords_mm is not None:
        return np.asarray(atlas.coords_mm, dtype=np.float64)
    import nibabel as nib

    image: Any = nib.load(atlas.source)
    labels = np.asarray(image.dataobj)
    out = np.full((len(atlas.values), 3), np.nan)
    for k, value in enumerate(atlas.values):
        voxels = np.argwhere(labels == value)
        if voxels.size:
            out[k] = image.affine[:3, :3] @ voxels.mean(axis=0) + image.affine[:3, 3]
    return out
