# cython: language_level=3
"""Line kernels shared by the generic and the AVX2 builds (inline C, no GIL).

An array is seen as ``(outer, n, lanes)`` with strides in elements: every
(outer, lane) pair is one line of ``n`` samples, and the lines of one outer
index are processed together so that the innermost loop runs along the
lanes (unit stride when possible, which the compiler vectorises).

- :func:`prefilter_block`: B-spline prefilter (recursive IIR with mirror
  boundaries; Unser, Aldroubi & Eden, IEEE Trans. Signal Process.
  41(2):834-848, 1993), in place.
- :func:`convolve_block`: float32 convolution with a symmetric kernel,
  samples beyond the edges left out (zero), optionally renormalised (as
  SPM's ``spm_conv_vol`` along its third axis).
- :func:`prefilter_view` and :func:`kernel_and_scales`: the buffers the
  modules' ``prefilter_lines`` and ``convolve_*`` wrappers need.

Every helper is ``cdef inline``: it is compiled into each module that
cimports it, with that module's flags (``avx2`` compiles for AVX2/FMA).
"""

from libc.math cimport log, ceil, pow, sqrt, fabs
from libc.stdlib cimport malloc, free


cdef inline int spline_poles(int degree, double* p) noexcept nogil:
    """Poles of the B-spline prefilter of ``degree`` (0 to 4); returns their number."""
    if degree == 2:
        p[0] = sqrt(8.0) - 3.0
        return 1
    if degree == 3:
        p[0] = sqrt(3.0) - 2.0
        return 1
    if degree == 4:
        p[0] = sqrt(664.0 - sqrt(438976.0)) + sqrt(304.0) - 19.0
        p[1] = sqrt(664.0 + sqrt(438976.0)) - sqrt(304.0) - 19.0
        return 2
    return 0


ctypedef fused real:
    float
    double


cdef inline void prefilter_block(real* a, Py_ssize_t n_outer, Py_ssize_t n, Py_ssize_t n_lanes,
                                 Py_ssize_t so, Py_ssize_t sn, Py_ssize_t sl, int degree,
                                 real* s) noexcept nogil:
    """B-spline coefficients along the middle axis, in place (float32 or float64).

    ``s`` is scratch for ``n_lanes`` values. Lines shorter than 2 are left alone.
    """
    cdef double p[2]
    cdef int npoles = spline_poles(degree, p)
    cdef Py_ssize_t o, i, l, k, horizon
    cdef double gain_d = 1.0, zd, zn_d, z2n_d, iz_d
    cdef real gain, z, zn, z2n, c0
    cdef real* b
    cdef real* row
    cdef real* prev
    if npoles == 0 or n < 2:
        return
    for k in range(npoles):
        gain_d *= (1.0 - p[k]) * (1.0 - 1.0 / p[k])
    gain = <real>gain_d
    for o in range(n_outer):
        b = a + o * so
        for i in range(n):
            row = b + i * sn
            if sl == 1:
                for l in range(n_lanes):
                    row[l] = row[l] * gain
            else:
                for l in range(n_lanes):
                    row[l * sl] = row[l * sl] * gain
        for k in range(npoles):
            zd = p[k]
            z = <real>zd
            horizon = <Py_ssize_t>ceil(-30.0 / log(fabs(zd)))
            # causal initialisation, mirror boundary
            if horizon < n:
                for l in range(n_lanes):
                    s[l] = b[l * sl]
                zn_d = zd
                for i in range(1, horizon):
                    row = b + i * sn
                    zn = <real>zn_d
                    if sl == 1:
                        for l in range(n_lanes):
                            s[l] = s[l] + zn * row[l]
                    else:
                        for l in range(n_lanes):
                            s[l] = s[l] + zn * row[l * sl]
                    zn_d = zn_d * zd
            else:
                zn_d = zd
                iz_d = 1.0 / zd
                z2n_d = pow(zd, <double>(n - 1))
                row = b + (n - 1) * sn
                for l in range(n_lanes):
                    s[l] = b[l * sl] + <real>z2n_d * row[l * sl]
                z2n_d = z2n_d * z2n_d * iz_d
                for i in range(1, n - 1):
                    row = b + i * sn
                    zn = <real>(zn_d + z2n_d)
                    for l in range(n_lanes):
                        s[l] = s[l] + zn * row[l * sl]
                    zn_d = zn_d * zd
                    z2n_d = z2n_d * iz_d
                zn = <real>(1.0 / (1.0 - zn_d * zn_d))
                for l in range(n_lanes):
                    s[l] = s[l] * zn
            for l in range(n_lanes):
                b[l * sl] = s[l]
            # causal recursion
            for i in range(1, n):
                row = b + i * sn
                prev = row - sn
                if sl == 1:
                    for l in range(n_lanes):
                        row[l] = row[l] + z * prev[l]
                else:
                    for l in range(n_lanes):
                        row[l * sl] = row[l * sl] + z * prev[l * sl]
            # anti-causal initialisation and recursion
            c0 = <real>(zd / (zd * zd - 1.0))
            row = b + (n - 1) * sn
            prev = row - sn
            for l in range(n_lanes):
                row[l * sl] = c0 * (z * prev[l * sl] + row[l * sl])
            for i in range(n - 2, -1, -1):
                row = b + i * sn
                prev = row + sn  # the next sample
                if sl == 1:
                    for l in range(n_lanes):
                        row[l] = z * (prev[l] - row[l])
                else:
                    for l in range(n_lanes):
                        row[l * sl] = z * (prev[l * sl] - row[l * sl])


