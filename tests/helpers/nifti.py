"""Synthetic NIfTI files for the acquire tests."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np


def nifti_bytes(
    value: int = 1,
    shape: tuple[int, ...] = (6, 5, 4),
    *,
    affine: np.ndarray | None = None,
    dtype: type = np.int16,
    compressed: bool = False,
) -> bytes:
    """A NIfTI-1 file's bytes: a ramp plus ``value`` (distinct per volume)."""
    data: np.ndarray = (np.arange(int(np.prod(shape))).reshape(shape, order="F") + value).astype(dtype)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.5, 3.0, 1.0]) if affine is None else affine)
    raw = img.to_bytes()
    return gzip.compress(raw, mtime=0) if compressed else raw
