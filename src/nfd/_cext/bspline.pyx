# cython: language_level=3
"""B-spline coefficients and point sampling (degrees 1 to 4), portable build.

Coefficient volumes are float32 with mirrored margins (see
``nfd.volume._bspline``); the prefilter works in float64. The prefilter is
the recursive inverse filter of Unser, Aldroubi & Eden, "B-spline signal
processing: part II", IEEE Trans. Signal Process. 41(2):834-848, 1993,
with mirror-symmetric boundaries (whole-sample symmetry, as SPM's
``spm_bsplinc`` and ``scipy.ndimage`` mode ``mirror``).
"""

from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from libc.stdint cimport uint32_t

from nfd._cext.lines cimport prefilter_last, prefilter_view, real


def prefilter_lines(real[:, :, :] a, int degree):
    """Turn samples into B-spline coefficients along axis 1, in place.

    Parameters
    ----------
    a : float32 or float64 array, shape (outer, n, lanes), any strides
        Filtered along its second axis; every (outer, lane) pair is one
        line. Lines of length 1 are left alone.
    degree : int
        Spline degree, 0 to 4 (0 and 1 need no filtering).
    """
    prefilter_view(a, degree)


def prefilter_last_axis(real[:, :, :] a, int degree):
    """B-spline coefficients along the last axis (which must have unit stride), in place.

    Each slab ``a[i]`` is transposed so that the recursion runs with
    contiguous lanes.
    """
    cdef Py_ssize_t item = sizeof(real)
    cdef Py_ssize_t n0 = a.shape[0], n1 = a.shape[1], n2 = a.shape[2]
    cdef real* buf
    if n0 == 0 or n1 == 0 or n2 < 2:
        return
    if a.strides[2] != item:
        raise ValueError(f"a must have unit stride along its last axis, got {a.strides[2]} bytes")
    buf = <real*>malloc((n1 * n2 + n1) * sizeof(real))
    if buf == NULL:
        raise MemoryError("prefilter_last_axis: cannot allocate a slab buffer")
    try:
        with nogil:
            prefilter_last(&a[0, 0, 0], n0, n1, n2, a.strides[0] // item, a.strides[1] // item, degree,
                           buf, buf + n1 * n2)
    finally:
        free(buf)


def sample_points(const float[:, :, ::1] coef, Py_ssize_t margin, int degree,
                  const double[:, ::1] points, double[::1] out):
    """Spline values at ``points`` (N x 3, 0-based voxel coordinates).

    ``coef`` holds the coefficients with ``margin`` mirrored voxels before
    every axis (and at least as many after); every point must lie within
    ``[-0.5, n - 0.5]`` on each axis.
    """
    cdef Py_ssize_t j, n = points.shape[0]
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    with nogil:
        for j in range(n):
            out[j] = sample(c0, s0, s1, degree, points[j, 0], points[j, 1], points[j, 2])


def sample_gradient(const float[:, :, ::1] coef, Py_ssize_t margin, int degree,
                    const double[:, ::1] points, double[::1] value, double[:, ::1] gradient):
    """Spline values and their gradients (per voxel) at ``points``.

    Same conventions as :func:`sample_points`; ``degree`` 2 to 4.
    ``gradient[j, a]`` is the derivative along voxel axis ``a``.
    """
    cdef Py_ssize_t j, a, b, c, n = points.shape[0]
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    cdef double w0[5]
    cdef double w1[5]
    cdef double w2[5]
    cdef double d0[5]
    cdef double d1[5]
    cdef double d2[5]
    cdef Py_ssize_t i0, i1, i2
    cdef double x0, x1, x2, v, g0, g1, g2, cv, e0, e1, e2, f0, f2
    with nogil:
        for j in range(n):
            x0 = points[j, 0]
            x1 = points[j, 1]
            x2 = points[j, 2]
            i0 = weights(degree, x0, w0)
            i1 = weights(degree, x1, w1)
            i2 = weights(degree, x2, w2)
            for a in range(degree + 1):
                d0[a] = dbasis(degree, x0 - <double>(i0 + a))
                d1[a] = dbasis(degree, x1 - <double>(i1 + a))
                d2[a] = dbasis(degree, x2 - <double>(i2 + a))
            v = 0.0
            g0 = 0.0
            g1 = 0.0
            g2 = 0.0
            for a in range(degree + 1):
                e0 = 0.0   # value along axes 1, 2
                e1 = 0.0   # derivative along axis 1
                e2 = 0.0   # derivative along axis 2
                for b in range(degree + 1):
                    f0 = 0.0
                    f2 = 0.0
                    for c in range(degree + 1):
                        cv = c0[(i0 + a) * s0 + (i1 + b) * s1 + i2 + c]
                        f0 = f0 + w2[c] * cv
                        f2 = f2 + d2[c] * cv
                    e0 = e0 + w1[b] * f0
                    e1 = e1 + d1[b] * f0
                    e2 = e2 + w1[b] * f2
                v = v + w0[a] * e0
                g0 = g0 + d0[a] * e0
                g1 = g1 + w0[a] * e1
                g2 = g2 + w0[a] * e2
            value[j] = v
            gradient[j, 0] = g0
            gradient[j, 1] = g1
            gradient[j, 2] = g2


