"""A smooth brain-like phantom defined in world (mm) coordinates.

Rendering it through a rigid transform gives volumes whose true motion is
known exactly, with no interpolation involved.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfd.volume import spm_matrix

#: (centre mm, radii mm, amplitude) of the ellipsoids summed into the phantom.
_ELLIPSOIDS: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((0.0, 0.0, 0.0), (62.0, 78.0, 40.0), 400.0),  # head
    ((0.0, 0.0, 0.0), (55.0, 70.0, 34.0), 300.0),  # brain
    ((0.0, 5.0, 4.0), (9.0, 22.0, 9.0), -250.0),  # ventricles
    ((-14.0, -20.0, -4.0), (6.0, 8.0, 8.0), -150.0),
    ((28.0, -28.0, 8.0), (11.0, 9.0, 7.0), 120.0),
    ((-24.0, 33.0, -12.0), (8.0, 13.0, 8.0), -90.0),
    ((10.0, 38.0, 14.0), (14.0, 9.0, 6.0), 160.0),
)

#: Width of the ellipsoids' edges, mm (the logistic's scale).
EDGE_MM = 3.0


def phantom_at(xyz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Phantom intensity at world coordinates ``xyz`` (..., 3), mm."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    out = np.zeros(x.shape)
    for (cx, cy, cz), (rx, ry, rz), amp in _ELLIPSOIDS:
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2)
        out += amp / (1.0 + np.exp(np.clip((d - 1.0) * min(rx, ry, rz) / EDGE_MM, -50, 50)))
    d = np.sqrt((x / 55) ** 2 + (y / 70) ** 2 + (z / 34) ** 2)
    brain = 1.0 / (1.0 + np.exp(np.clip((d - 1) * 34 / EDGE_MM, -50, 50)))
    out += 40.0 * np.sin(x / 9.0) * np.cos(y / 11.0) * brain
    return out


def centred_affine(
    shape: tuple[int, int, int], voxel_mm: tuple[float, float, float], rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> npt.NDArray[np.float64]:
    """Voxel-to-mm affine with the grid centred on the origin, optionally oblique (radians)."""
    a = np.diag([*voxel_mm, 1.0])
    a[:3, 3] = -(np.asarray(shape) - 1) / 2.0 * np.asarray(voxel_mm)
    return spm_matrix([0.0, 0.0, 0.0, *rotation]) @ a


def render(
    shape: tuple[int, int, int], affine: npt.NDArray[np.float64], params: npt.ArrayLike = (0, 0, 0, 0, 0, 0)
) -> npt.NDArray[np.float64]:
    """The phantom on a grid after a rigid motion of SPM parameters ``params``.

    Voxel ``y`` of the result shows the phantom at ``spm_matrix(params) @
    affine @ y``, so realigning it to ``render(shape, affine)`` must give
    ``params``.
    """
    idx = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij"), axis=-1)
    m = spm_matrix(params) @ affine
    world = idx @ m[:3, :3].T + m[:3, 3]
    return phantom_at(world)


def brain_mask(
    shape: tuple[int, int, int], affine: npt.NDArray[np.float64], shrink: float = 0.9
) -> npt.NDArray[np.bool_]:
    """Voxels well inside the phantom's brain ellipsoid."""
    idx = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij"), axis=-1)
    w = idx @ affine[:3, :3].T + affine[:3, 3]
    d = np.sqrt((w[..., 0] / 55) ** 2 + (w[..., 1] / 70) ** 2 + (w[..., 2] / 34) ** 2)
    return d < shrink
