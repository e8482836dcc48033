# cython: language_level=3
"""Separable convolution of a float32 volume with a symmetric 1-D kernel, portable build.

Samples beyond the volume's edge are left out of the sum; with
``normalize`` the remaining weights are rescaled to sum to one (as SPM's
``spm_conv_vol`` does along the slice axis), otherwise they count as zero.
"""

from libc.stdlib cimport malloc, free

from nfd._cext.lines cimport convolve_block, kernel_and_scales, transpose_into


def convolve_lines(const float[:, :, ::1] src, float[:, :, ::1] dst,
                   const double[::1] kernel, bint normalize):
    """Convolve along axis 1 of C-ordered ``(outer, n, lanes)`` float32 arrays.

    ``dst`` must not overlap ``src``. ``kernel`` has odd length ``2 r + 1``
    and is centred on its middle element.
    """
    cdef Py_ssize_t n = src.shape[1], klen = kernel.shape[0]
    cdef float* buf = kernel_and_scales(kernel, n, normalize)
    try:
        with nogil:
            convolve_block(&src[0, 0, 0], &dst[0, 0, 0], src.shape[0], n, src.shape[2], buf, klen, buf + klen)
    finally:
        free(buf)


def convolve_last(const float[:, :, ::1] src, float[:, :, :] dst,
                  const double[::1] kernel, bint normalize):
    """Convolve along the last axis; ``dst`` may be any view with a unit-stride last axis.

    Each slab ``src[a]`` is transposed so that the convolution runs with
    contiguous lanes, then written back transposed.
    """
    cdef Py_ssize_t n0 = src.shape[0], n1 = src.shape[1], n = src.shape[2], klen = kernel.shape[0], a, b, i
    cdef float* kbuf
    cdef float* slab
    cdef float* out
    if dst.shape[0] != n0 or dst.shape[1] != n1 or dst.shape[2] != n:
        raise ValueError("dst must have the shape of src")
    if n > 1 and dst.strides[2] != sizeof(float):
        raise ValueError(f"dst must have unit stride along its last axis, got {dst.strides[2]} bytes")
    if n0 == 0 or n1 == 0 or n == 0:
        return
    kbuf = kernel_and_scales(kernel, n, normalize)
    slab = <float*>malloc(2 * n1 * n * sizeof(float))
    if slab == NULL:
        free(kbuf)
        raise MemoryError("convolve_last: cannot allocate")
    try:
        with nogil:
            for a in range(n0):
                transpose_into(&src[a, 0, 0], n1, n, n, slab)
                convolve_block(slab, slab + n1 * n, 1, n, n1, kbuf, klen, kbuf + klen)
                for b in range(n1):
                    out = &dst[a, b, 0]
                    for i in range(n):
                        out[i] = slab[n1 * n + i * n1 + b]
    finally:
        free(slab)
        free(kbuf)
