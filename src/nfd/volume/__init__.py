"""Volume engine: rigid realignment, reslicing and smoothing of fMRI volumes.

:mod:`nfd.volume` owns everything between a decoded scan (a 3-D array on
the reference grid) and the volume the ROI signals are read from:

- :class:`MotionCorrector` estimates each volume's rigid motion relative
  to a reference with SPM's real-time Gauss-Newton scheme (as OpenNFT's
  ``spm_realign_rt``), reslices the volume onto the reference grid with
  B-splines and smooths it; everything that depends only on the reference
  is computed once, kernels are Cython without the GIL.
- :func:`spm_matrix` / :func:`spm_imatrix` convert SPM's six rigid
  parameters (mm, radians) to and from 4x4 matrices.
- :func:`conform_to_grid`: reorder a volume's axes onto the reference grid
  (readers order DICOM rows and columns differently); never resamples.
- :func:`reslice`: undo a known rigid motion (B-spline resampling).
- :func:`smooth` / :func:`smoothing_kernel`: separable Gaussian smoothing
  with the FWHM in mm.
- Multi-echo EPI: :func:`fit_t2star` (voxelwise log-linear S0 and T2*, as
  tedana's ``t2smap``), the weights :func:`t2s_weights` (Posse et al. 1999),
  :func:`paid_weights` (Poser et al. 2006), :func:`echo_weights` and
  :func:`combine_echoes`; :class:`EchoCombiner` combines each volume online
  with the T2* or tSNR estimated as the run goes; :class:`MultiEchoCorrector`
  estimates the motion on one echo, reslices every echo with it, combines and
  smooths; :func:`make_corrector` builds the one a run needs.

Conventions: arrays indexed ``[i, j, k]`` in NIfTI voxel order, affines
4x4 voxel-to-mm (RAS+, 0-based voxels), motion parameters in SPM's order
and units (x, y, z translations in mm; pitch, roll, yaw in radians).

The kernels live in ``nfd._cext``: a portable build, and one compiled for
AVX2/FMA that is used when the CPU has them (set ``NFD_VOLUME_KERNELS=
generic`` to force the portable one). Worker processes should run BLAS
single-threaded (``OPENBLAS_NUM_THREADS=1``): the engine's small linear
solves gain nothing from threads, whose spinning steals a core.
"""

from nfd.volume._conform import conform_to_grid
from nfd.volume._corrector import MotionCorrector, MotionResult
from nfd.volume._echo_corrector import MultiEchoCorrector, make_corrector, parse_combine
from nfd.volume._errors import (
    GridMismatchError,
    InvalidAffineError,
    InvalidOptionError,
    InvalidVolumeError,
    OutputBufferError,
    VolumeError,
)
from nfd.volume._multiecho import (
    EchoCombiner,
    RunningEchoStats,
    T2starFit,
    echo_weights,
    fit_t2star,
    paid_weights,
    t2s_weights,
)
from nfd.volume._multiecho import combine as combine_echoes
from nfd.volume._reslice import reslice
from nfd.volume._rigid import spm_imatrix, spm_matrix
from nfd.volume._smooth import smooth, smoothing_kernel

__all__ = [
    "MotionCorrector",
    "MultiEchoCorrector",
    "make_corrector",
    "parse_combine",
    "EchoCombiner",
    "RunningEchoStats",
    "T2starFit",
    "fit_t2star",
    "t2s_weights",
    "paid_weights",
    "echo_weights",
    "combine_echoes",
    "conform_to_grid",
    "MotionResult",
    "VolumeError",
    "GridMismatchError",
    "InvalidVolumeError",
    "InvalidAffineError",
    "InvalidOptionError",
    "OutputBufferError",
    "spm_matrix",
    "spm_imatrix",
    "reslice",
    "smooth",
    "smoothing_kernel",
]
