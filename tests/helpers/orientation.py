"""The closest canonical (RAS+) orientation, in which dcm2niix's reference NIfTIs are compared."""

from __future__ import annotations

import nibabel as nib
import numpy as np


def canonical(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """The image of ``data`` (voxel -> mm ``affine``) in its closest canonical orientation."""
    return nib.as_closest_canonical(nib.Nifti1Image(data, affine))


def slice_times_in_canonical_order(times: tuple[float, ...] | list[float], affine: np.ndarray) -> np.ndarray:
    """Slice times along k reordered as the k axis lies in the closest canonical orientation."""
    ornt = nib.orientations.io_orientation(affine)
    assert ornt[2, 0] == 2, "the slice axis stays the third axis in canonical orientation"
    values = np.asarray(times, dtype=float)
    return values[::-1] if ornt[2, 1] < 0 else values
