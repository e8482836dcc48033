# cython: language_level=3
"""The per-volume kernels compiled for x86-64 CPUs with AVX2 and FMA.

Same functions and results (to float32 rounding) as the portable modules
``bspline``, ``smooth``, ``realign`` and ``reslice``; ``nfd.volume`` uses
this module only when the CPU reports AVX2 and FMA. The whole module is
compiled for those instruction sets (``#pragma GCC target``), so that the
line kernels shared through ``lines.pxd`` are vectorised for them; the
convolution keeps 32 float32 lanes in registers across the kernel's taps,
and degree-4 spline sampling uses 8-wide float32 intrinsics: for a point,
each axis' five weights come from one Horner evaluation with the taps as
lanes, the 5 x 5 rows of 5 coefficients along the contiguous axis are each
read as one 8-float vector and combined with the weights of the first two
axes by fused multiply-adds, and the result is dotted with the third
axis' weights (the 3 extra lanes get weight 0; the coefficient arrays
carry slack at the end of their last axis for those reads). Reslicing
under a near-identity transform instead takes 8 consecutive voxels of an
output row as the 8 lanes (their taps along the contiguous axis are one
voxel apart), so that every load and fused multiply-add is full width.
Slabs are transposed for the last-axis prefilter and convolution as 8 x 8
tiles in registers.
"""

from libc.math cimport ceil, fabs, floor
from libc.stdlib cimport malloc, free

from nfd._cext.bspline cimport sample
from nfd._cext.lines cimport kernel_and_scales, prefilter_block, prefilter_last, prefilter_view, real

cdef extern from *:
    """
    #pragma GCC target("avx2,fma")
    #include <immintrin.h>
    """
    ctypedef struct __m256:
        pass
    ctypedef struct __m256d:
        pass
    ctypedef struct __m128:
        pass
    ctypedef struct __m128i:
        pass
    __m256 _mm256_setzero_ps() nogil
    __m256 _mm256_loadu_ps(const float*) nogil
    __m256 _mm256_set1_ps(float) nogil
    __m256 _mm256_setr_ps(float, float, float, float, float, float, float, float) nogil
    __m256 _mm256_fmadd_ps(__m256, __m256, __m256) nogil
    __m256 _mm256_mul_ps(__m256, __m256) nogil
    __m256 _mm256_add_ps(__m256, __m256) nogil
    __m256 _mm256_sub_ps(__m256, __m256) nogil
    __m256 _mm256_set_m128(__m128, __m128) nogil
    __m256 _mm256_broadcast_ss(const float*) nogil
    __m256d _mm256_loadu_pd(const double*) nogil
    __m256d _mm256_fmadd_pd(__m256d, __m256d, __m256d) nogil

    void _mm256_storeu_ps(float*, __m256) nogil
    __m128 _mm256_castps256_ps128(__m256) nogil
    __m128 _mm256_extractf128_ps(__m256, int) nogil
    __m128 _mm_add_ps(__m128, __m128) nogil
    __m128 _mm_sub_ps(__m128, __m128) nogil
    __m128 _mm_mul_ps(__m128, __m128) nogil
    __m128 _mm_fmadd_ps(__m128, __m128, __m128) nogil
    __m128 _mm_set1_ps(float) nogil
    __m128 _mm_movehl_ps(__m128, __m128) nogil
    __m128 _mm_add_ss(__m128, __m128) nogil
    __m128 _mm_shuffle_ps(__m128, __m128, int) nogil
    float _mm_cvtss_f32(__m128) nogil
    void _mm_storeu_ps(float*, __m128) nogil
    __m256d _mm256_setr_pd(double, double, double, double) nogil
    __m256d _mm256_set1_pd(double) nogil
    __m256d _mm256_add_pd(__m256d, __m256d) nogil
    __m256d _mm256_sub_pd(__m256d, __m256d) nogil
    __m256d _mm256_floor_pd(__m256d) nogil
    __m128 _mm256_cvtpd_ps(__m256d) nogil
    __m128i _mm256_cvttpd_epi32(__m256d) nogil
    void _mm_storeu_si128(__m128i*, __m128i) nogil
    ctypedef struct __m256i:
        pass
    __m256i _mm256_loadu_si256(const __m256i*) nogil
    __m256i _mm256_set1_epi32(int) nogil
    __m256i _mm256_cmpeq_epi32(__m256i, __m256i) nogil
    __m256 _mm256_castsi256_ps(__m256i) nogil
    __m256 _mm256_blendv_ps(__m256, __m256, __m256) nogil
    __m256 _mm256_cmp_ps(__m256, __m256, int) nogil
    __m256d _mm256_cmp_pd(__m256d, __m256d, int) nogil
    __m256d _mm256_mul_pd(__m256d, __m256d) nogil
    int _mm256_movemask_ps(__m256) nogil
    int _mm256_movemask_pd(__m256d) nogil
    __m256 _mm256_or_ps(__m256, __m256) nogil
    int _CMP_EQ_OQ
    int _CMP_GE_OQ
    int _CMP_LE_OQ
    __m256d _mm256_setzero_pd() nogil
    __m256d _mm256_and_pd(__m256d, __m256d) nogil
    __m256 _mm256_unpacklo_ps(__m256, __m256) nogil
    __m256 _mm256_unpackhi_ps(__m256, __m256) nogil
    __m256 _mm256_shuffle_ps(__m256, __m256, int) nogil
    __m256 _mm256_permute2f128_ps(__m256, __m256, int) nogil

#: Floats read past the last coefficient of a row by the 8-wide loads.
SLACK = 3

cdef enum:
    ROW_GROUPS = 8  # groups of 8 voxels whose weights reslice prepares before summing


cdef inline float _hsum(__m256 v) noexcept nogil:
    cdef __m128 lo = _mm256_castps256_ps128(v)
    cdef __m128 hi = _mm256_extractf128_ps(v, 1)
    lo = _mm_add_ps(lo, hi)
    hi = _mm_movehl_ps(hi, lo)
    lo = _mm_add_ps(lo, hi)
    hi = _mm_shuffle_ps(lo, lo, 0x55)
    lo = _mm_add_ss(lo, hi)
    return _mm_cvtss_f32(lo)


