"""The in-memory form of one scan volume, whatever file format it came from."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ScanImage"]


@dataclass(frozen=True, eq=False)
class ScanImage:
    """One 3-D scan volume read from one file.

    Attributes
    ----------
    data : ndarray of float32, shape (I, J, K)
        Voxel values indexed ``[i, j, k]`` in NIfTI voxel order (stored
        C-contiguous; other real arrays are converted), with the
        file's scaling applied (DICOM RescaleSlope/RescaleIntercept, NIfTI
        ``scl_slope``/``scl_inter``).
    affine : ndarray of float64, shape (4, 4)
        Voxel-to-world transform: 0-based voxel indices ``(i, j, k, 1)`` to
        millimetres in RAS+ space (NIfTI convention).
    header_index : int or None
        The acquisition number written in the header, 1-based as the scanner
        writes it (DICOM InstanceNumber, else AcquisitionNumber); None when
        the header has none (NIfTI).
    slice_times : tuple of float or None
        Acquisition time of each slice along ``k``, in seconds from the start
        of the volume's acquisition, when the header records it (Siemens CSA
        ``MosaicRefAcqTimes``, enhanced DICOM frame times, NIfTI slice code);
        None otherwise.
    series : str or None
        Identity of the series the volume belongs to (DICOM
        SeriesInstanceUID, else SeriesNumber); None for NIfTI.
    format : str
        The reader that produced it: ``"nifti1"``, ``"nifti2"``,
        ``"siemens_mosaic"``, ``"enhanced_mr"``.
    echo : int or None
        1-based echo number of a multi-echo acquisition (DICOM EchoNumbers
        (0018,0086), or the BIDS ``_echo-<n>_`` entity of a NIfTI's name);
        None when the file does not say (single-echo NIfTI).
    echo_time_ms : float or None
        Echo time, ms (DICOM EchoTime (0018,0081), or the ``EchoTime`` of a
        NIfTI's BIDS sidecar, s, converted); None when unknown.
    more_echoes : tuple of ScanImage
        The further echoes of a file holding several (a Siemens XA enhanced
        file whose frames have several EffectiveEchoTimes): echoes 2..n,
        each a volume of its own on this one's grid, this image being echo 1
        (:attr:`file_echoes` gives them all); empty for a file of one echo.
    """

    data: npt.NDArray[np.float32]
    affine: npt.NDArray[np.float64]
    header_index: int | None = None
    slice_times: tuple[float, ...] | None = None
    series: str | None = None
    format: str = ""
    echo: int | None = None
    echo_time_ms: float | None = None
    more_echoes: tuple[ScanImage, ...] = ()

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3 or data.dtype.kind not in "uif":
            raise ValueError(
                f"ScanImage.data: expected a 3-D array of real numbers, got shape {data.shape} "
                f"of {data.dtype}"
            )
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"ScanImage.affine: expected a (4, 4) array, got shape {affine.shape}")
        if self.echo is not None and (isinstance(self.echo, bool) or not isinstance(self.echo, int) or self.echo < 1):
            raise ValueError(f"ScanImage.echo: expected an int >= 1 or None, got {self.echo!r}")
        if self.echo_time_ms is not None:
            te = float(self.echo_time_ms)
            if not (math.isfinite(te) and te > 0):
                raise ValueError(f"ScanImage.echo_time_ms: expected a finite time > 0 ms or None, got {te!r}")
            object.__setattr__(self, "echo_time_ms", te)
        # Stored as C-contiguous float32 and float64 (no copy when already so).
        object.__setattr__(self, "data", np.ascontiguousarray(data, dtype=np.float32))
        object.__setattr__(self, "affine", np.ascontiguousarray(affine))

    @property
    def file_echoes(self) -> tuple[ScanImage, ...]:
        """Every echo of the file by echo number: this image (without ``more_echoes``) and ``more_echoes``."""
        if not self.more_echoes:
            return (self,)
        return (dataclasses.replace(self, more_echoes=()), *self.more_echoes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along ``i``, ``j``, ``k``."""
        i, j, k = self.data.shape
        return (i, j, k)

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel size along ``i``, ``j``, ``k`` in mm (column norms of the affine)."""
        norms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(norms[0]), float(norms[1]), float(norms[2]))