cdef inline void edge_scales(const float* kernel, Py_ssize_t klen, Py_ssize_t n, bint normalize,
                             float* scale) noexcept nogil:
    """Per-position factor: 1, or the kernel's sum over the weights that fall inside."""
    cdef Py_ssize_t i, t, r = (klen - 1) // 2
    cdef double s, total = 0.0
    for t in range(klen):
        total += kernel[t]
    for i in range(n):
        if not normalize:
            scale[i] = 1.0
            continue
        s = 0.0
        for t in range(klen):
            if 0 <= i + t - r < n:
                s += kernel[t]
        scale[i] = <float>(total / s) if s > 0.0 else 0.0


cdef inline void convolve_block(const float* src, float* dst, Py_ssize_t n_outer, Py_ssize_t n,
                                Py_ssize_t n_lanes, const float* kernel, Py_ssize_t klen,
                                const float* scale) noexcept nogil:
    """Convolve C-ordered float32 ``(outer, n, lanes)`` arrays along the middle axis."""
    cdef Py_ssize_t o, i, t, l, r = (klen - 1) // 2, t0, t1
    cdef float kt, sc
    cdef float* out
    cdef const float* inp
    for o in range(n_outer):
        for i in range(n):
            out = dst + (o * n + i) * n_lanes
            for l in range(n_lanes):
                out[l] = 0.0
            t0 = r - i if i < r else 0
            t1 = n - 1 - i + r if i + r > n - 1 else 2 * r
            for t in range(t0, t1 + 1):
                kt = kernel[t]
                inp = src + (o * n + i + t - r) * n_lanes
                for l in range(n_lanes):
                    out[l] = out[l] + kt * inp[l]
            sc = scale[i]
            if sc != 1.0:
                for l in range(n_lanes):
                    out[l] = out[l] * sc


cdef inline void transpose_into(const real* src, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t src_stride,
                                real* dst) noexcept nogil:
    """``dst[c * rows + r] = src[r * src_stride + c]`` (a rows x cols block, transposed)."""
    cdef Py_ssize_t r, c, r0, c0, r1, c1
    for r0 in range(0, rows, 16):
        r1 = r0 + 16 if r0 + 16 < rows else rows
        for c0 in range(0, cols, 16):
            c1 = c0 + 16 if c0 + 16 < cols else cols
            for r in range(r0, r1):
                for c in range(c0, c1):
                    dst[c * rows + r] = src[r * src_stride + c]


cdef inline void prefilter_last(real* a, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t n2,
                                Py_ssize_t s0, Py_ssize_t s1, int degree, real* buf,
                                real* s) noexcept nogil:
    """B-spline prefilter along the last (unit-stride) axis, in place.

    Each ``n1 x n2`` slab is transposed into ``buf`` (``n1 * n2`` doubles)
    so that the recursion runs with ``n1`` contiguous lanes; ``s`` holds
    ``n1`` doubles.
    """
    cdef Py_ssize_t i, j, k
    cdef real* slab
    for i in range(n0):
        slab = a + i * s0
        transpose_into(slab, n1, n2, s1, buf)
        prefilter_block(buf, 1, n2, n1, 0, n1, 1, degree, s)
        for j in range(n1):
            for k in range(n2):
                slab[j * s1 + k] = buf[k * n1 + j]


cdef inline int prefilter_view(real[:, :, :] a, int degree) except -1:
    """:func:`prefilter_block` over a whole view, in place (the modules' ``prefilter_lines``).

    Parameters
    ----------
    a : float32 or float64 view, shape (outer, n, lanes), any strides
        Filtered along its second axis; a view with an empty axis is left
        alone.
    degree : int
        Spline degree, 0 to 4 (0 and 1 need no filtering).

    Returns
    -------
    int
        0; -1 with ``MemoryError`` raised when the ``lanes`` scratch values
        cannot be allocated.
    """
    cdef Py_ssize_t item = sizeof(real)
    cdef real* s
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        return 0
    s = <real*>malloc(a.shape[2] * sizeof(real))
    if s == NULL:
        raise MemoryError("prefilter_lines: cannot allocate a lane buffer")
    try:
        with nogil:
            prefilter_block(&a[0, 0, 0], a.shape[0], a.shape[1], a.shape[2],
                            a.strides[0] // item, a.strides[1] // item, a.strides[2] // item, degree, s)
    finally:
        free(s)
    return 0


cdef inline float* kernel_and_scales(const double[::1] kernel, Py_ssize_t n, bint normalize) except NULL:
    """float32 copy of ``kernel`` followed by the ``n`` factors of :func:`edge_scales` (one allocation).

    Parameters
    ----------
    kernel : float64 view, odd length ``klen``
        The convolution kernel (dimensionless weights).
    n : int
        Samples along the convolved axis.
    normalize : bool
        Renormalise the weights that fall inside at the edges.

    Returns
    -------
    float*
        ``klen + max(n, 1)`` floats from ``malloc``, which the caller frees;
        NULL with ``MemoryError`` raised when they cannot be allocated.
    """
    cdef Py_ssize_t t, klen = kernel.shape[0]
    cdef float* buf = <float*>malloc((klen + max(n, 1)) * sizeof(float))
    if buf == NULL:
        raise MemoryError("convolution: cannot allocate")
    for t in range(klen):
        buf[t] = <float>kernel[t]
    edge_scales(buf, klen, n, normalize, buf + klen)
    return buf
