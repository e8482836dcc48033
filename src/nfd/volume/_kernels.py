"""Which build of the Cython kernels runs: AVX2/FMA when the CPU has them.

``nfd._cext.avx2`` holds the per-volume kernels compiled for AVX2 and FMA
(8-wide float32 spline sampling); the portable modules hold the same
functions for any CPU. The choice is made once, at import, from the CPU
features numpy detected (or ``/proc/cpuinfo``); setting the environment
variable ``NFD_VOLUME_KERNELS=generic`` forces the portable build.
"""

from __future__ import annotations

import os
from types import ModuleType

import structlog

from nfd._cext import bspline as _bspline
from nfd._cext import realign as _realign
from nfd._cext import reslice as _reslice
from nfd._cext import smooth as _smooth

__all__ = ["BUILD", "prefilter_lines", "prefilter_last_axis", "convolve_lines", "convolve_last",
           "gauss_newton_moments", "reslice", "SLACK", "cpu_has_avx2_fma"]

log = structlog.get_logger(__name__)

#: Floats the AVX2 sampler reads past a row's last coefficient (coefficient
#: arrays carry this much zero slack at the end of their last axis).
SLACK = 3


def cpu_has_avx2_fma() -> bool:
    """Whether this CPU runs AVX2 and FMA instructions."""
    try:
        import numpy as np

        core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
        features = core._multiarray_umath.__cpu_features__
        return bool(features.get("AVX2") and features.get("FMA3"))
    except (AttributeError, ImportError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "avx2" in flags and "fma" in flags
    except OSError:
        pass
    return False


def _choose() -> tuple[str, ModuleType | None]:
    if os.environ.get("NFD_VOLUME_KERNELS", "").lower() == "generic" or not cpu_has_avx2_fma():
        return "generic", None
    try:
        from nfd._cext import avx2
    except ImportError as exc:  # not built (e.g. not an x86-64 compiler)
        log.warning("volume_kernels_fallback", reason=str(exc), build="generic")
        return "generic", None
    return "avx2", avx2


BUILD, _fast = _choose()

if _fast is not None:
    prefilter_lines = _fast.prefilter_lines
    prefilter_last_axis = _fast.prefilter_last_axis
    convolve_lines = _fast.convolve_lines
    convolve_last = _fast.convolve_last
    gauss_newton_moments = _fast.gauss_newton_moments
    reslice = _fast.reslice
else:
    prefilter_lines = _bspline.prefilter_lines
    prefilter_last_axis = _bspline.prefilter_last_axis
    convolve_lines = _smooth.convolve_lines
    convolve_last = _smooth.convolve_last
    gauss_newton_moments = _realign.gauss_newton_moments
    reslice = _reslice.reslice
