"""Writing synthetic volumes and masks as NIfTI-1 files, atomically."""

from __future__ import annotations

import gzip
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import ArrayLike

from nfd._files import write_atomic
from nfd.simulate._errors import SimulationError

__all__ = ["write_nifti_volume"]


def write_nifti_volume(
    path: str | PathLike[str], data: ArrayLike, affine: ArrayLike, *, tr: float | None = None
) -> Path:
    """Write one 3-D volume as a single-file NIfTI-1 image, atomically.

    The image is serialised in memory, written to a hidden temporary file in
    the same folder (``.<name>.<random>.tmp``, a name no scanner pattern
    matches), flushed and fsynced, then renamed over `path`, and the folder
    is fsynced: a watcher sees either no file or the complete file.

    Parameters
    ----------
    path : path
        Destination, ending in ``.nii`` or ``.nii.gz``; its folder must exist.
    data : array_like
        The 3-D volume, indexed ``[i, j, k]``; its dtype is kept (booleans
        are written as uint8).
    affine : array_like
        (4, 4) voxel -> mm affine (RAS+), written as both qform and sform
        (code 1, scanner).
    tr : float, optional
        Repetition time, seconds, stored as the 4th pixdim.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    SimulationError
        If `path` has another extension, `data` is not 3-D, or `affine` is
        not a finite 4x4 matrix.
    OSError
        If the file cannot be written (the temporary file is removed).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, nibabel as nib
    >>> from nfd.simulate import write_nifti_volume
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vol_0000.nii"
    >>> _ = write_nifti_volume(path, np.ones((4, 4, 2), np.float32), np.eye(4))
    >>> nib.load(path).shape
    (4, 4, 2)
    """
    target = Path(path)
    name = target.name
    if name.endswith(".nii.gz"):
        compress = True
    elif name.endswith(".nii"):
        compress = False
    else:
        raise SimulationError(f"{target}: expected a .nii or .nii.gz file name")
    array = np.asarray(data)
    if array.ndim != 3:
        raise SimulationError(f"{target}: data must be a 3-D volume, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise SimulationError(f"{target}: affine must be a finite 4x4 voxel->mm matrix, got shape {matrix.shape}")
    image = nib.Nifti1Image(array, matrix)
    image.set_qform(matrix, code=1)
    image.set_sform(matrix, code=1)
    image.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        image.header["pixdim"][4] = float(tr)
    payload = image.to_bytes()
    if compress:
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    write_atomic(target, payload)
    return target
