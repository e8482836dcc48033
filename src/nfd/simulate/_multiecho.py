"""Synthetic multi-echo fMRI sessions with known S0, T2* and ΔR2*, and the echo-combination theory.

The generator draws the same brain-like phantom as :func:`nfd.simulate.make_session`, turns it into
tissue maps of S0 and T2*, and renders every echo of every volume from the mono-exponential model

.. math::

    S_i(x, t) = S_0(x)\\,(1 + \\delta S_0(x, t))\\,\\exp\\bigl(-TE_i\\,(R_2^*(x) + \\Delta R_2^*(x, t))\\bigr)
    + \\varepsilon_i(x, t), \\qquad R_2^* = 1 / T_2^*,

so that the engine's T2* fit and echo combination (``nfd.volume``) can be checked against known answers. It
imports nothing from ``nfd.volume``, ``nfd.timeseries`` or ``nfd.feedback``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import check_option
from nfd._files import write_atomic
from nfd.design import Design, spm_hrf
from nfd.simulate._errors import SimulationError
from nfd.simulate._motion import move_volume, random_walk_motion, spline_coefficients
from nfd.simulate._nifti import write_nifti_volume
from nfd.simulate._phantom import Phantom, centred_affine
from nfd.simulate._session import (
    _alternating_design,
    _checked_grid,
    _count,
    _drift_percent,
    _number,
    _phantom_with_rois,
)

__all__ = [
    "MultiEchoSession",
    "make_multiecho_session",
    "optimal_tsnr_gain",
    "bold_cnr_gain",
    "write_multiecho_nifti",
    "write_multiecho_bids",
]

#: Tissue labels of :attr:`MultiEchoSession.tissue`.
BACKGROUND, GREY, WHITE, CSF, EXTRACEREBRAL = 0, 1, 2, 3, 4

#: T2* (ms) of each tissue label, 3 T, EPI-sized voxels (see :func:`make_multiecho_session`, Notes).
TISSUE_T2STAR_MS = {GREY: 45.0, WHITE: 40.0, CSF: 150.0, EXTRACEREBRAL: 30.0}

#: Echo time (ms) at which the multi-echo phantom equals the single-echo one (a typical 3 T fMRI TE).
PHANTOM_TE_MS = 30.0

#: Threshold (scanner units of the phantom) between the ventricles (drawn at 250) and white matter (560).
_VENTRICLE_THRESHOLD = 405.0

#: Kinds of echo weights known to the theory functions.
WEIGHTS_KINDS = ("t2s", "paid", "equal")


@dataclass(frozen=True, eq=False)
class MultiEchoSession:
    """A synthetic multi-echo run and its ground truth (see :func:`make_multiecho_session`).

    Attributes
    ----------
    volumes : numpy.ndarray
        float32, ``(n_echoes, n_volumes, X, Y, Z)``: the images the scanner writes, echo by echo.
    echo_times_ms : tuple of float
        Echo times, ms, increasing.
    affine : numpy.ndarray
        (4, 4) voxel -> mm affine, RAS+, volume centre at (0, 0, 0) mm.
    s0 : numpy.ndarray
        float32 ``(X, Y, Z)``: S0, the signal extrapolated to TE = 0, scanner units (0 in the background).
    t2star_ms : numpy.ndarray
        float32 ``(X, Y, Z)``: T2*, ms (0 in the background, where there is no signal).
    tissue : numpy.ndarray
        int8 ``(X, Y, Z)``: 0 background, 1 grey matter, 2 white matter, 3 CSF (ventricles), 4 scalp and skull.
    brain : numpy.ndarray
        bool ``(X, Y, Z)``: the phantom's brain (grey, white, ventricles).
    rois : dict of str to numpy.ndarray
        ``"roi_a"`` (left) and ``"roi_b"`` (right): bool masks, in grey matter.
    design : Design
        Baseline ``"BAS"`` and regulation ``"UP"`` blocks.
    activation : numpy.ndarray
        ``(n_volumes,)``: true activation in the ROIs, percent signal change at :attr:`reference_te_ms`.
    delta_r2star : numpy.ndarray
        ``(n_volumes,)``: the same activation as a change of R2* in the ROIs, s⁻¹ (negative: BOLD increase).
    reference_te_ms : float
        Echo time, ms, at which the signal change is :attr:`activation` (the grey-matter T2*).
    motion : numpy.ndarray
        ``(n_volumes, 6)``: true head motion relative to volume 0, SPM convention (mm, radians).
    drift : numpy.ndarray
        ``(n_volumes,)``: the multiplicative scanner drift, percent (common to every echo).
    s0_fluctuation : numpy.ndarray
        float32 ``(n_volumes, X, Y, Z)``: δS0, the relative S0 fluctuation of each volume (a fraction; read-only
        zeros when there is none).
    s0_noise_sd : float
        Standard deviation of δS0 at every voxel, a fraction.
    thermal_noise_sd : float
        Standard deviation of the thermal noise, scanner units, the same on every echo.
    tr : float
        Repetition time, seconds.
    seed : int
        The seed everything was drawn from.
    """

    volumes: np.ndarray
    echo_times_ms: tuple[float, ...]
    affine: np.ndarray
    s0: np.ndarray
    t2star_ms: np.ndarray
    tissue: np.ndarray
    brain: np.ndarray
    rois: dict[str, np.ndarray]
    design: Design
    activation: np.ndarray
    delta_r2star: np.ndarray
    reference_te_ms: float
    motion: np.ndarray
    drift: np.ndarray
    s0_fluctuation: np.ndarray
    s0_noise_sd: float
    thermal_noise_sd: float
    tr: float
    seed: int

    @property
    def n_echoes(self) -> int:
        """Number of echoes."""
        return int(self.volumes.shape[0])

    @property
    def n_volumes(self) -> int:
        """Number of volumes, skipped ones included."""
        return int(self.volumes.shape[1])

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one volume (voxels)."""
        _e, _n, x, y, z = self.volumes.shape
        return (int(x), int(y), int(z))

    @property
    def activation_by_echo(self) -> np.ndarray:
        """``(n_echoes, n_volumes)``: the true percent signal change in the ROIs at each echo.

        ``100 * (exp(-TE_i * ΔR2*(t)) - 1)``; equal to :attr:`activation` at :attr:`reference_te_ms`.
        """
        te_s = np.asarray(self.echo_times_ms, dtype=np.float64)[:, None] / 1000.0
        return 100.0 * np.expm1(-te_s * self.delta_r2star[None, :])