# _HORNER[p][k]: coefficient of u**(4 - p) in the weight of tap k, B4(u + 2 - k), for u in [-1/2, 1/2)
# (on that interval each tap's weight is one quartic, so the five weights of an axis are a single
# 8-lane Horner evaluation with taps as lanes; lanes 5 to 7 stay 0)
cdef float _HORNER[5][8]


def _init_horner():
    from numpy.polynomial import Polynomial as P

    u = P([0.0, 1.0])
    outer = (0.5 - u) ** 4 / 24.0                                        # B4 on [3/2, 5/2), at 2 + u
    inner = lambda y: -y ** 4 / 6.0 + 5.0 * y ** 3 / 6.0 - 1.25 * y ** 2 + 5.0 * y / 24.0 + 55.0 / 96.0
    centre = u ** 4 / 4.0 - 0.625 * u ** 2 + 115.0 / 192.0
    taps = [outer, inner(1.0 + u), centre, inner(1.0 - u), (0.5 + u) ** 4 / 24.0]
    for k in range(8):
        coef = list(taps[k].coef) + [0.0] * 5 if k < 5 else [0.0] * 5
        for p in range(5):
            _HORNER[p][k] = coef[4 - p]


_init_horner()


cdef inline __m256 _taps(float u) noexcept nogil:
    """The five degree-4 weights at fractional offset ``u`` (lanes 0-4)."""
    cdef __m256 v = _mm256_set1_ps(u)
    cdef __m256 w = _mm256_loadu_ps(_HORNER[0])
    w = _mm256_fmadd_ps(w, v, _mm256_loadu_ps(_HORNER[1]))
    w = _mm256_fmadd_ps(w, v, _mm256_loadu_ps(_HORNER[2]))
    w = _mm256_fmadd_ps(w, v, _mm256_loadu_ps(_HORNER[3]))
    return _mm256_fmadd_ps(w, v, _mm256_loadu_ps(_HORNER[4]))


cdef inline __m256 _row5(const float* p, Py_ssize_t s1, const float* w) noexcept nogil:
    """Sum over b of w[b] * (8 floats at p + b * s1), as two short chains."""
    cdef __m256 t = _mm256_mul_ps(_mm256_broadcast_ss(&w[0]), _mm256_loadu_ps(p))
    cdef __m256 u = _mm256_mul_ps(_mm256_broadcast_ss(&w[1]), _mm256_loadu_ps(p + s1))
    t = _mm256_fmadd_ps(_mm256_broadcast_ss(&w[2]), _mm256_loadu_ps(p + 2 * s1), t)
    u = _mm256_fmadd_ps(_mm256_broadcast_ss(&w[3]), _mm256_loadu_ps(p + 3 * s1), u)
    t = _mm256_fmadd_ps(_mm256_broadcast_ss(&w[4]), _mm256_loadu_ps(p + 4 * s1), t)
    return _mm256_add_ps(t, u)


cdef inline float sample4(const float* c, Py_ssize_t s0, Py_ssize_t s1,
                          double x0, double x1, double x2) noexcept nogil:
    """Degree-4 spline value at ``(x0, x1, x2)`` (conventions of ``bspline.sample``).

    The vectorised counterpart of ``bspline.sample`` for degree 4 (which the
    other degrees still use): the weights are one 8-lane Horner evaluation
    (:func:`_taps`) instead of ``bspline.weights``, the contiguous-axis
    taps one 8-float load, summed in float32 rather than double. The five
    row contractions are independent and combined as a tree, to keep the
    dependency chains short.
    """
    cdef double f0 = floor(x0 + 0.5), f1 = floor(x1 + 0.5), f2 = floor(x2 + 0.5)
    cdef float w0[8]
    cdef float w1[8]
    _mm256_storeu_ps(w0, _taps(<float>(x0 - f0)))
    _mm256_storeu_ps(w1, _taps(<float>(x1 - f1)))
    cdef __m256 w2 = _taps(<float>(x2 - f2))
    cdef const float* p = c + (<Py_ssize_t>f0 - 2) * s0 + (<Py_ssize_t>f1 - 2) * s1 + (<Py_ssize_t>f2 - 2)
    cdef __m256 t0 = _mm256_mul_ps(_mm256_broadcast_ss(&w0[0]), _row5(p, s1, w1))
    cdef __m256 t1 = _mm256_mul_ps(_mm256_broadcast_ss(&w0[1]), _row5(p + s0, s1, w1))
    t0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w0[2]), _row5(p + 2 * s0, s1, w1), t0)
    t1 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w0[3]), _row5(p + 3 * s0, s1, w1), t1)
    t0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w0[4]), _row5(p + 4 * s0, s1, w1), t0)
    return _hsum(_mm256_mul_ps(_mm256_add_ps(t0, t1), w2))


cdef inline void _taps8v(__m256d xa, __m256d xb, float* w, int* centre) noexcept nogil:
    """Degree-4 weights of 8 coordinates at once (lanes = points; ``xa`` points 0-3, ``xb`` 4-7).

    ``w[8 * t + p]`` is tap ``t``'s weight for point ``p``; ``centre[p]`` is
    ``round(x[p])`` (the taps are centre - 2 .. centre + 2).
    """
    cdef __m256d half = _mm256_set1_pd(0.5)
    cdef __m256d fa = _mm256_floor_pd(_mm256_add_pd(xa, half))
    cdef __m256d fb = _mm256_floor_pd(_mm256_add_pd(xb, half))
    _mm_storeu_si128(<__m128i*>centre, _mm256_cvttpd_epi32(fa))
    _mm_storeu_si128(<__m128i*>(centre + 4), _mm256_cvttpd_epi32(fb))
    cdef __m256 u = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(xb, fb)), _mm256_cvtpd_ps(_mm256_sub_pd(xa, fa)))
    cdef __m256 v
    cdef int t
    for t in range(5):
        v = _mm256_fmadd_ps(_mm256_set1_ps(_HORNER[0][t]), u, _mm256_set1_ps(_HORNER[1][t]))
        v = _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[2][t]))
        v = _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[3][t]))
        _mm256_storeu_ps(w + 8 * t, _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[4][t])))


cdef inline void _taps8(const double* x, float* w, int* centre) noexcept nogil:
    """:func:`_taps8v` for the 8 coordinates ``x[0..7]``."""
    _taps8v(_mm256_loadu_pd(x), _mm256_loadu_pd(x + 4), w, centre)


