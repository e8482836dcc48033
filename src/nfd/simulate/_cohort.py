"""Synthetic multi-echo resting-state cohorts with known connectivity, written as a BIDS dataset.

:func:`make_cohort` draws a cohort (anatomy, ROIs, true ROI signals and every nuisance, per subject and run) and
:func:`write_cohort` renders and writes it as BIDS with its ground truth in ``derivatives/truth``. The volumes
are rendered run by run on demand (:meth:`Cohort.run_volumes`), deterministically from the seed: a paper-size
cohort (34 subjects x 2 runs x 270 volumes x 3 echoes, about 12 GB as int16) never sits in memory. It imports
nothing from ``nfd.volume``, ``nfd.timeseries``, ``nfd.feedback`` or ``nfd.daemon``: it checks the engine.

Model
-----
Anatomy (per subject). The phantom of :func:`nfd.simulate.make_session` (its own random white-matter folds per
subject) as the tissue maps of :func:`nfd.simulate.make_multiecho_session` (S0 in scanner units; T2* grey 45 ms,
white 40 ms, CSF 150 ms, scalp 30 ms), then posed in the scanner: a per-subject affine ``P`` with translations
N(0, 2 mm), rotations N(0, 2 deg) and axis scales 1 + N(0, 0.03) (clipped to +-6 %): the scanner point ``p``
shows the phantom at ``P p``. Labels are resampled nearest-neighbour (T2* stays piecewise constant), S0
trilinearly. World mm are the RAS+ affine of :func:`nfd.simulate._phantom.centred_affine` (volume centre at 0).

ROIs. ``n_targets`` (<= 11) targets on the posterior (visual) part of the grey shell and one control on the
anterior-superior one: nominal directions (azimuth from the back of the head, elevation: five at -72..72 deg
by 36 at -12 deg, four at -54..54 by 36 at 24 deg, two at +-30 at 56 deg, about 33 deg apart; the control
anterior, 30 deg up) at 0.82 of the brain's semi-axes (the shell always grey), moved by the
pose and jittered N(0, ``jitter_mm``) per axis; a centre is redrawn (up to 50 times; then the whole layout,
the jitter shrinking by a tenth of ``jitter_mm`` each time, the 11th layout nominal) until its nearest voxel
is grey, half of the voxels within 4 mm are grey, its ``signal_radius_mm`` sphere is inside the field of view,
and it is at least ``2 * signal_radius_mm`` from every other centre (the ROIs never overlap). ROI ``k``'s
signal region is the grey matter within ``signal_radius_mm`` (default 10 mm) of its centre: every sphere of
radius up to it holds the ROI's signal in its grey voxels only (white matter and CSF in a large sphere dilute it).

True ROI signals (per run). Unit-variance band-limited Gaussian processes (white noise, band-passed in the
Fourier domain 0.01-0.1 Hz with 0.005 Hz cosine edges, standardised over the run): two latent factors ``z``
and one unique process ``e_k`` per target, ``s_k = L_k . z + sqrt(1 - |L_k|^2) e_k``. Population loadings:
factor 1 ``linspace(0.9, 0.35)`` over the targets, factor 2 +-0.25 by hemisphere (0 on the midline), so the
model pair correlations ``L L^T`` span about 0.08-0.82; each subject's loadings are those plus
N(0, ``coupling_sd``) (rows scaled to ``|L_k|^2 <= 0.95``): its coupling matrix. A subject's state differs
between sessions: each run's loadings are the subject's plus a further N(0, ``run_coupling_sd``), then each
factor's column times ``exp(N(0, state_sd))`` (the strength of the network's coupling that run: every pair's
coupling scales with it, up to the cap), rows scaled the same way: the run's coupling (:attr:`CohortRun.coupling`).
So the true coupling, and the composite, spread between runs as well as between subjects (with both 0 a run's
signals follow the subject's coupling up to sampling). The control is an
independent process orthogonalised, over each run, to the targets' signals (its sample r with every target is 0
to rounding; the residual of band-limited signals off a band-limited span stays in the band), then standardised.
ROI ``k``'s signal is the ΔR2* ``-signal_pct / 100 / TE_ref * s_k`` (s⁻¹, TE_ref = 45 ms, the grey-matter T2*:
a signal change of ``signal_pct`` % standard deviation at TE_ref; a BOLD increase is a negative ΔR2*).

Signal. Echo ``i`` of volume ``t`` at scanner voxel ``p`` is the magnitude

    ``| c(p) (1 + d(t)) (1 + δS0(p, t)) S0(q) exp(-TE_i (R2*(q) + ΔR2*(q, t))) + σ (n1 + i n2) |``

with ``q = M(t) p`` the head moved by the motion of the run, where

- ΔR2* (moves with the head) = the ROI signal in its region + voxel noise (every grey voxel: an independent
  AR(1), coefficient ``voxel_noise_ar`` per TR, standard deviation ``voxel_noise_pct`` % at TE_ref) + the
  global signal (a band-limited process, ``global_pct`` % at TE_ref, weight 1 in grey, 0.5 in white matter);
- δS0 (the non-BOLD noise, common to the echoes, scanner frame) = 16 smooth random spatial modes (white noise
  smoothed to 20 mm FWHM, jointly scaled so the voxel variance averages 1) with white Gaussian time courses of
  ``s0_noise_pct`` % + cardiac and respiratory noise (``physio_pct`` %, tissue weights grey 1, white 0.5,
  CSF 3, scalp 1; respiration weighted 1.25-0.75 from inferior to superior): ``cos`` of a phase integrating a
  heart rate U(0.9, 1.3) Hz (with its 2nd harmonic at half amplitude) or breathing U(0.2, 0.33) Hz, each
  varying by a band-limited 5 % (10 %), sampled at the volume times (aliased as at TR 2 s) + a global drop of
  ``spike_mm`` % at each motion spike (spin history);
- ``d(t)`` the scanner drift, ``drift_pct`` % times N(0, 1) linear and N(0, 0.5) half-sine terms;
- ``c(p)`` the receive-coil sensitivity (tSNR varies by region): ``0.75 + 0.35 |p̂|^2 - 0.25 ŷ`` (``p̂`` the
  position over half the field of view: brighter at the periphery and the back of the head) times
  ``1 + 0.8 f`` (``f`` a smooth random field, Gaussian-smoothed to 20 mm FWHM and scaled to [-1, 1]: the
  coil elements' uneven coverage: the 4 mm ROIs' echo-2 tSNR differs by up to about 1.6x within a subject),
  at least 0.3, in the scanner frame;
- motion ``M(t)``: the random walk of :func:`nfd.simulate.make_session` (``max_motion_mm``,
  ``max_motion_deg``) plus ``spikes`` single-volume jerks (translation of ``spike_mm`` mm in a random
  direction, rotations N(0, ``spike_mm`` / 2 deg)), SPM convention, 0 at volume 0. Volumes whose largest voxel
  displacement is below 0.3 voxel are moved by a first-order Taylor expansion of S0 and R2* + ΔR2* (central
  differences), the others resampled trilinearly (scipy); S0 and R2* move, not each echo;
- ``σ`` the thermal noise per real and imaginary channel, ``thermal_noise_pct`` % of the mean S0 in the brain
  (Rician magnitude, drawn in polar form: positive background, bias at low signal).

Images are written as int16 (rounded, as scanners write; ``dtype="float32"`` keeps floats).

Truth. The "fully processed" series of ROI ``k`` is its true signal ΔR2*_k(t) (s⁻¹): the part every voxel of
its signal region shares, with the global signal, motion, drift, δS0, physiological, voxel and thermal noise
removed. The true composite of targets ``a, b`` over a run is ``r(a, b) - (r(a, c) + r(b, c)) / 2`` of these
signals (``c`` the control), Pearson over all the run's volumes.

Streams. Every random draw comes from ``SeedSequence(seed, spawn_key=(subject, run, stream))``: equal
arguments give equal cohorts, a subject does not depend on ``n_subjects``, nor a run on ``n_runs``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from nfd._checks import check_option
from nfd._files import write_atomic
from nfd.simulate._errors import SimulationError
from nfd.simulate._motion import _spm_matrix, random_walk_motion
from nfd.simulate._multiecho import (
    CSF,
    EXTRACEREBRAL,
    GREY,
    TISSUE_T2STAR_MS,
    WHITE,
    _checked_echo_times,
    _tissue_maps,
)
from nfd.simulate._phantom import _smooth_field, centred_affine, make_phantom
from nfd.simulate._session import _checked_grid, _count, _number

__all__ = ["Cohort", "CohortRun", "CohortSettings", "CohortSubject", "make_cohort", "write_cohort"]

#: Echo times (ms) of the paper's acquisition (Ramot & Gonzalez-Castillo 2019).
PAPER_ECHO_TIMES_MS = (14.5, 35.3, 56.1)
#: Echo time (ms) at which the ROI signals' percent amplitudes are given (the grey-matter T2*).
REFERENCE_TE_MS = TISSUE_T2STAR_MS[GREY]
#: Nominal (azimuth from posterior, elevation) in degrees of the targets; the control's.
TARGET_DIRECTIONS_DEG = (
    (-72, -12), (-36, -12), (0, -12), (36, -12), (72, -12),
    (-54, 24), (-18, 24), (18, 24), (54, 24), (-30, 56), (30, 56),
)  # fmt: skip
CONTROL_DIRECTION_DEG = (180, 30)
#: Radius fraction of the brain's semi-axes at which the nominal centres sit (grey whatever the folds).
_SHELL = 0.82
#: Semi-axes of make_phantom's brain as fractions of the field of view (x, y front, y back, z) times 0.88.
_BRAIN_AXES = (0.40 * 0.88, 0.44 * 0.88, 0.38 * 0.88, 0.42 * 0.88)
_N_MODES = 16
_TAYLOR_MAX_VOX = 0.3
_BAND_HZ = (0.01, 0.1)
DTYPES = ("int16", "float32")
BRAIN_TISSUES = (GREY, WHITE, CSF)
#: Options of make_cohort that are counts (the rest are numbers >= 0 but these).
_COUNT_OPTIONS = ("spikes",)
_POSITIVE_OPTIONS = ("signal_pct", "signal_radius_mm")


@dataclass(frozen=True, eq=False)
class CohortRun:
    """The truth of one run (see :mod:`nfd.simulate._cohort` for the model).

    Attributes
    ----------
    roi_signals : numpy.ndarray
        ``(n_volumes, n_rois)``: true ΔR2* of each ROI (s⁻¹), targets then the control.
    motion : numpy.ndarray
        ``(n_volumes, 6)``: head motion relative to volume 0, SPM convention (mm, radians), spikes included.
    spikes : tuple of int
        Volumes with a motion spike.
    drift : numpy.ndarray
        ``(n_volumes,)``: multiplicative scanner drift (fraction).
    global_signal : numpy.ndarray
        ``(n_volumes,)``: global ΔR2* in grey matter (s⁻¹).
    cardiac, respiratory : numpy.ndarray
        ``(n_volumes,)``: the physiological δS0 waveforms as sampled (fraction, before the tissue weights).
    coupling : numpy.ndarray
        ``(n_rois, n_rois)``: the run's model correlation of the true signals (the subject's loadings with the
        run's jitter and gains, ``run_coupling_sd`` and ``state_sd``; control row and column 0).
    """

    roi_signals: np.ndarray
    motion: np.ndarray
    spikes: tuple[int, ...]
    drift: np.ndarray
    global_signal: np.ndarray
    cardiac: np.ndarray
    respiratory: np.ndarray
    coupling: np.ndarray


@dataclass(frozen=True, eq=False)
class CohortSubject:
    """One subject's anatomy, ROIs and runs.

    Attributes
    ----------
    label : str
        BIDS label (``"01"``).
    pose : numpy.ndarray
        (4, 4): scanner mm -> phantom mm.
    s0 : numpy.ndarray
        float32 ``(X, Y, Z)``: S0, scanner units, before the coil sensitivity.
    t2star_ms, coil : numpy.ndarray
        float32 ``(X, Y, Z)``: T2* (ms, 0 outside the head), receive sensitivity (dimensionless).
    tissue : numpy.ndarray
        int8 ``(X, Y, Z)``: 0 background, 1 grey, 2 white, 3 CSF, 4 scalp and skull.
    regions : numpy.ndarray
        int8 ``(X, Y, Z)``: ``k + 1`` in ROI ``k``'s signal region, 0 elsewhere.
    centres_mm : numpy.ndarray
        ``(n_rois, 3)``: ROI centres, world mm (scanner frame at volume 0 of every run).
    coupling : numpy.ndarray
        ``(n_rois, n_rois)``: the subject's model correlation of the true signals (control row and column 0);
        each run's differs from it by the run's jitter (:attr:`CohortRun.coupling`).
    runs : tuple of CohortRun
    """

    label: str
    pose: np.ndarray
    s0: np.ndarray
    t2star_ms: np.ndarray
    coil: np.ndarray
    tissue: np.ndarray
    regions: np.ndarray
    centres_mm: np.ndarray
    coupling: np.ndarray
    runs: tuple[CohortRun, ...]


@dataclass(frozen=True)
class CohortSettings:
    """Every argument of :func:`make_cohort`, checked (amplitudes in percent, as given)."""

    n_subjects: int
    n_runs: int
    n_volumes: int
    echo_times_ms: tuple[float, ...]
    tr: float
    n_targets: int
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]
    seed: int
    signal_pct: float = 1.0
    voxel_noise_pct: float = 1.0
    voxel_noise_ar: float = 0.6
    global_pct: float = 0.4
    s0_noise_pct: float = 0.25
    physio_pct: float = 0.4
    thermal_noise_pct: float = 2.0
    coupling_sd: float = 0.1
    run_coupling_sd: float = 0.1
    state_sd: float = 0.2
    drift_pct: float = 1.0
    max_motion_mm: float = 0.3
    max_motion_deg: float = 0.3
    spikes: int = 2
    spike_mm: float = 1.0
    signal_radius_mm: float = 10.0
    jitter_mm: float = 3.0
    dtype: str = "int16"


@dataclass(frozen=True, eq=False)
class Cohort:
    """A synthetic cohort and its truth (see :func:`make_cohort`); volumes rendered by :meth:`run_volumes`.

    Attributes
    ----------
    settings : CohortSettings
    affine : numpy.ndarray
        (4, 4) voxel -> world mm, RAS+, the same for every subject and run.
    roi_names : tuple of str
        ``target01`` ... then ``control``.
    loadings : numpy.ndarray
        ``(n_targets, 2)``: the population loadings on the two latent factors.
    coupling : numpy.ndarray
        ``(n_rois, n_rois)``: the population model correlation.
    subjects : tuple of CohortSubject
    """

    settings: CohortSettings
    affine: np.ndarray
    roi_names: tuple[str, ...]
    loadings: np.ndarray
    coupling: np.ndarray
    subjects: tuple[CohortSubject, ...]

    @property
    def target_pairs(self) -> list[tuple[int, int]]:
        """Every pair of targets ``(a, b)``, ``a < b`` (indices into :attr:`roi_names`)."""
        return list(itertools.combinations(range(self.settings.n_targets), 2))

    def true_composite(self, subject: int, run: int) -> np.ndarray:
        """``(n_pairs, 3)``: per target pair ``r(a, b)``, ``mean(r(a, c), r(b, c))``, the composite, over the run."""
        r = np.corrcoef(self.subjects[subject].runs[run].roi_signals, rowvar=False)
        control = len(self.roi_names) - 1
        rows = [(r[a, b], (r[a, control] + r[b, control]) / 2.0) for a, b in self.target_pairs]
        out = np.array(rows, dtype=np.float64).reshape(-1, 2)
        return np.column_stack([out, out[:, 0] - out[:, 1]])

    def run_volumes(self, subject: int, run: int) -> np.ndarray:
        """Render one run: ``(n_echoes, n_volumes, X, Y, Z)`` in :attr:`CohortSettings.dtype`, as written."""
        if not 0 <= subject < len(self.subjects) or not 0 <= run < self.settings.n_runs:
            raise SimulationError(f"subject {subject!r} / run {run!r} out of range (0-based)")
        return _render_run(self, subject, run)


# ---------------------------------------------------------------------------------------------------------------
# random streams and signals


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _band_limited(n: int, n_series: int, tr: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, n_series)`` unit-variance, zero-mean Gaussian processes band-passed to :data:`_BAND_HZ`."""
    length = max(2 * n, 256)
    white = rng.standard_normal((length, n_series))
    freqs = np.fft.rfftfreq(length, d=tr)
    low, high = _BAND_HZ
    edge = 0.005
    gain = np.clip(np.minimum((freqs - low + edge) / (2 * edge), (high + edge - freqs) / (2 * edge)), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    series = np.fft.irfft(np.fft.rfft(white, axis=0) * gain[:, None], n=length, axis=0)[:n]
    return _standardised(series)


def _standardised(series: np.ndarray) -> np.ndarray:
    centred = series - series.mean(axis=0)
    sd = centred.std(axis=0)
    return np.asarray(centred / np.where(sd > 0, sd, 1.0))


def _population_loadings(n_targets: int) -> np.ndarray:
    """``(n_targets, 2)``: factor 1 from 0.9 to 0.35, factor 2 +-0.25 by hemisphere."""
    side = np.sign([az for az, _el in TARGET_DIRECTIONS_DEG[:n_targets]])
    return np.column_stack([np.linspace(0.9, 0.35, n_targets), 0.25 * side])


def _model_coupling(loadings: np.ndarray) -> np.ndarray:
    """The model correlation of the targets and the (uncoupled) control."""
    n = loadings.shape[0]
    c = np.eye(n + 1)
    c[:n, :n] = loadings @ loadings.T
    np.fill_diagonal(c, 1.0)
    return c


def _jittered_loadings(loadings: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """`loadings` plus N(0, `sd`), each row scaled to ``|L_k|^2 <= 0.95`` (`sd` 0: no draw, unchanged)."""
    if sd == 0.0:
        return loadings
    jittered = loadings + rng.normal(0.0, sd, loadings.shape)
    norm = np.sqrt((jittered**2).sum(axis=1, keepdims=True))
    return np.asarray(jittered * np.minimum(1.0, math.sqrt(0.95) / norm))


def _state_loadings(loadings: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Each factor's column of `loadings` times ``exp(N(0, sd))``, rows scaled to ``|L_k|^2 <= 0.95`` (0: unchanged)."""
    if sd == 0.0:
        return loadings
    scaled = loadings * np.exp(rng.normal(0.0, sd, loadings.shape[1]))
    norm = np.sqrt((scaled**2).sum(axis=1, keepdims=True))
    return np.asarray(scaled * np.minimum(1.0, math.sqrt(0.95) / norm))


def _roi_signals(settings: CohortSettings, loadings: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, n_targets + 1)`` true ΔR2* (s⁻¹): latent factors plus unique parts, the control orthogonalised."""
    n, k = settings.n_volumes, loadings.shape[0]
    factors = _band_limited(n, loadings.shape[1], settings.tr, rng)
    unique = _band_limited(n, k + 1, settings.tr, rng)
    targets = factors @ loadings.T + unique[:, :k] * np.sqrt(1.0 - (loadings**2).sum(axis=1))
    control = unique[:, k]
    basis = np.linalg.qr(targets - targets.mean(axis=0))[0]
    control = control - basis @ (basis.T @ control)
    signals = _standardised(np.column_stack([targets, control]))
    return -settings.signal_pct / 100.0 / (REFERENCE_TE_MS / 1000.0) * signals


def _physio(n: int, tr: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cardiac (with its 2nd harmonic) and respiratory waveforms sampled at the volume times, unit amplitude."""
    waves = []
    for (low, high), spread, harmonic in (((0.9, 1.3), 0.05, 0.5), ((0.2, 0.33), 0.10, 0.0)):
        rate = rng.uniform(low, high) * (1.0 + spread * _band_limited(n, 1, tr, rng)[:, 0])
        phase = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * tr * np.concatenate([[0.0], np.cumsum(rate[:-1])])
        waves.append((np.cos(phase) + harmonic * np.cos(2 * phase)) / (1.0 + harmonic))
    return waves[0], waves[1]


def _motion(settings: CohortSettings, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, ...]]:
    """The random walk plus single-volume spikes (SPM convention), and the spikes' volumes."""
    n = settings.n_volumes
    motion = random_walk_motion(n, rng, settings.max_motion_mm, settings.max_motion_deg)
    count = min(settings.spikes, n - 1)
    spikes = tuple(sorted(int(v) for v in rng.choice(np.arange(1, n), size=count, replace=False))) if count else ()
    for t in spikes:
        direction = rng.standard_normal(3)
        motion[t, :3] += settings.spike_mm * direction / np.linalg.norm(direction)
        motion[t, 3:] += np.deg2rad(rng.normal(0.0, settings.spike_mm / 2.0, 3))
    return motion, spikes


def _make_run(settings: CohortSettings, subject_loadings: np.ndarray, subject: int, run: int) -> CohortRun:
    seed = settings.seed
    n, tr = settings.n_volumes, settings.tr
    loadings = _jittered_loadings(subject_loadings, settings.run_coupling_sd, _rng(seed, subject, run, 6))
    loadings = _state_loadings(loadings, settings.state_sd, _rng(seed, subject, run, 7))
    signals = _roi_signals(settings, loadings, _rng(seed, subject, run, 1))
    motion, spikes = _motion(settings, _rng(seed, subject, run, 2))
    rng = _rng(seed, subject, run, 3)
    tau = np.arange(n) / max(n - 1, 1)
    drift = settings.drift_pct / 100.0 * (rng.normal() * tau + rng.normal(0.0, 0.5) * np.sin(np.pi * tau))
    scale = settings.global_pct / 100.0 / (REFERENCE_TE_MS / 1000.0)
    global_signal = -scale * _band_limited(n, 1, tr, rng)[:, 0]
    cardiac, respiratory = _physio(n, tr, rng)
    coupling = _model_coupling(loadings)
    arrays = (signals, motion, drift, global_signal, cardiac, respiratory, coupling)
    for array in arrays:
        array.setflags(write=False)
    return CohortRun(signals, motion, spikes, drift, global_signal, cardiac, respiratory, coupling)


# ---------------------------------------------------------------------------------------------------------------
# anatomy and ROIs


def _pose(rng: np.random.Generator) -> np.ndarray:
    params = np.concatenate([rng.normal(0.0, 2.0, 3), np.deg2rad(rng.normal(0.0, 2.0, 3))])
    scales = 1.0 + np.clip(rng.normal(0.0, 0.03, 3), -0.06, 0.06)
    return np.asarray(_spm_matrix(params) @ np.diag([*scales, 1.0]))


def _posed_anatomy(
    settings: CohortSettings, affine: np.ndarray, pose: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue labels (int8), T2* (ms) and S0 of the subject's phantom, posed in the scanner."""
    phantom = make_phantom(settings.shape, settings.voxel_size, rng)
    tissue, _t2star, s0 = _tissue_maps(phantom)
    matrix = np.linalg.inv(affine) @ pose @ affine
    tissue = ndimage.affine_transform(tissue, matrix, order=0, mode="constant", cval=0).astype(np.int8)
    s0 = ndimage.affine_transform(s0, matrix, order=1, mode="constant", cval=0.0)
    s0 = np.where(tissue > 0, np.maximum(s0, 0.0), 0.0)
    t2star = np.zeros(settings.shape, dtype=np.float32)
    for label, value in TISSUE_T2STAR_MS.items():
        t2star[tissue == label] = value
    return tissue, t2star, s0.astype(np.float32)


def _coil(settings: CohortSettings, affine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The receive sensitivity on the scanner grid (see the module docstring)."""
    half = np.asarray(settings.voxel_size) * np.asarray(settings.shape) / 2.0
    x, y, z = (coord / h for coord, h in zip(_world_grid(settings.shape, affine), half, strict=True))
    field = _smooth_field(settings.shape, rng, sigma_vox=20.0 / (2.355 * min(settings.voxel_size)))
    coil = (0.75 + 0.35 * (x**2 + y**2 + z**2) - 0.25 * y) * (1.0 + 0.8 * field)
    return np.maximum(coil, 0.3).astype(np.float32)


def _world_grid(shape: tuple[int, int, int], affine: np.ndarray) -> list[np.ndarray]:
    """World coordinates (mm) of the grid as three sparse broadcastable arrays (axis-aligned affine)."""
    axes = []
    for axis, n in enumerate(shape):
        coords = affine[axis, axis] * np.arange(n, dtype=np.float64) + affine[axis, 3]
        axes.append(coords.reshape([n if a == axis else 1 for a in range(3)]))
    return axes


def _nominal_centre(direction_deg: tuple[float, float], settings: CohortSettings) -> np.ndarray:
    """The phantom-frame mm of a direction (azimuth from posterior, elevation) on the grey shell."""
    az, el = np.deg2rad(direction_deg)
    d = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)])
    fov = np.asarray(settings.voxel_size) * np.asarray(settings.shape)
    ax, ay_front, ay_back, az_ = _BRAIN_AXES
    axes = fov * np.array([ax, ay_front if d[1] >= 0 else ay_back, az_])
    return np.asarray(_SHELL * d * axes)


def _centre_fits(
    centre: np.ndarray, others: list[np.ndarray], tissue: np.ndarray, grid: list[np.ndarray], settings: CohortSettings
) -> bool:
    """Whether `centre` (world mm) is in grey matter, its signal sphere in the field of view, apart from `others`."""
    radius = settings.signal_radius_mm
    low = np.array([g.min() for g in grid]) + radius
    high = np.array([g.max() for g in grid]) - radius
    if np.any(centre < low) or np.any(centre > high):
        return False
    if any(np.linalg.norm(centre - o) < 2.0 * radius for o in others):
        return False
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)))
    nearest = np.unravel_index(int(np.argmin(distance)), tissue.shape)
    small = distance <= 4.0
    return bool(tissue[nearest] == GREY and np.mean(tissue[small] == GREY) >= 0.5)


def _try_centres(
    nominals: list[np.ndarray], jitter: float, tissue: np.ndarray, grid: list[np.ndarray], settings: CohortSettings,
    rng: np.random.Generator,
) -> list[np.ndarray] | None:  # fmt: skip
    """Jittered centres that all fit (50 draws each), or None."""
    centres: list[np.ndarray] = []
    for nominal in nominals:
        for _attempt in range(50 if jitter > 0 else 1):
            centre = nominal + rng.normal(0.0, jitter, 3)
            if _centre_fits(centre, centres, tissue, grid, settings):
                centres.append(centre)
                break
        else:
            return None
    return centres


def _place_rois(
    settings: CohortSettings, affine: np.ndarray, pose: np.ndarray, tissue: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """ROI centres (world mm, ``(n_rois, 3)``) and the signal-region label map.

    The whole layout is drawn again, with the jitter shrinking by a tenth each time, until every centre fits;
    the 11th layout is the nominal one.
    """
    grid = _world_grid(settings.shape, affine)
    directions = [*TARGET_DIRECTIONS_DEG[: settings.n_targets], CONTROL_DIRECTION_DEG]
    inverse = np.linalg.inv(pose)
    nominals = [(inverse @ np.append(_nominal_centre(d, settings), 1.0))[:3] for d in directions]
    for trial in range(11):
        centres = _try_centres(nominals, settings.jitter_mm * (1.0 - trial / 10.0), tissue, grid, settings, rng)
        if centres is not None:
            break
    else:
        raise SimulationError(
            f"shape {settings.shape} x voxel_size {settings.voxel_size} is too small to place {len(directions)}"
            f" ROIs (signal_radius_mm={settings.signal_radius_mm}) apart in grey matter"
        )
    regions = np.zeros(settings.shape, dtype=np.int8)
    for k, centre in enumerate(centres):
        distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)))
        regions[(distance <= settings.signal_radius_mm) & (tissue == GREY)] = k + 1
    return np.array(centres), regions


def _make_subject(settings: CohortSettings, affine: np.ndarray, population: np.ndarray, subject: int) -> CohortSubject:
    seed = settings.seed
    rng = _rng(seed, subject, 0, 0)
    pose = _pose(rng)
    tissue, t2star, s0 = _posed_anatomy(settings, affine, pose, rng)
    coil = _coil(settings, affine, rng)
    centres, regions = _place_rois(settings, affine, pose, tissue, rng)
    loadings = _jittered_loadings(population, settings.coupling_sd, rng)
    runs = tuple(_make_run(settings, loadings, subject, run) for run in range(settings.n_runs))
    width = max(2, len(str(settings.n_subjects)))
    for array in (pose, s0, t2star, coil, tissue, regions, centres):
        array.setflags(write=False)
    return CohortSubject(
        label=f"{subject + 1:0{width}d}", pose=pose, s0=s0, t2star_ms=t2star, coil=coil, tissue=tissue,
        regions=regions, centres_mm=centres, coupling=_model_coupling(loadings), runs=runs,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# rendering


@dataclass
class _RunMaps:
    """What rendering one run needs, precomputed (flat indices into the volume)."""

    brain: np.ndarray  # flat indices of grey, white and CSF
    r2star: np.ndarray  # s⁻¹ at brain
    global_weight: np.ndarray  # at brain
    region: np.ndarray  # int, 0 or ROI + 1, at brain
    grey: np.ndarray  # bool at brain
    s0: np.ndarray  # full grid
    s0_gradient: list[np.ndarray]
    r2star_full: np.ndarray  # full grid, s⁻¹
    modes: np.ndarray  # (voxels, _N_MODES)
    cardiac_map: np.ndarray  # full grid
    respiratory_map: np.ndarray
    thermal_sd: float


def _run_maps(cohort: Cohort, subject: CohortSubject, index: int) -> _RunMaps:
    settings = cohort.settings
    tissue = subject.tissue
    flat = tissue.ravel()
    brain = np.flatnonzero(np.isin(flat, BRAIN_TISSUES))
    rate = np.divide(1000.0, subject.t2star_ms, out=np.zeros(settings.shape, np.float32), where=subject.t2star_ms > 0)
    rng = _rng(settings.seed, index, 0, 4)
    sigma = 20.0 / math.sqrt(8.0 * math.log(2.0)) / np.asarray(settings.voxel_size)
    modes = np.stack(
        [ndimage.gaussian_filter(rng.standard_normal(settings.shape), sigma, mode="wrap").ravel() for _ in
         range(_N_MODES)], axis=1,
    )  # fmt: skip
    modes /= math.sqrt(float(np.mean((modes**2).sum(axis=1))))
    weights = {GREY: 1.0, WHITE: 0.5, CSF: 3.0, EXTRACEREBRAL: 1.0}
    cardiac = np.zeros(settings.shape, dtype=np.float32)
    for label, weight in weights.items():
        cardiac[tissue == label] = weight
    z = _world_grid(settings.shape, cohort.affine)[2] / (settings.voxel_size[2] * settings.shape[2] / 2.0)
    return _RunMaps(
        brain=brain, r2star=rate.ravel()[brain], global_weight=np.where(flat[brain] == GREY, 1.0, 0.5)
        * (flat[brain] != CSF), region=subject.regions.ravel()[brain].astype(np.intp), grey=flat[brain] == GREY,
        s0=subject.s0, s0_gradient=[g.astype(np.float32) for g in np.gradient(subject.s0)], r2star_full=rate,
        modes=(modes * settings.s0_noise_pct / 100.0).astype(np.float32), cardiac_map=cardiac,
        respiratory_map=(cardiac > 0) * (1.0 - 0.25 * z).astype(np.float32),
        thermal_sd=settings.thermal_noise_pct / 100.0 * float(subject.s0.ravel()[brain].mean()),
    )  # fmt: skip


def _moved(image: np.ndarray, gradient: list[np.ndarray] | None, matrix: np.ndarray, taylor: bool) -> np.ndarray:
    """`image` sampled at ``matrix @ u`` for every voxel ``u`` (first-order Taylor or trilinear)."""
    if not taylor:
        return ndimage.affine_transform(image, matrix, order=1, mode="constant", cval=0.0, output=np.float32)
    grads = np.gradient(image) if gradient is None else gradient
    index = [np.arange(n, dtype=np.float32).reshape([n if a == axis else 1 for a in range(3)])
             for axis, n in enumerate(image.shape)]  # fmt: skip
    delta = matrix - np.eye(4)
    out = image.astype(np.float32, copy=True)
    for axis in range(3):
        shift = sum(np.float32(delta[axis, b]) * index[b] for b in range(3)) + np.float32(delta[axis, 3])
        out += grads[axis] * shift
    return out


def _largest_displacement(matrix: np.ndarray, shape: tuple[int, int, int]) -> float:
    corners = np.array([[*c, 1.0] for c in itertools.product(*((0, n - 1) for n in shape))]).T
    return float(np.abs((matrix - np.eye(4)) @ corners)[:3].max())


def _render_run(cohort: Cohort, subject_index: int, run_index: int) -> np.ndarray:
    settings = cohort.settings
    subject = cohort.subjects[subject_index]
    run = subject.runs[run_index]
    maps = _run_maps(cohort, subject, subject_index)
    rng = _rng(settings.seed, subject_index, run_index, 5)
    n, shape = settings.n_volumes, settings.shape
    te_s = [te / 1000.0 for te in settings.echo_times_ms]
    out = np.empty((len(te_s), n, *shape), dtype=np.dtype(settings.dtype))
    voxel_sd = settings.voxel_noise_pct / 100.0 / (REFERENCE_TE_MS / 1000.0)
    ar = settings.voxel_noise_ar
    state = rng.standard_normal(int(maps.grey.sum()))
    signal_table = np.column_stack([np.zeros(n), run.roi_signals])
    physio = settings.physio_pct / 100.0
    inverse_affine = np.linalg.inv(cohort.affine)
    for t in range(n):
        if t:
            state = ar * state + math.sqrt(1.0 - ar * ar) * rng.standard_normal(state.shape[0])
        delta = run.global_signal[t] * maps.global_weight + signal_table[t][maps.region]
        delta[maps.grey] += voxel_sd * state
        rate = maps.r2star_full.copy()
        rate.ravel()[maps.brain] = maps.r2star + delta.astype(np.float32)
        matrix = inverse_affine @ _spm_matrix(run.motion[t]) @ cohort.affine
        if np.any(run.motion[t] != 0.0):
            taylor = _largest_displacement(matrix, shape) < _TAYLOR_MAX_VOX
            s0 = _moved(maps.s0, maps.s0_gradient, matrix, taylor)
            rate = _moved(rate, None, matrix, taylor)
        else:
            s0 = maps.s0
        fluctuation = (maps.modes @ rng.standard_normal(_N_MODES).astype(np.float32)).reshape(shape)
        fluctuation += np.float32(physio * run.cardiac[t]) * maps.cardiac_map
        fluctuation += np.float32(physio * run.respiratory[t]) * maps.respiratory_map
        fluctuation += np.float32(1.0 - (settings.spike_mm / 100.0 if t in run.spikes else 0.0))
        gain = subject.coil * np.float32(1.0 + run.drift[t]) * fluctuation * s0
        for i, te in enumerate(te_s):
            out[i, t] = _with_thermal(gain * np.exp(np.float32(-te) * rate), maps.thermal_sd, rng, out.dtype)
    return out


def _with_thermal(signal: np.ndarray, sd: float, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """The magnitude of `signal` plus complex Gaussian noise (`sd` per channel: Rician), in `dtype`.

    Drawn in polar form (Box-Muller): the noise is ``sd R (cos θ, sin θ)`` with ``R² = -2 ln(1 - U1)`` and
    ``θ = 2π U2``, so that ``|S + noise|² = S² + 2 S sd R cos θ + sd² R²``: exactly Rician, from two uniforms
    per voxel (half the cost of two Gaussian draws).
    """
    if sd > 0.0:
        uniform = rng.random((2, *signal.shape), dtype=np.float32)
        radius2 = np.log1p(-uniform[0])
        radius2 *= np.float32(-2.0 * sd * sd)
        cross = np.cos(np.float32(2.0 * np.pi) * uniform[1])
        cross *= np.sqrt(radius2)
        cross *= np.float32(2.0) * signal
        cross += signal * signal
        cross += radius2
        signal = np.sqrt(np.maximum(cross, np.float32(0.0), out=cross))  # float32 rounding near S = -noise
    if dtype == np.int16:
        return np.minimum(np.rint(signal), np.float32(np.iinfo(np.int16).max))
    return signal


# ---------------------------------------------------------------------------------------------------------------
# the public constructor


def _echo_times(echoes: object, echo_times_ms: object) -> tuple[float, ...]:
    """The echo times: the given ones (as many as `echoes`), the paper's for 3, else 14.5 + 20.8 k ms."""
    n_echoes = _count("echoes", echoes, 1)
    if echo_times_ms is None:
        if n_echoes == 3:
            echo_times_ms = PAPER_ECHO_TIMES_MS
        else:
            echo_times_ms = tuple(14.5 + 20.8 * k for k in range(n_echoes)) if n_echoes > 1 else (35.3,)
    times = _checked_echo_times(echo_times_ms, minimum=1)
    if len(times) != n_echoes:
        raise SimulationError(f"echo_times_ms must hold echoes={n_echoes} times, got {echo_times_ms!r}")
    return times


def _checked_options(options: dict[str, object]) -> dict[str, object]:
    """The model options of :func:`make_cohort`, each checked (the message names it)."""
    checked: dict[str, object] = {}
    for name, value in options.items():
        if name in _COUNT_OPTIONS:
            checked[name] = _count(name, value, 0)
        elif name == "dtype":
            checked[name] = check_option("dtype", value, DTYPES, error=SimulationError)
        else:
            number = _number(name, value, non_negative=True, positive=name in _POSITIVE_OPTIONS)
            if name == "voxel_noise_ar" and not number < 1.0:
                raise SimulationError(f"voxel_noise_ar must be a number in [0, 1), got {value!r}")
            checked[name] = number
    return checked


def make_cohort(
    n_subjects: int,
    n_runs: int,
    n_volumes: int,
    *,
    echoes: int = 3,
    echo_times_ms: Sequence[float] | None = None,
    tr: float = 2.0,
    n_targets: int = 11,
    shape: tuple[int, int, int] = (48, 56, 40),
    voxel_size: tuple[float, float, float] = (3.5, 3.5, 3.5),
    seed: int = 0,
    **options: object,
) -> Cohort:
    """Draw a synthetic multi-echo resting-state cohort with known connectivity (model: the module docstring).

    Parameters
    ----------
    n_subjects, n_runs : int
        Subjects (>= 1) and rest runs per subject (>= 1).
    n_volumes : int
        Volumes per run (>= 3).
    echoes : int
        Number of echoes (>= 1).
    echo_times_ms : sequence of float, optional
        Echo times, ms, increasing, as many as `echoes`; default the paper's 14.5, 35.3, 56.1 ms for 3 echoes,
        ``14.5 + 20.8 k`` ms otherwise (35.3 ms for one echo).
    tr : float
        Repetition time, s.
    n_targets : int
        Target ROIs, 2 to 11 (the paper's 11 visual ROIs); one control is added.
    shape : tuple of 3 int
        Grid, voxels (each >= 16).
    voxel_size : tuple of 3 float
        Voxel size, mm.
    seed : int
        Seed (>= 0) of every stream.
    **options
        The model's amplitudes and settings, defaults in :class:`CohortSettings`: ``signal_pct`` (sd of the ROI
        signals, % at TE 45 ms), ``voxel_noise_pct``, ``voxel_noise_ar`` (in [0, 1)), ``global_pct``,
        ``s0_noise_pct``, ``physio_pct``, ``thermal_noise_pct`` (% of the mean brain S0), ``coupling_sd`` and
        ``run_coupling_sd`` (sd of the subject's and the run's jitter of the loadings), ``state_sd`` (sd of the
        log of a run's gain of each factor's loadings), ``drift_pct``,
        ``max_motion_mm``, ``max_motion_deg``, ``spikes`` (per run), ``spike_mm``, ``signal_radius_mm``,
        ``jitter_mm`` (ROI centre jitter, mm), ``dtype`` (``"int16"`` or ``"float32"``).

    Returns
    -------
    Cohort
        The truth and the anatomy; volumes are rendered by :meth:`Cohort.run_volumes` or :func:`write_cohort`.

    Raises
    ------
    SimulationError
        If an argument is out of range or unknown (the message names it), or the grid cannot hold the ROIs.

    Examples
    --------
    >>> from nfd.simulate import make_cohort
    >>> c = make_cohort(1, 1, 20, shape=(40, 48, 34))
    >>> c.roi_names[-1], c.subjects[0].runs[0].roi_signals.shape
    ('control', (20, 12))
    """
    unknown = sorted(set(options) - set(CohortSettings.__dataclass_fields__) - {"n_subjects"})
    fixed = {"n_runs", "n_volumes", "echo_times_ms", "tr", "n_targets", "shape", "voxel_size", "seed"}
    if unknown or fixed & set(options):
        raise SimulationError(f"unknown option(s) {', '.join(unknown or sorted(fixed & set(options)))}")
    grid, sizes = _checked_grid(shape, voxel_size)
    targets = _count("n_targets", n_targets, 2)
    if targets > len(TARGET_DIRECTIONS_DEG):
        raise SimulationError(f"n_targets must be an int in [2, {len(TARGET_DIRECTIONS_DEG)}], got {n_targets!r}")
    settings = CohortSettings(
        n_subjects=_count("n_subjects", n_subjects, 1), n_runs=_count("n_runs", n_runs, 1),
        n_volumes=_count("n_volumes", n_volumes, 3), echo_times_ms=_echo_times(echoes, echo_times_ms),
        tr=_number("tr", tr, positive=True), n_targets=targets, shape=grid, voxel_size=sizes,
        seed=_count("seed", seed, 0), **_checked_options(options),  # type: ignore[arg-type]
    )  # fmt: skip
    affine = centred_affine(grid, sizes)
    loadings = _population_loadings(targets)
    subjects = tuple(_make_subject(settings, affine, loadings, s) for s in range(settings.n_subjects))
    names = (*(f"target{k + 1:02d}" for k in range(targets)), "control")
    return Cohort(settings, affine, names, loadings, _model_coupling(loadings), subjects)


# ---------------------------------------------------------------------------------------------------------------
# BIDS writer


def _nifti_bytes(data: np.ndarray, affine: np.ndarray, tr: float | None = None) -> bytes:
    """A gzipped NIfTI-1 image of `data` (qform and sform code 1; `tr` as 4th pixdim)."""
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        image.header["pixdim"][4] = tr
    return gzip.compress(image.to_bytes(), compresslevel=1, mtime=0)


def _tsv(rows: Sequence[Sequence[object]], header: Sequence[str]) -> bytes:
    def cell(value: object) -> str:
        return f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)

    lines = ["\t".join(header), *("\t".join(cell(v) for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json(payload: object) -> bytes:
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")


def _bold_stem(cohort: Cohort, subject: CohortSubject, run: int, echo: int | None) -> str:
    echo_part = "" if echo is None or len(cohort.settings.echo_times_ms) == 1 else f"_echo-{echo}"
    return f"sub-{subject.label}_task-rest_run-{run + 1}{echo_part}_bold"


def _truth_definition(cohort: Cohort) -> dict[str, object]:
    s = cohort.settings
    return {
        "roi_names": list(cohort.roi_names),
        "targets": list(cohort.roi_names[:-1]),
        "control": cohort.roi_names[-1],
        "fully_processed_series": "per ROI its true signal dR2*(t) in 1/s (sub-<label>_task-rest_run-<n>_"
        "roisignals.tsv): the part every voxel of its signal region (grey matter within signal_radius_mm of the "
        "centre) shares, with the global signal, motion, drift, dS0, cardiac, respiratory, voxel and thermal "
        "noise removed; percent signal change at echo time TE is 100 (exp(-TE dR2*) - 1)",
        "composite": "r(a, b) - (r(a, control) + r(b, control)) / 2, Pearson over all volumes of the run's true "
        "signals (sub-<label>_task-rest_run-<n>_composite.tsv)",
        "reference_te_ms": REFERENCE_TE_MS,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.__dict__.items()},
        "population_loadings": cohort.loadings.tolist(),
    }


def _truth_files(cohort: Cohort, subject: CohortSubject) -> dict[str, bytes]:
    """The truth files of one subject, by path relative to ``derivatives/truth``."""
    folder, names = f"sub-{subject.label}", cohort.roi_names
    roles = ["target"] * (len(names) - 1) + ["control"]
    files = {
        f"{folder}/sub-{subject.label}_rois.tsv": _tsv(
            [(n, *(float(v) for v in c), role) for n, c, role in zip(names, subject.centres_mm, roles, strict=True)],
            ("name", "x", "y", "z", "role")),
        f"{folder}/sub-{subject.label}_coupling.tsv": _tsv(
            [(n, *map(float, row)) for n, row in zip(names, subject.coupling, strict=True)], ("name", *names)),
    }  # fmt: skip
    maps = {"T2starmap": subject.t2star_ms, "S0map": subject.s0, "desc-tissue_dseg": subject.tissue,
            "desc-rois_dseg": subject.regions, "desc-coil_sensitivity": subject.coil}  # fmt: skip
    for suffix, array in maps.items():
        files[f"{folder}/sub-{subject.label}_{suffix}.nii.gz"] = _nifti_bytes(np.asarray(array), cohort.affine)
    pairs = cohort.target_pairs
    for r, run in enumerate(subject.runs):
        stem = f"{folder}/sub-{subject.label}_task-rest_run-{r + 1}"
        files[f"{stem}_roisignals.tsv"] = _tsv([tuple(map(float, row)) for row in run.roi_signals], names)
        composite = cohort.true_composite(cohort.subjects.index(subject), r)
        files[f"{stem}_composite.tsv"] = _tsv(
            [(names[a], names[b], *map(float, row)) for (a, b), row in zip(pairs, composite, strict=True)],
            ("target_a", "target_b", "r_targets", "r_control_mean", "composite"))
        spike = np.isin(np.arange(run.motion.shape[0]), run.spikes).astype(int)
        columns = np.column_stack([run.motion, run.global_signal, run.drift, run.cardiac, run.respiratory, spike])
        files[f"{stem}_nuisance.tsv"] = _tsv(
            [(*map(float, row[:-1]), int(row[-1])) for row in columns],
            ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "global_signal", "drift", "cardiac",
             "respiratory", "spike"))  # fmt: skip
    return files


def _top_files(cohort: Cohort) -> dict[str, bytes]:
    s = cohort.settings
    generated = [{"Name": "nfd simulate cohort", "Description": f"nfd.simulate.make_cohort, seed {s.seed}"}]
    files = {
        "dataset_description.json": _json({"Name": "nfd synthetic multi-echo resting-state cohort",
                                           "BIDSVersion": "1.9.0", "DatasetType": "raw", "GeneratedBy": generated}),
        "participants.tsv": _tsv([(f"sub-{subj.label}",) for subj in cohort.subjects], ("participant_id",)),
        "task-rest_bold.json": _json({"TaskName": "rest", "RepetitionTime": s.tr}),
        "derivatives/truth/dataset_description.json": _json(
            {"Name": "nfd synthetic cohort ground truth", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
             "GeneratedBy": generated}),
        "derivatives/truth/truth.json": _json(_truth_definition(cohort)),
        "derivatives/truth/coupling.tsv": _tsv(
            [(n, *map(float, row)) for n, row in zip(cohort.roi_names, cohort.coupling, strict=True)],
            ("name", *cohort.roi_names)),
    }  # fmt: skip
    return files


def _write_run(cohort: Cohort, subject_index: int, run: int, out: Path, submit: Callable[..., Future[None]]) -> list:
    """Render one run and queue its echo files (image and sidecar) for compression and writing."""
    subject = cohort.subjects[subject_index]
    volumes = cohort.run_volumes(subject_index, run)
    func = out / f"sub-{subject.label}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    futures = []
    for e, te_ms in enumerate(cohort.settings.echo_times_ms, start=1):
        stem = _bold_stem(cohort, subject, run, e)
        sidecar = {"EchoTime": te_ms / 1000.0, "RepetitionTime": cohort.settings.tr, "TaskName": "rest"}
        write_atomic(func / f"{stem}.json", _json(sidecar))
        data = np.moveaxis(volumes[e - 1], 0, -1)
        futures.append(submit(lambda p, d: write_atomic(p, _nifti_bytes(d, cohort.affine, cohort.settings.tr)),
                              func / f"{stem}.nii.gz", data))  # fmt: skip
    return futures


def write_cohort(
    cohort: Cohort, out_dir: str | PathLike[str], *, threads: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render every run of `cohort` and write it as a BIDS dataset with its truth in ``derivatives/truth``.

    Layout: ``sub-<label>/func/sub-<label>_task-rest_run-<n>_echo-<e>_bold.nii.gz`` (4-D, qform and sform the
    cohort's affine, TR as 4th pixdim; no ``echo`` entity for a single echo) with a JSON sidecar (``EchoTime``,
    ``RepetitionTime`` in s, ``TaskName``); ``dataset_description.json``, ``participants.tsv``,
    ``task-rest_bold.json``. ``derivatives/truth``: ``truth.json`` (the fully processed series and the composite
    defined, the settings), ``coupling.tsv`` (population), and per subject ``sub-<label>/``: ``_rois.tsv``
    (name, x, y, z world mm, role target|control), ``_coupling.tsv``, the maps (``_T2starmap``, ``_S0map``,
    ``_desc-tissue_dseg``, ``_desc-rois_dseg``, ``_desc-coil_sensitivity``), and per run
    ``_task-rest_run-<n>_roisignals.tsv`` (ΔR2*, s⁻¹), ``_composite.tsv`` (every target pair) and
    ``_nuisance.tsv`` (motion as fMRIPrep names it, global signal, drift, cardiac, respiratory, spike). Files are
    written atomically; the images are compressed in `threads` threads while the next run renders.

    Parameters
    ----------
    cohort : Cohort
    out_dir : path
        The dataset's root, created if missing.
    threads : int
        Compression threads (>= 1).
    progress : callable, optional
        Called as ``progress(done, total)`` after each run is rendered and
        queued (runs, not files; the last call follows the last write).

    Returns
    -------
    pathlib.Path
        `out_dir`.
    """
    workers = _count("threads", threads, 1)
    out = Path(out_dir)
    truth = out / "derivatives" / "truth"
    files = _top_files(cohort)
    for subject in cohort.subjects:
        files.update({f"derivatives/truth/{k}": v for k, v in _truth_files(cohort, subject).items()})
    for relative, payload in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / relative, payload)
    truth.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[None]] = []
        total = len(cohort.subjects) * cohort.settings.n_runs
        for k, (s, r) in enumerate(itertools.product(range(len(cohort.subjects)), range(cohort.settings.n_runs))):
            queued = _write_run(cohort, s, r, out, pool.submit)
            for future in pending:  # at most one run waits: memory stays two runs
                future.result()
            pending = queued
            if progress is not None and k + 1 < total:
                progress(k + 1, total)
        for future in pending:
            future.result()
    if progress is not None:
        progress(total, total)
    return out
