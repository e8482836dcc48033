"""Synthetic multi-site resting-state cohorts with planted deviant FC edges, written as fMRIPrep-like derivatives.

:func:`make_fc_cohort` draws a cohort (the normative network correlation, the sites, every subject's covariates,
true network correlation and series, motion and nuisance) and :func:`write_fc_cohort` renders and writes it: the
ground truth that ``nfd connectivity`` and ``nfd normative`` are checked against. It imports nothing from them
(nor nilearn): numpy, scipy and nibabel only. Volumes are rendered subject by subject on demand
(:meth:`FcCohort.bold`), deterministically from the seed.

Model
-----
Grid and anatomy (shared by every subject, as fMRIPrep's outputs in a template space are). The field of view
of MNI152NLin2009cAsym's 1 mm grid, x -96..96, y -132..96, z -78..114 mm (RAS+), sampled every
``voxel_size_mm`` (default 4 mm: 49 x 58 x 49 voxels), voxel ``(0, 0, 0)`` at (-96, -132, -78). The brain is
the ellipsoid centred at (0, -18, 18) mm with semi-axes (66, 84, 60) mm; with ``rho`` the normalised radius,
grey matter is ``0.72 < rho <= 1``, white matter ``0.3 < rho <= 0.72``, CSF ``rho <= 0.3`` (labels 1, 2, 3
as fMRIPrep's dseg). The atlas: ``networks x regions_per_network`` (default 17 x 2) seed directions on a
Fibonacci sphere; each grey voxel belongs to the region whose seed is nearest its direction on the ellipsoid
(label ``r + 1``); region ``r`` belongs to network ``r % networks``. Networks are named as Yeo 17 (Schaefer's
names, VisCent ... TempPar) when there are 17, else ``net01`` ...; regions ``<network>_<k>``.

Normative correlation Sigma (networks x networks). Networks are grouped into systems (for 17 Yeo's 7: Vis,
SomMot, DorsAttn, SalVentAttn, Limbic, Cont, Default with TempPar; else consecutive pairs). Within a system each
entry is U(0.3, 0.6); between two systems a level U(-0.05, 0.2) (15 % of the system pairs, at least one,
U(-0.25, -0.1): the negative ones) plus N(0, 0.03) per entry. Repaired to the nearest correlation matrix with
eigenvalues >= 0.01 when needed (Higham 2002, IMA J Numer Anal 22:329, alternating projections with Dykstra's
correction).

Edges. The lower triangle ``np.tril_indices(networks, k=-1)`` (row ``i`` > column ``j``), labelled
``f"{names[i]}--{names[j]}"``; ``index`` is the position in that vector. A permutation of the edges gives
``age_edges`` (default 3) age edges, then ``sex_edges`` (3) sex edges, then ``deviant_edges`` (10) deviant
edges: the three sets are disjoint. Each has a random sign: age ``+-age_effect`` (0.04 correlation per decade
from 45 years), sex ``+-sex_effect`` (0.06, female minus male: added to women's), deviant ``+-deviant_delta``
(0.25, added to every patient's).

Subjects. Subject ``k`` (0-based) is a control for ``k < controls``, a patient after; its site is
``k % sites``; age U(20, 70) years; sex F or M with probability 1/2. Its true correlation matrix is Sigma +
the age effects x (age - 45) / 10 + the sex effects (women) + the deviant deltas (patients) + a symmetric
N(0, ``subject_jitter``) (0.03) per edge, repaired as Sigma is when needed (:attr:`FcSubject.correlation`). Its
true network series (:attr:`FcSubject.series`, ``volumes x networks``, unit variance) are independent
band-limited Gaussian processes (white noise band-passed to 0.01-0.1 Hz in the Fourier domain, 0.005 Hz cosine
edges, standardised) times the Cholesky factor of that matrix, standardised: their sample correlation is the
true matrix plus the sampling noise of ``volumes`` band-limited draws (about 0.1 sd for r near 0 at 300
volumes of 2 s: the Wishart-like part of the between-subject spread).

Sites (site effects on the correlations, for ComBat). Per site: a signal scale ``a`` (0.85-1.2), a shared
fraction ``f`` (0-0.2), a region noise ``s`` (0.1-0.3) and a voxel tSNR (50-100): with several sites each
parameter takes evenly spaced values over its range in a random order per parameter (one site: the midpoints).
Region ``r`` of network ``i`` carries ``a x_i(t) + sqrt(f) u(t) + s e_r(t)``: ``u`` a band-limited component
shared by every region of the subject (a grey-matter global signal fraction, not in white matter or CSF),
``e_r`` the region's own band-limited noise. So the correlation of two networks' means over their regions is,
in expectation, ``gain C + offset`` with ``gain = a^2 / (a^2 + f + s^2 / R)`` and
``offset = f / (a^2 + f + s^2 / R)`` (R regions per network; :attr:`FcSite.gain`, :attr:`FcSite.offset`;
the voxel noise left in a region mean attenuates it by a further ~1 % at 4 mm).

Voxels. A brain voxel ``v`` at volume ``t`` is ``B_v (1 + n_v(t)) + N(0, B_v / tSNR)``, rounded to int16,
``B_v`` 1000 in grey, 950 in white matter, 1050 in CSF (0 outside the brain), where ``n_v(t)`` is

- grey matter: ``signal_pct`` % (1 %) x a loading U(0.5, 1.5) per voxel x its region's series;
- the global signal: ``global_pct`` % (0.5 %) of a band-limited series, weight 1 in grey, 0.5 in white matter
  and CSF;
- the physiological nuisance: 5 white Gaussian series, each with a smooth spatial mode (white noise smoothed to
  20 mm FWHM, unit RMS over the brain), ``physio_pct`` % (1 %) in white matter, twice that in CSF, a quarter in
  grey matter;
- motion artefacts proportional to the motion: ``motion_pct`` % (1 %) per mm of each of the 6 parameters
  (translations in mm, rotations as 50 mm arcs) x its own smooth spatial mode;
- motion: a smooth random walk (largest ``max_motion_mm`` 0.3 mm and ``max_motion_deg`` 0.3 deg), plus
  ``spikes`` (4) single-volume jerks of ``spike_mm`` (1.5) mm in a random direction with rotations
  N(0, ``spike_mm`` / 3 deg): framewise displacement above 0.5 mm at and after each; at each spike volume
  and the next (both flagged by FD > 0.5 mm) a spin-history change of ``spike_pct`` % (3 %) x a smooth mode
  (unit RMS, either sign: the tissue means hardly see it), not linear in the motion: scrubbing or
  ``motion_outlier`` regressors remove it, 6P does not (24P's derivatives, spike-shaped at the jerk and the
  volume after, mostly do);
- scanner drift: ``drift_pct`` % (1 %) x (N(0, 1) linear + N(0, 0.5) half-sine), every voxel.

Confounds (fMRIPrep names): ``global_signal``, ``white_matter``, ``csf`` (means of the written image over the
brain, white-matter and CSF masks), ``trans_x`` ... ``rot_z`` (mm, radians) with ``_derivative1``,
``_power2``, ``_derivative1_power2`` (derivatives backward differences, first row ``n/a``),
``framewise_displacement`` (Power et al. 2012, NeuroImage 59:2142: sum of ``|d trans|`` + 50 mm x
``|d rot|``, first row ``n/a``), ``a_comp_cor_00`` ... ``_04`` (the principal components, unit norm, of the
physiological nuisance injected in white matter and CSF: their span is the 5 series') and
``motion_outlier_NN`` (one column per volume with FD > 0.5 mm, fMRIPrep's default).

Streams. Every draw comes from ``SeedSequence(seed, spawn_key=key)``: ``(0, 0)`` Sigma, ``(0, 1)`` the edge
permutation, ``(0, 2)`` the edges' signs, ``(0, 3)`` the spatial modes, ``(1, 0)`` the order of the site
parameters, and ``(2, k, stream)`` subject ``k``'s covariates (0), jitter (1), network series (2), region series
(3), motion (4), nuisance series and voxel loadings (5) and voxel noise (6): equal arguments give equal cohorts,
and subject ``k`` does not depend on how many subjects are made (nor Sigma on the number of edges planted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from scipy import ndimage

from nfd._files import write_atomic
from nfd._version import __version__
from nfd.simulate._cohort import _band_limited, _json, _nifti_bytes, _rng, _standardised, _tsv
from nfd.simulate._errors import SimulationError
from nfd.simulate._motion import random_walk_motion
from nfd.simulate._session import _count, _number

__all__ = ["FcCohort", "FcCohortSettings", "FcEdge", "FcSite", "FcSubject", "make_fc_cohort", "write_fc_cohort"]

#: Template space of the written images.
SPACE = "MNI152NLin2009cAsym"
#: Field of view (mm, RAS+) of MNI152NLin2009cAsym's 1 mm grid, per axis (first, last voxel centre).
MNI_BOX_MM = ((-96.0, 96.0), (-132.0, 96.0), (-78.0, 114.0))
BRAIN_CENTRE_MM = (0.0, -18.0, 18.0)
BRAIN_AXES_MM = (66.0, 84.0, 60.0)
GREY, WHITE, CSF = 1, 2, 3
#: Baseline intensity per tissue (scanner units).
BASELINE = {GREY: 1000.0, WHITE: 950.0, CSF: 1050.0}
#: Yeo 17 networks as Schaefer's atlases name them, and their Yeo 7 system (TempPar with Default).
YEO17_NAMES = (
    "VisCent", "VisPeri", "SomMotA", "SomMotB", "DorsAttnA", "DorsAttnB", "SalVentAttnA", "SalVentAttnB",
    "LimbicA", "LimbicB", "ContA", "ContB", "ContC", "DefaultA", "DefaultB", "DefaultC", "TempPar",
)  # fmt: skip
YEO17_SYSTEMS = (0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6)
#: Ranges of the site parameters (signal scale, shared fraction, region noise sd, voxel tSNR).
SITE_RANGES = {"signal_scale": (0.85, 1.2), "shared_fraction": (0.0, 0.2), "noise_sd": (0.1, 0.3),
               "tsnr": (50.0, 100.0)}  # fmt: skip
CONTROL, PATIENT = "control", "patient"
N_PHYSIO = 5
FD_OUTLIER_MM = 0.5
_EIGEN_FLOOR = 0.01
_MOTION_NAMES = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_COUNT_OPTIONS = ("regions_per_network", "age_edges", "sex_edges", "spikes")


@dataclass(frozen=True)
class FcCohortSettings:
    """Every argument of :func:`make_fc_cohort`, checked (see the module docstring for the units)."""

    controls: int
    patients: int
    sites: int
    networks: int
    deviant_edges: int
    volumes: int
    tr: float
    voxel_size_mm: float
    seed: int
    regions_per_network: int = 2
    deviant_delta: float = 0.25
    age_edges: int = 3
    age_effect: float = 0.04
    sex_edges: int = 3
    sex_effect: float = 0.06
    subject_jitter: float = 0.03
    signal_pct: float = 1.0
    global_pct: float = 0.5
    physio_pct: float = 1.0
    motion_pct: float = 1.0
    max_motion_mm: float = 0.3
    max_motion_deg: float = 0.3
    spikes: int = 4
    spike_mm: float = 1.5
    spike_pct: float = 3.0
    drift_pct: float = 1.0


@dataclass(frozen=True)
class FcEdge:
    """One edge of the lower triangle with a planted effect.

    Attributes
    ----------
    row, column : int
        Network indices, ``row > column``.
    index : int
        Position in the lower-triangle vector ``np.tril_indices(networks, k=-1)``.
    label : str
        ``"<names[row]>--<names[column]>"``.
    kind : str
        ``"deviant"`` (added to patients), ``"age"`` (per decade from 45 years) or ``"sex"`` (added to women).
    effect : float
        The planted change of the correlation (dimensionless; per decade for ``"age"``).
    """

    row: int
    column: int
    index: int
    label: str
    kind: str
    effect: float


@dataclass(frozen=True)
class FcSite:
    """One site's effect (see the module docstring).

    Attributes
    ----------
    name : str
        ``"site1"`` ...
    signal_scale, shared_fraction, noise_sd : float
        ``a``, ``f`` and ``s`` of the region series (dimensionless, in network-series sd).
    tsnr : float
        Voxel baseline over voxel noise sd.
    gain, offset : float
        Expected network-mean correlation at this site: ``gain * C + offset``.
    """

    name: str
    signal_scale: float
    shared_fraction: float
    noise_sd: float
    tsnr: float
    gain: float
    offset: float


@dataclass(frozen=True, eq=False)
class FcSubject:
    """One subject's covariates and truth.

    Attributes
    ----------
    label : str
        BIDS label (``"001"``).
    group : str
        ``"control"`` or ``"patient"``.
    age : float
        Years.
    sex : str
        ``"F"`` or ``"M"``.
    site : int
        Index into :attr:`FcCohort.sites`.
    correlation : numpy.ndarray
        ``(networks, networks)``: the true network correlation (after repair).
    series : numpy.ndarray
        ``(volumes, networks)``: the true network series (unit variance).
    motion : numpy.ndarray
        ``(volumes, 6)``: trans x, y, z (mm), rot x, y, z (radians), spikes included.
    spikes : tuple of int
        Volumes with a motion spike.
    """

    label: str
    group: str
    age: float
    sex: str
    site: int
    correlation: np.ndarray
    series: np.ndarray
    motion: np.ndarray
    spikes: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class FcCohort:
    """A synthetic FC cohort and its truth (see :func:`make_fc_cohort`); volumes rendered by :meth:`bold`.

    Attributes
    ----------
    settings : FcCohortSettings
    affine : numpy.ndarray
        (4, 4) voxel -> MNI mm.
    tissue : numpy.ndarray
        int8 ``(X, Y, Z)``: 0 outside, 1 grey, 2 white matter, 3 CSF.
    atlas : numpy.ndarray
        int16 ``(X, Y, Z)``: region ``r`` as ``r + 1``, 0 elsewhere.
    names : tuple of str
        Network names.
    systems : tuple of int
        Each network's system.
    region_names : tuple of str
    region_network : numpy.ndarray
        Each region's network index.
    sigma : numpy.ndarray
        ``(networks, networks)``: the normative correlation.
    edges : tuple of FcEdge
        Every planted edge (covariate then deviant).
    sites : tuple of FcSite
    subjects : tuple of FcSubject
    modes : numpy.ndarray
        float32 ``(12, brain voxels)``: the smooth spatial modes (5 physiological, 6 motion, 1 spin history),
        unit RMS, over the brain voxels in Fortran (NIfTI) order.
    """

    settings: FcCohortSettings
    affine: np.ndarray
    tissue: np.ndarray
    atlas: np.ndarray
    names: tuple[str, ...]
    systems: tuple[int, ...]
    region_names: tuple[str, ...]
    region_network: np.ndarray
    sigma: np.ndarray
    edges: tuple[FcEdge, ...]
    sites: tuple[FcSite, ...]
    subjects: tuple[FcSubject, ...]
    modes: np.ndarray

    @property
    def deviant_edges(self) -> tuple[FcEdge, ...]:
        """The edges planted in patients."""
        return tuple(e for e in self.edges if e.kind == "deviant")

    @property
    def covariate_edges(self) -> tuple[FcEdge, ...]:
        """The age and sex edges."""
        return tuple(e for e in self.edges if e.kind != "deviant")

    @property
    def participants(self) -> list[dict[str, object]]:
        """The subjects table as ``participants.tsv`` holds it: ``participant_id``, ``age`` (years), ``sex``,
        ``site`` (its name) and ``group``, one dict per subject."""
        return [{"participant_id": f"sub-{p.label}", "age": round(p.age, 2), "sex": p.sex,
                 "site": self.sites[p.site].name, "group": p.group} for p in self.subjects]  # fmt: skip

    @property
    def edge_labels(self) -> list[str]:
        """Every lower-triangle edge's label, in ``np.tril_indices(networks, k=-1)`` order."""
        rows, cols = np.tril_indices(len(self.names), k=-1)
        return [f"{self.names[i]}--{self.names[j]}" for i, j in zip(rows, cols, strict=True)]

    def region_signals(self, subject: int) -> np.ndarray:
        """``(volumes, regions)``: each region's series with the site's effects (see the module docstring)."""
        s, subj = self.settings, self._subject(subject)
        site = self.sites[subj.site]
        rng = _rng(s.seed, 2, subject, 3)
        shared = _band_limited(s.volumes, 1, s.tr, rng)
        noise = _band_limited(s.volumes, len(self.region_names), s.tr, rng)
        out = site.signal_scale * subj.series[:, self.region_network] + math.sqrt(site.shared_fraction) * shared
        return np.asarray(out + site.noise_sd * noise)

    def bold(self, subject: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Render one subject: the int16 ``(X, Y, Z, volumes)`` image and its confounds by fMRIPrep name."""
        return _render(self, self._subject(subject), subject)

    def _subject(self, subject: int) -> FcSubject:
        if not 0 <= subject < len(self.subjects):
            raise SimulationError(f"subject {subject!r} out of range [0, {len(self.subjects)})")
        return self.subjects[subject]


# ---------------------------------------------------------------------------------------------------------------
# anatomy and atlas


def _grid(voxel_size: float) -> tuple[tuple[int, int, int], np.ndarray]:
    shape = tuple(math.floor((high - low) / voxel_size + 1e-9) + 1 for low, high in MNI_BOX_MM)
    affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    affine[:3, 3] = [low for low, _high in MNI_BOX_MM]
    return (shape[0], shape[1], shape[2]), affine


def _fibonacci_sphere(n: int) -> np.ndarray:
    """``(n, 3)`` unit vectors spread evenly over the sphere (the golden-angle spiral)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (3.0 - math.sqrt(5.0)) * k
    r = np.sqrt(1.0 - z * z)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def _anatomy(shape: tuple[int, int, int], affine: np.ndarray, n_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """Tissue labels (int8) and the atlas (int16) on the grid (see the module docstring)."""
    ijk = np.indices(shape).reshape(3, -1).T
    world = ijk * np.diag(affine)[:3] + affine[:3, 3]
    unit = (world - np.asarray(BRAIN_CENTRE_MM)) / np.asarray(BRAIN_AXES_MM)
    rho = np.linalg.norm(unit, axis=1)
    tissue = np.zeros(rho.shape, dtype=np.int8)
    tissue[rho <= 1.0] = GREY
    tissue[rho <= 0.72] = WHITE
    tissue[rho <= 0.3] = CSF
    atlas = np.zeros(rho.shape, dtype=np.int16)
    grey = tissue == GREY
    direction = unit[grey] / rho[grey, None]
    atlas[grey] = np.argmax(direction @ _fibonacci_sphere(n_regions).T, axis=1) + 1
    counts = np.bincount(atlas, minlength=n_regions + 1)[1:]
    if np.any(counts == 0):
        raise SimulationError(f"voxel_size_mm is too coarse for {n_regions} regions: {int((counts == 0).sum())} empty")
    return tissue.reshape(shape), atlas.reshape(shape)


def _smooth_modes(tissue: np.ndarray, voxel_size: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, brain voxels)`` smooth random fields (20 mm FWHM), unit RMS over the brain."""
    sigma = 20.0 / math.sqrt(8.0 * math.log(2.0)) / voxel_size
    brain = tissue.ravel(order="F") > 0
    modes = np.empty((count, int(brain.sum())), dtype=np.float32)
    for m in range(count):
        field = ndimage.gaussian_filter(rng.standard_normal(tissue.shape), sigma, mode="reflect")
        values = field.ravel(order="F")[brain]
        modes[m] = values / math.sqrt(float(np.mean(values**2)))
    return modes


# ---------------------------------------------------------------------------------------------------------------
# correlations and edges


def _nearest_correlation(matrix: np.ndarray, floor: float = _EIGEN_FLOOR) -> np.ndarray:
    """The nearest correlation matrix with eigenvalues >= `floor` (Higham 2002, alternating projections).

    Parameters
    ----------
    matrix : numpy.ndarray
        A symmetric ``(n, n)`` matrix with unit diagonal.
    floor : float
        Smallest eigenvalue allowed (dimensionless).

    Returns
    -------
    numpy.ndarray
        `matrix` itself when its eigenvalues are already >= `floor`, else the repaired matrix (Frobenius-nearest
        in the alternating projections onto the matrices with eigenvalues >= `floor` and the unit-diagonal ones,
        with Dykstra's correction; Higham 2002, IMA J Numer Anal 22:329), its eigenvalues clipped once more and
        its diagonal rescaled to 1 so that it is positive definite whatever the convergence.
    """
    if np.linalg.eigvalsh(matrix)[0] >= floor:
        return matrix
    y, correction = matrix.copy(), np.zeros_like(matrix)
    for _ in range(500):
        r = y - correction
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, floor)) @ v.T
        correction = x - r
        previous, y = y, x.copy()
        np.fill_diagonal(y, 1.0)
        if np.linalg.norm(y - previous) <= 1e-10 * max(1.0, float(np.linalg.norm(y))):
            break
    w, v = np.linalg.eigh((y + y.T) / 2.0)
    y = (v * np.maximum(w, floor / 2.0)) @ v.T
    d = np.sqrt(np.diag(y))
    y = y / np.outer(d, d)
    np.fill_diagonal(y, 1.0)
    return np.asarray(y)


def _names_and_systems(n: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if n == len(YEO17_NAMES):
        return YEO17_NAMES, YEO17_SYSTEMS
    return tuple(f"net{k + 1:02d}" for k in range(n)), tuple(min(k // 2, max(0, (n - 2) // 2)) for k in range(n))


def _normative_sigma(systems: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    n, n_sys = len(systems), max(systems) + 1
    level = np.triu(rng.uniform(-0.05, 0.2, (n_sys, n_sys)), 1)
    pairs = list(zip(*np.triu_indices(n_sys, 1), strict=True))
    if pairs:
        negative = rng.choice(len(pairs), size=max(1, round(0.15 * len(pairs))), replace=False)
        for p in negative:
            level[pairs[p]] = rng.uniform(-0.25, -0.1)
    level = level + level.T
    group = np.asarray(systems)
    jitter = np.tril(rng.normal(0.0, 0.03, (n, n)), -1)
    sigma = level[group][:, group] + jitter + jitter.T
    within = np.tril(rng.uniform(0.3, 0.6, (n, n)), -1)
    same = group[:, None] == group[None, :]
    sigma = np.where(same, within + within.T, sigma)
    np.fill_diagonal(sigma, 1.0)
    return _nearest_correlation(sigma)


def _planted_edges(settings: FcCohortSettings, names: Sequence[str]) -> tuple[FcEdge, ...]:
    rows, cols = np.tril_indices(len(names), k=-1)
    counts = {"age": settings.age_edges, "sex": settings.sex_edges, "deviant": settings.deviant_edges}
    if sum(counts.values()) > rows.size:
        raise SimulationError(
            f"deviant_edges + age_edges + sex_edges must be at most {rows.size} for {len(names)} networks,"
            f" got {sum(counts.values())}"
        )
    order = _rng(settings.seed, 0, 1).permutation(rows.size)
    signs = np.where(_rng(settings.seed, 0, 2).random((3, rows.size)) < 0.5, -1.0, 1.0)
    sizes = {"age": settings.age_effect, "sex": settings.sex_effect, "deviant": settings.deviant_delta}
    edges, start = [], 0
    for k, (kind, count) in enumerate(counts.items()):
        for e in order[start : start + count]:
            i, j = int(rows[e]), int(cols[e])
            edges.append(FcEdge(i, j, int(e), f"{names[i]}--{names[j]}", kind, float(signs[k, e] * sizes[kind])))
        start += count
    return tuple(edges)


def _sites(settings: FcCohortSettings) -> tuple[FcSite, ...]:
    n = settings.sites
    rng = _rng(settings.seed, 1, 0)
    values = {}
    for name, (low, high) in SITE_RANGES.items():
        spread = np.linspace(low, high, n) if n > 1 else np.array([(low + high) / 2.0])
        values[name] = spread[rng.permutation(n)]
    sites = []
    for k in range(n):
        a, f, s = (float(values[p][k]) for p in ("signal_scale", "shared_fraction", "noise_sd"))
        total = a * a + f + s * s / settings.regions_per_network
        sites.append(FcSite(f"site{k + 1}", a, f, s, float(values["tsnr"][k]), a * a / total, f / total))
    return tuple(sites)


# ---------------------------------------------------------------------------------------------------------------
# subjects


def _motion(settings: FcCohortSettings, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, ...]]:
    n = settings.volumes
    motion = random_walk_motion(n, rng, settings.max_motion_mm, settings.max_motion_deg)
    count = min(settings.spikes, n - 2)
    spikes = tuple(sorted(int(v) for v in rng.choice(np.arange(1, n - 1), size=count, replace=False)))
    for t in spikes:
        direction = rng.standard_normal(3)
        motion[t, :3] += settings.spike_mm * direction / np.linalg.norm(direction)
        motion[t, 3:] += np.deg2rad(rng.normal(0.0, settings.spike_mm / 3.0, 3))
    return motion, spikes


def _true_correlation(
    settings: FcCohortSettings, sigma: np.ndarray, edges: Sequence[FcEdge], covariates: tuple[str, float, str],
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    group, age, sex = covariates
    matrix = sigma.copy()
    for edge in edges:
        shift = {"age": edge.effect * (age - 45.0) / 10.0, "sex": edge.effect * (sex == "F"),
                 "deviant": edge.effect * (group == PATIENT)}[edge.kind]  # fmt: skip
        matrix[edge.row, edge.column] += shift
        matrix[edge.column, edge.row] += shift
    jitter = np.tril(rng.normal(0.0, settings.subject_jitter, matrix.shape), -1)
    matrix = np.clip(matrix + jitter + jitter.T, -0.99, 0.99)
    np.fill_diagonal(matrix, 1.0)
    return _nearest_correlation(matrix)


def _make_subject(settings: FcCohortSettings, sigma: np.ndarray, edges: Sequence[FcEdge], k: int) -> FcSubject:
    seed = settings.seed
    rng = _rng(seed, 2, k, 0)
    age = float(rng.uniform(20.0, 70.0))
    sex = "F" if rng.random() < 0.5 else "M"
    group = CONTROL if k < settings.controls else PATIENT
    correlation = _true_correlation(settings, sigma, edges, (group, age, sex), _rng(seed, 2, k, 1))
    white = _band_limited(settings.volumes, sigma.shape[0], settings.tr, _rng(seed, 2, k, 2))
    series = _standardised(white @ np.linalg.cholesky(correlation).T)
    motion, spikes = _motion(settings, _rng(seed, 2, k, 4))
    width = max(3, len(str(settings.controls + settings.patients)))
    for array in (correlation, series, motion):
        array.setflags(write=False)
    return FcSubject(f"{k + 1:0{width}d}", group, age, sex, k % settings.sites, correlation, series, motion, spikes)


# ---------------------------------------------------------------------------------------------------------------
# rendering


def _relative_signal(cohort: FcCohort, subject: FcSubject, k: int, tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(volumes, brain voxels)`` float32 ``n_v(t)`` of the module docstring (fraction of the baseline), and the
    ``(volumes, N_PHYSIO)`` physiological series."""
    s = cohort.settings
    n = s.volumes
    rng = _rng(s.seed, 2, k, 5)
    region = cohort.atlas.ravel(order="F")[cohort.tissue.ravel(order="F") > 0].astype(np.intp)
    table = np.column_stack([np.zeros(n), cohort.region_signals(k)]).astype(np.float32)
    loading = np.where(tissue == GREY, rng.uniform(0.5, 1.5, tissue.size), 0.0).astype(np.float32)
    out = table[:, region] * (loading * np.float32(s.signal_pct / 100.0))
    global_weight = np.where(tissue == GREY, 1.0, 0.5).astype(np.float32)
    out += np.outer(_band_limited(n, 1, s.tr, rng)[:, 0] * (s.global_pct / 100.0), global_weight).astype(np.float32)
    physio = rng.standard_normal((n, N_PHYSIO))
    out += (physio @ _physio_maps(cohort, tissue)).astype(np.float32)
    arcs = subject.motion * np.array([1.0, 1.0, 1.0, 50.0, 50.0, 50.0])
    out += (arcs @ cohort.modes[N_PHYSIO : N_PHYSIO + 6] * (s.motion_pct / 100.0)).astype(np.float32)
    spin = -(s.spike_pct / 100.0) * cohort.modes[N_PHYSIO + 6]
    for t in subject.spikes:
        out[t : t + 2] += spin.astype(np.float32)
    tau = np.arange(n) / max(n - 1, 1)
    drift = s.drift_pct / 100.0 * (rng.normal() * tau + rng.normal(0.0, 0.5) * np.sin(np.pi * tau))
    out += drift[:, None].astype(np.float32)
    return np.asarray(out, dtype=np.float32), physio


def _physio_maps(cohort: FcCohort, tissue: np.ndarray) -> np.ndarray:
    """``(N_PHYSIO, brain voxels)``: each physiological series' amplitude per voxel (fraction of the baseline)."""
    weight = np.select([tissue == GREY, tissue == WHITE], [0.25, 1.0], 2.0) * cohort.settings.physio_pct / 100.0
    return np.asarray(cohort.modes[:N_PHYSIO] * weight)


def _compcor(physio: np.ndarray, maps: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """``(volumes, N_PHYSIO)``: principal components (unit norm) of the injected white-matter and CSF nuisance.

    The nuisance is ``X = P L`` (``P`` the centred series, ``L`` the voxel loadings), so with ``P = Q R`` its
    left singular vectors are ``Q W``, ``W`` the eigenvectors of the small ``R L L^T R^T``, by decreasing
    eigenvalue; each sign set so that its largest element is positive.
    """
    loading = maps * baseline  # (N_PHYSIO, voxels)
    q, r = np.linalg.qr(physio - physio.mean(axis=0))
    _w, v = np.linalg.eigh(r @ (loading @ loading.T) @ r.T)
    components = q @ v[:, ::-1]
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
    return np.asarray(components * signs)


def _render(cohort: FcCohort, subject: FcSubject, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    s = cohort.settings
    flat = cohort.tissue.ravel(order="F")
    brain = np.flatnonzero(flat > 0)
    tissue = flat[brain]
    baseline = np.select([tissue == GREY, tissue == WHITE], [BASELINE[GREY], BASELINE[WHITE]], BASELINE[CSF])
    relative, physio = _relative_signal(cohort, subject, k, tissue)
    rng = _rng(s.seed, 2, k, 6)
    noise_sd = (baseline / cohort.sites[subject.site].tsnr).astype(np.float32)
    values = baseline.astype(np.float32) * (1.0 + relative)
    values += rng.standard_normal(values.shape, dtype=np.float32) * noise_sd
    values = np.clip(np.rint(values), 0, np.iinfo(np.int16).max).astype(np.int16)
    out = np.zeros((s.volumes, flat.size), dtype=np.int16)
    out[:, brain] = values
    image = out.reshape(s.volumes, *cohort.tissue.shape[::-1]).T
    wm_csf = tissue != GREY
    maps = _physio_maps(cohort, tissue)[:, wm_csf]
    confounds = _confounds(values, tissue, subject.motion, _compcor(physio, maps, baseline[wm_csf]))
    return image, confounds


def _confounds(
    values: np.ndarray, tissue: np.ndarray, motion: np.ndarray, compcor: np.ndarray
) -> dict[str, np.ndarray]:
    """fMRIPrep's confound columns (``nan`` where fMRIPrep writes ``n/a``)."""
    data = values.astype(np.float64)
    columns = {
        "global_signal": data.mean(axis=1),
        "csf": data[:, tissue == CSF].mean(axis=1),
        "white_matter": data[:, tissue == WHITE].mean(axis=1),
    }
    for name, series in zip(_MOTION_NAMES, motion.T, strict=True):
        derivative = np.concatenate([[np.nan], np.diff(series)])
        columns.update({name: series, f"{name}_derivative1": derivative, f"{name}_power2": series**2,
                        f"{name}_derivative1_power2": derivative**2})  # fmt: skip
    fd = np.concatenate([[np.nan], np.abs(np.diff(motion, axis=0)) @ np.array([1.0, 1.0, 1.0, 50.0, 50.0, 50.0])])
    columns["framewise_displacement"] = fd
    for c in range(compcor.shape[1]):
        columns[f"a_comp_cor_{c:02d}"] = compcor[:, c]
    for o, t in enumerate(np.flatnonzero(np.nan_to_num(fd) > FD_OUTLIER_MM)):
        columns[f"motion_outlier_{o:02d}"] = (np.arange(motion.shape[0]) == t).astype(np.float64)
    return columns


# ---------------------------------------------------------------------------------------------------------------
# the public constructor


def _checked_options(options: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(options) - set(FcCohortSettings.__dataclass_fields__))
    fixed = {"controls", "patients", "sites", "networks", "deviant_edges", "volumes", "tr", "voxel_size_mm", "seed"}
    if unknown or fixed & set(options):
        raise SimulationError(f"unknown option(s) {', '.join(unknown or sorted(fixed & set(options)))}")
    checked: dict[str, object] = {}
    for name, value in options.items():
        minimum = 1 if name == "regions_per_network" else 0
        checked[name] = (
            _count(name, value, minimum) if name in _COUNT_OPTIONS else _number(name, value, non_negative=True)
        )
    return checked


def make_fc_cohort(
    controls: int = 200,
    patients: int = 60,
    sites: int = 3,
    networks: int = 17,
    deviant_edges: int = 10,
    volumes: int = 300,
    tr: float = 2.0,
    voxel_size_mm: float = 4.0,
    seed: int = 0,
    **options: object,
) -> FcCohort:
    """Draw a multi-site FC cohort with planted deviant edges (the model: :mod:`nfd.simulate._fc_cohort`).

    Parameters
    ----------
    controls, patients : int
        Subjects per group (>= 0 each, >= 1 in all); subjects ``0 .. controls - 1`` are the controls.
    sites : int
        Sites (>= 1); subject ``k`` is at site ``k % sites``.
    networks : int
        Networks (>= 2; 17 are named as Yeo 17).
    deviant_edges : int
        Edges planted in patients (>= 0).
    volumes : int
        Volumes per subject (>= 10).
    tr : float
        Repetition time (s, > 0).
    voxel_size_mm : float
        Isotropic voxel size (mm, 1-12).
    seed : int
        Seed (>= 0).
    **options
        The model's other numbers, defaults in :class:`FcCohortSettings`: ``regions_per_network``,
        ``deviant_delta``, ``age_edges``, ``age_effect`` (per decade), ``sex_edges``, ``sex_effect``,
        ``subject_jitter``, ``signal_pct``, ``global_pct``, ``physio_pct``, ``motion_pct`` (% per mm),
        ``max_motion_mm``, ``max_motion_deg``, ``spikes``, ``spike_mm``, ``spike_pct``, ``drift_pct``.

    Returns
    -------
    FcCohort
        The truth; the images are rendered by :meth:`FcCohort.bold` or :func:`write_fc_cohort`.

    Raises
    ------
    SimulationError
        If an argument is out of range or unknown (the message names it).

    Examples
    --------
    >>> from nfd.simulate import make_fc_cohort
    >>> c = make_fc_cohort(2, 1, sites=1, networks=6, deviant_edges=2, volumes=20, voxel_size_mm=8.0)
    >>> c.subjects[2].group, c.subjects[0].series.shape, len(c.deviant_edges)
    ('patient', (20, 6), 2)
    """
    settings = FcCohortSettings(
        controls=_count("controls", controls, 0), patients=_count("patients", patients, 0),
        sites=_count("sites", sites, 1), networks=_count("networks", networks, 2),
        deviant_edges=_count("deviant_edges", deviant_edges, 0), volumes=_count("volumes", volumes, 10),
        tr=_number("tr", tr, positive=True), voxel_size_mm=_number("voxel_size_mm", voxel_size_mm, positive=True),
        seed=_count("seed", seed, 0), **_checked_options(options),  # type: ignore[arg-type]
    )  # fmt: skip
    if settings.controls + settings.patients < 1:
        raise SimulationError(f"controls + patients must be >= 1, got {controls!r} + {patients!r}")
    if not 1.0 <= settings.voxel_size_mm <= 12.0:
        raise SimulationError(f"voxel_size_mm must be a number in [1, 12], got {voxel_size_mm!r}")
    names, systems = _names_and_systems(settings.networks)
    r_count = settings.regions_per_network
    shape, affine = _grid(settings.voxel_size_mm)
    tissue, atlas = _anatomy(shape, affine, settings.networks * r_count)
    sigma = _normative_sigma(systems, _rng(settings.seed, 0, 0))
    edges = _planted_edges(settings, names)
    modes = _smooth_modes(tissue, settings.voxel_size_mm, N_PHYSIO + 7, _rng(settings.seed, 0, 3))
    n = settings.controls + settings.patients
    subjects = tuple(_make_subject(settings, sigma, edges, k) for k in range(n))
    region_names = tuple(
        f"{names[r % settings.networks]}_{r // settings.networks + 1}" for r in range(len(names) * r_count)
    )
    for array in (affine, tissue, atlas, sigma, modes):
        array.setflags(write=False)
    return FcCohort(
        settings, affine, tissue, atlas, names, systems, region_names, np.arange(len(region_names)) % settings.networks,
        sigma, edges, _sites(settings), subjects, modes,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# the writer


def _stem(subject: FcSubject) -> str:
    return f"sub-{subject.label}_task-rest"


def _matrix_tsv(matrix: np.ndarray, names: Sequence[str]) -> bytes:
    return _tsv([(n, *map(float, row)) for n, row in zip(names, matrix, strict=True)], ("name", *names))


def _edges_tsv(edges: Sequence[FcEdge], names: Sequence[str], covariate: bool) -> bytes:
    rows = [(e.label, e.index, e.row, e.column, names[e.row], names[e.column], *((e.kind,) if covariate else ()),
             e.effect) for e in edges]  # fmt: skip
    header = ("edge", "index", "row", "column", "network_row", "network_column")
    return _tsv(rows, (*header, "covariate", "effect") if covariate else (*header, "delta"))


def _top_files(cohort: FcCohort) -> dict[str, bytes]:
    """Every file but the subjects' images, by path relative to the root."""
    s, names = cohort.settings, cohort.names
    generated = [{"Name": "nfd", "Version": __version__,
                  "Description": f"nfd simulate fc-cohort (nfd.simulate.make_fc_cohort), seed {s.seed}"}]  # fmt: skip
    atlas_rows = [(r + 1, name, names[int(cohort.region_network[r])]) for r, name in enumerate(cohort.region_names)]
    units = {"age": "per decade from 45 years", "sex": "female minus male", "deviant": "patient minus control"}
    files = {
        "dataset_description.json": _json({"Name": "nfd synthetic multi-site FC cohort", "BIDSVersion": "1.9.0",
                                           "DatasetType": "derivative", "GeneratedBy": generated}),
        "participants.tsv": _tsv([tuple(row.values()) for row in cohort.participants],
                                 ("participant_id", "age", "sex", "site", "group")),
        f"atlas/atlas-nfdsim_space-{SPACE}_dseg.nii.gz": _nifti_bytes(np.asarray(cohort.atlas), cohort.affine),
        "atlas/atlas-nfdsim_dseg.tsv": _tsv(atlas_rows, ("index", "name", "network")),
        "truth/sigma.tsv": _matrix_tsv(cohort.sigma, names),
        "truth/deviant_edges.tsv": _edges_tsv(cohort.deviant_edges, names, covariate=False),
        "truth/covariate_edges.tsv": _edges_tsv(cohort.covariate_edges, names, covariate=True),
        "truth/sites.tsv": _tsv([(x.name, x.signal_scale, x.shared_fraction, x.noise_sd, x.tsnr, x.gain, x.offset)
                                 for x in cohort.sites], ("site", "signal_scale", "shared_fraction", "noise_sd",
                                                          "tsnr", "correlation_gain", "correlation_offset")),
        f"truth/space-{SPACE}_desc-tissue_dseg.nii.gz": _nifti_bytes(np.asarray(cohort.tissue), cohort.affine),
        "truth/truth.json": _json({
            "networks": list(names), "systems": list(cohort.systems), "edge_order": "np.tril_indices(N, k=-1)",
            "effect_units": units, "tissue_labels": {"1": "grey", "2": "white matter", "3": "CSF"},
            "site_correlation": "E[r_site] = correlation_gain * r_true + correlation_offset (network means)",
            "settings": dict(s.__dict__), "spikes": {f"sub-{p.label}": list(p.spikes) for p in cohort.subjects}}),
    }  # fmt: skip
    for p in cohort.subjects:
        files[f"truth/subjects/{p.label}_correlation.tsv"] = _matrix_tsv(p.correlation, names)
        files[f"truth/subjects/{p.label}_networks.tsv"] = _tsv([tuple(map(float, row)) for row in p.series], names)
    return files


def _confounds_tsv(columns: dict[str, np.ndarray]) -> bytes:
    names = list(columns)
    table = np.column_stack([columns[n] for n in names])
    return _tsv([tuple("n/a" if math.isnan(v) else float(v) for v in row) for row in table], names)


def _write_subject(
    cohort: FcCohort, k: int, out: Path, mask: bytes, submit: Callable[..., Future[None]]
) -> Future[None]:
    """Render subject `k`, write its small files and queue its image for compression and writing."""
    subject = cohort.subjects[k]
    image, confounds = cohort.bold(k)
    func = out / f"sub-{subject.label}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    stem = _stem(subject)
    sidecar = {"RepetitionTime": cohort.settings.tr, "TaskName": "rest", "SkullStripped": False}
    write_atomic(func / f"{stem}_space-{SPACE}_desc-preproc_bold.json", _json(sidecar))
    write_atomic(func / f"{stem}_space-{SPACE}_desc-brain_mask.nii.gz", mask)
    write_atomic(func / f"{stem}_desc-confounds_timeseries.tsv", _confounds_tsv(confounds))
    path = func / f"{stem}_space-{SPACE}_desc-preproc_bold.nii.gz"
    return submit(lambda: write_atomic(path, _nifti_bytes(image, cohort.affine, cohort.settings.tr)))


def write_fc_cohort(
    cohort: FcCohort, root: str | PathLike[str], *, threads: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Path:  # fmt: skip
    """Render every subject of `cohort` and write it as fMRIPrep-like BIDS derivatives with its truth.

    Layout under `root`: ``dataset_description.json`` (``DatasetType`` derivative, ``GeneratedBy`` nfd),
    ``participants.tsv`` (``participant_id``, ``age`` in years, ``sex`` F/M, ``site``, ``group``
    control/patient); per subject ``sub-<label>/func/``: ``sub-<label>_task-rest_space-MNI152NLin2009cAsym_
    desc-preproc_bold.nii.gz`` (int16, 4-D, TR as 4th pixdim) with its ``.json`` (``RepetitionTime`` in s),
    ``..._desc-brain_mask.nii.gz`` (uint8) and ``sub-<label>_task-rest_desc-confounds_timeseries.tsv``
    (fMRIPrep's columns, ``n/a`` in the first row of derivatives and FD); ``atlas/``:
    ``atlas-nfdsim_space-MNI152NLin2009cAsym_dseg.nii.gz`` (int16 labels, 0 background) and
    ``atlas-nfdsim_dseg.tsv`` (``index name network``); ``truth/``: ``sigma.tsv`` (the normative correlation,
    ``name`` then one column per network), ``deviant_edges.tsv`` (``edge index row column network_row
    network_column delta``), ``covariate_edges.tsv`` (the same with ``covariate`` age/sex and ``effect``),
    ``sites.tsv`` (``site signal_scale shared_fraction noise_sd tsnr correlation_gain correlation_offset``),
    ``truth.json`` (settings, conventions, spike volumes), the tissue dseg, and per subject
    ``subjects/<label>_correlation.tsv`` (its true matrix) and ``subjects/<label>_networks.tsv`` (its true
    series, ``volumes`` rows, one column per network; named without ``sub-`` so that pybids does not take them
    for the subject's files). Files are written atomically; images are compressed (gzip level
    1) in `threads` threads while the next subject renders.

    Parameters
    ----------
    cohort : FcCohort
    root : path
        The dataset's root, created if missing.
    threads : int
        Compression threads (>= 1).
    progress : callable, optional
        Called as ``progress(done, total)`` once per subject (the last call follows the last write).

    Returns
    -------
    pathlib.Path
        `root`.
    """
    workers = _count("threads", threads, 1)
    out = Path(root)
    for relative, payload in _top_files(cohort).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / relative, payload)
    mask = _nifti_bytes((np.asarray(cohort.tissue) > 0).astype(np.uint8), cohort.affine)
    total = len(cohort.subjects)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[None]] = []
        for k in range(total):
            pending.append(_write_subject(cohort, k, out, mask, pool.submit))
            while len(pending) > workers:  # memory: at most `workers` images wait
                pending.pop(0).result()
            if progress is not None and k + 1 < total:
                progress(k + 1, total)
        for future in pending:
            future.result()
    if progress is not None:
        progress(total, total)
    return out
