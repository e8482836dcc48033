"""Synthetic fMRI sessions with known truth: activation, motion, drift and noise."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Protocol

import numpy as np

from nfd._checks import ensure_float, ensure_int
from nfd.design import Design, spm_hrf
from nfd.simulate._errors import SimulationError
from nfd.simulate._motion import move_volume, random_walk_motion, spline_coefficients
from nfd.simulate._nifti import write_nifti_volume
from nfd.simulate._phantom import Phantom, centred_affine, make_phantom
from nfd.timeseries import RoiSet

__all__ = ["SyntheticSession", "make_session", "write_roi_masks"]

#: Name of the regulation condition of synthetic designs.
REGULATION = "UP"


@dataclass(frozen=True, eq=False)
class SyntheticSession:
    """A synthetic run and its ground truth (see :func:`make_session`).

    Attributes
    ----------
    volumes : numpy.ndarray
        float32, ``(n_volumes, X, Y, Z)``: the images the scanner writes.
    affine : numpy.ndarray
        (4, 4) voxel -> mm affine, RAS+, volume centre at (0, 0, 0) mm.
    rois : dict of str to numpy.ndarray
        ``"roi_a"`` (left) and ``"roi_b"`` (right): bool masks, in grey matter.
    design : Design
        Baseline ``"BAS"`` and regulation ``"UP"`` blocks.
    activation : numpy.ndarray
        ``(n_volumes,)``: true activation in the ROIs, percent signal change
        relative to the (drifting) baseline.
    motion : numpy.ndarray
        ``(n_volumes, 6)``: true head motion relative to volume 0, SPM
        convention (x, y, z mm; rotations about x, y, z in radians).
    phantom : numpy.ndarray
        float32 ``(X, Y, Z)``: the motion-free, noise-free baseline image.
    brain : numpy.ndarray
        bool ``(X, Y, Z)``: the phantom's brain.
    drift : numpy.ndarray
        ``(n_volumes,)``: the multiplicative scanner drift, percent.
    noise_sd : float
        Standard deviation of the thermal noise, scanner units.
    tr : float
        Repetition time, seconds.
    seed : int
        The seed everything was drawn from.
    """

    volumes: np.ndarray
    affine: np.ndarray
    rois: dict[str, np.ndarray]
    design: Design
    activation: np.ndarray
    motion: np.ndarray
    phantom: np.ndarray
    brain: np.ndarray
    drift: np.ndarray
    noise_sd: float
    tr: float
    seed: int

    @property
    def n_volumes(self) -> int:
        """Number of volumes, skipped ones included."""
        return int(self.volumes.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one volume (voxels)."""
        _n, x, y, z = self.volumes.shape
        return (int(x), int(y), int(z))

    def roi_set(self) -> RoiSet:
        """The ROIs as an :class:`nfd.timeseries.RoiSet` on the session's grid."""
        return RoiSet(self.rois, affine=self.affine)

    def write_nifti(self, folder: str | PathLike[str], pattern: str = "vol_{index:04d}.nii") -> list[Path]:
        """Write every volume as its own NIfTI-1 file (for replay).

        Parameters
        ----------
        folder : path
            Destination folder, created if missing.
        pattern : str
            File name, formatted with ``index`` (0-based acquisition index)
            and ``number`` (``index + 1``); ``.nii`` or ``.nii.gz``.

        Returns
        -------
        list of pathlib.Path
            The files, in acquisition order.

        Raises
        ------
        SimulationError
            If `pattern` uses another field, or gives two volumes one name.
        """
        try:
            names = [pattern.format(index=i, number=i + 1) for i in range(self.n_volumes)]
        except (KeyError, IndexError, ValueError) as exc:
            raise SimulationError(
                f"pattern {pattern!r} must be a file name using only {{index}} and {{number}} ({exc!r})"
            ) from exc
        if len(set(names)) != len(names):
            raise SimulationError(f"pattern {pattern!r} gives several volumes the same name; use {{index}}")
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        return [
            write_nifti_volume(out / name, volume, self.affine, tr=self.tr)
            for name, volume in zip(names, self.volumes, strict=True)
        ]


class _WithRois(Protocol):
    """A session with ROI masks on its grid (:class:`SyntheticSession`, :class:`~nfd.simulate.MultiEchoSession`)."""

    @property
    def rois(self) -> dict[str, np.ndarray]: ...

    @property
    def affine(self) -> np.ndarray: ...


