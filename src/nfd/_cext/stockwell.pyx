# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Folding kernel of the band-limited Stockwell evaluation (:mod:`nfd.eeg._bandpower`).

For each channel ``c`` and filter ``r`` it computes

    out[c, r, b] = sum over i with (phase[r] + i) mod M == b of coefs_r[i] * spectrum[c, first[r] + i]

that is, the filter's frequency-domain coefficients times the signal's
spectrum, aliased ("folded") onto ``M`` bins, so that an ``M``-point inverse
FFT of ``out[c, r]`` gives the filtered signal exactly at ``M`` equally
spaced times (sampling in time folds the spectrum).  Complex numbers are
interleaved (re, im) float64 pairs.

The loop takes the filters one by one and, for each, up to four channels at
a time; each output bin's sum is kept in registers and written once, and a
coefficient is loaded once per four channels.
"""

cdef extern from *:
    """
    /* Fold one filter for nk (1..4) channels: a_k[b] = sum over i = (b - p) mod M + q M < n of
       coef[i] * s_k[i], complex interleaved.  Each output bin is summed in registers and written
       once; a coefficient is loaded once for all nk channels.  Compiled twice where GCC can: for
       AVX2 + FMA (picked at load time on CPUs that have them) and for baseline x86-64. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    __attribute__((target_clones("arch=haswell", "default")))
    #endif
    static void nfd_fold_filter(const double *restrict coef,
                                const double *restrict s0, const double *restrict s1,
                                const double *restrict s2, const double *restrict s3,
                                double *restrict a0, double *restrict a1,
                                double *restrict a2, double *restrict a3,
                                Py_ssize_t n, Py_ssize_t m, Py_ssize_t p, int nk)
    {
        Py_ssize_t b, i;
        for (b = 0; b < m; b++) {
            double r0 = 0.0, j0 = 0.0, r1 = 0.0, j1 = 0.0, r2 = 0.0, j2 = 0.0, r3 = 0.0, j3 = 0.0;
            Py_ssize_t start = b >= p ? b - p : b - p + m;
            if (nk == 4) {
                for (i = start; i < n; i += m) {
                    const double cr = coef[2 * i], ci = coef[2 * i + 1];
                    r0 += cr * s0[2 * i] - ci * s0[2 * i + 1];
                    j0 += cr * s0[2 * i + 1] + ci * s0[2 * i];
                    r1 += cr * s1[2 * i] - ci * s1[2 * i + 1];
                    j1 += cr * s1[2 * i + 1] + ci * s1[2 * i];
                    r2 += cr * s2[2 * i] - ci * s2[2 * i + 1];
                    j2 += cr * s2[2 * i + 1] + ci * s2[2 * i];
                    r3 += cr * s3[2 * i] - ci * s3[2 * i + 1];
                    j3 += cr * s3[2 * i + 1] + ci * s3[2 * i];
                }
                a0[2 * b] = r0; a0[2 * b + 1] = j0;
                a1[2 * b] = r1; a1[2 * b + 1] = j1;
                a2[2 * b] = r2; a2[2 * b + 1] = j2;
                a3[2 * b] = r3; a3[2 * b + 1] = j3;
            } else {
                const double *s[4] = {s0, s1, s2, s3};
                double *a[4] = {a0, a1, a2, a3};
                int k;
                for (k = 0; k < nk; k++) {
                    const double *sk = s[k];
                    double re = 0.0, im = 0.0;
                    for (i = start; i < n; i += m) {
                        const double cr = coef[2 * i], ci = coef[2 * i + 1];
                        re += cr * sk[2 * i] - ci * sk[2 * i + 1];
                        im += cr * sk[2 * i + 1] + ci * sk[2 * i];
                    }
                    a[k][2 * b] = re;
                    a[k][2 * b + 1] = im;
                }
            }
        }
    }
    """
    void nfd_fold_filter(const double* coef, const double* s0, const double* s1, const double* s2,
                         const double* s3, double* a0, double* a1, double* a2, double* a3,
                         Py_ssize_t n, Py_ssize_t m, Py_ssize_t p, int nk) nogil


def fold(const double[:, ::1] spectrum,
         const double[::1] coefs,
         const Py_ssize_t[::1] offsets,
         const Py_ssize_t[::1] first,
         const Py_ssize_t[::1] phase,
         double[:, :, ::1] out):
    """Fold every filter's product with every channel's spectrum onto ``M`` bins.

    Parameters
    ----------
    spectrum : (n_channels, 2 * n_bins) float64
        Each channel's spectrum over a contiguous range of DFT bins, interleaved.
    coefs : (2 * n_coefs,) float64
        All filters' coefficients, interleaved, filter after filter.
    offsets : (n_filters + 1,) intp
        Filter ``r``'s coefficients are complex values ``offsets[r]:offsets[r + 1]``.
    first : (n_filters,) intp
        Index into ``spectrum``'s bins of filter ``r``'s first coefficient.
    phase : (n_filters,) intp
        Output bin (0 <= phase < M) of filter ``r``'s first coefficient.
    out : (n_channels, n_filters, 2 * M) float64
        Overwritten with the folded products, interleaved.
    """
    cdef Py_ssize_t n_ch = out.shape[0], n_filt = out.shape[1], n_out = out.shape[2] // 2
    cdef Py_ssize_t c, c0, r, length, o, f, k
    cdef int nk
    cdef const double* cp
    cdef const double* sp[4]
    cdef double* ap[4]
    if spectrum.shape[0] != n_ch or offsets.shape[0] != n_filt + 1 or first.shape[0] != n_filt \
            or phase.shape[0] != n_filt:
        raise ValueError("fold: inconsistent array shapes")
    for r in range(n_filt):
        if offsets[r + 1] < offsets[r] or offsets[r + 1] > coefs.shape[0] // 2:
            raise ValueError("fold: bad offsets")
        if first[r] < 0 or 2 * (first[r] + offsets[r + 1] - offsets[r]) > spectrum.shape[1]:
            raise ValueError("fold: a filter reaches beyond the spectrum")
        if phase[r] < 0 or phase[r] >= n_out:
            raise ValueError("fold: bad phase")
    if n_ch == 0 or n_filt == 0:
        return
    with nogil:
        for r in range(n_filt):
            o = offsets[r]
            f = first[r]
            length = offsets[r + 1] - o
            cp = &coefs[2 * o]
            for c0 in range(0, n_ch, 4):
                nk = <int>(n_ch - c0 if n_ch - c0 < 4 else 4)
                for k in range(4):
                    c = c0 + (k if k < nk else 0)
                    sp[k] = &spectrum[c, 2 * f]
                    ap[k] = &out[c, r, 0]
                nfd_fold_filter(cp, sp[0], sp[1], sp[2], sp[3], ap[0], ap[1], ap[2], ap[3],
                                length, n_out, phase[r], nk)
