"""Type stubs of :mod:`nfd._cext.bspline`: B-spline prefilter and sampling, portable build.

Coefficient arrays are float32 with ``margin`` mirrored voxels before every
axis (and at least as many after); points are 0-based voxel coordinates.
"""

import numpy as np
import numpy.typing as npt

def prefilter_lines(a: npt.NDArray[np.float32] | npt.NDArray[np.float64], degree: int) -> None:
    """Turn samples into B-spline coefficients along axis 1 of ``(outer, n, lanes)``, in place."""

def prefilter_last_axis(a: npt.NDArray[np.float32] | npt.NDArray[np.float64], degree: int) -> None:
    """B-spline coefficients along the last axis (unit stride), in place."""

def sample_points(
    coef: npt.NDArray[np.float32],
    margin: int,
    degree: int,
    points: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None:
    """Spline values at ``points`` ((N, 3) float64, voxels) into ``out`` ((N,) float64)."""

def sample_gradient(
    coef: npt.NDArray[np.float32],
    margin: int,
    degree: int,
    points: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    gradient: npt.NDArray[np.float64],
) -> None:
    """Spline values ((N,)) and gradients ((N, 3), per voxel) at ``points``; ``degree`` 2 to 4."""

def basis_values(degree: int, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None:
    """Centred B-spline of ``degree`` at each ``x`` (voxels) into ``out``."""

def fill_margins(padded: npt.NDArray[np.float32], margin: int, extent: npt.NDArray[np.intp]) -> None:
    """Mirror the interior (``extent``, (3,) intp) of ``padded`` into its ``margin``-voxel margins, in place."""

def load_rows(src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32], pad: int) -> bool:
    """Copy ``src`` into ``dst[:, :, pad:-pad]``, zero the ends of each row; whether ``src`` is all finite."""
