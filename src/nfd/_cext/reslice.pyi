"""Type stubs of :mod:`nfd._cext.reslice`: B-spline resampling through a rigid transform, portable build."""

import numpy as np
import numpy.typing as npt

def reslice(
    coef: npt.NDArray[np.float32],
    margin: int,
    extent: npt.NDArray[np.intp],
    degree: int,
    transform: npt.NDArray[np.float64],
    out: npt.NDArray[np.float32],
    tolerance: float,
) -> None:
    """Fill ``out`` (reference grid) from the moving volume's coefficients.

    ``transform`` (3 or 4, 4) maps output voxels to moving voxels; points
    more than ``tolerance`` voxels outside the moving volume are set to zero.
    """
