"""Type stubs of :mod:`nfd._cext.smooth`: separable float32 convolution, portable build."""

import numpy as np
import numpy.typing as npt

def convolve_lines(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32], kernel: npt.NDArray[np.float64], normalize: bool
) -> None:
    """Convolve along axis 1 of C-ordered ``(outer, n, lanes)`` arrays; ``kernel`` has odd length."""

def convolve_last(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32], kernel: npt.NDArray[np.float64], normalize: bool
) -> None:
    """Convolve along the last axis; ``dst`` may be any view with a unit-stride last axis."""
