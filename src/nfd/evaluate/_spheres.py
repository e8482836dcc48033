"""Spherical ROIs on an EPI grid, from centres in world millimetres (per subject, per radius)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from nfd._checks import ensure_float

__all__ = ["sphere_masks"]


def sphere_masks(
    centres_mm: Mapping[str, Sequence[float]],
    radius_mm: float,
    shape: tuple[int, int, int],
    affine: npt.ArrayLike,
) -> dict[str, npt.NDArray[np.bool_]]:
    """One boolean mask per centre: the voxels whose centres lie within ``radius_mm`` of it.

    As nilearn's ``NiftiSpheresMasker`` draws a sphere: every voxel whose
    centre is at most the radius away (world mm, through ``affine``), and
    always the voxel nearest the centre, so that a small radius still gives
    a voxel. A centre outside the grid gives an empty mask.

    Parameters
    ----------
    centres_mm : mapping of str to (x, y, z)
        ROI name -> centre in world millimetres (RAS+).
    radius_mm : float
        Sphere radius, mm (>= 0).
    shape : tuple of 3 ints
        The EPI grid, voxels.
    affine : array_like, (4, 4)
        Voxel -> mm of the grid.

    Returns
    -------
    dict of str to numpy.ndarray
        Name -> bool mask of ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> affine = np.array([[2.0, 0, 0, -4], [0, 2.0, 0, -4], [0, 0, 2.0, -4], [0, 0, 0, 1]])  # voxel (2, 2, 2) at 0 mm
    >>> masks = sphere_masks({"a": (0.0, 0.0, 0.0)}, 2.0, (5, 5, 5), affine)
    >>> int(masks["a"].sum())  # the voxel at the origin and its six face neighbours, 2 mm away
    7
    """
    radius = ensure_float(radius_mm, "radius_mm", minimum=0.0)
    aff = np.asarray(affine, dtype=np.float64)
    grid = np.indices(shape, dtype=np.float64).reshape(3, -1)
    world = aff[:3, :3] @ grid + aff[:3, 3:4]
    inverse = np.linalg.inv(aff)
    out = {}
    for name, centre in centres_mm.items():
        c = np.asarray(centre, dtype=np.float64).reshape(3, 1)
        inside = ((world - c) ** 2).sum(axis=0) <= radius * radius + 1e-9
        nearest = np.rint(inverse[:3, :3] @ c[:, 0] + inverse[:3, 3]).astype(int)
        if np.all((nearest >= 0) & (nearest < np.asarray(shape))):
            inside[np.ravel_multi_index(tuple(nearest), shape)] = True
        out[name] = inside.reshape(shape)
    return out