cdef inline void sample4_batch(const float* c, Py_ssize_t s0, Py_ssize_t s1,
                               const double* x0, const double* x1, const double* x2,
                               float* out) noexcept nogil:
    """:func:`sample4` at 8 points (coordinates ``x0[p], x1[p], x2[p]``), weights computed 8 at a time."""
    sample4_batchv(c, s0, s1, _mm256_loadu_pd(x0), _mm256_loadu_pd(x0 + 4), _mm256_loadu_pd(x1),
                   _mm256_loadu_pd(x1 + 4), _mm256_loadu_pd(x2), _mm256_loadu_pd(x2 + 4), out)


cdef inline void sample4_batchv(const float* c, Py_ssize_t s0, Py_ssize_t s1,
                                __m256d x0a, __m256d x0b, __m256d x1a, __m256d x1b,
                                __m256d x2a, __m256d x2b, float* out) noexcept nogil:
    """:func:`sample4_batch` with the coordinates in registers (``a``: points 0-3, ``b``: 4-7)."""
    cdef float w0[40]
    cdef float w1[40]
    cdef float w2[40]
    cdef int i0[8]
    cdef int i1[8]
    cdef int i2[8]
    cdef const float* q
    cdef __m256 t0, t1, r0, r1, v0, v1, v2, v3, v4
    cdef int p, a
    _taps8v(x0a, x0b, w0, i0)
    _taps8v(x1a, x1b, w1, i1)
    _taps8v(x2a, x2b, w2, i2)
    for p in range(8):
        q = c + (i0[p] - 2) * s0 + (i1[p] - 2) * s1 + (i2[p] - 2)
        t0 = _mm256_setzero_ps()
        t1 = _mm256_setzero_ps()
        v0 = _mm256_broadcast_ss(&w1[p])
        v1 = _mm256_broadcast_ss(&w1[8 + p])
        v2 = _mm256_broadcast_ss(&w1[16 + p])
        v3 = _mm256_broadcast_ss(&w1[24 + p])
        v4 = _mm256_broadcast_ss(&w1[32 + p])
        for a in range(5):
            r0 = _mm256_mul_ps(v0, _mm256_loadu_ps(q))
            r1 = _mm256_mul_ps(v1, _mm256_loadu_ps(q + s1))
            r0 = _mm256_fmadd_ps(v2, _mm256_loadu_ps(q + 2 * s1), r0)
            r1 = _mm256_fmadd_ps(v3, _mm256_loadu_ps(q + 3 * s1), r1)
            r0 = _mm256_fmadd_ps(v4, _mm256_loadu_ps(q + 4 * s1), r0)
            if a % 2 == 0:
                t0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w0[8 * a + p]), _mm256_add_ps(r0, r1), t0)
            else:
                t1 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w0[8 * a + p]), _mm256_add_ps(r0, r1), t1)
            q = q + s0
        out[p] = _hsum(_mm256_mul_ps(_mm256_add_ps(t0, t1),
                                     _mm256_setr_ps(w2[p], w2[8 + p], w2[16 + p], w2[24 + p], w2[32 + p], 0.0, 0.0, 0.0)))


cdef inline __m256 _tap(__m256 u, int t) noexcept nogil:
    """Weight of degree-4 tap ``t`` (0 to 4) at fractional offsets ``u`` (as :func:`_taps8`)."""
    cdef __m256 v = _mm256_fmadd_ps(_mm256_set1_ps(_HORNER[0][t]), u, _mm256_set1_ps(_HORNER[1][t]))
    v = _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[2][t]))
    v = _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[3][t]))
    return _mm256_fmadd_ps(v, u, _mm256_set1_ps(_HORNER[4][t]))


cdef inline bint _axis_taps(double b, double m, double k, __m256d lanes_lo, __m256d lanes_hi,
                            __m256* w, int* n_taps, double* first) noexcept nogil:
    """Per-lane weights of one of the first two axes for the points ``b + m (k + p)``, p = 0..7.

    The points' centres (``round``) may differ by at most one voxel; every
    lane then reads the taps ``first - 2 .. first - 3 + n_taps`` (5 or 6),
    a lane whose centre is ``first + 1`` with its weights shifted up one tap
    and a zero first tap. Returns False when the centres span more.
    """
    cdef __m256d half = _mm256_set1_pd(0.5)
    cdef __m256d xa = _mm256_add_pd(_mm256_set1_pd(b), _mm256_mul_pd(_mm256_set1_pd(m), lanes_lo))
    cdef __m256d xb = _mm256_add_pd(_mm256_set1_pd(b), _mm256_mul_pd(_mm256_set1_pd(m), lanes_hi))
    cdef __m256d fa = _mm256_floor_pd(_mm256_add_pd(xa, half))
    cdef __m256d fb = _mm256_floor_pd(_mm256_add_pd(xb, half))
    cdef double e0 = floor(b + m * k + 0.5), e7 = floor(b + m * (k + 7.0) + 0.5)
    cdef double lo = e0 if e0 < e7 else e7
    cdef __m256d vlo = _mm256_set1_pd(lo)
    cdef __m256 d = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(fb, vlo)), _mm256_cvtpd_ps(_mm256_sub_pd(fa, vlo)))
    cdef __m256 zero = _mm256_setzero_ps()
    cdef __m256 one_ = _mm256_cmp_ps(d, _mm256_set1_ps(1.0), _CMP_EQ_OQ)
    cdef __m256 u = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(xb, fb)), _mm256_cvtpd_ps(_mm256_sub_pd(xa, fa)))
    cdef int mask_one = _mm256_movemask_ps(one_)
    cdef int t
    if _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(d, zero, _CMP_EQ_OQ), one_)) != 0xFF:
        return False
    first[0] = lo
    if mask_one == 0:
        n_taps[0] = 5
        for t in range(5):
            w[t] = _tap(u, t)
        return True
    n_taps[0] = 6
    w[5] = zero
    for t in range(5):
        w[t + 1] = _mm256_blendv_ps(w[t + 1], _tap(u, t), one_)
        w[t] = _mm256_blendv_ps(_tap(u, t), zero, one_) if t == 0 else _mm256_blendv_ps(_tap(u, t), w[t], one_)
    return True


