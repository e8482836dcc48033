"""Artificial task fMRI with a known HRF per parcel (``nfd simulate bold``), in PyHRF's file formats.

:func:`make_bold` draws the data from a :class:`BoldSpec` and :func:`write_bold` writes them with their truth:
what the per-parcel HRF estimator (``nfd hrf estimate``) is checked against. It imports nothing from
:mod:`nfd.design`, :mod:`nfd.hrf` or :mod:`nfd.timeseries`: its HRFs (:mod:`nfd.simulate._bold_hrf`) and
paradigm reader and writer (:mod:`nfd.simulate._bold_paradigm`) are its own.

Model
-----
Grid: ``shape`` voxels (default 20 x 20 x 10) of ``voxel_size_mm`` (3 mm), RAS+, the grid centred on 0 mm.
Parcels: ``N`` slabs along x, labelled 1..N, separated by one background voxel (0) and with a one-voxel
background border around the grid. HRFs (one per parcel, peak 1, truncated at ``hrf_duration``): ``"gamma"``
parcel-specific double gammas, times to peak evenly over 4-7 s and undershoot ratios over 6-3
(:func:`~nfd.simulate._bold_hrf.gamma_hrfs`); ``"canonical"`` SPM's for every parcel; or a TSV file.

Regressors (per session, parcel ``p`` and condition ``c``): ``x_pc(t) = dt * (s_c * h_p)(t)``, the stimulus
``s_c`` (:func:`~nfd.simulate._bold_paradigm.stimulus`: an impulse event has the weight of 1 s, so an isolated
event of amplitude 1 peaks at 1; a block of height 1 rises to the HRF's integral, a few s) convolved with the
parcel's HRF on the 0.01 s grid, sampled at the start of each volume, ``t = i * tr``.

Amplitudes (percent of the baseline): by default (``amplitude`` A = 2 %) parcel 1 responds to condition 1
(``+A``), parcel 2 to both with opposite signs (``+A``, ``-A``), parcel 3 to condition 2, the pattern
repeating for further parcels, and the last parcel is inactive (all 0) when ``N >= 4``; or a JSON file
``{"<label>": {"<condition>": percent, ...}, ...}`` (parcels and conditions absent: 0). Each voxel's amplitude
is its parcel's times ``1 + N(0, spread)`` (``spread`` 0.1), the same factor for every condition.

Voxel ``v`` at volume ``t``: ``y_v(t) = B_v (1 + sum_c a_vc / 100 x_pc(t) + d_v(t) + m_v(t)) + e_v(t)``,
``B_v = 1000 + N(0, 100)`` in every voxel of the grid (background included; background voxels have no
activation). ``d_v``: drift, ``drift`` % (default 1 %) x (``c_0 (2 t / (T - 1) - 1) + sum_{j=1..3} c_j cos(pi j
(t + 0.5) / T)``), ``c ~ N(0, 1/4)`` per voxel and session (a linear trend and the first three DCT cosines).
``m_v``: a motion-like nuisance: a rigid random walk whose largest translation is ``motion`` mm and largest
rotation ``motion`` degrees (:func:`~nfd.simulate._motion.random_walk_motion`, per session), each of its 6
parameters (rotations as 50 mm arcs) times a per-voxel gain ``N(0, 1)`` times 1 % per mm; the images are not
moved. ``e_v``: white or AR(1) (``e(t) = ar e(t - 1) + sqrt(1 - ar^2) w(t)``, stationary) Gaussian noise of
standard deviation ``sigma_v``, or none (``noise = "none"`` or ``snr = inf``).

SNR: in an active voxel (some ``a_vc != 0``), ``sigma_v = std_t(B_v sum_c a_vc / 100 x_pc(t)) / snr``, the
standard deviation of the noise-free activation signal over all volumes of all sessions over the noise's;
elsewhere ``sigma_v = B_v`` x the median of ``sigma_v / B_v`` over the active voxels (1 % / snr without any).

Streams: every draw comes from ``SeedSequence(seed, spawn_key=key)``: ``(0,)`` baselines and voxel amplitudes,
``(1, k)`` session ``k``'s paradigm, ``(2, k)`` its noise, ``(3, k)`` its drift, ``(4, k)`` its motion walk,
``(5,)`` the motion gains.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal

from nfd.simulate._bold_hrf import FINE_DT_S, HrfModel
from nfd.simulate._bold_inputs import checked_numbers, default_amplitudes, file_amplitudes, paradigm, parcel_hrfs
from nfd.simulate._bold_paradigm import KINDS, ParadigmEvent, stimulus
from nfd.simulate._cohort import _rng
from nfd.simulate._errors import SimulationError
from nfd.simulate._motion import random_walk_motion
from nfd.simulate._session import _count

__all__ = ["BoldSimulation", "BoldSpec", "ParadigmEvent", "make_bold"]

BASELINE_MEAN, BASELINE_SD = 1000.0, 100.0
MOTION_PCT_PER_MM = 1.0
ARC_RADIUS_MM = 50.0
DRIFT_COSINES = 3


@dataclass(frozen=True)
class BoldSpec:
    """Every argument of :func:`make_bold` (see :mod:`nfd.simulate._bold` for the model).

    Attributes
    ----------
    paradigm : str
        ``"block"``, ``"slow-er"``, ``"fast-er"`` or the path of a PyHRF paradigm CSV.
    conditions : tuple of str, optional
        Condition names of a drawn paradigm (default ``("audio", "video")``); a file's are its own, in the order
        of their first event.
    n_volumes : int
        Volumes per session (>= 10).
    tr : float
        Repetition time (s, > 0).
    sessions : int, optional
        Sessions (>= 1; default 1, or the file's sessions for a paradigm file, which must then agree).
    shape : tuple of int
        Grid (voxels, each >= 3).
    voxel_size_mm : float
        Isotropic voxel size (mm, > 0).
    parcels : int
        Parcels (>= 1; at most ``(shape[0] - 1) // 2``).
    hrf : str
        ``"gamma"``, ``"canonical"`` or the path of a TSV (``time_s`` then one column per parcel).
    hrf_duration : float
        HRF length (s); the HRFs are 0 after it.
    activation : str, optional
        Path of a JSON file of amplitudes (percent) per parcel label and condition; default the pattern.
    amplitude : float
        The default pattern's amplitude (percent of the baseline, > 0).
    spread : float
        Standard deviation of the voxels' relative amplitude factor (>= 0).
    noise : str
        ``"white"``, ``"ar1"`` or ``"none"``.
    ar : float
        AR(1) coefficient, in [0, 1).
    snr : float
        Activation signal sd over noise sd in active voxels (> 0; ``inf``: no noise).
    drift : float
        Drift amplitude (percent of the baseline, >= 0).
    motion : float
        Largest translation (mm) and rotation (degrees) of the motion nuisance (>= 0; 0: none).
    seed : int
        Seed (>= 0).
    """

    paradigm: str = "block"
    conditions: tuple[str, ...] | None = None
    n_volumes: int = 200
    tr: float = 2.0
    sessions: int | None = None
    shape: tuple[int, int, int] = (20, 20, 10)
    voxel_size_mm: float = 3.0
    parcels: int = 4
    hrf: str = "gamma"
    hrf_duration: float = 25.0
    activation: str | None = None
    amplitude: float = 2.0
    spread: float = 0.1
    noise: str = "white"
    ar: float = 0.3
    snr: float = 1.0
    drift: float = 1.0
    motion: float = 0.0
    seed: int = 0


@dataclass(frozen=True, eq=False)
class BoldSimulation:
    """Artificial BOLD sessions and their truth (:func:`make_bold`).

    Attributes
    ----------
    spec : BoldSpec
        The arguments, checked.
    conditions : tuple of str
        The conditions, in order.
    events : tuple of ParadigmEvent
        Every event of every session, by session then onset.
    affine : numpy.ndarray
        (4, 4) voxel -> mm.
    parcellation : numpy.ndarray
        int16 ``shape``: labels 1..N, 0 background.
    hrfs : tuple of HrfModel
        Parcel ``p + 1``'s HRF at index ``p`` (fine grid, peak 1) with its time to peak, FWHM and parameters.
    parcel_amplitudes : numpy.ndarray
        ``(N, conditions)``: percent of the baseline.
    amplitudes : numpy.ndarray
        float32 ``(conditions, *shape)``: each voxel's amplitude (percent, 0 in the background).
    baseline : numpy.ndarray
        float32 ``shape``.
    noise_sd : numpy.ndarray
        float32 ``shape``: ``sigma_v`` (scanner units; 0 without noise).
    regressors : tuple of numpy.ndarray
        Per session ``(N, conditions, n_volumes)``: ``x_pc`` at the volumes' starts (unitless).
    motion : tuple of numpy.ndarray
        Per session ``(n_volumes, 6)``: the motion walk (mm, radians; zeros without motion).
    bold : tuple of numpy.ndarray
        Per session float32 ``(*shape, n_volumes)``.
    """

    spec: BoldSpec
    conditions: tuple[str, ...]
    events: tuple[ParadigmEvent, ...]
    affine: np.ndarray
    parcellation: np.ndarray
    hrfs: tuple[HrfModel, ...]
    parcel_amplitudes: np.ndarray
    amplitudes: np.ndarray
    baseline: np.ndarray
    noise_sd: np.ndarray
    regressors: tuple[np.ndarray, ...]
    motion: tuple[np.ndarray, ...]
    bold: tuple[np.ndarray, ...] = field(repr=False)

    @property
    def active(self) -> np.ndarray:
        """bool ``(N,)``: parcels with an amplitude other than 0."""
        return np.asarray(np.any(self.parcel_amplitudes != 0, axis=1))


# ---------------------------------------------------------------------------------------------------------------
# the model


def _grid(shape: tuple[int, int, int], size: float, parcels: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine (grid centred on 0 mm) and the slab parcellation (see the module docstring)."""
    affine = np.diag([size, size, size, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * size
    labels = np.zeros(shape, dtype=np.int16)
    interior = shape[0] - 2 - (parcels - 1)  # voxels along x for the parcels, gaps and border out
    edges = np.round(np.linspace(0, interior, parcels + 1)).astype(int)
    for p in range(parcels):
        x0 = 1 + edges[p] + p
        labels[x0 : 1 + edges[p + 1] + p, 1:-1, 1:-1] = p + 1
    return affine, labels


def _regressors(hrfs: list[HrfModel], events: list[ParadigmEvent], conditions: tuple[str, ...], n: int,
                tr: float) -> np.ndarray:  # fmt: skip
    """``(parcels, conditions, n)``: ``dt * (s_c * h_p)`` at ``t = i * tr``."""
    n_fine = round(n * tr / FINE_DT_S) + 1
    samples = np.round(np.arange(n) * tr / FINE_DT_S).astype(int)
    stimuli = [stimulus([e for e in events if e.condition == c], n_fine, FINE_DT_S) for c in conditions]
    out = np.zeros((len(hrfs), len(conditions), n))
    for p, h in enumerate(hrfs):
        for c, s in enumerate(stimuli):
            if s.any():
                out[p, c] = FINE_DT_S * signal.fftconvolve(s, h.values)[samples]
    return out


def _drift(rng: np.random.Generator, n_voxels: int, n: int, percent: float) -> np.ndarray:
    """``(n_voxels, n)`` relative drift (see the module docstring)."""
    t = np.arange(n)
    basis = np.vstack([2 * t / (n - 1) - 1, *(np.cos(np.pi * j * (t + 0.5) / n) for j in range(1, DRIFT_COSINES + 1))])
    return np.asarray(percent / 100 * (0.5 * rng.standard_normal((n_voxels, basis.shape[0]))) @ basis)


def _noise(rng: np.random.Generator, sd: np.ndarray, n: int, kind: str, ar: float) -> np.ndarray:
    """``(voxels, n)`` white or stationary AR(1) Gaussian noise of standard deviation `sd` per voxel."""
    white = rng.standard_normal((sd.size, n))
    if kind == "ar1" and ar > 0:
        white[:, 1:] *= math.sqrt(1 - ar * ar)
        white = signal.lfilter([1.0], [1.0, -ar], white, axis=1)
    return np.asarray(white * sd[:, None])


def _activation(amplitudes: np.ndarray, labels: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """``(voxels, n)`` relative activation ``sum_c a_vc / 100 x_pc`` of every voxel (flattened order), from the
    ``(conditions, voxels)`` amplitudes (percent) and the ``(parcels, conditions, n)`` regressors."""
    flat = labels.ravel()
    out = np.zeros((flat.size, regressors.shape[2]))
    for p in range(regressors.shape[0]):
        voxels = np.flatnonzero(flat == p + 1)
        out[voxels] = amplitudes[:, voxels].T / 100 @ regressors[p]
    return out


def _noise_sd(relative: list[np.ndarray], baseline: np.ndarray, active: np.ndarray, snr: float) -> np.ndarray:
    if snr == math.inf:
        return np.zeros_like(baseline)
    signal_sd = np.concatenate(relative, axis=1).std(axis=1)
    sd = baseline * signal_sd / snr
    level = float(np.median(signal_sd[active] / snr)) if active.any() else 0.01 / snr
    return np.asarray(np.where(active, sd, baseline * level))


def _motion(spec: BoldSpec, k: int, n: int, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Session `k`'s walk ``(n, 6)`` and its relative nuisance ``(voxels, n)``."""
    if spec.motion == 0:
        return np.zeros((n, 6)), np.zeros((gains.shape[0], n))
    walk = random_walk_motion(n, _rng(spec.seed, 4, k), spec.motion, spec.motion)
    in_mm = walk * np.array([1.0, 1.0, 1.0, ARC_RADIUS_MM, ARC_RADIUS_MM, ARC_RADIUS_MM])
    return walk, np.asarray(MOTION_PCT_PER_MM / 100 * gains @ in_mm.T)


# ---------------------------------------------------------------------------------------------------------------
# the public constructor


def _checked(spec: BoldSpec) -> BoldSpec:
    if not isinstance(spec, BoldSpec):
        raise SimulationError(f"spec must be a BoldSpec, got {type(spec).__name__}")
    if not isinstance(spec.paradigm, str) or not spec.paradigm:
        raise SimulationError(f"paradigm {spec.paradigm!r}, expected block, slow-er, fast-er or a .csv file")
    if spec.paradigm not in KINDS and Path(spec.paradigm).suffix.lower() != ".csv":
        raise SimulationError(f"paradigm {spec.paradigm!r}, expected block, slow-er, fast-er or a .csv file")
    if not isinstance(spec.hrf, str):
        raise SimulationError(f"hrf {spec.hrf!r}, expected gamma, canonical or a .tsv file")
    if isinstance(spec.conditions, str):
        raise SimulationError(f"conditions {spec.conditions!r}, expected a sequence of names like ('audio', 'video')")
    sessions = None if spec.sessions is None else _count("sessions", spec.sessions, 1)
    conditions = None if spec.conditions is None else tuple(spec.conditions)
    return BoldSpec(**{**asdict(spec), **checked_numbers(spec), "sessions": sessions,
                       "conditions": conditions})  # fmt: skip


def make_bold(spec: BoldSpec | None = None) -> BoldSimulation:
    """Draw artificial BOLD sessions with a known HRF per parcel (the model: :mod:`nfd.simulate._bold`).

    Parameters
    ----------
    spec : BoldSpec, optional
        The arguments (default ``BoldSpec()``: a block paradigm of two conditions, 200 volumes of 2 s, four
        parcels with gamma HRFs peaking at 4, 5, 6 and 7 s, the last inactive, white noise at SNR 1, 1 % drift).

    Returns
    -------
    BoldSimulation
        The images and their truth; :func:`write_bold` writes them.

    Raises
    ------
    SimulationError
        If an argument is out of range or a file (paradigm, HRF, activation) is unreadable or malformed; the
        message is one line that names it.

    Examples
    --------
    >>> from nfd.simulate import BoldSpec, make_bold
    >>> sim = make_bold(BoldSpec(n_volumes=60, parcels=2, paradigm="slow-er", seed=1))
    >>> sim.bold[0].shape, [h.time_to_peak_s for h in sim.hrfs], sim.conditions
    ((20, 20, 10, 60), [4.0, 7.0], ('audio', 'video'))
    """
    s = _checked(BoldSpec() if spec is None else spec)
    conditions, sessions, events = paradigm(s, s.n_volumes * s.tr)
    s = BoldSpec(**{**asdict(s), "sessions": sessions, "conditions": conditions})
    hrfs = parcel_hrfs(s, s.parcels, s.hrf_duration)
    table = (default_amplitudes(s.parcels, len(conditions), s.amplitude) if s.activation is None
             else file_amplitudes(s.activation, s.parcels, conditions))  # fmt: skip
    affine, labels = _grid(s.shape, s.voxel_size_mm, s.parcels)
    rng = _rng(s.seed, 0)
    baseline = BASELINE_MEAN + BASELINE_SD * rng.standard_normal(labels.size)
    factor = 1 + s.spread * rng.standard_normal(labels.size)
    flat = labels.ravel()
    padded = np.vstack([np.zeros((1, len(conditions))), table])  # row 0: the background
    amplitudes = (padded[flat] * factor[:, None]).T.reshape(len(conditions), *labels.shape)
    regressors = [_regressors(hrfs, [e for e in events if e.session == k], conditions, s.n_volumes, s.tr)
                  for k in range(sessions)]  # fmt: skip
    relative = [_activation(amplitudes.reshape(len(conditions), -1), labels, x) for x in regressors]
    active = np.any(amplitudes.reshape(len(conditions), -1) != 0, axis=0)
    noise_sd = _noise_sd(relative, baseline, active, s.snr) if s.noise != "none" else np.zeros_like(baseline)
    gains = _rng(s.seed, 5).standard_normal((labels.size, 6))
    bold, motion = [], []
    for k in range(sessions):
        walk, nuisance = _motion(s, k, s.n_volumes, gains)
        y = baseline[:, None] * (1 + relative[k] + _drift(_rng(s.seed, 3, k), labels.size, s.n_volumes, s.drift)
                                 + nuisance)  # fmt: skip
        if noise_sd.any():
            y += _noise(_rng(s.seed, 2, k), noise_sd, s.n_volumes, s.noise, s.ar)
        bold.append(y.astype(np.float32).reshape(*labels.shape, s.n_volumes))
        motion.append(walk)
    return BoldSimulation(
        s, conditions, tuple(events), affine, labels, tuple(hrfs), table, amplitudes.astype(np.float32),
        baseline.astype(np.float32).reshape(labels.shape), noise_sd.astype(np.float32).reshape(labels.shape),
        tuple(regressors), tuple(motion), tuple(bold),
    )  # fmt: skip
