"""Type stubs of :mod:`nfd._cext.avx2`: the per-volume kernels compiled for AVX2 and FMA.

The same functions, with the same signatures, as the portable modules
:mod:`nfd._cext.bspline`, :mod:`nfd._cext.smooth`, :mod:`nfd._cext.realign`
and :mod:`nfd._cext.reslice`.
"""

import numpy as np
import numpy.typing as npt

#: Floats read past the last coefficient of a row by the 8-wide loads.
SLACK: int

def prefilter_lines(a: npt.NDArray[np.float32] | npt.NDArray[np.float64], degree: int) -> None:
    """Turn samples into B-spline coefficients along axis 1 of ``(outer, n, lanes)``, in place."""

def prefilter_last_axis(a: npt.NDArray[np.float32] | npt.NDArray[np.float64], degree: int) -> None:
    """B-spline coefficients along the last axis (unit stride), in place."""

def convolve_lines(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32], kernel: npt.NDArray[np.float64], normalize: bool
) -> None:
    """Convolve along axis 1 of C-ordered ``(outer, n, lanes)`` arrays; ``kernel`` has odd length."""

def convolve_last(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32], kernel: npt.NDArray[np.float64], normalize: bool
) -> None:
    """Convolve along the last axis; ``dst`` may be any view with a unit-stride last axis."""

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
    """Accumulate the Gauss-Newton sums of one iteration into ``moments`` (layout of :mod:`nfd._cext.realign`)."""

def reslice(
    coef: npt.NDArray[np.float32],
    margin: int,
    extent: npt.NDArray[np.intp],
    degree: int,
    transform: npt.NDArray[np.float64],
    out: npt.NDArray[np.float32],
    tolerance: float,
) -> None:
    """Fill ``out`` (reference grid) from the moving volume's coefficients."""
