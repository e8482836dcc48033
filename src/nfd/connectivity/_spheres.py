"""Spheres on the EPI grid, drawn as nilearn's ``NiftiSpheresMasker`` draws them, and their mean series.

A sphere is every voxel of the brain mask whose centre lies within the radius of the seed (world mm, through
the image's affine), and the voxel nearest the seed when it is in the mask, so that a small radius still gives
a voxel. The masker finds them with a nearest-neighbour search over every brain voxel (seconds per run for
Power's 264 seeds); here each seed looks only at the voxels of its bounding box. The series are the
voxels' means in float64 (so an int16 image keeps its fractions), cleaned afterwards by
:func:`nilearn.signal.clean` as the masker cleans them: the result equals the masker's on a float image.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["sphere_indices", "sphere_means"]


def sphere_indices(
    coords_mm: npt.ArrayLike, radius_mm: float, shape: tuple[int, int, int], affine: npt.ArrayLike,
    mask: npt.NDArray[np.bool_],
) -> list[npt.NDArray[np.int64]]:
    """Each seed's voxels within the mask, as flat (C-order) indices into ``shape``; empty when none.

    Parameters
    ----------
    coords_mm : array_like, (N, 3)
        Seeds, world mm.
    radius_mm : float
        Sphere radius, mm.
    shape : tuple of 3 ints
        The grid.
    affine : array_like, (4, 4)
        Voxel -> world mm.
    mask : numpy.ndarray of bool, ``shape``
        The brain mask.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.diag([2.0, 2.0, 2.0, 1.0])
    >>> [len(v) for v in sphere_indices([[4.0, 4.0, 4.0], [40.0, 0, 0]], 2.0, (5, 5, 5), a, np.ones((5, 5, 5), bool))]
    [7, 0]
    """
    aff = np.asarray(affine, dtype=np.float64)
    inverse = np.linalg.inv(aff)
    seeds = np.asarray(coords_mm, dtype=np.float64).reshape(-1, 3)
    dims = np.asarray(shape)
    reach = int(np.ceil(radius_mm / np.min(np.abs(np.linalg.svd(aff[:3, :3], compute_uv=False))))) + 1
    inside_mask = np.ascontiguousarray(mask).reshape(-1)
    out = []
    for seed in seeds:
        centre = inverse[:3, :3] @ seed + inverse[:3, 3]
        low = np.maximum(np.floor(centre).astype(int) - reach, 0)
        high = np.minimum(np.ceil(centre).astype(int) + reach + 1, dims)
        if np.any(high <= low):
            out.append(np.zeros(0, dtype=np.int64))
            continue
        box = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high, strict=True)], indexing="ij"),
                       axis=-1).reshape(-1, 3)  # fmt: skip
        world = box @ aff[:3, :3].T + aff[:3, 3]
        inside = box[((world - seed) ** 2).sum(axis=1) <= radius_mm * radius_mm + 1e-9]
        nearest = np.rint(centre).astype(int)
        if np.all((nearest >= 0) & (nearest < dims)):
            inside = np.vstack([inside, nearest[None, :]])
        flat = np.unique(np.ravel_multi_index(tuple(inside.T), shape)) if inside.size else np.zeros(0, np.int64)
        out.append(flat[inside_mask[flat]].astype(np.int64))
    return out


def sphere_means(data: npt.NDArray[np.floating], indices: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.float64]:
    """Each sphere's mean series in float64: ``(T, N)`` from a 4-D ``data`` (NaN for an empty sphere)."""
    flat = data.reshape(-1, data.shape[-1])
    out = np.full((data.shape[-1], len(indices)), np.nan)
    for k, idx in enumerate(indices):
        if idx.size:
            out[:, k] = flat[idx].mean(axis=0, dtype=np.float64)
    return out
