"""Bring a volume onto the reference grid when only its voxel order differs.

Readers order DICOM rows and columns differently (SPM's import, dcm2niix and
nibabel each have their own), so a scan and an EPI template, or a scan and an
ROI mask, can sample the same grid of points in space with permuted or
reversed axes. Such a volume is reordered (a view: no copy, no
interpolation). A volume on a different grid is refused: nfd never resamples
silently.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from nibabel import orientations

from nfd.volume._errors import GridMismatchError

__all__ = ["conform_to_grid"]


def conform_to_grid(
    data: npt.NDArray[np.generic],
    affine: npt.ArrayLike,
    shape: tuple[int, ...],
    target_affine: npt.ArrayLike,
    *,
    atol_mm: float = 0.01,
    name: str = "volume",
) -> npt.NDArray[np.generic]:
    """``data`` with its axes permuted and flipped to lie on the target grid.

    Parameters
    ----------
    data : ndarray, 3-D
        The volume, indexed ``[i, j, k]``.
    affine : array_like, (4, 4)
        Its voxel→mm affine (0-based voxels).
    shape : tuple of 3 ints
        Shape of the target grid (voxels).
    target_affine : array_like, (4, 4)
        Voxel→mm affine of the target grid.
    atol_mm : float
        Largest element-wise difference (mm) tolerated between the reordered
        affine and ``target_affine``; scanner and converter round positions
        differently (SPM's NIfTI stores float32).
    name : str
        What ``data`` is, for the error message.

    Returns
    -------
    ndarray
        ``data`` itself when it is already on the grid, else a reordered view.

    Raises
    ------
    GridMismatchError
        The volume's voxels are not the target grid's points in another order.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(24.0).reshape(2, 3, 4)
    >>> aff = np.diag([2.0, 3.0, 4.0, 1.0])
    >>> flipped_aff = aff @ np.array([[-1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    >>> np.array_equal(conform_to_grid(a[::-1], flipped_aff, (2, 3, 4), aff), a)
    True
    """
    affine = np.asarray(affine, dtype=np.float64)
    target_affine = np.asarray(target_affine, dtype=np.float64)
    shape = tuple(int(s) for s in shape)
    if data.shape == shape and np.allclose(affine, target_affine, rtol=0.0, atol=atol_mm):
        return data
    out, out_affine = data, affine
    if data.ndim == 3:
        transform = orientations.ornt_transform(
            orientations.io_orientation(affine), orientations.io_orientation(target_affine)
        )
        out = orientations.apply_orientation(data, transform)
        out_affine = affine @ orientations.inv_ornt_aff(transform, data.shape)
    if out.shape != shape or not np.allclose(out_affine, target_affine, rtol=0.0, atol=atol_mm):
        raise GridMismatchError(
            f"{name} is not on the reference grid: shape {tuple(data.shape)} with affine "
            f"{np.round(affine, 3).tolist()} against shape {shape} with affine "
            f"{np.round(target_affine, 3).tolist()} (tolerance {atol_mm} mm); "
            "expected the same grid of voxels, in any axis order"
        )
    return out
