"""Exceptions raised by :mod:`nfd.volume`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = [
    "VolumeError",
    "GridMismatchError",
    "InvalidVolumeError",
    "InvalidAffineError",
    "InvalidOptionError",
    "OutputBufferError",
]


class VolumeError(NfdError):
    """Base class of every error raised by :mod:`nfd.volume`."""


class GridMismatchError(VolumeError, ValueError):
    """A volume is not on the reference's grid (its shape differs)."""


class InvalidVolumeError(VolumeError, ValueError):
    """An array is not a usable volume (not 3-D, too small, not real-valued)."""


class InvalidAffineError(VolumeError, ValueError):
    """An affine is not a finite, invertible 4x4 voxel-to-mm matrix."""


class InvalidOptionError(VolumeError, ValueError):
    """A keyword option is out of range (degree, FWHM, separation, ...)."""


class OutputBufferError(VolumeError, ValueError):
    """A preallocated output array has the wrong shape, dtype or layout."""