def basis_values(int degree, const double[::1] x, double[::1] out):
    """Centred B-spline of ``degree`` at each ``x`` (for tests)."""
    cdef Py_ssize_t j
    for j in range(x.shape[0]):
        out[j] = basis(degree, x[j])


cdef inline Py_ssize_t _mirror(Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """``i`` reflected into ``[0, n)`` with whole-sample symmetry (``n >= 2``)."""
    cdef Py_ssize_t period = 2 * (n - 1)
    if i < 0:
        i = -i
    if i < n:
        return i
    i = i % period
    return i if i < n else period - i


def fill_margins(float[:, :, ::1] padded, Py_ssize_t margin, const Py_ssize_t[::1] extent):
    """Mirror the interior of ``padded`` into its ``margin``-voxel margins, in place.

    ``padded`` has shape at least ``extent + 2 margin`` along every axis
    (slack past that at the end of the last axis is copied with whole
    rows along axes 0 and 1, as numpy slicing would); the interior
    starts at ``(margin, margin, margin)``. Axis 0 is mirrored last, so
    corners and edges come out as with three successive mirrorings.
    """
    cdef Py_ssize_t n0 = extent[0], n1 = extent[1], n2 = extent[2], m = margin
    cdef Py_ssize_t i, j, a, src, dst
    cdef Py_ssize_t w1 = padded.shape[1], w2 = padded.shape[2]
    if n0 < 2 or n1 < 2 or n2 < 2:
        raise ValueError(f"every extent must be at least 2, got {tuple(extent)}")
    if padded.shape[0] < n0 + 2 * m or w1 < n1 + 2 * m or w2 < n2 + 2 * m:
        raise ValueError("padded is too small for extent and margin")
    with nogil:
        # axis 2, within the interior of axes 0 and 1
        for i in range(m, m + n0):
            for j in range(m, m + n1):
                for a in range(1, m + 1):
                    padded[i, j, m - a] = padded[i, j, m + _mirror(-a, n2)]
                    padded[i, j, m + n2 - 1 + a] = padded[i, j, m + _mirror(n2 - 1 + a, n2)]
        # axis 1: whole rows (margins of axis 2 included)
        for i in range(m, m + n0):
            for a in range(1, m + 1):
                dst = m - a
                src = m + _mirror(-a, n1)
                memcpy(&padded[i, dst, 0], &padded[i, src, 0], w2 * sizeof(float))
                dst = m + n1 - 1 + a
                src = m + _mirror(n1 - 1 + a, n1)
                memcpy(&padded[i, dst, 0], &padded[i, src, 0], w2 * sizeof(float))
        # axis 0: whole planes
        for a in range(1, m + 1):
            dst = m - a
            src = m + _mirror(-a, n0)
            for j in range(w1):
                memcpy(&padded[dst, j, 0], &padded[src, j, 0], w2 * sizeof(float))
            dst = m + n0 - 1 + a
            src = m + _mirror(n0 - 1 + a, n0)
            for j in range(w1):
                memcpy(&padded[dst, j, 0], &padded[src, j, 0], w2 * sizeof(float))


def load_rows(const float[:, :, ::1] src, float[:, :, :] dst, Py_ssize_t pad):
    """Copy ``src`` into ``dst[:, :, pad:-pad]`` and zero the ``pad`` voxels at either end of each row.

    ``dst`` (shape ``src.shape`` plus ``2 pad`` along the last axis) needs a
    unit-stride last axis. Returns whether every value of ``src`` is
    finite (checked in the same pass).
    """
    cdef Py_ssize_t n0 = src.shape[0], n1 = src.shape[1], n2 = src.shape[2], i, j, k
    cdef float* row
    cdef const float* s
    cdef const uint32_t* bits
    cdef uint32_t bad = 0
    if dst.shape[0] != n0 or dst.shape[1] != n1 or dst.shape[2] != n2 + 2 * pad:
        raise ValueError("dst must have src's shape plus 2 pad along its last axis")
    if dst.strides[2] != sizeof(float):
        raise ValueError(f"dst must have unit stride along its last axis, got {dst.strides[2]} bytes")
    with nogil:
        for i in range(n0):
            for j in range(n1):
                row = &dst[i, j, 0]
                s = &src[i, j, 0]
                for k in range(pad):
                    row[k] = 0.0
                    row[pad + n2 + k] = 0.0
                memcpy(row + pad, s, n2 * sizeof(float))
                bits = <const uint32_t*>s
                for k in range(n2):  # exponent all ones: NaN or infinite
                    bad = bad | ((bits[k] & 0x7F800000u) == 0x7F800000u)
    return bad == 0