cdef struct RowGroup:
    # weights of 8 consecutive output voxels of a row, as :func:`row_weights` prepares them
    __m256 v0[6]        # first axis, per tap (5 or 6 taps)
    __m256 v1[6]        # second axis
    __m256 v2[5]        # last axis
    int n0, n1          # tap counts
    Py_ssize_t offset   # coefficient offset of the first taps of lane 0
    bint ok             # False: the group lacks the structure, sample it point by point


cdef inline void row_weights(double b0, double b1, double b2, double m02, double m12, double m22,
                             Py_ssize_t s0, Py_ssize_t s1, Py_ssize_t k, RowGroup* g) noexcept nogil:
    """Weights of the 8 points ``(b0, b1, b2) + (m02, m12, m22) (k + p)``, p = 0..7, for :func:`row_sum`.

    For a row of the output grid under a near-identity transform, the 8
    points' taps along the last axis are those of the first point shifted
    by p, and along the first two axes they differ by at most one voxel
    (:func:`_axis_taps`). ``g.ok`` is False when the points lack that
    structure. The weights are those of :func:`_taps8`.
    """
    cdef __m256d lanes_lo = _mm256_setr_pd(<double>k, <double>(k + 1), <double>(k + 2), <double>(k + 3))
    cdef __m256d lanes_hi = _mm256_setr_pd(<double>(k + 4), <double>(k + 5), <double>(k + 6), <double>(k + 7))
    cdef __m256d half = _mm256_set1_pd(0.5)
    cdef __m256d xa, xb, fa, fb, e
    cdef __m256 u
    cdef double first0, first1, f2
    g.ok = False
    # last axis: centres must be round(x2 of point 0) + p
    xa = _mm256_add_pd(_mm256_set1_pd(b2), _mm256_mul_pd(_mm256_set1_pd(m22), lanes_lo))
    xb = _mm256_add_pd(_mm256_set1_pd(b2), _mm256_mul_pd(_mm256_set1_pd(m22), lanes_hi))
    fa = _mm256_floor_pd(_mm256_add_pd(xa, half))
    fb = _mm256_floor_pd(_mm256_add_pd(xb, half))
    f2 = floor(b2 + m22 * <double>k + 0.5)
    e = _mm256_set1_pd(f2 - <double>k)
    if (_mm256_movemask_pd(_mm256_cmp_pd(fa, _mm256_add_pd(e, lanes_lo), _CMP_EQ_OQ)) != 0xF
            or _mm256_movemask_pd(_mm256_cmp_pd(fb, _mm256_add_pd(e, lanes_hi), _CMP_EQ_OQ)) != 0xF):
        return
    if not _axis_taps(b0, m02, <double>k, lanes_lo, lanes_hi, g.v0, &g.n0, &first0):
        return
    if not _axis_taps(b1, m12, <double>k, lanes_lo, lanes_hi, g.v1, &g.n1, &first1):
        return
    u = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(xb, fb)), _mm256_cvtpd_ps(_mm256_sub_pd(xa, fa)))
    g.v2[0] = _tap(u, 0)
    g.v2[1] = _tap(u, 1)
    g.v2[2] = _tap(u, 2)
    g.v2[3] = _tap(u, 3)
    g.v2[4] = _tap(u, 4)
    g.offset = (<Py_ssize_t>first0 - 2) * s0 + (<Py_ssize_t>first1 - 2) * s1 + (<Py_ssize_t>f2 - 2)
    g.ok = True


cdef inline void row_sum(const float* c, Py_ssize_t s0, Py_ssize_t s1, const RowGroup* g,
                         float* out) noexcept nogil:
    """Degree-4 spline at a group's 8 points (``g.ok`` must be True), lanes = points.

    Each of the 5 x 5 (up to 6 x 6) coefficient rows is read as five
    8-float vectors (one per tap of the last axis, lane p at offset p) and
    every product is a full-width fused multiply-add with per-lane weights.
    """
    cdef __m256 u0 = g.v2[0], u1 = g.v2[1], u2 = g.v2[2], u3 = g.v2[3], u4 = g.v2[4]
    cdef __m256 r, t, acc
    cdef int a, b
    cdef const float* q
    cdef const float* qa = c + g.offset
    acc = _mm256_setzero_ps()
    for a in range(g.n0):
        t = _mm256_setzero_ps()
        q = qa
        for b in range(g.n1):
            r = _mm256_mul_ps(u0, _mm256_loadu_ps(q))
            r = _mm256_fmadd_ps(u1, _mm256_loadu_ps(q + 1), r)
            r = _mm256_fmadd_ps(u2, _mm256_loadu_ps(q + 2), r)
            r = _mm256_fmadd_ps(u3, _mm256_loadu_ps(q + 3), r)
            r = _mm256_fmadd_ps(u4, _mm256_loadu_ps(q + 4), r)
            t = _mm256_fmadd_ps(g.v1[b], r, t)
            q = q + s1
        acc = _mm256_fmadd_ps(g.v0[a], t, acc)
        qa = qa + s0
    _mm256_storeu_ps(out, acc)


# ---------------------------------------------------------------- line kernels
# The fused type ``real``, the IIR prefilter and the buffers come from lines.pxd (cdef inline, so
# compiled here for AVX2/FMA); the kernels defined below use intrinsics and each says how it differs
# from its portable counterpart.


def prefilter_lines(real[:, :, :] a, int degree):
    """As ``bspline.prefilter_lines`` (``lines.prefilter_view``, compiled for AVX2/FMA)."""
    prefilter_view(a, degree)