# ---------------------------------------------------------------------------------------------------------------
# validation


def _checked_echo_times(value: object, name: str = "echo_times_ms", minimum: int = 2) -> tuple[float, ...]:
    """`value` as a tuple of at least `minimum` positive, strictly increasing echo times (ms)."""
    expected = f"{name} must be at least {minimum} positive, strictly increasing echo times in ms, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise SimulationError(expected)
    try:
        times = tuple(_number(name, v, positive=True) for v in value)
    except SimulationError:
        raise SimulationError(expected) from None
    if len(times) < minimum or any(b <= a for a, b in itertools.pairwise(times)):
        raise SimulationError(expected)
    return times


def _delta_r2star(activation_pct: np.ndarray, reference_te_ms: float) -> np.ndarray:
    """ΔR2* (s⁻¹) giving a signal change of `activation_pct` percent at `reference_te_ms`.

    ``ΔR2* = -ln(1 + activation / 100) / TE_ref``; refused when the activation reaches -100 %.
    """
    ratio = 1.0 + activation_pct / 100.0
    if ratio.size and not np.all(ratio > 0.0):
        raise SimulationError(
            f"activation_pct gives a signal change of {100 * (ratio.min() - 1):.4g} % (<= -100 %); it must stay"
            " above -100 % at every volume"
        )
    return -np.log(ratio) / (reference_te_ms / 1000.0)


# ---------------------------------------------------------------------------------------------------------------
# tissue maps and S0 fluctuation


