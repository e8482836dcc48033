"""B-spline coefficient volumes with mirrored margins.

A volume is interpolated by a tensor-product B-spline of degree 1 to 4
whose coefficients come from the recursive prefilter of Unser, Aldroubi &
Eden (IEEE Trans. Signal Process. 41(2):821-848, 1993), with
mirror-symmetric boundaries as SPM's ``spm_bsplinc`` (degree 1, trilinear,
needs no prefilter). The coefficients are computed and stored in float32
(relative error about 1e-6), with a margin of :data:`MARGIN` mirrored
voxels on every side (plus zero slack at the end of the last axis for
8-wide reads) so that the sampling kernels never test for edges.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfd._cext import bspline as _bspline
from nfd.volume import _kernels

__all__ = ["MARGIN", "prefilter", "mirror_index", "CoefficientVolume"]

#: Mirrored voxels kept on every side of a coefficient volume: enough for
#: degree <= 4 at points up to half a voxel outside the volume.
MARGIN = 2


def prefilter(samples: npt.NDArray[np.float32] | npt.NDArray[np.float64], degree: int) -> None:
    """Turn samples into B-spline coefficients of ``degree``, in place.

    Parameters
    ----------
    samples : float32 or float64 array, 3-D
        Overwritten with the coefficients. Any strides.
    degree : int
        0 to 4; degrees 0 and 1 leave ``samples`` unchanged.
    """
    if degree < 2:
        return
    n0, n1, n2 = samples.shape
    if samples.flags.c_contiguous:
        _kernels.prefilter_lines(samples.reshape(1, n0, n1 * n2), degree)
    elif n1 * n2 == 0:
        return
    else:
        _kernels.prefilter_lines(np.moveaxis(samples, 0, 1), degree)
    _kernels.prefilter_lines(samples, degree)
    if samples.strides[2] == samples.itemsize:
        _kernels.prefilter_last_axis(samples, degree)
    else:
        _kernels.prefilter_lines(np.moveaxis(samples, 2, 1), degree)


def mirror_index(i: int, n: int) -> int:
    """Index ``i`` reflected into ``[0, n)`` with whole-sample symmetry (SPM's ``mirror``)."""
    i = abs(i)
    if i < n:
        return i
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i %= period
    return i if i < n else period - i


class CoefficientVolume:
    """Spline coefficients of one volume shape, in a reusable padded float32 buffer.

    Parameters
    ----------
    shape : tuple of 3 ints
        Shape of the volume (each at least 2).
    degree : int
        Spline degree, 1 to 4.

    Attributes
    ----------
    padded : float32 array
        Coefficients with mirrored margins (what the kernels read), shape
        ``(n0 + 2 m, n1 + 2 m, n2 + 2 m + SLACK)``.
    interior : view of ``padded``
        The coefficients proper, shape ``shape``.
    extent : (3,) intp array
        ``shape``, as the kernels take it.
    """

    def __init__(self, shape: tuple[int, int, int], degree: int) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.degree = int(degree)
        self.extent = np.array(self.shape, dtype=np.intp)
        m = MARGIN
        n0, n1, n2 = self.shape
        self.padded = np.zeros((n0 + 2 * m, n1 + 2 * m, n2 + 2 * m + _kernels.SLACK), dtype=np.float32)
        self.interior = self.padded[m : m + n0, m : m + n1, m : m + n2]

    def load_samples(self, samples: npt.ArrayLike) -> None:
        """Compute the coefficients of ``samples`` (a real array of ``shape``), in place."""
        np.copyto(self.interior, samples, casting="unsafe")
        self.prefilter()

    def prefilter(self) -> None:
        """Turn the samples written into :attr:`interior` into coefficients and mirror the margins.

        Along the first two axes the filter runs over whole rows of
        :attr:`padded` (margins and slack of the other axes included, as
        contiguous lanes); lanes are independent, the slack stays zero and
        the margins are rewritten by :meth:`fill_margins`, so the interior
        is the same as filtering it alone.
        """
        d = self.degree
        if d >= 2:
            m = MARGIN
            n0, n1, _ = self.shape
            planes = self.padded[m : m + n0]  # C-contiguous
            _kernels.prefilter_lines(planes.reshape(1, n0, -1), d)
            _kernels.prefilter_lines(planes[:, m : m + n1, :], d)
            _kernels.prefilter_last_axis(self.interior, d)
        self.fill_margins()

    def fill_margins(self) -> None:
        """Mirror :attr:`interior` into the margins (after writing it directly), as :func:`mirror_index`."""
        _bspline.fill_margins(self.padded, MARGIN, self.extent)

    def sample(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Spline values at ``points`` ((N, 3) 0-based voxel coordinates within the volume)."""
        pts = np.ascontiguousarray(points, dtype=np.float64)
        out = np.empty(pts.shape[0])
        _bspline.sample_points(self.padded, MARGIN, self.degree, pts, out)
        return out

    def sample_gradient(
        self, points: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Spline values and gradients (per voxel, shape (N, 3)) at ``points``; degree >= 2."""
        pts = np.ascontiguousarray(points, dtype=np.float64)
        value = np.empty(pts.shape[0])
        gradient = np.empty((pts.shape[0], 3))
        _bspline.sample_gradient(self.padded, MARGIN, self.degree, pts, value, gradient)
        return value, gradient