cdef inline void _transpose8(const float* src, Py_ssize_t ss, float* dst, Py_ssize_t ds) noexcept nogil:
    """``dst[c * ds + r] = src[r * ss + c]`` for an 8 x 8 block, in registers."""
    cdef __m256 r0 = _mm256_loadu_ps(src)
    cdef __m256 r1 = _mm256_loadu_ps(src + ss)
    cdef __m256 r2 = _mm256_loadu_ps(src + 2 * ss)
    cdef __m256 r3 = _mm256_loadu_ps(src + 3 * ss)
    cdef __m256 r4 = _mm256_loadu_ps(src + 4 * ss)
    cdef __m256 r5 = _mm256_loadu_ps(src + 5 * ss)
    cdef __m256 r6 = _mm256_loadu_ps(src + 6 * ss)
    cdef __m256 r7 = _mm256_loadu_ps(src + 7 * ss)
    cdef __m256 t0 = _mm256_unpacklo_ps(r0, r1)
    cdef __m256 t1 = _mm256_unpackhi_ps(r0, r1)
    cdef __m256 t2 = _mm256_unpacklo_ps(r2, r3)
    cdef __m256 t3 = _mm256_unpackhi_ps(r2, r3)
    cdef __m256 t4 = _mm256_unpacklo_ps(r4, r5)
    cdef __m256 t5 = _mm256_unpackhi_ps(r4, r5)
    cdef __m256 t6 = _mm256_unpacklo_ps(r6, r7)
    cdef __m256 t7 = _mm256_unpackhi_ps(r6, r7)
    r0 = _mm256_shuffle_ps(t0, t2, 0x44)
    r1 = _mm256_shuffle_ps(t0, t2, 0xEE)
    r2 = _mm256_shuffle_ps(t1, t3, 0x44)
    r3 = _mm256_shuffle_ps(t1, t3, 0xEE)
    r4 = _mm256_shuffle_ps(t4, t6, 0x44)
    r5 = _mm256_shuffle_ps(t4, t6, 0xEE)
    r6 = _mm256_shuffle_ps(t5, t7, 0x44)
    r7 = _mm256_shuffle_ps(t5, t7, 0xEE)
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(r0, r4, 0x20))
    _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(r1, r5, 0x20))
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(r2, r6, 0x20))
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(r3, r7, 0x20))
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(r0, r4, 0x31))
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(r1, r5, 0x31))
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(r2, r6, 0x31))
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(r3, r7, 0x31))


cdef inline void _transpose(const float* src, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ss,
                            float* dst, Py_ssize_t ds) noexcept nogil:
    """``dst[c * ds + r] = src[r * ss + c]`` for a rows x cols block (8 x 8 tiles in registers).

    Not ``lines.transpose_into``: float32 only, 8 x 8 tiles through :func:`_transpose8`, and a
    destination stride ``ds``, so that it also writes the result back into a strided slab.
    """
    cdef Py_ssize_t r, c, i, r8 = rows - rows % 8, c8 = cols - cols % 8
    for r in range(0, r8, 8):
        for c in range(0, c8, 8):
            _transpose8(src + r * ss + c, ss, dst + c * ds + r, ds)
        for c in range(c8, cols):
            for i in range(r, r + 8):
                dst[c * ds + i] = src[i * ss + c]
    for r in range(r8, rows):
        for c in range(cols):
            dst[c * ds + r] = src[r * ss + c]


def prefilter_last_axis(real[:, :, :] a, int degree):
    """B-spline coefficients along the last axis (which must have unit stride), in place.

    Each slab ``a[i]`` is transposed so that the recursion runs with
    contiguous lanes (float32: 8 x 8 tiles transposed in registers).
    """
    cdef Py_ssize_t item = sizeof(real)
    cdef Py_ssize_t n0 = a.shape[0], n1 = a.shape[1], n2 = a.shape[2], s0, s1, i
    cdef real* buf
    cdef real* slab
    if n0 == 0 or n1 == 0 or n2 < 2:
        return
    if a.strides[2] != item:
        raise ValueError(f"a must have unit stride along its last axis, got {a.strides[2]} bytes")
    buf = <real*>malloc((n1 * n2 + n1) * sizeof(real))
    if buf == NULL:
        raise MemoryError("prefilter_last_axis: cannot allocate a slab buffer")
    s0 = a.strides[0] // item
    s1 = a.strides[1] // item
    try:
        with nogil:
            if real is float:
                # as lines.prefilter_last, but with the slabs transposed by 8 x 8 register tiles
                for i in range(n0):
                    slab = &a[0, 0, 0] + i * s0
                    _transpose(slab, n1, n2, s1, buf, n1)
                    prefilter_block(buf, 1, n2, n1, 0, n1, 1, degree, buf + n1 * n2)
                    _transpose(buf, n2, n1, n1, slab, s1)
            else:
                prefilter_last(&a[0, 0, 0], n0, n1, n2, s0, s1, degree, buf, buf + n1 * n2)
    finally:
        free(buf)


cdef inline void convolve_block(const float* src, float* dst, Py_ssize_t n_outer, Py_ssize_t n,
                                Py_ssize_t n_lanes, const float* kernel, Py_ssize_t klen,
                                const float* scale) noexcept nogil:
    """``lines.convolve_block`` with the lanes in registers, 32 at a time.

    Kept apart from the portable loop, which updates ``out`` in memory once per tap: here 32 (then
    8) lanes stay in four ymm accumulators across all the taps, with fused multiply-adds.
    """
    cdef Py_ssize_t o, i, t, l, r = (klen - 1) // 2, t0, t1
    cdef __m256 acc0, acc1, acc2, acc3, kt, sc
    cdef float* out
    cdef const float* inp
    cdef const float* q
    cdef float a
    for o in range(n_outer):
        for i in range(n):
            out = dst + (o * n + i) * n_lanes
            t0 = r - i if i < r else 0
            t1 = n - 1 - i + r if i + r > n - 1 else 2 * r
            inp = src + (o * n + i - r) * n_lanes
            sc = _mm256_set1_ps(scale[i])
            l = 0
            while l + 32 <= n_lanes:
                acc0 = _mm256_setzero_ps()
                acc1 = _mm256_setzero_ps()
                acc2 = _mm256_setzero_ps()
                acc3 = _mm256_setzero_ps()
                for t in range(t0, t1 + 1):
                    kt = _mm256_set1_ps(kernel[t])
                    q = inp + t * n_lanes + l
                    acc0 = _mm256_fmadd_ps(kt, _mm256_loadu_ps(q), acc0)
                    acc1 = _mm256_fmadd_ps(kt, _mm256_loadu_ps(q + 8), acc1)
                    acc2 = _mm256_fmadd_ps(kt, _mm256_loadu_ps(q + 16), acc2)
                    acc3 = _mm256_fmadd_ps(kt, _mm256_loadu_ps(q + 24), acc3)
                _mm256_storeu_ps(out + l, _mm256_mul_ps(acc0, sc))
                _mm256_storeu_ps(out + l + 8, _mm256_mul_ps(acc1, sc))
                _mm256_storeu_ps(out + l + 16, _mm256_mul_ps(acc2, sc))
                _mm256_storeu_ps(out + l + 24, _mm256_mul_ps(acc3, sc))
                l = l + 32
            while l + 8 <= n_lanes:
                acc0 = _mm256_setzero_ps()
                for t in range(t0, t1 + 1):
                    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(kernel[t]), _mm256_loadu_ps(inp + t * n_lanes + l), acc0)
                _mm256_storeu_ps(out + l, _mm256_mul_ps(acc0, sc))
                l = l + 8
            while l < n_lanes:
                a = 0.0
                for t in range(t0, t1 + 1):
                    a = a + kernel[t] * inp[t * n_lanes + l]
                out[l] = a * scale[i]
                l = l + 1


