"""Type stubs of :mod:`nfd._cext.stockwell`: the folding step of the Stockwell transform."""

import numpy as np
import numpy.typing as npt

def fold(
    spectrum: npt.NDArray[np.float64],
    coefs: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.intp],
    first: npt.NDArray[np.intp],
    phase: npt.NDArray[np.intp],
    out: npt.NDArray[np.float64],
) -> None:
    """Fold every filter's product with every channel's spectrum onto ``M`` bins of ``out``.

    ``spectrum`` (n_channels, 2 n_bins) and ``coefs`` (2 n_coefs,) are
    complex values interleaved; ``out`` is (n_channels, n_filters, 2 M).
    """
