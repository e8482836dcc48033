# cython: language_level=3
"""Inline B-spline basis functions shared by the volume kernels.

Conventions (as in SPM's ``bsplines.c``, Unser 1999): coordinates are
0-based voxel positions; a degree-``d`` spline at ``x`` depends on the
``d + 1`` coefficients ``i .. i + d`` with ``i = floor(x - (d - 1) / 2)``;
``w[k] = B_d(x - i - k)`` with ``B_d`` the centred B-spline of degree ``d``.

Reference: M. Unser, "Splines: a perfect fit for signal and image
processing", IEEE Signal Processing Magazine 16(6):22-38, 1999.
"""

from libc.math cimport floor, fabs


cdef inline double basis(int d, double x) noexcept nogil:
    """Centred B-spline of degree ``d`` (0 to 4) at ``x``."""
    x = fabs(x)
    if d == 0:
        return 1.0 if x < 0.5 else 0.0
    if d == 1:
        return 1.0 - x if x < 1.0 else 0.0
    if d == 2:
        if x < 0.5:
            return 0.75 - x * x
        if x < 1.5:
            x = 1.5 - x
            return 0.5 * x * x
        return 0.0
    if d == 3:
        if x < 1.0:
            return x * x * (x - 2.0) * 0.5 + 2.0 / 3.0
        if x < 2.0:
            x = 2.0 - x
            return x * x * x * (1.0 / 6.0)
        return 0.0
    if d == 4:
        if x < 0.5:
            x = x * x
            return x * (x * 0.25 - 0.625) + 115.0 / 192.0
        if x < 1.5:
            return x * (x * (x * (5.0 / 6.0 - x * (1.0 / 6.0)) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        if x < 2.5:
            x = x - 2.5
            x = x * x
            return x * x * (1.0 / 24.0)
        return 0.0
    return 0.0


cdef inline double dbasis(int d, double x) noexcept nogil:
    """Derivative of the centred B-spline of degree ``d`` (1 to 4) at ``x``.

    Uses ``B_d'(x) = B_{d-1}(x + 1/2) - B_{d-1}(x - 1/2)`` (Unser 1999, eq. 7).
    """
    return basis(d - 1, x + 0.5) - basis(d - 1, x - 0.5)


cdef inline Py_ssize_t weights(int d, double x, double* w) noexcept nogil:
    """Fill ``w[0..d]`` with the degree-``d`` weights at ``x``; return the first index."""
    cdef Py_ssize_t i
    cdef double u, v, u2, y
    if d == 4:
        i = <Py_ssize_t>floor(x + 0.5) - 2
        u = x - <double>(i + 2)          # in [-0.5, 0.5)
        u2 = u * u
        w[2] = u2 * (u2 * 0.25 - 0.625) + 115.0 / 192.0
        v = 0.5 - u
        v = v * v
        w[0] = v * v * (1.0 / 24.0)
        v = 0.5 + u
        v = v * v
        w[4] = v * v * (1.0 / 24.0)
        y = 1.0 + u                       # in [0.5, 1.5)
        w[1] = y * (y * (y * (5.0 / 6.0 - y * (1.0 / 6.0)) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        y = 1.0 - u                       # in (0.5, 1.5]
        w[3] = y * (y * (y * (5.0 / 6.0 - y * (1.0 / 6.0)) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        return i
    if d == 3:
        i = <Py_ssize_t>floor(x) - 1
        u = x - <double>(i + 1)          # in [0, 1)
        v = 1.0 - u
        u2 = u * u
        w[0] = v * v * v * (1.0 / 6.0)
        w[1] = 2.0 / 3.0 - u2 + 0.5 * u2 * u
        w[2] = 2.0 / 3.0 - v * v + 0.5 * v * v * v
        w[3] = u2 * u * (1.0 / 6.0)
        return i
    if d == 2:
        i = <Py_ssize_t>floor(x + 0.5) - 1
        u = x - <double>(i + 1)          # in [-0.5, 0.5)
        v = 0.5 - u
        w[0] = 0.5 * v * v
        w[1] = 0.75 - u * u
        v = 0.5 + u
        w[2] = 0.5 * v * v
        return i
    # d == 1
    i = <Py_ssize_t>floor(x)
    u = x - <double>i
    w[0] = 1.0 - u
    w[1] = u
    return i


cdef inline double sample(const float* c, Py_ssize_t s0, Py_ssize_t s1, int d,
                          double x0, double x1, double x2) noexcept nogil:
    """Spline value at ``(x0, x1, x2)`` from float32 coefficients ``c``.

    ``c`` points at the coefficient of voxel (0, 0, 0) of a C-ordered array
    with strides ``s0``, ``s1``, 1 (in elements) whose mirrored margins make
    every index touched valid. Sums in double precision.
    """
    cdef double w0[5]
    cdef double w1[5]
    cdef double w2[5]
    cdef Py_ssize_t i0, i1, i2, a, b, k
    cdef const float* p
    cdef const float* q
    cdef double acc = 0.0, acc1, r
    i0 = weights(d, x0, w0)
    i1 = weights(d, x1, w1)
    i2 = weights(d, x2, w2)
    p = c + i0 * s0 + i1 * s1 + i2
    if d == 4:
        for a in range(5):
            acc1 = 0.0
            for b in range(5):
                q = p + a * s0 + b * s1
                r = w2[0] * q[0] + w2[1] * q[1] + w2[2] * q[2] + w2[3] * q[3] + w2[4] * q[4]
                acc1 = acc1 + w1[b] * r
            acc = acc + w0[a] * acc1
        return acc
    for a in range(d + 1):
        acc1 = 0.0
        for b in range(d + 1):
            q = p + a * s0 + b * s1
            r = 0.0
            for k in range(d + 1):
                r = r + w2[k] * q[k]
            acc1 = acc1 + w1[b] * r
        acc = acc + w0[a] * acc1
    return acc