def convolve_lines(const float[:, :, ::1] src, float[:, :, ::1] dst,
                   const double[::1] kernel, bint normalize):
    """As ``smooth.convolve_lines``."""
    cdef Py_ssize_t n = src.shape[1], klen = kernel.shape[0]
    cdef float* buf = kernel_and_scales(kernel, n, normalize)
    try:
        with nogil:
            convolve_block(&src[0, 0, 0], &dst[0, 0, 0], src.shape[0], n, src.shape[2], buf, klen, buf + klen)
    finally:
        free(buf)


def convolve_last(const float[:, :, ::1] src, float[:, :, :] dst,
                  const double[::1] kernel, bint normalize):
    """As ``smooth.convolve_last``, with the slabs transposed as 8 x 8 tiles in registers."""
    cdef Py_ssize_t n0 = src.shape[0], n1 = src.shape[1], n = src.shape[2], klen = kernel.shape[0], a
    cdef Py_ssize_t ds
    cdef float* kbuf
    cdef float* slab
    if dst.shape[0] != n0 or dst.shape[1] != n1 or dst.shape[2] != n:
        raise ValueError("dst must have the shape of src")
    if n > 1 and dst.strides[2] != sizeof(float):
        raise ValueError(f"dst must have unit stride along its last axis, got {dst.strides[2]} bytes")
    if n0 == 0 or n1 == 0 or n == 0:
        return
    ds = dst.strides[1] // sizeof(float)
    kbuf = kernel_and_scales(kernel, n, normalize)
    slab = <float*>malloc(2 * n1 * n * sizeof(float))
    if slab == NULL:
        free(kbuf)
        raise MemoryError("convolve_last: cannot allocate")
    try:
        with nogil:
            for a in range(n0):
                _transpose(&src[a, 0, 0], n1, n, n, slab, n1)
                convolve_block(slab, slab + n1 * n, 1, n, n1, kbuf, klen, kbuf + klen)
                _transpose(slab + n1 * n, n, n1, n1, &dst[a, 0, 0], ds)
    finally:
        free(slab)
        free(kbuf)


# ---------------------------------------------------------------- realignment
cdef enum:
    M_N_IN = 0
    M_SUM_F = 1
    M_SUM_FF = 2
    M_SUM_BF = 3
    M_ATF = 4
    M_N_OUT = 10
    M_SUM_B_OUT = 11
    M_SUM_BB_OUT = 12
    M_ATB_OUT = 13
    M_ATA_OUT = 19
    M_COUNT = 55


cdef inline __m256d _affine_row(const __m256d* m, __m256d x0, __m256d x1, __m256d x2) noexcept nogil:
    """``m0 x0 + m1 x1 + m2 x2 + m3`` per lane, in the scalar code's order (no fused steps)."""
    return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m[0], x0), _mm256_mul_pd(m[1], x1)),
                                       _mm256_mul_pd(m[2], x2)), m[3])


cdef inline int _inside(__m256d y0, __m256d y1, __m256d y2, __m256d h0, __m256d h1, __m256d h2) noexcept nogil:
    """Bit p set when point p (of 4) lies in ``[0, h]`` along every axis."""
    cdef __m256d z = _mm256_setzero_pd()
    cdef __m256d ok = _mm256_and_pd(_mm256_cmp_pd(y0, z, _CMP_GE_OQ), _mm256_cmp_pd(y0, h0, _CMP_LE_OQ))
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(y1, z, _CMP_GE_OQ), _mm256_cmp_pd(y1, h1, _CMP_LE_OQ)))
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(y2, z, _CMP_GE_OQ), _mm256_cmp_pd(y2, h2, _CMP_LE_OQ)))
    return _mm256_movemask_pd(ok)