def write_roi_masks(folder: str | PathLike[str], session: _WithRois) -> dict[str, Path]:
    """Write the session's ROI masks as ``<folder>/<name>.nii`` (uint8, 0/1).

    Returns
    -------
    dict of str to pathlib.Path
        ROI name -> file, ready for :meth:`nfd.timeseries.RoiSet.from_files`.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return {name: write_nifti_volume(out / f"{name}.nii", mask, session.affine) for name, mask in session.rois.items()}


def _count(name: str, value: object, minimum: int) -> int:
    return ensure_int(value, name, minimum=minimum, error=SimulationError)


def _number(name: str, value: object, *, positive: bool = False, non_negative: bool = False) -> float:
    return ensure_float(
        value, name, positive=positive, minimum=0.0 if non_negative else None, error=SimulationError
    )


def _checked_grid(
    shape: tuple[int, int, int], voxel_size: tuple[float, float, float]
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """The volume shape (voxels, each >= 16) and voxel size (mm, each > 0), checked."""
    try:
        grid_list = [_count("shape", v, 16) for v in shape]
        size_list = [_number("voxel_size", v, positive=True) for v in voxel_size]
    except TypeError:
        raise SimulationError(f"shape and voxel_size must be 3 numbers each, got {shape!r}, {voxel_size!r}") from None
    if len(grid_list) != 3 or len(size_list) != 3:
        raise SimulationError(f"shape and voxel_size must be 3 numbers each, got {shape!r}, {voxel_size!r}")
    return (grid_list[0], grid_list[1], grid_list[2]), (size_list[0], size_list[1], size_list[2])


def _alternating_design(n_volumes: int, block_length: int, skip_volumes: int) -> Design:
    """Baseline and :data:`REGULATION` blocks of `block_length` volumes, baseline first, after the skipped ones.

    >>> _alternating_design(12, 3, 1).blocks
    [('BAS', 0, 3), ('UP', 4, 6), ('BAS', 7, 9), ('UP', 10, 11)]
    """
    if skip_volumes >= n_volumes:
        raise SimulationError(f"skip_volumes={skip_volumes} must be smaller than n_volumes={n_volumes}")
    blocks = [
        (REGULATION, first, min(first + block_length - 1, n_volumes - 1))
        for first in range(skip_volumes + block_length, n_volumes, 2 * block_length)
    ]
    return Design.from_blocks(n_volumes, blocks, skip_volumes=skip_volumes)


def _phantom_with_rois(
    grid: tuple[int, int, int], sizes: tuple[float, float, float], rng: np.random.Generator
) -> Phantom:
    """The phantom on `grid` (voxels of `sizes` mm); refused when an ROI holds no grey matter."""
    phantom = make_phantom(grid, sizes, rng)
    for name, mask in phantom.rois.items():
        if not mask.any():
            raise SimulationError(f"shape {grid} is too coarse: ROI {name!r} holds no grey-matter voxel")
    return phantom


def _render_volumes(
    image: np.ndarray,
    active: np.ndarray,
    affine: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray, np.ndarray],
    noise_sd: float,
    noise_rng: np.random.Generator,
) -> np.ndarray:
    """Every volume: the image with the ROIs' activation (%), times the drift (%), moved, plus noise.

    Parameters
    ----------
    image, active : numpy.ndarray
        float64 ``(X, Y, Z)``: the baseline image, and its part inside the ROIs (0 elsewhere).
    affine : numpy.ndarray
        (4, 4) voxel -> mm affine of the grid.
    truth : tuple of numpy.ndarray
        ``(activation, drift, motion)``: percent ``(n,)``, percent ``(n,)`` and SPM motion ``(n, 6)``.
    noise_sd : float
        Standard deviation of the thermal noise, scanner units (0: none).
    noise_rng : numpy.random.Generator
        The noise's stream.

    Returns
    -------
    numpy.ndarray
        float32 ``(n, X, Y, Z)``.
    """
    activation, drift, motion = truth
    n = activation.shape[0]
    moving = bool(np.any(motion != 0.0))
    if moving:
        image_coefficients = spline_coefficients(image)
        active_coefficients = spline_coefficients(active)
    volumes = np.empty((n, *image.shape), dtype=np.float32)
    for t in range(n):
        gain = 1.0 + drift[t] / 100.0
        weight = activation[t] / 100.0
        if moving and np.any(motion[t] != 0.0):
            volumes[t] = move_volume(gain * (image_coefficients + weight * active_coefficients), affine, motion[t])
        else:
            volumes[t] = gain * (image + weight * active)
        if noise_sd > 0:
            volumes[t] += noise_sd * noise_rng.standard_normal(image.shape, dtype=np.float32)
    return volumes


def _drift_percent(n_volumes: int, drift_pct: float) -> np.ndarray:
    """A slow drift from 0 to `drift_pct` %: 60 % linear ramp, 40 % half cosine."""
    tau = np.arange(n_volumes, dtype=np.float64) / max(n_volumes - 1, 1)
    return drift_pct * (0.6 * tau + 0.4 * (1.0 - np.cos(np.pi * tau)) / 2.0)


def make_session(
    n_volumes: int = 60,
    *,
    tr: float = 2.0,
    shape: tuple[int, int, int] = (64, 64, 30),
    voxel_size: tuple[float, float, float] = (3.0, 3.0, 3.5),
    seed: int = 0,
    block_length: int = 10,
    skip_volumes: int = 0,
    activation_pct: float = 2.0,
    noise_pct: float = 0.5,
    drift_pct: float = 1.0,
    max_motion_mm: float = 0.5,
    max_motion_deg: float = 0.5,
) -> SyntheticSession:
    """Generate a synthetic neurofeedback run with known truth.

    Volume ``t`` is built as

    1. the phantom (:attr:`SyntheticSession.phantom`): an egg-shaped head
       with a bright scalp rim, a dark skull layer, grey matter brighter
       than a white-matter core with a folded boundary, two darker
       ventricles, a smooth bias field and a 0.8-voxel blur;
    2. times ``1 + activation[t] / 100`` inside the two ROIs, where
       ``activation = activation_pct * (boxcar of "UP" convolved with
       spm_hrf(tr))``: the ROI mean is exactly ``activation[t]`` percent
       above baseline when there is no noise or motion;
    3. times ``1 + drift[t] / 100`` everywhere, a slow drift from 0 to
       `drift_pct` % (linear ramp plus half cosine);
    4. moved rigidly by ``motion[t]`` (a random walk reaching
       `max_motion_mm` and `max_motion_deg` at its largest, about the volume
       centre, SPM convention, quadratic B-spline resampling; see
       :func:`nfd.simulate._motion.move_volume`);
    5. plus Gaussian thermal noise of standard deviation
       ``noise_pct / 100 * mean(phantom in the brain)``.

    The design alternates blocks of `block_length` volumes, baseline first,
    starting after the `skip_volumes` skipped volumes. Everything is drawn
    from `seed` (independent streams for the phantom's folds, the motion and
    the noise), so equal arguments give equal sessions. Generating 60
    volumes of 64x64x30 takes about a second on one core.

    Parameters
    ----------
    n_volumes : int
        Volumes in the run, skipped ones included (>= 1).
    tr : float
        Repetition time, seconds.
    shape : tuple of 3 ints
        Volume shape, voxels (each >= 16).
    voxel_size : tuple of 3 floats
        Voxel size, mm.
    seed : int
        Seed of the random generator (>= 0).
    block_length : int
        Volumes per block.
    skip_volumes : int
        Initial volumes labelled baseline before the first block.
    activation_pct : float
        Activation amplitude, percent of baseline (may be negative).
    noise_pct : float
        Thermal noise standard deviation, percent of the mean brain signal.
    drift_pct : float
        Drift at the end of the run, percent (may be negative).
    max_motion_mm, max_motion_deg : float
        Largest translation (mm) and rotation (degrees) of the random walk.

    Returns
    -------
    SyntheticSession

    Raises
    ------
    SimulationError
        If an argument is out of range.

    Examples
    --------
    >>> from nfd.simulate import make_session
    >>> s = make_session(20, shape=(32, 32, 16), block_length=5, noise_pct=0.0,
    ...                  drift_pct=0.0, max_motion_mm=0.0, max_motion_deg=0.0)
    >>> s.volumes.shape, s.design.blocks[:2]
    ((20, 32, 32, 16), [('BAS', 0, 4), ('UP', 5, 9)])
    >>> roi = s.rois["roi_a"]
    >>> psc = 100 * (s.volumes[8][roi].mean() / s.phantom[roi].mean() - 1)
    >>> bool(abs(psc - s.activation[8]) < 1e-4)
    True
    """
    n = _count("n_volumes", n_volumes, 1)
    tr_s = _number("tr", tr, positive=True)
    grid, sizes = _checked_grid(shape, voxel_size)
    seed_value = _count("seed", seed, 0)
    block = _count("block_length", block_length, 1)
    skip = _count("skip_volumes", skip_volumes, 0)
    design = _alternating_design(n, block, skip)
    activation_amplitude = _number("activation_pct", activation_pct)
    noise_fraction = _number("noise_pct", noise_pct, non_negative=True) / 100.0
    drift_amplitude = _number("drift_pct", drift_pct)
    motion_mm = _number("max_motion_mm", max_motion_mm, non_negative=True)
    motion_deg = _number("max_motion_deg", max_motion_deg, non_negative=True)

    phantom_rng, motion_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed_value).spawn(3)
    )
    affine = centred_affine(grid, sizes)
    phantom = _phantom_with_rois(grid, sizes, phantom_rng)
    activation = activation_amplitude * np.convolve(design.boxcar(), spm_hrf(tr_s))[:n]
    drift = _drift_percent(n, drift_amplitude)
    motion = random_walk_motion(n, motion_rng, motion_mm, motion_deg)
    image = phantom.image.astype(np.float64)
    roi_union = np.logical_or.reduce(list(phantom.rois.values()))
    active = np.where(roi_union, image, 0.0)
    noise_sd = noise_fraction * float(image[phantom.brain].mean())
    volumes = _render_volumes(image, active, affine, (activation, drift, motion), noise_sd, noise_rng)

    for array in (activation, drift, motion, affine, volumes, phantom.image, phantom.brain, *phantom.rois.values()):
        array.setflags(write=False)
    rois = dict(phantom.rois)
    return SyntheticSession(
        volumes=volumes,
        affine=affine,
        rois=rois,
        design=design,
        activation=activation,
        motion=motion,
        phantom=phantom.image,
        brain=phantom.brain,
        drift=drift,
        noise_sd=noise_sd,
        tr=tr_s,
        seed=seed_value,
    )
