# cython: language_level=3
"""Resample a volume onto the reference grid through a rigid transform, portable build.

Each output voxel is mapped into the moving volume and the moving volume's
B-spline (degree 1 = trilinear) is evaluated there. Voxels that map
outside the moving volume by more than ``tolerance`` voxels are set to
zero, as SPM's ``spm_reslice`` does with ``mask`` on.
"""

from nfd._cext.bspline cimport sample


def reslice(const float[:, :, ::1] coef, Py_ssize_t margin, const Py_ssize_t[::1] extent, int degree,
            const double[:, ::1] transform, float[:, :, :] out, double tolerance):
    """Fill ``out`` (reference grid) from the moving volume's coefficients.

    Parameters
    ----------
    coef : float32 array
        Coefficients of the moving volume with ``margin`` mirrored voxels
        before every axis and at least as many after (the samples themselves
        for ``degree`` 1).
    margin : int
        Width of the mirrored margin, voxels (at least 2).
    extent : (3,) intp
        Shape of the moving volume proper (without margins).
    degree : int
        Spline degree, 1 to 4.
    transform : (3, 4) float64
        Output voxel -> moving voxel, 0-based.
    out : float32 array
        The resliced volume, written in place.
    tolerance : float
        How far outside the moving volume (voxels) a point may fall and
        still be interpolated (mirror boundary) instead of set to zero.
    """
    cdef Py_ssize_t n0 = extent[0], n1 = extent[1], n2 = extent[2]
    cdef double lo = -tolerance
    cdef double hi0 = <double>(n0 - 1) + tolerance
    cdef double hi1 = <double>(n1 - 1) + tolerance
    cdef double hi2 = <double>(n2 - 1) + tolerance
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    cdef Py_ssize_t i, j, k
    cdef double y0, y1, y2, b0, b1, b2
    cdef double m00 = transform[0, 0], m01 = transform[0, 1], m02 = transform[0, 2], m03 = transform[0, 3]
    cdef double m10 = transform[1, 0], m11 = transform[1, 1], m12 = transform[1, 2], m13 = transform[1, 3]
    cdef double m20 = transform[2, 0], m21 = transform[2, 1], m22 = transform[2, 2], m23 = transform[2, 3]
    with nogil:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                b0 = m00 * i + m01 * j + m03
                b1 = m10 * i + m11 * j + m13
                b2 = m20 * i + m21 * j + m23
                for k in range(out.shape[2]):
                    y0 = b0 + m02 * k
                    y1 = b1 + m12 * k
                    y2 = b2 + m22 * k
                    if y0 >= lo and y0 <= hi0 and y1 >= lo and y1 <= hi1 and y2 >= lo and y2 <= hi2:
                        out[i, j, k] = <float>sample(c0, s0, s1, degree, y0, y1, y2)
                    else:
                        out[i, j, k] = 0.0
