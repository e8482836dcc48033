"""The motion-correction engine: realign, reslice and smooth each volume."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import structlog

from nfd._cext import bspline as _bspline_kernels
from nfd._cext import realign as _realign_kernels
from nfd.volume._bspline import CoefficientVolume, prefilter
from nfd.volume._errors import GridMismatchError, InvalidOptionError, InvalidVolumeError
from nfd.volume._grid import as_volume, check_affine, check_output, voxel_sizes, zero_non_finite
from nfd.volume._realign import (
    Estimate,
    RealignOptions,
    SampleSet,
    build_samples,
    gauss_newton,
    mean_squared_residual,
)
from nfd.volume._reslice import resample, voxel_map
from nfd.volume._rigid import spm_imatrix
from nfd.volume._smooth import KernelKind, Smoother, smoothing_kernel

__all__ = ["MotionResult", "MotionCorrector"]

log = structlog.get_logger(__name__)

#: Smallest accepted extent of the volume along any axis, voxels.
MIN_EXTENT = 4


@dataclass(frozen=True, eq=False)
class MotionResult:
    """What :meth:`MotionCorrector.process` returns for one volume.

    Attributes
    ----------
    params : (6,) float64
        Rigid motion relative to the reference in SPM's convention (what SPM
        writes to ``rp_*.txt``): translations x, y, z in mm, rotations about
        x, y, z in radians; ``spm_matrix(params)`` maps the volume's mm onto
        the reference's.
    resliced : float32 array
        The volume resampled onto the reference grid (zero where it maps
        outside the acquired field of view).
    smoothed : float32 array
        ``resliced`` smoothed with the engine's ``smooth_fwhm``.
    iterations : int
        Gauss-Newton iterations run (0 when no estimate could be made).
    converged : bool
        Whether the estimate met the stopping rule; False also when the
        volume gave no estimate (all zero, no overlap) and the previous
        estimate was reused.
    timings : mapping of str to float
        Wall-clock seconds spent in each stage: ``"realign"`` (spline
        coefficients, smoothing for estimation, Gauss-Newton), ``"reslice"``
        and ``"smooth"``.
    """

    params: npt.NDArray[np.float64]
    resliced: npt.NDArray[np.float32]
    smoothed: npt.NDArray[np.float32]
    iterations: int
    converged: bool
    timings: Mapping[str, float] = field(default_factory=dict)


class MotionCorrector:
    """Realign volumes to a reference, reslice them onto its grid and smooth them.

    SPM's realignment as OpenNFT runs it in real time, SPM's reslicing and
    smoothing, with everything that depends only on the reference computed
    here, once. One engine keeps its work buffers and the previous
    estimate: use one per process or thread (it pickles by rebuilding
    itself, so it can be sent to a worker process).

    Parameters
    ----------
    reference : array_like, 3-D, real
        The reference volume (e.g. the session's template). NaN and
        infinite values count as 0.
    affine : array_like, (4, 4)
        Voxel-to-mm matrix of the reference (NIfTI convention, 0-based
        voxel indices). Volumes given to :meth:`process` must be on the
        same grid.
    smooth_fwhm : float, default 5.0
        FWHM of the Gaussian applied to the resliced volume, mm (0: none).
    realign_fwhm : float, default 5.0
        FWHM of the Gaussian applied to both volumes before estimating
        motion, mm (SPM's ``fwhm``).
    sep : float, default 4.0
        Separation of the realignment's sample points, mm (SPM's ``sep``).
    quality : float, default 0.9
        SPM's ``quality``: the fraction of the normal matrix's determinant
        to keep when dropping uninformative sample points (1 keeps all).
    realign_degree : int, default 4
        B-spline degree used in estimation, 2 to 4 (SPM's ``interp``).
    reslice_degree : int, default 4
        B-spline degree used to reslice, 1 (trilinear) to 4; 4 is what
        OpenNFT's ``spm_reslice_rt`` uses.
    max_iterations : int, default 64
        Gauss-Newton iterations at most per volume.
    tolerance : float, default 1e-8
        Relative decrease of the mean squared residual below which the
        estimate counts as converged (SPM's default; two more iterations
        follow).
    step_tolerance : float, default 0.01
        The estimate also counts as converged once a Gauss-Newton step
        moves no corner of the volume by more than this, mm (0 keeps SPM's
        rule alone). Steps shrink about quadratically (the next one is about
        0.3 s**2 for a step of s mm), so this stops two to four iterations
        before SPM's rule with a change of the order of 1e-5 mm.
    pad_slices : int, default 0
        Zero slices added before and after the third axis for estimation
        and reslicing, as OpenNFT does (``nrZeroPadVol = 3``): sample points
        then reach just beyond the slab and voxels mapping up to this many
        slices outside it are interpolated against zeros instead of being
        zeroed. 3 reproduces OpenNFT's SPM results; 0 is SPM's offline
        behaviour. On a slab whose first and last slices cut through the
        brain the zeros make a false edge that does not move with the head
        and pulls the estimate towards no motion (about 40 times the error
        of no padding on ``tools/bench_volume.py``'s cut slab).
    edge_margin : float, default 2.5
        Sample points of the reference closer than this to the slab's first
        or last acquired slice are left out of the realignment, slices (0:
        every point, SPM's rule). Their smoothed spline values depend on what
        lies beyond the slab (the mirrored boundary, or the zero padding),
        not on the head; 2.5 is the half-width of a 4th-degree spline's
        support. On the cut slab it lowers the RMS error by about a third;
        where the slab's end slices hold no brain it changes nothing.
    warm_start : bool, default True
        Start each volume from the previous volume's estimate (else from
        no motion, as OpenNFT does).
    restart_after : int, default 16
        With ``warm_start``, a volume whose estimate needed more than this
        many iterations, or reached ``max_iterations``, is estimated again
        from no motion, and the estimate with the lower mean squared
        residual is kept (0: never). A head that moves by tens of degrees
        between volumes, or a volume with no good rigid fit, can send the
        previous estimate into a local optimum that the next volumes start
        from; a typical volume converges in 3 to 8 iterations.
    smooth_kernel : {"spm", "gaussian"}, default "spm"
        Shape of the output smoothing kernel (see :func:`smoothing_kernel`):
        SPM's ``spm_smoothkern``, as OpenNFT's ``spm_smooth`` call, or a
        plain sampled Gaussian.
    seed : int, default 0
        Seed of the sample grid's jitter.

    Raises
    ------
    InvalidVolumeError, InvalidAffineError, InvalidOptionError
        For a reference that is not a real 3-D array of at least 4 voxels
        per axis or is all zero, a bad affine, or an option out of range.

    Notes
    -----
    Realignment (Friston, Ashburner et al., "Spatial registration and
    normalization of images", Hum. Brain Mapp. 2:165-189, 1995; SPM's
    ``spm_realign``, OpenNFT's ``spm_realign_rt``): both volumes are turned
    into B-spline coefficients (Unser 1999) and the coefficients smoothed
    with a Gaussian of ``realign_fwhm``; the reference is sampled every
    ``sep`` mm on a jittered grid, its derivatives with respect to the six
    rigid parameters computed once from its spline, and the points that
    contribute least dropped (``quality``; SPM's offline default, which
    OpenNFT's real-time code skips, at no cost in accuracy on its data);
    each volume is then fitted by Gauss-Newton with a global intensity
    scale, points mapping outside the volume left out, starting from the
    previous estimate. Reslicing evaluates the volume's spline at every
    reference voxel (SPM's ``spm_reslice`` with masking); smoothing uses
    SPM's ``spm_smoothkern`` kernel and ``spm_conv_vol`` edges.

    Departures from SPM, all below 1e-4 mm in effect: coefficients and
    outputs are float32 (sums in float64 where they feed the normal
    equations); the jitter comes from numpy, not MATLAB's generator; the
    iteration also stops once a step is below ``step_tolerance``. By
    default the reference's sample points within ``edge_margin`` slices of
    the slab's ends are left out (SPM keeps them: ``edge_margin=0``), and
    no zero slices pad the slab (OpenNFT's ``pad_slices=3``).

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.volume import MotionCorrector
    >>> x, y, z = np.meshgrid(*(np.arange(n, dtype=float) for n in (32, 32, 20)), indexing="ij")
    >>> ref = 100.0 * np.exp(-((x - 16) ** 2 + (y - 15) ** 2) / 60.0 - (z - 9) ** 2 / 20.0)
    >>> affine = np.diag([3.0, 3.0, 3.5, 1.0])
    >>> mc = MotionCorrector(ref, affine)
    >>> res = mc.process(ref)
    >>> bool(np.abs(res.params).max() < 1e-6), res.resliced.dtype, res.converged
    (True, dtype('float32'), True)
    """

    def __init__(
        self,
        reference: npt.ArrayLike,
        affine: npt.ArrayLike,
        smooth_fwhm: float = 5.0,
        *,
        realign_fwhm: float = 5.0,
        sep: float = 4.0,
        quality: float = 0.9,
        realign_degree: int = 4,
        reslice_degree: int = 4,
        max_iterations: int = 64,
        tolerance: float = 1e-8,
        step_tolerance: float = 1e-2,
        pad_slices: int = 0,
        edge_margin: float = 2.5,
        warm_start: bool = True,
        restart_after: int = 16,
        smooth_kernel: KernelKind = "spm",
        seed: int = 0,
    ) -> None:
        ref = as_volume(reference, "reference")
        options = {
            "smooth_fwhm": smooth_fwhm, "realign_fwhm": realign_fwhm, "sep": sep, "quality": quality,
            "realign_degree": realign_degree, "reslice_degree": reslice_degree, "max_iterations": max_iterations,
            "tolerance": tolerance, "step_tolerance": step_tolerance, "pad_slices": pad_slices,
            "edge_margin": edge_margin, "warm_start": warm_start, "restart_after": restart_after,
            "smooth_kernel": smooth_kernel, "seed": seed,
        }
        # what pickling needs to rebuild the engine (e.g. in a worker process)
        self._init_args = (np.array(ref, copy=True), np.array(affine, dtype=np.float64, copy=True), options)
        if min(ref.shape) < MIN_EXTENT:
            raise InvalidVolumeError(
                f"reference must have at least {MIN_EXTENT} voxels along every axis, got shape {ref.shape}"
            )
        self._affine = check_affine(affine, "affine")
        _check_output_options(smooth_fwhm, reslice_degree, pad_slices)
        self._options = _realign_options(options)
        self._shape: tuple[int, int, int] = (int(ref.shape[0]), int(ref.shape[1]), int(ref.shape[2]))
        self._pad = int(pad_slices)
        self._reslice_degree = int(reslice_degree)
        self._warm_start = bool(warm_start)
        if isinstance(restart_after, bool) or int(restart_after) != restart_after or restart_after < 0:
            raise InvalidOptionError(f"restart_after must be an integer >= 0 iterations, got {restart_after!r}")
        self._restart_after = int(restart_after)
        self.smooth_fwhm = float(smooth_fwhm)
        self._work_affine, self._to_work = _padded_grid(self._affine, self._pad)
        self._allocate(smooth_kernel)

        # the reference: smoothed spline, sample points, derivatives
        self._load(ref)
        if not np.any(self._reslice_coef.interior):
            raise InvalidVolumeError("reference is all zero (or not finite): there is nothing to realign to")
        slab = (float(self._pad), float(self._pad + self._shape[2] - 1))
        self._samples: SampleSet = build_samples(
            self._smoothed_coef, self._work_affine, voxel_sizes(self._affine), self._options, slab
        )
        self._transform = np.eye(4)
        self._mapping = np.ascontiguousarray(voxel_map(self._work_affine, self._transform) @ self._to_work)
        self._echo_coef: CoefficientVolume | None = None

    def _allocate(self, smooth_kernel: KernelKind) -> None:
        """Allocate the work buffers reused for every volume: coefficient volumes, smoothers, moments.

        The working grid is the reference grid with ``pad_slices`` zero
        slices on either side of the third axis.
        """
        sizes = voxel_sizes(self._affine)
        n0, n1, n2 = self._shape
        work_shape = (n0, n1, n2 + 2 * self._pad)
        self._reslice_coef = CoefficientVolume(work_shape, self._reslice_degree)
        self._smoothed_coef = CoefficientVolume(work_shape, self._options.degree)
        # SPM smooths for estimation with the sampled Gaussian (spm_realign: smooth_vol)
        self._realign_smoother = Smoother(
            work_shape, tuple(smoothing_kernel(self._options.fwhm / s, "gaussian") for s in sizes)
        )
        self._output_smoother = Smoother(
            self._shape, tuple(smoothing_kernel(self.smooth_fwhm / s, smooth_kernel) for s in sizes)
        )
        self._moments = np.zeros(_realign_kernels.N_MOMENTS)

    # ------------------------------------------------------------------ API
    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the reference grid (voxels)."""
        return self._shape

    @property
    def affine(self) -> npt.NDArray[np.float64]:
        """Voxel-to-mm matrix of the reference grid (a copy)."""
        return self._affine.copy()

    @property
    def options(self) -> dict[str, Any]:
        """The engine's options, by the constructor's argument names (a copy)."""
        return dict(self._init_args[2])

    @property
    def n_samples(self) -> int:
        """Number of sample points the realignment uses."""
        return int(self._samples.target.shape[0])

    @property
    def params(self) -> npt.NDArray[np.float64]:
        """The latest estimate (SPM parameters, mm and radians); zeros before any volume."""
        return spm_imatrix(self._transform)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as the constructor's arguments plus the current estimate.

        The engine is rebuilt on unpickling (its buffers are not copied), so
        it can be sent to a worker process.
        """
        reference, affine, options = self._init_args
        return (_rebuild, (reference, affine, options, self._transform.copy()))

    def reset(self) -> None:
        """Forget the previous estimate: the next volume starts from no motion."""
        self._transform = np.eye(4)

    def process(
        self,
        volume: npt.ArrayLike,
        *,
        resliced_out: npt.NDArray[np.float32] | None = None,
        smoothed_out: npt.NDArray[np.float32] | None = None,
        smooth: bool = True,
    ) -> MotionResult:
        """Realign one volume to the reference, reslice it and smooth it.

        Parameters
        ----------
        volume : array_like, 3-D, real
            A volume on the reference's grid (same shape). NaN and infinite
            values count as 0, i.e. as outside the field of view.
        resliced_out, smoothed_out : float32 arrays, optional
            Preallocated outputs of the reference's shape, contiguous along
            the last axis (e.g. views of shared memory); written in place and
            returned as ``resliced`` / ``smoothed``.
        smooth : bool, default True
            Smooth the resliced volume; False leaves ``smoothed`` as it was
            (a multi-echo volume is smoothed once its echoes are combined,
            :meth:`smooth_into`).

        Returns
        -------
        MotionResult
            Parameters, resliced and smoothed volumes, iteration count and
            convergence flag. When no estimate can be made (an all-zero
            volume, no overlap with the reference) the previous estimate is
            used and ``converged`` is False.

        Raises
        ------
        GridMismatchError
            If ``volume``'s shape differs from the reference's.
        InvalidVolumeError
            If ``volume`` is not a real 3-D array.
        OutputBufferError
            If an output array has the wrong shape, dtype or layout.
        """
        vol = as_volume(volume, "volume")
        if vol.shape != self._shape:
            raise GridMismatchError(
                f"volume has shape {vol.shape} but the reference grid is {self._shape}: "
                "volumes must be on the reference's grid"
            )
        resliced = (
            np.empty(self._shape, dtype=np.float32)
            if resliced_out is None
            else check_output(resliced_out, self._shape, "resliced_out")
        )
        smoothed = (
            np.empty(self._shape, dtype=np.float32)
            if smoothed_out is None
            else check_output(smoothed_out, self._shape, "smoothed_out")
        )

        t0 = time.perf_counter()
        if self._load(vol):
            log.warning("volume_non_finite_values", action="treated_as_zero")

        estimate = self._estimate()
        if estimate is None:
            log.warning("realign_no_estimate", reason="too few points inside or all-zero volume", reused="previous")
            transform, iterations, converged = self._transform, 0, False
        else:
            transform, iterations, converged = estimate.transform, estimate.iterations, estimate.converged
            if not converged:
                log.warning("realign_not_converged", iterations=iterations)
            self._transform = transform

        t1 = time.perf_counter()
        self._mapping = np.ascontiguousarray(voxel_map(self._work_affine, transform) @ self._to_work)
        resample(self._reslice_coef, self._mapping, resliced)
        t2 = time.perf_counter()
        if smooth:
            self._output_smoother.run(smoothed, src=resliced)
        t3 = time.perf_counter()
        timings = {"realign": t1 - t0, "reslice": t2 - t1, "smooth": t3 - t2}
        return MotionResult(spm_imatrix(transform), resliced, smoothed, iterations, converged, timings)

    def reslice_more(self, volume: npt.ArrayLike, out: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Reslice another volume of the same acquisition with the last :meth:`process` call's motion.

        The other echoes of a multi-echo volume move with the echo whose
        motion was estimated; each is resampled with the same B-spline degree
        onto the reference grid.

        Parameters
        ----------
        volume : array_like, 3-D, real
            On the reference's grid; NaN and infinite values count as 0.
        out : float32 array
            Output of the reference's shape, written in place and returned.

        Raises
        ------
        GridMismatchError, InvalidVolumeError, OutputBufferError
            As for :meth:`process`.
        """
        vol = as_volume(volume, "volume")
        if vol.shape != self._shape:
            raise GridMismatchError(f"volume has shape {vol.shape} but the reference grid is {self._shape}")
        out = check_output(out, self._shape, "out")
        if self._echo_coef is None:
            n0, n1, n2 = self._shape
            self._echo_coef = CoefficientVolume((n0, n1, n2 + 2 * self._pad), self._reslice_degree)
        self._fill(self._echo_coef.interior, vol)
        self._echo_coef.prefilter()
        resample(self._echo_coef, self._mapping, out)
        return out

    def smooth_into(self, out: npt.NDArray[np.float32], src: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Smooth ``src`` (on the reference grid) into ``out`` with the engine's ``smooth_fwhm`` kernel."""
        out = check_output(out, self._shape, "out")
        self._output_smoother.run(out, src=np.ascontiguousarray(src, dtype=np.float32))
        return out

    # ------------------------------------------------------------- private
    def _estimate(self) -> Estimate | None:
        """Gauss-Newton from the previous estimate (or none), restarted from no motion when it struggled."""
        start = self._transform if self._warm_start else np.eye(4)
        args = (self._samples, self._smoothed_coef, self._work_affine)
        first = gauss_newton(*args, start, self._options, self._moments)
        struggled = first is None or not first.converged or first.iterations > self._restart_after
        if not (self._warm_start and self._restart_after and struggled) or np.array_equal(start, np.eye(4)):
            return first
        again = gauss_newton(*args, np.eye(4), self._options, self._moments)
        if again is None or first is None:
            kept = first if again is None else again
        else:
            residuals = [mean_squared_residual(*args, e.transform, self._moments) for e in (first, again)]
            kept = again if _lower(residuals[1], residuals[0]) else first
        log.info(
            "realign_restarted", reason="struggled from the previous estimate",
            iterations=[None if e is None else e.iterations for e in (first, again)],
            kept="no motion" if kept is again else "previous estimate",
        )
        return kept

    def _fill(self, samples: npt.NDArray[np.float32], volume: npt.NDArray[np.generic]) -> bool:
        """Copy ``volume`` into the working grid ``samples`` (zero padding slices, non-finite values zeroed).

        Returns whether non-finite values were zeroed.
        """
        if volume.dtype == np.float32 and volume.flags.c_contiguous:
            # one pass: copy, zero the padding slices, test for NaN / infinity
            all_finite = _bspline_kernels.load_rows(cast(npt.NDArray[np.float32], volume), samples, self._pad)
            return not all_finite and zero_non_finite(samples)
        if self._pad:
            samples[:, :, : self._pad] = 0.0
            samples[:, :, -self._pad :] = 0.0
        np.copyto(samples[:, :, self._pad : self._pad + self._shape[2]], volume, casting="unsafe")
        return bool(np.issubdtype(volume.dtype, np.floating)) and zero_non_finite(samples)

    def _load(self, volume: npt.NDArray[np.generic]) -> bool:
        """Compute the volume's reslicing coefficients and smoothed spline.

        The volume is zero-padded to the working grid; the smoothed spline
        is SPM's ``smooth_vol``: the estimation Gaussian applied to the
        B-spline coefficients. Returns whether non-finite values were zeroed.
        """
        samples = self._reslice_coef.interior
        had_non_finite = self._fill(samples, volume)
        smoother = self._realign_smoother
        if self._reslice_degree != self._options.degree:
            np.copyto(smoother.work, samples)
            prefilter(smoother.work, self._options.degree)
            self._reslice_coef.prefilter()
            smoother.run(self._smoothed_coef.interior)
        else:
            self._reslice_coef.prefilter()
            smoother.run(self._smoothed_coef.interior, src=samples)
        self._smoothed_coef.fill_margins()
        return had_non_finite


def _padded_grid(
    affine: npt.NDArray[np.float64], pad_slices: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The working grid: the reference grid with ``pad_slices`` zero slices before and after its third axis.

    Parameters
    ----------
    affine : (4, 4) float64
        Voxel-to-mm matrix of the reference grid.
    pad_slices : int
        Zero slices added on either side of the third axis.

    Returns
    -------
    work_affine : (4, 4) float64
        Voxel-to-mm matrix of the working grid.
    to_work : (4, 4) float64
        Reference voxel -> working voxel (a shift of ``pad_slices`` along the third axis).

    Examples
    --------
    >>> import numpy as np
    >>> work_affine, to_work = _padded_grid(np.diag([3.0, 3.0, 3.5, 1.0]), 3)
    >>> float(work_affine[2, 3]), float(to_work[2, 3])
    (-10.5, 3.0)
    """
    to_work = np.eye(4)
    to_work[2, 3] = pad_slices  # output voxel -> working voxel
    return affine @ np.linalg.inv(to_work), to_work


def _lower(a: float | None, b: float | None) -> bool:
    """Whether residual ``a`` is known and below ``b`` (an unknown ``b`` counts as infinite)."""
    return a is not None and (b is None or a < b)


def _realign_options(options: Mapping[str, Any]) -> RealignOptions:
    """The realignment settings among the constructor's ``options`` (by their argument names)."""
    return RealignOptions(
        fwhm=float(options["realign_fwhm"]),
        sep=float(options["sep"]),
        quality=float(options["quality"]),
        degree=int(options["realign_degree"]),
        max_iterations=int(options["max_iterations"]),
        tolerance=float(options["tolerance"]),
        step_tolerance=float(options["step_tolerance"]),
        seed=int(options["seed"]),
        edge_margin=float(options["edge_margin"]),
    )


def _check_output_options(smooth_fwhm: object, reslice_degree: object, pad_slices: object) -> None:
    """Refuse a reslicing or output option out of range (:class:`InvalidOptionError`)."""
    if not (isinstance(smooth_fwhm, (int, float)) and math.isfinite(smooth_fwhm) and smooth_fwhm >= 0):
        raise InvalidOptionError(f"smooth_fwhm must be a finite number >= 0 mm, got {smooth_fwhm!r}")
    if reslice_degree not in (1, 2, 3, 4):
        raise InvalidOptionError(f"reslice_degree must be 1, 2, 3 or 4, got {reslice_degree!r}")
    if not isinstance(pad_slices, (int, np.integer)) or pad_slices < 0:
        raise InvalidOptionError(f"pad_slices must be an integer >= 0, got {pad_slices!r}")


def _rebuild(
    reference: npt.NDArray[np.generic],
    affine: npt.NDArray[np.float64],
    options: dict[str, object],
    transform: npt.NDArray[np.float64],
) -> MotionCorrector:
    """Unpickle a :class:`MotionCorrector` (see ``MotionCorrector.__reduce__``)."""
    engine = MotionCorrector(reference, affine, **options)  # type: ignore[arg-type]
    engine._transform = transform
    return engine
