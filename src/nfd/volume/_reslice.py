"""Reslicing: resample a moved volume onto the reference grid.

As SPM's ``spm_reslice`` (with ``mask`` on, as OpenNFT's
``spm_reslice_rt``): each voxel of the reference grid is mapped into the
moved volume and the volume's B-spline evaluated there; voxels mapping
more than :data:`RESLICE_TOLERANCE` voxels outside the moved volume are
set to zero.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfd.volume import _kernels
from nfd.volume._bspline import MARGIN, CoefficientVolume
from nfd.volume._errors import InvalidOptionError, InvalidVolumeError
from nfd.volume._grid import as_volume, check_affine, check_output, zero_non_finite
from nfd.volume._rigid import spm_matrix

__all__ = ["RESLICE_TOLERANCE", "voxel_map", "resample", "reslice"]

#: How far (voxels) outside the moved volume a reference voxel may map and
#: still be interpolated (mirror boundary) rather than zeroed; SPM's ``TINY``.
RESLICE_TOLERANCE = 0.05


def voxel_map(affine: npt.NDArray[np.float64], transform: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Reference voxel -> moved voxel for a motion ``transform`` (moved mm -> reference mm).

    Returns
    -------
    (3, 4) float64, C-ordered
        ``(inv(M) @ inv(transform) @ M)[:3]`` with ``M`` the affine: SPM's
        ``M2 \\ M1`` after realignment.
    """
    return np.ascontiguousarray((np.linalg.solve(affine, np.linalg.solve(transform, affine)))[:3])


def resample(
    coefficients: CoefficientVolume, mapping: npt.NDArray[np.float64], out: npt.NDArray[np.float32]
) -> None:
    """Evaluate ``coefficients`` at ``mapping @ (i, j, k, 1)`` for every voxel of ``out``."""
    _kernels.reslice(
        coefficients.padded, MARGIN, coefficients.extent, coefficients.degree, mapping, out, RESLICE_TOLERANCE
    )


def reslice(
    volume: npt.ArrayLike,
    affine: npt.ArrayLike,
    params: npt.ArrayLike,
    *,
    degree: int = 4,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Undo a known rigid motion: resample ``volume`` onto its own grid.

    The value at reference voxel ``x`` is ``volume``'s spline at
    ``inv(M) @ inv(spm_matrix(params)) @ M @ x``, so a volume that moved by
    ``params`` (as :class:`MotionCorrector` reports them) comes back onto
    the reference; ``params = spm_imatrix(inv(spm_matrix(p)))`` applies the
    motion ``p`` instead.

    Parameters
    ----------
    volume : array_like, 3-D, real
        The moved volume (NaN and infinite values count as 0).
    affine : array_like, (4, 4)
        Voxel-to-mm matrix shared by the volume and the reference grid.
    params : array_like, (6,)
        SPM rigid parameters (mm, radians) of the volume relative to the
        reference.
    degree : int, default 4
        B-spline degree, 1 (trilinear) to 4.
    out : float32 array, optional
        Where to write the result.

    Returns
    -------
    numpy.ndarray, float32
        The resliced volume; zero where it maps outside ``volume``.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.volume import reslice
    >>> v = np.arange(5 * 6 * 7, dtype=float).reshape(5, 6, 7)
    >>> r = reslice(v, np.eye(4), [1.0, 0, 0, 0, 0, 0], degree=1)
    >>> bool(r[1, 2, 3] == v[0, 2, 3]), float(r[0, 2, 3])
    (True, 0.0)
    """
    vol = as_volume(volume, "volume")
    m = check_affine(affine, "affine")
    if degree not in (1, 2, 3, 4):
        raise InvalidOptionError(f"degree must be 1, 2, 3 or 4, got {degree!r}")
    if min(vol.shape) < 2:
        raise InvalidVolumeError(f"volume must have at least 2 voxels along every axis, got shape {vol.shape}")
    if out is None:
        out = np.empty(vol.shape, dtype=np.float32)
    check_output(out, vol.shape, "out")
    coefficients = CoefficientVolume(vol.shape, degree)
    np.copyto(coefficients.interior, vol, casting="unsafe")
    zero_non_finite(coefficients.interior)
    coefficients.prefilter()
    resample(coefficients, voxel_map(m, spm_matrix(params)), out)
    return out
