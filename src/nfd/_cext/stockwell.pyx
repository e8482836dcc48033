# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Folding kernel of the band-limited Stockwell evaluation (:mod:`nfd.eeg._bandpower`).

For each channel ``c`` and filter ``r`` it computes

    out[c, r, b] = sum over i with (first_bin[r] + i) mod M == b of coefs_r[i] * spectrum[c, k(r, i)]

that is, the filter's frequency-domain coefficients times the signal's
spectrum, aliased ("folded") onto ``M`` bins, so that an ``M``-point inverse
FFT of ``out[c, r]`` gives the filtered signal exactly at ``M`` equally
spaced times (the sampling theorem in reverse: sampling in time folds the
spectrum).  Complex numbers are interleaved (re, im) float64 pairs.
"""


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
    cdef Py_ssize_t c, r, i, j, b, seg, length, o, f
    cdef double cre, cim, yre, yim
    cdef const double* cp
    cdef const double* yp
    cdef double* op
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
    with nogil:
        for c in range(n_ch):
            for r in range(n_filt):
                op = &out[c, r, 0]
                for b in range(2 * n_out):
                    op[b] = 0.0
                o = offsets[r]
                f = first[r]
                length = offsets[r + 1] - o
                b = phase[r]
                i = 0
                while i < length:
                    seg = n_out - b
                    if seg > length - i:
                        seg = length - i
                    cp = &coefs[2 * (o + i)]
                    yp = &spectrum[c, 2 * (f + i)]
                    for j in range(seg):
                        cre = cp[2 * j]
                        cim = cp[2 * j + 1]
                        yre = yp[2 * j]
                        yim = yp[2 * j + 1]
                        op[2 * (b + j)] += cre * yre - cim * yim
                        op[2 * (b + j) + 1] += cre * yim + cim * yre
                    i += seg
                    b = 0
