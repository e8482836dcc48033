# cython: language_level=3
"""The per-iteration pass of SPM-style rigid realignment (Gauss-Newton), portable build.

One pass over the sample points maps each point through the current
voxel-to-voxel transform, samples the moving volume's spline there and
accumulates the sums the normal equations need, so that an iteration costs
one interpolation per point and no allocation.

Reference: K.J. Friston, J. Ashburner et al., "Spatial registration and
normalization of images", Human Brain Mapping 2:165-189, 1995.
"""

from nfd._cext.bspline cimport sample

cdef enum:
    M_N_IN = 0          # points inside the moving volume
    M_SUM_F = 1         # sum of F (moving volume's values) over inside points
    M_SUM_FF = 2        # sum of F**2
    M_SUM_BF = 3        # sum of b * F
    M_ATF = 4           # 6 values: sum of A[:, p] * F
    M_N_OUT = 10        # points outside the moving volume
    M_SUM_B_OUT = 11    # sum of b over outside points
    M_SUM_BB_OUT = 12   # sum of b**2 over outside points
    M_ATB_OUT = 13      # 6 values: sum of A[:, p] * b over outside points
    M_ATA_OUT = 19      # 36 values: sum of A[:, p] * A[:, q] over outside points
    M_COUNT = 55

#: Layout of the ``moments`` vector filled by :func:`gauss_newton_moments`.
N_IN = M_N_IN
SUM_F = M_SUM_F
SUM_FF = M_SUM_FF
SUM_BF = M_SUM_BF
ATF = M_ATF
N_OUT = M_N_OUT
SUM_B_OUT = M_SUM_B_OUT
SUM_BB_OUT = M_SUM_BB_OUT
ATB_OUT = M_ATB_OUT
ATA_OUT = M_ATA_OUT
N_MOMENTS = M_COUNT


def gauss_newton_moments(const float[:, :, ::1] coef, Py_ssize_t margin, const Py_ssize_t[::1] extent,
                         int degree, const double[:, ::1] points, const double[:, ::1] jacobian,
                         const double[::1] target, const double[:, ::1] transform,
                         double[::1] moments):
    """Accumulate the Gauss-Newton sums for one iteration.

    Parameters
    ----------
    coef : float32 array
        Spline coefficients of the (smoothed) moving volume, with ``margin``
        mirrored voxels before every axis (and at least as many after).
    margin : int
        Width of the mirrored margin, voxels.
    extent : (3,) intp
        Shape of the moving volume proper (without margins).
    degree : int
        Spline degree (2 to 4).
    points : (N, 3) float64
        Sample points, 0-based voxel coordinates of the reference.
    jacobian : (N, 6) float64
        Derivatives of the reference's values with respect to the rigid
        parameters at ``points``.
    target : (N,) float64
        The (smoothed) reference's values at ``points``.
    transform : (3, 4) float64
        Reference voxel -> moving voxel, 0-based.
    moments : (N_MOMENTS,) float64
        Output, overwritten (layout: the module constants).
    """
    cdef Py_ssize_t n0 = extent[0], n1 = extent[1], n2 = extent[2]
    cdef double hi0 = <double>(n0 - 1), hi1 = <double>(n1 - 1), hi2 = <double>(n2 - 1)
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    cdef Py_ssize_t j, p, q, n = points.shape[0]
    cdef double x0, x1, x2, y0, y1, y2, f, bj
    cdef double m00 = transform[0, 0], m01 = transform[0, 1], m02 = transform[0, 2], m03 = transform[0, 3]
    cdef double m10 = transform[1, 0], m11 = transform[1, 1], m12 = transform[1, 2], m13 = transform[1, 3]
    cdef double m20 = transform[2, 0], m21 = transform[2, 1], m22 = transform[2, 2], m23 = transform[2, 3]
    cdef double n_in = 0.0, sf = 0.0, sff = 0.0, sbf = 0.0
    cdef double atf0 = 0.0, atf1 = 0.0, atf2 = 0.0, atf3 = 0.0, atf4 = 0.0, atf5 = 0.0
    with nogil:
        for p in range(M_COUNT):
            moments[p] = 0.0
        for j in range(n):
            x0 = points[j, 0]
            x1 = points[j, 1]
            x2 = points[j, 2]
            y0 = m00 * x0 + m01 * x1 + m02 * x2 + m03
            y1 = m10 * x0 + m11 * x1 + m12 * x2 + m13
            y2 = m20 * x0 + m21 * x1 + m22 * x2 + m23
            bj = target[j]
            if y0 >= 0.0 and y0 <= hi0 and y1 >= 0.0 and y1 <= hi1 and y2 >= 0.0 and y2 <= hi2:
                f = sample(c0, s0, s1, degree, y0, y1, y2)
                n_in = n_in + 1.0
                sf = sf + f
                sff = sff + f * f
                sbf = sbf + bj * f
                atf0 = atf0 + jacobian[j, 0] * f
                atf1 = atf1 + jacobian[j, 1] * f
                atf2 = atf2 + jacobian[j, 2] * f
                atf3 = atf3 + jacobian[j, 3] * f
                atf4 = atf4 + jacobian[j, 4] * f
                atf5 = atf5 + jacobian[j, 5] * f
            else:
                moments[M_N_OUT] += 1.0
                moments[M_SUM_B_OUT] += bj
                moments[M_SUM_BB_OUT] += bj * bj
                for p in range(6):
                    moments[M_ATB_OUT + p] += jacobian[j, p] * bj
                    for q in range(6):
                        moments[M_ATA_OUT + 6 * p + q] += jacobian[j, p] * jacobian[j, q]
        moments[M_N_IN] = n_in
        moments[M_SUM_F] = sf
        moments[M_SUM_FF] = sff
        moments[M_SUM_BF] = sbf
        moments[M_ATF + 0] = atf0
        moments[M_ATF + 1] = atf1
        moments[M_ATF + 2] = atf2
        moments[M_ATF + 3] = atf3
        moments[M_ATF + 4] = atf4
        moments[M_ATF + 5] = atf5
