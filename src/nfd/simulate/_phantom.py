"""A brain-like EPI phantom: head, skull-like rim, grey and white matter, ventricles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Phantom", "centred_affine", "make_phantom"]

# EPI-like intensities (arbitrary scanner units): grey matter is brighter
# than white matter on T2*-weighted EPI; the ventricles are drawn darker.
_SCALP = 450.0
_SKULL = 80.0
_GREY = 800.0
_WHITE = 560.0
_VENTRICLE = 250.0

#: Radii of the nested ellipsoids, as fractions of the head's semi-axes.
_SKULL_INNER = 0.93
_BRAIN_OUTER = 0.88
_WHITE_OUTER = 0.64


@dataclass(frozen=True, eq=False)
class Phantom:
    """A motion-free, noise-free image and the masks it was drawn from."""

    image: np.ndarray  #: float32, scanner units
    brain: np.ndarray  #: bool, inside the brain (grey, white, ventricles)
    grey: np.ndarray  #: bool, grey matter
    rois: dict[str, np.ndarray]  #: name -> bool mask in the grey matter


def centred_affine(shape: tuple[int, int, int], voxel_size: tuple[float, float, float]) -> np.ndarray:
    """RAS+ voxel -> mm affine with the volume centre at (0, 0, 0) mm.

    ``i`` runs left -> right, ``j`` posterior -> anterior, ``k`` inferior ->
    superior; voxel ``(shape - 1) / 2`` is at the origin.
    """
    affine = np.diag([*map(float, voxel_size), 1.0])
    affine[:3, 3] = -np.asarray(voxel_size, dtype=np.float64) * (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    return affine


def _smooth_field(shape: tuple[int, int, int], rng: np.random.Generator, sigma_vox: float) -> np.ndarray:
    """A smooth random field scaled to [-1, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap")
    peak = np.abs(field).max()
    return field / peak if peak > 0 else field


def make_phantom(
    shape: tuple[int, int, int],
    voxel_size: tuple[float, float, float],
    rng: np.random.Generator,
    roi_radius_vox: float = 2.5,
) -> Phantom:
    """Draw the phantom on a centred grid.

    The head is an egg-shaped ellipsoid filling about 85 % of the field of
    view: a bright scalp rim, a dark skull layer, grey matter, a white
    matter core with a folded (randomly perturbed) boundary, two ventricles
    left and right of the midline, anterior of the centre; then a smooth
    bias field and a Gaussian blur (sigma 0.8 voxel). The features break
    every symmetry so that rigid realignment is well posed. Two spherical
    ROIs of `roi_radius_vox` voxels (their grey-matter part) sit in the left
    (``roi_a``) and right (``roi_b``) grey matter.
    """
    vs = np.asarray(voxel_size, dtype=np.float64)
    fov = vs * np.asarray(shape, dtype=np.float64)
    affine = centred_affine(shape, voxel_size)
    grids = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    x, y, z = (affine[axis, axis] * grids[axis] + affine[axis, 3] for axis in range(3))
    # semi-axes (mm); the back of the head is shorter than the front (egg shape)
    a, b_front, b_back, c = 0.40 * fov[0], 0.44 * fov[1], 0.38 * fov[1], 0.42 * fov[2]
    b = np.where(y >= 0, b_front, b_back)
    r = np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)

    folds = _smooth_field((int(shape[0]), int(shape[1]), int(shape[2])), rng, sigma_vox=1.5)
    white = r < _WHITE_OUTER + 0.14 * folds
    brain = r < _BRAIN_OUTER
    ventricle_centres = ((-0.12 * a, 0.10 * b_front, 0.05 * c), (0.10 * a, 0.12 * b_front, 0.03 * c))
    ventricles = np.zeros(shape, dtype=bool)
    for cx, cy, cz in ventricle_centres:
        ventricles |= (
            ((x - cx) / (0.08 * a)) ** 2 + ((y - cy) / (0.22 * b_front)) ** 2 + ((z - cz) / (0.15 * c)) ** 2
        ) < 1.0

    image = np.zeros(shape, dtype=np.float64)
    image[r < 1.0] = _SCALP
    image[r < _SKULL_INNER] = _SKULL
    image[brain] = _GREY
    image[brain & white] = _WHITE
    image[brain & ventricles] = _VENTRICLE
    grey = brain & ~white & ~ventricles

    bias = 1.0 + 0.08 * (y / fov[1]) * 2.0 + 0.05 * (z / fov[2]) * 2.0 - 0.03 * (x / fov[0]) * 2.0
    image = ndimage.gaussian_filter(image * bias, 0.8, mode="constant")

    rois: dict[str, np.ndarray] = {}
    for name, side in (("roi_a", -1.0), ("roi_b", 1.0)):
        centre = np.array([side * 0.74 * a, 0.15 * b_front, 0.25 * c])
        distance_vox = np.sqrt(
            ((x - centre[0]) / vs[0]) ** 2 + ((y - centre[1]) / vs[1]) ** 2 + ((z - centre[2]) / vs[2]) ** 2
        )
        rois[name] = (distance_vox <= roi_radius_vox) & grey
    return Phantom(image=image.astype(np.float32), brain=brain, grey=grey, rois=rois)
