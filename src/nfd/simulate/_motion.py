"""Rigid head motion: SPM's parameter matrix, a random walk, and resampling."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

__all__ = ["move_volume", "random_walk_motion", "spline_coefficients"]

#: Interpolation order of the resampling: a quadratic B-spline, SPM's default
#: for realignment; its round trip (move, then move back) on the phantom stays
#: within 0.3 % of the brain signal, at half the cost of a cubic one.
SPLINE_ORDER = 2


def _spm_matrix(params: ArrayLike) -> np.ndarray:
    """SPM's rigid-body matrix ``T * R1 * R2 * R3`` from 6 parameters.

    ``params`` = (x, y, z translations in mm, rotations about x (pitch),
    y (roll), z (yaw) in radians), as ``spm_matrix.m`` (Friston, Ashburner et
    al., SPM) builds it: rotations about the mm origin, applied yaw first,
    then the translation. Kept private so that this package does not depend
    on :mod:`nfd.volume`; it computes the same matrix as its ``spm_matrix``.
    """
    p = np.asarray(params, dtype=np.float64)
    tx, ty, tz, rx, ry, rz = p
    translate = np.eye(4)
    translate[:3, 3] = (tx, ty, tz)
    cx, sx = np.cos(rx), np.sin(rx)
    cy, sy = np.cos(ry), np.sin(ry)
    cz, sz = np.cos(rz), np.sin(rz)
    r1 = np.array([[1, 0, 0, 0], [0, cx, sx, 0], [0, -sx, cx, 0], [0, 0, 0, 1]], dtype=np.float64)
    r2 = np.array([[cy, 0, sy, 0], [0, 1, 0, 0], [-sy, 0, cy, 0], [0, 0, 0, 1]], dtype=np.float64)
    r3 = np.array([[cz, sz, 0, 0], [-sz, cz, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    return translate @ r1 @ r2 @ r3


def random_walk_motion(
    n_volumes: int, rng: np.random.Generator, max_motion_mm: float, max_motion_deg: float
) -> np.ndarray:
    """A smooth random walk of rigid-body parameters, 0 at volume 0.

    Each of the 6 parameters is a cumulative sum of Gaussian steps; the
    translations are then scaled so that their largest absolute value over
    the run is `max_motion_mm` (mm), the rotations so that theirs is
    `max_motion_deg` (degrees, returned in radians).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_volumes, 6)``, SPM convention (x, y, z mm;
        rotations about x, y, z in radians), relative to volume 0.
    """
    steps = rng.standard_normal((n_volumes, 6))
    steps[0] = 0.0
    walk = np.cumsum(steps, axis=0)
    motion = np.zeros((n_volumes, 6), dtype=np.float64)
    for columns, limit in ((slice(0, 3), max_motion_mm), (slice(3, 6), np.deg2rad(max_motion_deg))):
        peak = np.abs(walk[:, columns]).max() if n_volumes > 1 else 0.0
        if peak > 0 and limit > 0:
            motion[:, columns] = walk[:, columns] * (limit / peak)
    return motion


def spline_coefficients(volume: np.ndarray) -> np.ndarray:
    """B-spline coefficients (order :data:`SPLINE_ORDER`) of `volume`, for :func:`move_volume`.

    The prefilter is linear, so coefficients of a weighted sum of images are
    the weighted sum of their coefficients.
    """
    return ndimage.spline_filter(volume, order=SPLINE_ORDER, mode="mirror", output=np.float64)


def move_volume(coefficients: np.ndarray, affine: np.ndarray, params: ArrayLike) -> np.ndarray:
    """The image a scanner records after the head moved by `params`.

    With ``M = spm_matrix(params)`` and the voxel -> mm `affine` ``A``, the
    moved image samples the still head at voxel ``inv(A) @ M @ A @ u`` for
    each voxel ``u``: SPM's convention, where realignment recovers
    ``params`` as ``spm_imatrix(mat_moved / mat_still)`` and reslicing the
    moved image at ``inv(A) @ inv(M) @ A @ v`` restores the still one.
    Rotations are about the mm origin (the volume centre for a centred
    affine). Voxels that come from outside the field of view are 0.

    Parameters
    ----------
    coefficients : numpy.ndarray
        B-spline coefficients of the still image
        (:func:`spline_coefficients`).
    affine : numpy.ndarray
        (4, 4) voxel -> mm affine.
    params : array_like
        6 rigid-body parameters (mm, radians).

    Returns
    -------
    numpy.ndarray
        float32, the moved image, same shape.
    """
    matrix = np.linalg.inv(affine) @ _spm_matrix(params) @ affine
    return ndimage.affine_transform(
        coefficients,
        matrix,
        order=SPLINE_ORDER,
        mode="constant",
        cval=0.0,
        prefilter=False,
        output=np.float32,
    )
