"""Type stubs of :mod:`nfd._cext.realign`: the Gauss-Newton pass of rigid realignment, portable build.

The integer constants are offsets into the ``moments`` vector (float64,
:data:`N_MOMENTS` values) that :func:`gauss_newton_moments` fills.
"""

import numpy as np
import numpy.typing as npt

#: Points inside the moving volume.
N_IN: int
#: Sum of the moving volume's values ``F`` over the inside points.
SUM_F: int
#: Sum of ``F**2``.
SUM_FF: int
#: Sum of ``b * F``.
SUM_BF: int
#: 6 values: sum of ``A[:, p] * F``.
ATF: int
#: Points outside the moving volume.
N_OUT: int
#: Sum of ``b`` over the outside points.
SUM_B_OUT: int
#: Sum of ``b**2`` over the outside points.
SUM_BB_OUT: int
#: 6 values: sum of ``A[:, p] * b`` over the outside points.
ATB_OUT: int
#: 36 values: sum of ``A[:, p] * A[:, q]`` over the outside points.
ATA_OUT: int
#: Length of the ``moments`` vector.
N_MOMENTS: int

def gauss_newton_moments(
    coef: npt.NDArray[np.float32],
    margin: int,
    extent: npt.NDArray[np.intp],
    degree: int,
    points: npt.NDArray[np.float64],
    jacobian: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    transform: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
) -> None:
    """Accumulate the Gauss-Newton sums of one iteration into ``moments``.

    ``points`` (N, 3) voxels, ``jacobian`` (N, 6) per mm and per radian,
    ``target`` (N,), ``transform`` (3 or 4, 4) reference voxel -> moving voxel.
    """
