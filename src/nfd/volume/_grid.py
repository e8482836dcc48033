"""The reference grid: checking volumes, affines and output buffers.

Volumes are numpy arrays indexed ``[i, j, k]`` in NIfTI voxel order;
affines are 4x4 voxel-to-mm matrices (NIfTI convention, 0-based voxel
indices).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfd.volume._errors import InvalidAffineError, InvalidVolumeError, OutputBufferError

__all__ = ["as_volume", "check_affine", "voxel_sizes", "check_output", "zero_non_finite"]


def as_volume(volume: npt.ArrayLike, name: str) -> npt.NDArray[np.generic]:
    """``volume`` as a 3-D real-valued numpy array (no copy when possible).

    Raises
    ------
    InvalidVolumeError
        If it is not 3-D or does not hold real numbers.
    """
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise InvalidVolumeError(f"{name} must be a 3-D array, got {arr.ndim} dimension(s) (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise InvalidVolumeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def check_affine(affine: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """``affine`` as a float64 4x4 array.

    Raises
    ------
    InvalidAffineError
        If it is not a finite 4x4 matrix with an invertible 3x3 part and a
        last row ``(0, 0, 0, 1)``.
    """
    a = np.array(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InvalidAffineError(f"{name} must be a finite 4x4 voxel-to-mm matrix, got shape {a.shape}")
    if not np.allclose(a[3], [0.0, 0.0, 0.0, 1.0]):
        raise InvalidAffineError(f"{name} must have last row (0, 0, 0, 1), got {a[3]}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise InvalidAffineError(f"{name} has a singular 3x3 part (determinant {np.linalg.det(a[:3, :3])})")
    return a


def voxel_sizes(affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Voxel edge lengths in mm: the norms of the affine's first three columns."""
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))


def check_output(out: object, shape: tuple[int, ...], name: str) -> npt.NDArray[np.float32]:
    """``out`` if it is a writable float32 array of ``shape`` contiguous along its last axis.

    Raises
    ------
    OutputBufferError
        Otherwise, naming ``name`` and what was expected.
    """
    if not isinstance(out, np.ndarray):
        raise OutputBufferError(f"{name} must be a numpy float32 array, got {type(out).__name__}")
    if out.dtype != np.float32:
        raise OutputBufferError(f"{name} must have dtype float32, got {out.dtype}")
    if out.shape != tuple(shape):
        raise OutputBufferError(f"{name} must have the reference's shape {tuple(shape)}, got {out.shape}")
    if not out.flags.writeable:
        raise OutputBufferError(f"{name} is read-only")
    if out.strides[2] != out.itemsize:
        raise OutputBufferError(f"{name} must be contiguous along its last axis (strides {out.strides})")
    return out


def zero_non_finite(a: npt.NDArray[np.floating]) -> bool:
    """Replace NaN and infinite values of a float array by 0, in place.

    Returns
    -------
    bool
        Whether any value was replaced.
    """
    if np.isfinite(a.sum()):
        return False
    np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return True