def gauss_newton_moments(const float[:, :, ::1] coef, Py_ssize_t margin, const Py_ssize_t[::1] extent,
                         int degree, const double[:, ::1] points, const double[:, ::1] jacobian,
                         const double[::1] target, const double[:, ::1] transform,
                         double[::1] moments):
    """As ``realign.gauss_newton_moments`` (same layout of ``moments``).

    Points are taken 8 at a time; for degree 4 the spline is sampled by
    :func:`sample4_batch` when all 8 fall inside the moving volume.
    """
    cdef Py_ssize_t n0 = extent[0], n1 = extent[1], n2 = extent[2]
    cdef double hi0 = <double>(n0 - 1), hi1 = <double>(n1 - 1), hi2 = <double>(n2 - 1)
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    cdef Py_ssize_t j, j0, p, q, n = points.shape[0]
    cdef double x0, x1, x2, f, bj
    cdef double m00 = transform[0, 0], m01 = transform[0, 1], m02 = transform[0, 2], m03 = transform[0, 3]
    cdef double m10 = transform[1, 0], m11 = transform[1, 1], m12 = transform[1, 2], m13 = transform[1, 3]
    cdef double m20 = transform[2, 0], m21 = transform[2, 1], m22 = transform[2, 2], m23 = transform[2, 3]
    cdef double n_in = 0.0, sf = 0.0, sff = 0.0, sbf = 0.0
    cdef double atf0 = 0.0, atf1 = 0.0, atf2 = 0.0, atf3 = 0.0, atf4 = 0.0, atf5 = 0.0
    cdef const double* aj
    cdef Py_ssize_t f0, f1
    cdef double y0[8]
    cdef double y1[8]
    cdef double y2[8]
    cdef float fv[8]
    cdef bint inside[8]
    cdef bint all_inside
    cdef const double* pt
    cdef __m256d x0a, x1a, x2a, x0b, x1b, x2b, y0a, y0b, y1a, y1b, y2a, y2b
    cdef __m256d t0[4]
    cdef __m256d t1[4]
    cdef __m256d t2[4]
    cdef __m256d h0 = _mm256_set1_pd(hi0), h1 = _mm256_set1_pd(hi1), h2 = _mm256_set1_pd(hi2)
    cdef int mask
    for p in range(4):
        t0[p] = _mm256_set1_pd(transform[0, p])
        t1[p] = _mm256_set1_pd(transform[1, p])
        t2[p] = _mm256_set1_pd(transform[2, p])
    with nogil:
        for p in range(M_COUNT):
            moments[p] = 0.0
        j0 = 0
        while j0 < n:
            q = n - j0 if n - j0 < 8 else 8
            if q == 8 and degree == 4:
                pt = &points[j0, 0]
                x0a = _mm256_setr_pd(pt[0], pt[3], pt[6], pt[9])
                x1a = _mm256_setr_pd(pt[1], pt[4], pt[7], pt[10])
                x2a = _mm256_setr_pd(pt[2], pt[5], pt[8], pt[11])
                x0b = _mm256_setr_pd(pt[12], pt[15], pt[18], pt[21])
                x1b = _mm256_setr_pd(pt[13], pt[16], pt[19], pt[22])
                x2b = _mm256_setr_pd(pt[14], pt[17], pt[20], pt[23])
                y0a = _affine_row(t0, x0a, x1a, x2a)
                y0b = _affine_row(t0, x0b, x1b, x2b)
                y1a = _affine_row(t1, x0a, x1a, x2a)
                y1b = _affine_row(t1, x0b, x1b, x2b)
                y2a = _affine_row(t2, x0a, x1a, x2a)
                y2b = _affine_row(t2, x0b, x1b, x2b)
                mask = (_inside(y0a, y1a, y2a, h0, h1, h2)
                        | (_inside(y0b, y1b, y2b, h0, h1, h2) << 4))
                if mask == 0xFF:
                    sample4_batchv(c0, s0, s1, y0a, y0b, y1a, y1b, y2a, y2b, fv)
                    for p in range(8):
                        j = j0 + p
                        bj = target[j]
                        aj = &jacobian[j, 0]
                        f = fv[p]
                        sf = sf + f
                        sff = sff + f * f
                        sbf = sbf + bj * f
                        atf0 = atf0 + aj[0] * f
                        atf1 = atf1 + aj[1] * f
                        atf2 = atf2 + aj[2] * f
                        atf3 = atf3 + aj[3] * f
                        atf4 = atf4 + aj[4] * f
                        atf5 = atf5 + aj[5] * f
                    n_in = n_in + 8.0
                    j0 = j0 + 8
                    continue
            all_inside = q == 8
            for p in range(q):
                x0 = points[j0 + p, 0]
                x1 = points[j0 + p, 1]
                x2 = points[j0 + p, 2]
                y0[p] = m00 * x0 + m01 * x1 + m02 * x2 + m03
                y1[p] = m10 * x0 + m11 * x1 + m12 * x2 + m13
                y2[p] = m20 * x0 + m21 * x1 + m22 * x2 + m23
                inside[p] = (y0[p] >= 0.0 and y0[p] <= hi0 and y1[p] >= 0.0 and y1[p] <= hi1
                             and y2[p] >= 0.0 and y2[p] <= hi2)
                all_inside = all_inside and inside[p]
            if degree == 4 and all_inside:
                sample4_batch(c0, s0, s1, y0, y1, y2, fv)
            for p in range(q):
                j = j0 + p
                bj = target[j]
                aj = &jacobian[j, 0]
                if inside[p]:
                    if degree == 4:
                        f = fv[p] if all_inside else sample4(c0, s0, s1, y0[p], y1[p], y2[p])
                    else:
                        f = sample(c0, s0, s1, degree, y0[p], y1[p], y2[p])
                    n_in = n_in + 1.0
                    sf = sf + f
                    sff = sff + f * f
                    sbf = sbf + bj * f
                    atf0 = atf0 + aj[0] * f
                    atf1 = atf1 + aj[1] * f
                    atf2 = atf2 + aj[2] * f
                    atf3 = atf3 + aj[3] * f
                    atf4 = atf4 + aj[4] * f
                    atf5 = atf5 + aj[5] * f
                else:
                    moments[M_N_OUT] += 1.0
                    moments[M_SUM_B_OUT] += bj
                    moments[M_SUM_BB_OUT] += bj * bj
                    for f0 in range(6):
                        moments[M_ATB_OUT + f0] += aj[f0] * bj
                        for f1 in range(6):
                            moments[M_ATA_OUT + 6 * f0 + f1] += aj[f0] * aj[f1]
            j0 = j0 + q
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


# ---------------------------------------------------------------- reslicing
cdef inline void _inside_range(double b, double m, double lo, double hi, Py_ssize_t n,
                               Py_ssize_t* k_lo, Py_ssize_t* k_hi) noexcept nogil:
    """Narrow ``[k_lo, k_hi]`` to the k with ``lo <= b + m k <= hi``."""
    cdef double a, c
    if m == 0.0:
        if b < lo or b > hi:
            k_lo[0] = n
            k_hi[0] = -1
        return
    a = (lo - b) / m
    c = (hi - b) / m
    if m < 0.0:
        a, c = c, a
    # k >= a and k <= c, kept conservative against rounding by re-testing the ends below
    if a > <double>k_lo[0]:
        k_lo[0] = <Py_ssize_t>ceil(a) if a < <double>n else n
    if c < <double>k_hi[0]:
        k_hi[0] = <Py_ssize_t>floor(c) if c > -1.0 else -1