def _tissue_maps(phantom: Phantom) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue labels (int8), T2* (ms, float64) and S0 (float64) of the phantom.

    Grey matter is the phantom's grey mask; the rest of the brain is white matter where the phantom is brighter
    than :data:`_VENTRICLE_THRESHOLD` and CSF elsewhere; every other voxel with signal is scalp/skull. S0 is
    chosen so that the echo at :data:`PHANTOM_TE_MS` is the single-echo phantom: ``S0 = image * exp(TE / T2*)``.
    """
    image = phantom.image.astype(np.float64)
    tissue = np.full(image.shape, BACKGROUND, dtype=np.int8)
    tissue[image > 0.0] = EXTRACEREBRAL
    tissue[phantom.brain] = np.where(image[phantom.brain] > _VENTRICLE_THRESHOLD, WHITE, CSF)
    tissue[phantom.grey] = GREY
    t2star = np.zeros(image.shape, dtype=np.float64)
    for label, value in TISSUE_T2STAR_MS.items():
        t2star[tissue == label] = value
    s0 = np.zeros(image.shape, dtype=np.float64)
    signal = tissue != BACKGROUND
    s0[signal] = image[signal] * np.exp(PHANTOM_TE_MS / t2star[signal])
    return tissue, t2star, s0


def _s0_noise_transfer(
    shape: tuple[int, int, int], voxel_size: tuple[float, float, float], fwhm_mm: float
) -> np.ndarray | None:
    """Half-spectrum Gaussian transfer function giving a unit-variance smooth field (None: white field).

    For unit white noise ``w``, ``irfftn(H * rfftn(w))`` has variance ``mean(H²)`` over the full spectrum at
    every voxel (a periodic, stationary field); the Gaussian is separable, so that mean is a product over axes,
    and ``H`` is divided by its square root.
    """
    if fwhm_mm == 0.0:
        return None
    sigma = fwhm_mm / math.sqrt(8.0 * math.log(2.0))
    full = [np.fft.fftfreq(n, d=d) for n, d in zip(shape, voxel_size, strict=True)]
    variance = math.prod(float(np.mean(np.exp(-4.0 * math.pi**2 * sigma**2 * f**2))) for f in full)
    freqs = [*full[:2], np.fft.rfftfreq(shape[2], d=voxel_size[2])]
    fx, fy, fz = np.meshgrid(*freqs, indexing="ij", sparse=True)
    transfer = np.exp(-2.0 * math.pi**2 * sigma**2 * (fx**2 + fy**2 + fz**2))
    return np.asarray(transfer / math.sqrt(variance))


def _s0_fluctuation(
    n_volumes: int, shape: tuple[int, int, int], transfer: np.ndarray | None, sd: float, rng: np.random.Generator
) -> np.ndarray:
    """δS0 for every volume: a stationary Gaussian field of standard deviation `sd`, white in time."""
    if sd == 0.0:
        return np.broadcast_to(np.zeros((), dtype=np.float32), (n_volumes, *shape))
    field = np.empty((n_volumes, *shape), dtype=np.float32)
    for t in range(n_volumes):
        white = rng.standard_normal(shape)
        field[t] = white if transfer is None else np.fft.irfftn(np.fft.rfftn(white) * transfer, s=shape, axes=(0, 1, 2))
    field *= np.float32(sd)
    return field


# ---------------------------------------------------------------------------------------------------------------
# rendering


def _render_echoes(
    bases: np.ndarray,
    roi_union: np.ndarray,
    affine: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    echo_times_ms: tuple[float, ...],
    noise: tuple[float, np.random.Generator],
) -> np.ndarray:
    """Every echo of every volume.

    With the ROIs a binary mask ``m``, ``exp(-TE ΔR2*(t) m) = 1 + m (exp(-TE ΔR2*(t)) - 1)``, so each echo is
    a weighted sum of two fixed images (the echo's baseline ``B_i = S0 exp(-TE_i / T2*)`` and its ROI part) and
    is moved from their B-spline coefficients. The drift and δS0 multiply the moved image; the thermal noise is
    added last, drawn volume by volume, echo by echo.

    Parameters
    ----------
    bases : numpy.ndarray
        float64 ``(n_echoes, X, Y, Z)``: ``B_i``.
    roi_union : numpy.ndarray
        bool ``(X, Y, Z)``: where ΔR2* applies.
    affine : numpy.ndarray
        (4, 4) voxel -> mm affine.
    truth : tuple of numpy.ndarray
        ``(delta_r2star s⁻¹ (n,), drift % (n,), motion (n, 6), s0_fluctuation (n, X, Y, Z))``.
    echo_times_ms : tuple of float
        Echo times, ms.
    noise : tuple
        ``(sd, rng)``: thermal noise standard deviation (scanner units) and its stream.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_echoes, n, X, Y, Z)``.
    """
    delta_r2star, drift, motion, fluctuation = truth
    noise_sd, rng = noise
    n = delta_r2star.shape[0]
    actives = bases * roi_union
    moving = bool(np.any(motion != 0.0))
    if moving:
        base_coefficients = [spline_coefficients(b) for b in bases]
        active_coefficients = [spline_coefficients(a) for a in actives]
    volumes = np.empty((len(echo_times_ms), n, *bases.shape[1:]), dtype=np.float32)
    for t in range(n):
        gain = (1.0 + drift[t] / 100.0) * (1.0 + fluctuation[t])
        for i, te_ms in enumerate(echo_times_ms):
            bold = math.expm1(-te_ms / 1000.0 * float(delta_r2star[t]))
            if moving and np.any(motion[t] != 0.0):
                echo = move_volume(base_coefficients[i] + bold * active_coefficients[i], affine, motion[t])
            else:
                echo = bases[i] + bold * actives[i]
            volumes[i, t] = gain * echo
            if noise_sd > 0:
                volumes[i, t] += np.float32(noise_sd) * rng.standard_normal(bases.shape[1:], dtype=np.float32)
    return volumes


def make_multiecho_session(
    n_volumes: int = 60,
    *,
    echo_times_ms: Sequence[float] = (14.0, 38.0, 62.0),
    tr: float = 2.0,
    shape: tuple[int, int, int] = (64, 64, 30),
    voxel_size: tuple[float, float, float] = (3.0, 3.0, 3.5),
    seed: int = 0,
    block_length: int = 10,
    skip_volumes: int = 0,
    activation_pct: float = 2.0,
    s0_noise_pct: float = 0.5,
    s0_noise_fwhm_mm: float = 20.0,
    thermal_noise_pct: float = 1.0,
    drift_pct: float = 1.0,
    max_motion_mm: float = 0.5,
    max_motion_deg: float = 0.5,
) -> MultiEchoSession:
    """Generate a synthetic multi-echo neurofeedback run with known S0, T2* and ΔR2*.

    Echo ``i`` of volume ``t`` is

    .. math::

        S_i(x, t) = S_0(x)\\,(1 + \\delta S_0(x, t))\\,(1 + d(t))\\,
        \\exp\\bigl(-TE_i\\,(R_2^*(x) + \\Delta R_2^*(t)\\,m(x))\\bigr) + \\varepsilon_i(x, t)

    moved rigidly by ``motion[t]`` before ``δS0``, the drift ``d`` and the noise are applied, where

    1. ``S0`` and ``T2* = 1 / R2*`` are tissue maps of the phantom of :func:`nfd.simulate.make_session` (same
       seed, same phantom): grey matter 45 ms, white matter 40 ms, ventricular CSF 150 ms, scalp and skull
       30 ms, background no signal (S0 = T2* = 0). S0 is chosen so that the echo at TE = 30 ms is the
       single-echo phantom (``S0 = phantom * exp(30 ms / T2*)``), partial-volume blur included;
    2. ``m`` is the union of the two grey-matter ROIs and ``ΔR2*(t) = -ln(1 + activation[t] / 100) / TE_ref``
       with ``TE_ref`` = 45 ms (the grey-matter T2*, where the single-echo BOLD sensitivity ``TE exp(-TE/T2*)``
       peaks) and ``activation = activation_pct * (boxcar of "UP" convolved with spm_hrf(tr))`` as in
       :func:`make_session`: the signal change at ``TE_ref`` is exactly ``activation[t]`` percent, at echo ``i``
       it is ``(1 + activation / 100) ** (TE_i / TE_ref) - 1``. 2 % gives ΔR2* ≈ -0.44 s⁻¹, within the -0.2 to
       -1 s⁻¹ of task BOLD at 3 T;
    3. ``δS0(x, t)`` is the non-BOLD fluctuation: for each volume an independent, stationary Gaussian random
       field (Gaussian smoothing of `s0_noise_fwhm_mm`, periodic over the field of view, exactly
       ``s0_noise_pct`` % standard deviation at every voxel; 0 mm: independent voxels), white in time. It
       scales every echo alike, so no echo weighting can remove it: it models physiological (cardiac,
       respiratory) and scanner-gain fluctuations. It is defined on the scanner grid (it multiplies the moved
       image), as is the drift ``d(t)`` (``drift / 100``, 0 to `drift_pct` %, linear ramp plus half cosine);
    4. ``ε_i`` is white Gaussian thermal noise, standard deviation ``thermal_noise_pct / 100 * mean(S0 in the
       brain)`` on every echo (the same in scanner units, so the later echoes have the lower SNR).

    The motion is the random walk of :func:`make_session` (quadratic B-spline resampling of every echo with the
    same parameters). Everything is drawn from `seed` (independent streams for the phantom, the motion, δS0 and
    the thermal noise): equal arguments give equal sessions. 60 volumes of 64x64x30, 3 echoes: about 4 s.

    Parameters
    ----------
    n_volumes : int
        Volumes in the run, skipped ones included (>= 1).
    echo_times_ms : sequence of float
        Echo times, ms: at least two, positive, strictly increasing.
    tr : float
        Repetition time, seconds.
    shape : tuple of 3 ints
        Volume shape, voxels (each >= 16).
    voxel_size : tuple of 3 floats
        Voxel size, mm.
    seed : int
        Seed of the random generator (>= 0).
    block_length, skip_volumes : int
        Volumes per block; initial volumes labelled baseline before the first block.
    activation_pct : float
        Activation amplitude, percent signal change at TE = 45 ms (may be negative, above -100 %).
    s0_noise_pct : float
        Standard deviation of δS0, percent of S0 (>= 0).
    s0_noise_fwhm_mm : float
        Spatial smoothness (FWHM, mm) of δS0 (>= 0).
    thermal_noise_pct : float
        Thermal noise standard deviation, percent of the mean S0 in the brain (>= 0).
    drift_pct : float
        Drift at the end of the run, percent (may be negative).
    max_motion_mm, max_motion_deg : float
        Largest translation (mm) and rotation (degrees) of the random walk.

    Returns
    -------
    MultiEchoSession

    Raises
    ------
    SimulationError
        If an argument is out of range (the message names it).

    Notes
    -----
    Tissue T2* at 3 T. Values measured with thin slices are longer (Peters AM et al. 2007, Magn Reson Imaging
    25:748-753: cortical grey matter about 66 ms, white matter about 53 ms at 3 T); in fMRI-sized voxels
    (3 mm, 3.5 mm slices) through-slice field gradients shorten them, and 45 ms is the grey-matter value used to
    choose the 3 T single-echo TE and in multi-echo simulations (Wansapura JP et al. 1999, J Magn Reson Imaging
    9:531-538, whose 3 T T2* is commonly quoted as about 45 ms; Posse S et al. 1999, Magn Reson Med 42:87-97).
    White matter is set 10 % shorter than grey matter (the ratio of Peters et al. is 0.8); CSF has a long T2*
    (hundreds of ms in bulk) shortened by pulsation and partial volume, 150 ms here; scalp (fat, skin) and skull
    are short, 30 ms. The T2* map is piecewise constant (the phantom's blur acts on S0 only), so every voxel is
    exactly mono-exponential. The ventricles are told from white matter by the phantom's intensity: on coarse
    grids (32x32x16) the blur lifts them above the threshold and they are labelled white matter.

    Examples
    --------
    >>> from nfd.simulate import make_multiecho_session
    >>> s = make_multiecho_session(12, shape=(32, 32, 16), block_length=4, s0_noise_pct=0.0,
    ...                            thermal_noise_pct=0.0, drift_pct=0.0, max_motion_mm=0.0, max_motion_deg=0.0)
    >>> s.volumes.shape, s.echo_times_ms
    ((3, 12, 32, 32, 16), (14.0, 38.0, 62.0))
    >>> roi = s.rois["roi_a"]
    >>> float(s.t2star_ms[roi].min()), float(s.t2star_ms[roi].max())
    (45.0, 45.0)
    """
    n = _count("n_volumes", n_volumes, 1)
    echoes = _checked_echo_times(echo_times_ms)
    tr_s = _number("tr", tr, positive=True)
    grid, sizes = _checked_grid(shape, voxel_size)
    seed_value = _count("seed", seed, 0)
    design = _alternating_design(n, _count("block_length", block_length, 1), _count("skip_volumes", skip_volumes, 0))
    activation = _number("activation_pct", activation_pct) * np.convolve(design.boxcar(), spm_hrf(tr_s))[:n]
    noise = (
        _number("s0_noise_pct", s0_noise_pct, non_negative=True) / 100.0,
        _number("s0_noise_fwhm_mm", s0_noise_fwhm_mm, non_negative=True),
        _number("thermal_noise_pct", thermal_noise_pct, non_negative=True) / 100.0,
    )
    drift = _drift_percent(n, _number("drift_pct", drift_pct))
    motion_limits = (
        _number("max_motion_mm", max_motion_mm, non_negative=True),
        _number("max_motion_deg", max_motion_deg, non_negative=True),
    )
    return _simulate((grid, sizes), echoes, tr_s, seed_value, design, activation, drift, noise, motion_limits)


def _simulate(
    grid_and_sizes: tuple[tuple[int, int, int], tuple[float, float, float]],
    echoes: tuple[float, ...],
    tr_s: float,
    seed_value: int,
    design: Design,
    activation: np.ndarray,
    drift: np.ndarray,
    noise: tuple[float, float, float],
    motion_limits: tuple[float, float],
) -> MultiEchoSession:
    """The session of :func:`make_multiecho_session` from its checked arguments.

    `noise` is ``(δS0 standard deviation (fraction), its FWHM (mm), thermal noise (fraction of mean brain S0))``;
    `motion_limits` ``(mm, degrees)``.
    """
    grid, sizes = grid_and_sizes
    s0_sd, fwhm, thermal_fraction = noise
    n = activation.shape[0]
    reference_te = TISSUE_T2STAR_MS[GREY]
    delta_r2star = _delta_r2star(activation, reference_te)
    phantom_rng, motion_rng, s0_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed_value).spawn(4)
    )
    affine = centred_affine(grid, sizes)
    phantom = _phantom_with_rois(grid, sizes, phantom_rng)
    motion = random_walk_motion(n, motion_rng, *motion_limits)
    tissue, t2star, s0 = _tissue_maps(phantom)
    fluctuation = _s0_fluctuation(n, grid, _s0_noise_transfer(grid, sizes, fwhm), s0_sd, s0_rng)
    rate = np.divide(1.0, t2star, out=np.zeros_like(t2star), where=t2star > 0)
    bases = np.stack([s0 * np.exp(-te * rate) for te in echoes])
    roi_union = np.logical_or.reduce(list(phantom.rois.values()))
    thermal_sd = thermal_fraction * float(s0[phantom.brain].mean())
    truth = (delta_r2star, drift, motion, fluctuation)
    volumes = _render_echoes(bases, roi_union, affine, truth, echoes, (thermal_sd, noise_rng))
    rois = dict(phantom.rois)
    arrays = {
        "volumes": volumes,
        "affine": affine,
        "s0": s0.astype(np.float32),
        "t2star_ms": t2star.astype(np.float32),
        "tissue": tissue,
        "brain": phantom.brain,
        "activation": activation,
        "delta_r2star": delta_r2star,
        "motion": motion,
        "drift": drift,
        "s0_fluctuation": fluctuation,
    }
    for array in (*arrays.values(), *rois.values()):
        if array.flags.writeable:
            array.setflags(write=False)
    return MultiEchoSession(
        echo_times_ms=echoes,
        rois=rois,
        design=design,
        reference_te_ms=reference_te,
        s0_noise_sd=s0_sd,
        thermal_noise_sd=thermal_sd,
        tr=tr_s,
        seed=seed_value,
        **arrays,
    )


# ---------------------------------------------------------------------------------------------------------------
# theory of echo combination


def _non_negative(name: str, value: object) -> np.ndarray:
    """`value` (a number or array_like of numbers) as a float64 array, each finite and >= 0."""
    if isinstance(value, (bool, str, bytes)):
        raise SimulationError(f"{name} must be a number >= 0 or an array of them, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SimulationError(f"{name} must be a number >= 0 or an array of them, got {value!r}") from None
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise SimulationError(f"{name} must be a number >= 0 or an array of them, got {value!r}")
    return array


def _echo_model(
    echo_times_ms: object, t2star_ms: ArrayLike, s0_noise_pct: object, thermal_noise_pct: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Echo times (ms, ``(n_echoes, 1, ...)``), relative signals ``exp(-TE/T2*)``, their noise variances, σ², σ0²."""
    times = np.asarray(_checked_echo_times(echo_times_ms, minimum=1), dtype=np.float64)
    if isinstance(t2star_ms, (bool, str, bytes)):
        raise SimulationError(f"t2star_ms must be finite positive times in ms, got {t2star_ms!r}")
    try:
        t2 = np.asarray(t2star_ms, dtype=np.float64)
    except (TypeError, ValueError):
        raise SimulationError(f"t2star_ms must be finite positive times in ms, got {t2star_ms!r}") from None
    if not np.all(np.isfinite(t2)) or np.any(t2 <= 0):
        raise SimulationError(f"t2star_ms must be finite positive times in ms, got {t2star_ms!r}")
    sigma0 = _non_negative("s0_noise_pct", s0_noise_pct) / 100.0
    sigma = _non_negative("thermal_noise_pct", thermal_noise_pct) / 100.0
    try:
        t2, sigma0, sigma = np.broadcast_arrays(t2, sigma0, sigma)
    except ValueError:
        raise SimulationError("t2star_ms, s0_noise_pct and thermal_noise_pct must broadcast together") from None
    if np.any((sigma == 0.0) & (sigma0 == 0.0)):
        raise SimulationError("thermal_noise_pct and s0_noise_pct cannot both be 0: the tSNR would be infinite")
    te = times.reshape((-1,) + (1,) * t2.ndim)
    signal = np.exp(-te / t2)
    variance = sigma**2 + sigma0**2 * signal**2
    return te, signal, variance, sigma**2, sigma0**2


def _combination(
    echo_times_ms: object,
    t2star_ms: ArrayLike,
    weights_kind: str,
    s0_noise_pct: object,
    thermal_noise_pct: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(tSNR_i, CNR_i, tSNR_C, CNR_C, TE)``: per echo ``(n_echoes, ...)`` and combined ``(...)``, for S0 = 1.

    The CNR is per unit ΔR2* (s⁻¹ ms); only ratios of CNRs are meaningful.
    """
    check_option("weights_kind", weights_kind, WEIGHTS_KINDS, error=SimulationError)
    te, signal, variance, thermal, s0 = _echo_model(echo_times_ms, t2star_ms, s0_noise_pct, thermal_noise_pct)
    sd = np.sqrt(variance)
    if weights_kind == "t2s":
        weights = te * signal
    elif weights_kind == "paid":
        weights = te * signal / sd
    else:
        weights = np.ones_like(signal)
    weights = weights / weights.sum(axis=0)
    combined = (weights * signal).sum(axis=0)
    combined_sd = np.sqrt(thermal * (weights**2).sum(axis=0) + s0 * combined**2)
    contrast = te * signal
    return signal / sd, contrast / sd, combined / combined_sd, (weights * contrast).sum(axis=0) / combined_sd, te


def _gain(combined: np.ndarray, single: np.ndarray, reference_echo: int | None) -> float | np.ndarray:
    """`combined` over the best single echo (or the 1-based `reference_echo`), a float for a scalar T2*."""
    if reference_echo is None:
        reference = single.max(axis=0)
    else:
        echo = _count("reference_echo", reference_echo, 1)
        if echo > single.shape[0]:
            raise SimulationError(f"reference_echo must be an int in [1, {single.shape[0]}], got {reference_echo!r}")
        reference = single[echo - 1]
    ratio = combined / reference
    return float(ratio) if ratio.ndim == 0 else ratio


def optimal_tsnr_gain(
    echo_times_ms: Sequence[float],
    t2star_ms: ArrayLike,
    weights_kind: str = "t2s",
    *,
    s0_noise_pct: ArrayLike = 0.0,
    thermal_noise_pct: ArrayLike = 1.0,
    reference_echo: int | None = None,
) -> float | np.ndarray:
    """Expected tSNR of the weighted echo sum over the tSNR of the best single echo, for a voxel.

    Model (per voxel, S0 = 1): echo ``i`` has the signal ``s_i = exp(-TE_i / T2*)`` and the noise
    ``σ ε_i + σ0 s_i η`` with ``ε_i`` independent across echoes (thermal, ``σ = thermal_noise_pct / 100`` of
    S0) and ``η`` common to all echoes (δS0, ``σ0 = s0_noise_pct / 100``). Its tSNR is
    ``tSNR_i = s_i / sqrt(σ² + σ0² s_i²)``, largest at the shortest TE. The combination ``C = Σ w_i S_i``
    (weights normalised to sum 1) has

    .. math::

        \\mathrm{tSNR}_C = \\frac{\\sum_i w_i s_i}{\\sqrt{\\sigma^2 \\sum_i w_i^2
        + \\sigma_0^2 \\left(\\sum_i w_i s_i\\right)^2}}

    and the gain is ``tSNR_C / max_i tSNR_i`` (or over ``tSNR`` of `reference_echo`).

    Thermal noise only (``σ0 = 0``): ``tSNR_C = (w·s) / (σ |w|)``; by Cauchy-Schwarz it is largest for
    ``w ∝ s`` (gain ``|s| / s_1``). The weights here are

    - ``"t2s"`` (Posse et al. 1999): ``w_i ∝ TE_i exp(-TE_i / T2*) = TE_i s_i``, giving
      ``gain = Σ TE_i s_i² / (|TE s| s_1)``: about 1 at TEs 14/38/62 ms and T2* 45 ms (these weights
      maximise the BOLD CNR, not the tSNR: see :func:`bold_cnr_gain`), about 1.7 over the 38 ms echo;
    - ``"paid"`` (Poser et al. 2006): ``w_i ∝ TE_i tSNR_i``; with thermal noise only ``tSNR_i ∝ s_i``, so it
      equals ``"t2s"``; with δS0 it shifts weight to the later echoes, whose tSNR suffers less from it;
    - ``"equal"``: ``w_i = 1 / n``, the plain echo average.

    With δS0 (``σ0 > 0``) the common term does not average out: ``tSNR_C <= 1 / σ0`` whatever the weights, and
    the gain tends to 1 as the thermal noise vanishes (``thermal_noise_pct = 0``: exactly 1). Only the ratio
    ``σ0 / σ`` matters; with thermal noise only the gain does not depend on ``σ``.

    Parameters
    ----------
    echo_times_ms : sequence of float
        Echo times, ms (positive, increasing; one echo gives a gain of 1).
    t2star_ms : float or array_like
        T2* of the voxel(s), ms (> 0); arrays (this one and the noise levels, broadcast together) give an
        array of gains of their shape.
    weights_kind : {"t2s", "paid", "equal"}
        The echo weights.
    s0_noise_pct : float or array_like
        Standard deviation of δS0, percent of S0 (as :func:`make_multiecho_session`).
    thermal_noise_pct : float or array_like
        Thermal noise standard deviation, percent of the voxel's S0 (for a session voxel:
        ``thermal_noise_pct * mean(S0 in the brain) / S0(x)``).
    reference_echo : int, optional
        1-based echo to compare with instead of the best single echo.

    Returns
    -------
    float or numpy.ndarray
        The gain (dimensionless).

    Raises
    ------
    SimulationError
        If an argument is out of range.

    References
    ----------
    Posse S et al. (1999) Enhancement of BOLD-contrast sensitivity by single-shot multi-echo functional MR
    imaging. Magn Reson Med 42:87-97. Poser BA et al. (2006) BOLD contrast sensitivity enhancement and artifact
    reduction with multiecho EPI: parallel-acquired inhomogeneity-desensitized fMRI. Magn Reson Med
    55:1227-1235.

    Examples
    --------
    >>> round(optimal_tsnr_gain((14.0, 38.0, 62.0), 45.0, "t2s", reference_echo=2), 3)
    1.732
    """
    tsnr, _cnr, tsnr_c, _cnr_c, _te = _combination(
        echo_times_ms, t2star_ms, weights_kind, s0_noise_pct, thermal_noise_pct
    )
    return _gain(tsnr_c, tsnr, reference_echo)


def bold_cnr_gain(
    echo_times_ms: Sequence[float],
    t2star_ms: ArrayLike,
    weights_kind: str = "t2s",
    *,
    s0_noise_pct: ArrayLike = 0.0,
    thermal_noise_pct: ArrayLike = 1.0,
    reference_echo: int | None = None,
) -> float | np.ndarray:
    """Expected BOLD contrast-to-noise ratio of the weighted echo sum over that of the best single echo.

    A small ``ΔR2*`` changes echo ``i`` by ``dS_i = -TE_i S_i ΔR2*`` (``dS/dR2* = -TE S``): the BOLD contrast
    of echo ``i`` is ``c_i = TE_i s_i`` per unit S0 and ΔR2*, its CNR ``c_i / sd_i`` (noise model of
    :func:`optimal_tsnr_gain`), largest near ``TE = T2*``. The combination has the contrast ``Σ w_i c_i`` and
    ``CNR_C = Σ w_i c_i / sd_C``; the gain is ``CNR_C / max_i CNR_i`` (or over `reference_echo`'s CNR). This is
    what matters for feedback: the activation estimate's noise.

    Thermal noise only: ``CNR_C = (w·c) / (σ |w|)`` is largest for ``w ∝ c = TE s`` (Cauchy-Schwarz): the
    ``"t2s"`` weights of Posse et al. (1999) are the matched filter, with ``gain = |TE s| / max_i TE_i s_i``
    (about 1.52 at TEs 14/38/62 ms and T2* 45 ms); ``"paid"`` equals them. With δS0 the contrast still adds up
    but the common noise does too: ``CNR_C <= (Σ w_i c_i) / (σ0 Σ w_i s_i)``, and PAID weighting (Poser et al.
    2006) then gives more weight to the later echoes than ``"t2s"``.

    Parameters and return value are those of :func:`optimal_tsnr_gain`.

    Examples
    --------
    >>> round(bold_cnr_gain((14.0, 38.0, 62.0), 45.0), 3)
    1.52
    """
    _tsnr, cnr, _tsnr_c, cnr_c, _te = _combination(
        echo_times_ms, t2star_ms, weights_kind, s0_noise_pct, thermal_noise_pct
    )
    return _gain(cnr_c, cnr, reference_echo)


# ---------------------------------------------------------------------------------------------------------------
# writers


def write_multiecho_nifti(
    session: MultiEchoSession,
    folder: str | PathLike[str],
    pattern: str = "sub-01_task-nf_echo-{echo}_bold_{index:04d}.nii",
) -> list[list[Path]]:
    """Write every echo of every volume as its own 3-D NIfTI-1 file, atomically, as a scanner exports them.

    Files are written in acquisition order (volume by volume, echo 1 first within a volume), each with
    :func:`nfd.simulate.write_nifti_volume` (temporary file, fsync, rename).

    Parameters
    ----------
    session : MultiEchoSession
        The session.
    folder : path
        Destination folder, created if missing.
    pattern : str
        File name, formatted with ``echo`` (1-based echo number), ``index`` (0-based acquisition index) and
        ``number`` (``index + 1``); ``.nii`` or ``.nii.gz``.

    Returns
    -------
    list of list of pathlib.Path
        ``paths[echo - 1][index]``.

    Raises
    ------
    SimulationError
        If `pattern` uses another field, or gives two files one name.
    """
    try:
        names = [
            [pattern.format(echo=e + 1, index=i, number=i + 1) for i in range(session.n_volumes)]
            for e in range(session.n_echoes)
        ]
    except (KeyError, IndexError, ValueError) as exc:
        raise SimulationError(
            f"pattern {pattern!r} must be a file name using only {{echo}}, {{index}} and {{number}} ({exc!r})"
        ) from exc
    if len({name for echo in names for name in echo}) != session.n_echoes * session.n_volumes:
        raise SimulationError(f"pattern {pattern!r} gives several files the same name; use {{echo}} and {{index}}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[list[Path]] = [[] for _ in range(session.n_echoes)]
    for i in range(session.n_volumes):
        for e in range(session.n_echoes):
            paths[e].append(write_nifti_volume(out / names[e][i], session.volumes[e, i], session.affine, tr=session.tr))
    return paths


def _task_name(prefix: str) -> str:
    """The label of the ``task-`` entity of a BIDS file-name `prefix`."""
    for entity in prefix.split("_"):
        if entity.startswith("task-") and len(entity) > 5:
            return entity[5:]
    raise SimulationError(f"prefix {prefix!r} must hold a BIDS task entity (task-<label>), as in 'sub-01_task-nf'")


def write_multiecho_bids(
    session: MultiEchoSession, folder: str | PathLike[str], prefix: str = "sub-01_task-nf"
) -> list[Path]:
    """Write each echo as a 4-D NIfTI-1 ``<prefix>_echo-<n>_bold.nii.gz`` with its BIDS JSON sidecar, for replay.

    The image is ``(X, Y, Z, n_volumes)`` float32 with the session's affine (qform and sform, code 1) and the TR
    as 4th pixdim; the sidecar ``<prefix>_echo-<n>_bold.json`` holds ``EchoTime`` and ``RepetitionTime``
    (seconds, BIDS) and ``TaskName``. Both are written atomically.

    Parameters
    ----------
    session : MultiEchoSession
        The session.
    folder : path
        Destination folder, created if missing.
    prefix : str
        BIDS entities before ``_echo-<n>``; must hold ``task-<label>``.

    Returns
    -------
    list of pathlib.Path
        The 4-D images, echo 1 first (each sidecar is the same name with ``.json``).

    Raises
    ------
    SimulationError
        If `prefix` has no task entity.
    """
    task = _task_name(prefix)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for e, te_ms in enumerate(session.echo_times_ms, start=1):
        stem = f"{prefix}_echo-{e}_bold"
        image = nib.Nifti1Image(np.moveaxis(np.asarray(session.volumes[e - 1]), 0, -1), session.affine)
        image.set_qform(session.affine, code=1)
        image.set_sform(session.affine, code=1)
        image.header.set_xyzt_units("mm", "sec")
        image.header["pixdim"][4] = session.tr
        payload = gzip.compress(image.to_bytes(), compresslevel=1, mtime=0)
        write_atomic(out / f"{stem}.nii.gz", payload)
        images.append(out / f"{stem}.nii.gz")
        sidecar = {"EchoTime": te_ms / 1000.0, "RepetitionTime": session.tr, "TaskName": task}
        write_atomic(out / f"{stem}.json", (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"))
    return images