def reslice(const float[:, :, ::1] coef, Py_ssize_t margin, const Py_ssize_t[::1] extent, int degree,
            const double[:, ::1] transform, float[:, :, :] out, double tolerance):
    """As ``reslice.reslice``; ``out`` needs unit stride along its last axis.

    For each output row the range of k mapping inside the moving volume is
    solved for once, instead of testing every voxel. For degree 4 under a
    near-identity transform the row is sampled 8 voxels at a time by
    :func:`row_weights` and :func:`row_sum` (the last 8 of a row overlapping
    the previous ones);
    groups that do not fit its pattern, and larger rotations, go through
    :func:`sample4_batch`.
    """
    cdef Py_ssize_t n0 = extent[0], n1 = extent[1], n2 = extent[2]
    cdef double lo = -tolerance
    cdef double hi0 = <double>(n0 - 1) + tolerance
    cdef double hi1 = <double>(n1 - 1) + tolerance
    cdef double hi2 = <double>(n2 - 1) + tolerance
    cdef Py_ssize_t s0 = coef.strides[0] // sizeof(float)
    cdef Py_ssize_t s1 = coef.strides[1] // sizeof(float)
    cdef const float* c0 = &coef[margin, margin, margin]
    cdef Py_ssize_t i, j, k, p, m = out.shape[2], k_lo, k_hi
    cdef double ya[8]
    cdef double yb[8]
    cdef double yc[8]
    cdef RowGroup groups[ROW_GROUPS]
    cdef Py_ssize_t starts[ROW_GROUPS]
    cdef Py_ssize_t kk, q
    cdef int ng
    cdef float* o
    cdef double y0, y1, y2, b0, b1, b2
    cdef double m00 = transform[0, 0], m01 = transform[0, 1], m02 = transform[0, 2], m03 = transform[0, 3]
    cdef double m10 = transform[1, 0], m11 = transform[1, 1], m12 = transform[1, 2], m13 = transform[1, 3]
    cdef double m20 = transform[2, 0], m21 = transform[2, 1], m22 = transform[2, 2], m23 = transform[2, 3]
    # near-identity transforms (any realistic head motion): 8 voxels of a row at a time (row_weights)
    cdef bint by_rows = fabs(m02) < 0.125 and fabs(m12) < 0.125 and fabs(m22 - 1.0) < 0.125
    if m > 1 and out.strides[2] != sizeof(float):
        raise ValueError(f"out must have unit stride along its last axis, got {out.strides[2]} bytes")
    with nogil:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                b0 = m00 * i + m01 * j + m03
                b1 = m10 * i + m11 * j + m13
                b2 = m20 * i + m21 * j + m23
                o = &out[i, j, 0]
                k_lo = 0
                k_hi = m - 1
                _inside_range(b0, m02, lo, hi0, m, &k_lo, &k_hi)
                _inside_range(b1, m12, lo, hi1, m, &k_lo, &k_hi)
                _inside_range(b2, m22, lo, hi2, m, &k_lo, &k_hi)
                # rounding at the ends: settle them with the portable build's exact test
                while k_lo > 0 and k_lo <= k_hi + 1:
                    y0 = b0 + m02 * (k_lo - 1)
                    y1 = b1 + m12 * (k_lo - 1)
                    y2 = b2 + m22 * (k_lo - 1)
                    if not (y0 >= lo and y0 <= hi0 and y1 >= lo and y1 <= hi1 and y2 >= lo and y2 <= hi2):
                        break
                    k_lo = k_lo - 1
                while k_hi < m - 1 and k_hi >= k_lo - 1:
                    y0 = b0 + m02 * (k_hi + 1)
                    y1 = b1 + m12 * (k_hi + 1)
                    y2 = b2 + m22 * (k_hi + 1)
                    if not (y0 >= lo and y0 <= hi0 and y1 >= lo and y1 <= hi1 and y2 >= lo and y2 <= hi2):
                        break
                    k_hi = k_hi + 1
                while k_lo <= k_hi:
                    y0 = b0 + m02 * k_lo
                    y1 = b1 + m12 * k_lo
                    y2 = b2 + m22 * k_lo
                    if y0 >= lo and y0 <= hi0 and y1 >= lo and y1 <= hi1 and y2 >= lo and y2 <= hi2:
                        break
                    k_lo = k_lo + 1
                while k_hi >= k_lo:
                    y0 = b0 + m02 * k_hi
                    y1 = b1 + m12 * k_hi
                    y2 = b2 + m22 * k_hi
                    if y0 >= lo and y0 <= hi0 and y1 >= lo and y1 <= hi1 and y2 >= lo and y2 <= hi2:
                        break
                    k_hi = k_hi - 1
                for k in range(0, k_lo if k_lo < m else m):
                    o[k] = 0.0
                if degree == 4:
                    if not by_rows:
                        k = k_lo
                        while k + 8 <= k_hi + 1:
                            for p in range(8):
                                ya[p] = b0 + m02 * (k + p)
                                yb[p] = b1 + m12 * (k + p)
                                yc[p] = b2 + m22 * (k + p)
                            sample4_batch(c0, s0, s1, ya, yb, yc, o + k)
                            k = k + 8
                        while k <= k_hi:
                            o[k] = sample4(c0, s0, s1, b0 + m02 * k, b1 + m12 * k, b2 + m22 * k)
                            k = k + 1
                    elif k_hi + 1 - k_lo < 8:
                        for k in range(k_lo, k_hi + 1):
                            o[k] = sample4(c0, s0, s1, b0 + m02 * k, b1 + m12 * k, b2 + m22 * k)
                    else:
                        # groups of 8 voxels (the last 8 of the row overlapping the previous group);
                        # the weights of up to ROW_GROUPS groups first, then their sums
                        k = k_lo
                        while k <= k_hi:
                            ng = 0
                            while ng < ROW_GROUPS and k <= k_hi:
                                if k + 8 > k_hi + 1:
                                    k = k_hi - 7
                                starts[ng] = k
                                row_weights(b0, b1, b2, m02, m12, m22, s0, s1, k, &groups[ng])
                                ng = ng + 1
                                k = k + 8
                            for p in range(ng):
                                kk = starts[p]
                                if groups[p].ok:
                                    row_sum(c0, s0, s1, &groups[p], o + kk)
                                else:
                                    for q in range(8):
                                        ya[q] = b0 + m02 * (kk + q)
                                        yb[q] = b1 + m12 * (kk + q)
                                        yc[q] = b2 + m22 * (kk + q)
                                    sample4_batch(c0, s0, s1, ya, yb, yc, o + kk)
                else:
                    for k in range(k_lo, k_hi + 1):
                        o[k] = <float>sample(c0, s0, s1, degree, b0 + m02 * k, b1 + m12 * k, b2 + m22 * k)
                for k in range(k_hi + 1 if k_hi >= 0 else 0, m):
                    o[k] = 0.0
