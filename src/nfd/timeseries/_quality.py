"""Real-time quality assessment: motion, DVARS, tSNR, CNR, spikes and filter error, with thresholds."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float
from nfd.design import Design
from nfd.timeseries._chain import ChainStep
from nfd.timeseries._displacement import _as_params, framewise_displacement, micro_displacement
from nfd.timeseries._errors import TimeseriesError
from nfd.timeseries._moments import RunningMoments

__all__ = ["QualityMonitor", "QualityThresholds", "dvars", "intensity_mask"]


def intensity_mask(volume: ArrayLike) -> np.ndarray:
    """Voxels brighter than an eighth of the volume's mean: SPM's global threshold.

    SPM's ``spm_global``: the mean of the voxels above ``mean / 8``; those
    voxels are a rough brain mask of an EPI volume.

    Parameters
    ----------
    volume : array_like
        A volume (any shape); non-finite voxels are outside.

    Returns
    -------
    numpy.ndarray
        bool, the volume's shape.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import intensity_mask
    >>> intensity_mask(np.array([0.0, 1.0, 100.0, 120.0])).tolist()
    [False, False, True, True]
    """
    v = np.asarray(volume, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros(v.shape, dtype=bool)
    level = v[finite].mean() / 8.0
    with np.errstate(invalid="ignore"):
        return finite & (v > level)


def dvars(previous: ArrayLike, current: ArrayLike, mask: ArrayLike | None = None) -> float:
    """DVARS: the root mean square over voxels of the change since the previous volume.

    ``sqrt(mean_v((I_t(v) - I_{t-1}(v))**2))`` over the voxels of `mask`
    (Smyser et al., 2010, Cereb Cortex 20:2932; Power et al., 2012,
    NeuroImage 59:2142), in the volumes' intensity unit; divide by the mean
    intensity and multiply by 100 for percent.

    Parameters
    ----------
    previous, current : array_like
        Two volumes of one shape.
    mask : array_like of bool, optional
        Voxels to use (all when None).

    Returns
    -------
    float
        Intensity units; NaN when the mask is empty.

    Raises
    ------
    TimeseriesError
        If the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import dvars
    >>> dvars(np.zeros(4), np.array([1.0, -1.0, 1.0, -1.0]))
    1.0
    """
    a = np.asarray(previous, dtype=np.float64)
    b = np.asarray(current, dtype=np.float64)
    if a.shape != b.shape:
        raise TimeseriesError(f"dvars: volumes have shapes {a.shape} and {b.shape}; expected one shape")
    diff = b - a
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != a.shape:
            raise TimeseriesError(f"dvars: mask has shape {m.shape}, the volumes {a.shape}")
        diff = diff[m]
    if diff.size == 0:
        return math.nan
    return float(math.sqrt(float(np.mean(diff * diff))))


@dataclass(frozen=True)
class QualityThresholds:
    """Limits beyond which a volume's quality figure is reported as a crossing.

    Attributes
    ----------
    fd_mm : float or None
        Framewise displacement, mm (Power et al., 2012: 0.5 mm).
    md_mm : float or None
        Micro-displacement, mm.
    dvars_percent : float or None
        DVARS as percent of the mean intensity of the first volume.
    tsnr_min : float or None
        Temporal SNR of an ROI's raw signal; a crossing when it falls below
        (checked after ``tsnr_warmup`` volumes, reported once per fall).

    None disables a threshold.
    """

    fd_mm: float | None = 0.5
    md_mm: float | None = 0.2
    dvars_percent: float | None = 5.0
    tsnr_min: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None:
                continue
            ensure_float(value, f"quality threshold {name}", minimum=0.0, error=TimeseriesError)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class QualityMonitor:
    """Per-volume real-time quality figures of a run, with threshold crossings.

    Each :meth:`update` computes, for one volume:

    - ``fd``: framewise displacement, mm (Power et al., 2012, radius 50 mm);
    - ``md``: micro-displacement, mm (OpenNFT's, see
      :func:`nfd.timeseries.micro_displacement`);
    - ``dvars`` (intensity units) and ``dvars_percent`` (of the first
      volume's mean intensity in the mask): the RMS change since the
      previous volume over the mask (given, else the first volume's
      :func:`intensity_mask`);
    - per ROI: ``tsnr``, the raw signal's mean / SD so far (Welford);
      ``cnr``, ``(mean_task - mean_baseline) / sqrt(var_task +
      var_baseline)`` of the GLM-cleaned signal (drifts removed, task kept)
      over the task and baseline volumes so far (OpenNFT's ``cnr_calc``);
      ``spike``, the Kalman step's held-back spike (+1, -1 or 0); ``mse``,
      the running mean squared difference between the Kalman filter's output
      and its input (signal units squared), how much the filter changes the
      signal;
    - per voxel (when volumes are given and ``voxelwise``): running mean and
      variance for a tSNR map (:meth:`tsnr_map`).

    ``crossings`` lists the thresholds crossed at that volume: ``"fd"``,
    ``"md"``, ``"dvars"`` for every volume beyond the threshold;
    ``"spike:<roi>"`` for every spike; ``"tsnr:<roi>"`` when an ROI's tSNR
    falls below ``tsnr_min`` (once per fall). The daemon logs them as
    warnings and :meth:`summary` counts them.

    The per-volume work is O(ROIs) plus, with volumes, a few passes over
    the voxels (about a millisecond for 200 000 voxels); one instance per
    run, not shared between threads without a lock.

    Parameters
    ----------
    design : nfd.design.Design
        The run's design (its skipped volumes and baseline volumes).
    roi_names : sequence of str
        The ROIs whose chain steps :meth:`update` receives.
    thresholds : QualityThresholds
        Limits for the crossings.
    mask : array_like of bool, optional
        Voxels for DVARS and the voxelwise tSNR (default: the first volume's
        :func:`intensity_mask`).
    voxelwise : bool
        Keep per-voxel running moments (for :meth:`tsnr_map`).
    radius_mm : float
        Head radius for the framewise displacement, mm.
    tsnr_warmup : int
        Volumes before the tSNR threshold is checked.

    Raises
    ------
    TimeseriesError
        For bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.design import Design
    >>> from nfd.timeseries import QualityMonitor
    >>> qm = QualityMonitor(Design.from_blocks(10, [("UP", 5, 9)]), ["v1"])
    >>> qm.update(0, [0, 0, 0, 0, 0, 0])["fd"]
    0.0
    >>> figures = qm.update(1, [0.6, 0, 0, 0, 0, 0])
    >>> figures["fd"], figures["crossings"]
    (0.6, ['fd', 'md'])
    >>> qm.summary()["crossings"]
    {'fd': 1, 'md': 1}
    """

    def __init__(
        self,
        design: Design,
        roi_names: Sequence[str],
        *,
        thresholds: QualityThresholds | None = None,
        mask: ArrayLike | None = None,
        voxelwise: bool = True,
        radius_mm: float = 50.0,
        tsnr_warmup: int = 10,
    ) -> None:
        names = list(roi_names)
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise TimeseriesError(f"roi_names must be distinct non-empty strings, got {roi_names!r}")
        self._design = design
        self._names = tuple(names)
        self._thresholds = QualityThresholds() if thresholds is None else thresholds
        if not isinstance(self._thresholds, QualityThresholds):
            raise TimeseriesError(f"thresholds must be a QualityThresholds, got {type(self._thresholds).__name__}")
        if not (isinstance(radius_mm, (int, float)) and math.isfinite(radius_mm) and radius_mm > 0):
            raise TimeseriesError(f"radius_mm must be a positive number of mm, got {radius_mm!r}")
        self._radius = float(radius_mm)
        self._warmup = operator.index(tsnr_warmup)
        self._voxelwise = bool(voxelwise)
        self._mask: np.ndarray | None = None if mask is None else np.asarray(mask, dtype=bool)
        self._shape: tuple[int, ...] | None = None if self._mask is None else self._mask.shape
        self._prev_params: np.ndarray | None = None
        self._prev_voxels: np.ndarray | None = None
        self._dvars_scale = math.nan
        self._voxel_moments: RunningMoments | None = None
        self._raw = {n: RunningMoments() for n in self._names}
        self._task = {n: RunningMoments() for n in self._names}
        self._base = {n: RunningMoments() for n in self._names}
        self._mse = dict.fromkeys(self._names, 0.0)
        self._mse_n = dict.fromkeys(self._names, 0)
        self._spikes = {n: {"positive": 0, "negative": 0} for n in self._names}
        self._tsnr_low = dict.fromkeys(self._names, False)
        self._counts: Counter[str] = Counter()
        self._fd = RunningMoments()
        self._md = RunningMoments()
        self._dv = RunningMoments()
        self._max = {"fd": 0.0, "md": 0.0, "dvars_percent": 0.0}
        self._n = 0

    @property
    def thresholds(self) -> QualityThresholds:
        """The thresholds in use."""
        return self._thresholds

    @property
    def mask(self) -> np.ndarray | None:
        """The voxel mask (known after the first volume when not given)."""
        return None if self._mask is None else self._mask.copy()

    def _volume_figures(self, volume: ArrayLike) -> tuple[float, float]:
        v = np.asarray(volume)
        if self._mask is None:
            self._mask = intensity_mask(v)
            self._shape = v.shape
        if v.shape != self._shape:
            raise TimeseriesError(f"volume has shape {v.shape}, expected {self._shape} (the first volume's)")
        voxels = v[self._mask].astype(np.float64)
        np.nan_to_num(voxels, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if self._voxelwise:
            if self._voxel_moments is None:
                self._voxel_moments = RunningMoments((voxels.size,))
            self._voxel_moments.add(voxels)
        if self._prev_voxels is None:
            self._dvars_scale = float(voxels.mean()) if voxels.size else math.nan
            self._prev_voxels = voxels
            return 0.0, 0.0
        d = dvars(self._prev_voxels, voxels)
        self._prev_voxels = voxels
        scale = self._dvars_scale
        percent = 100.0 * d / scale if scale and math.isfinite(scale) else math.nan
        return d, percent

    def update(
        self,
        index: int,
        motion_params: ArrayLike,
        volume: ArrayLike | None = None,
        steps: Mapping[str, ChainStep] | None = None,
    ) -> dict[str, Any]:
        """Quality figures of volume `index`.

        Parameters
        ----------
        index : int
            0-based acquisition index.
        motion_params : array_like, shape (6,)
            The volume's motion parameters (mm, radians).
        volume : array_like, optional
            The volume (e.g. realigned); DVARS and voxelwise tSNR need it.
        steps : mapping of str to ChainStep, optional
            This volume's chain step per ROI; ROIs missing are left out.

        Returns
        -------
        dict
            ``index``, ``fd``, ``md`` (mm), ``dvars``, ``dvars_percent``
            (None without volumes), ``tsnr``, ``cnr``, ``spike``, ``mse``
            (dicts ROI -> number or None while undefined) and ``crossings``
            (list of str).

        Raises
        ------
        TimeseriesError
            If the motion parameters are not 6 numbers, a volume has another
            shape than the first, or a step names an unknown ROI.
        """
        params = _as_params("motion_params", motion_params)
        crossings: list[str] = []
        fd, md = self._motion_figures(params, crossings)
        dv: float | None = None
        dv_pct: float | None = None
        if volume is not None:
            dv, dv_pct = self._dvars_figures(volume, crossings)
        tsnr: dict[str, float | None] = {}
        cnr: dict[str, float | None] = {}
        spike: dict[str, int] = {}
        mse: dict[str, float | None] = {}
        baseline = self._design.is_baseline(index)
        for name, step in (steps or {}).items():
            if name not in self._raw:
                raise TimeseriesError(f"step for unknown ROI {name!r}; the monitor follows {list(self._names)}")
            self._add_step(name, step, baseline)
            tsnr[name] = _finite_or_none(float(self._raw[name].snr))
            cnr[name] = self._cnr(name)
            mse[name] = self._mse[name] if self._mse_n[name] else None
            spike[name] = int(step.spike)
            crossings.extend(self._roi_crossings(name, step.spike, tsnr[name]))
        self._counts.update(crossings)
        self._n += 1
        return {
            "index": int(index),
            "fd": fd,
            "md": md,
            "dvars": dv,
            "dvars_percent": dv_pct,
            "tsnr": tsnr,
            "cnr": cnr,
            "spike": spike,
            "mse": mse,
            "crossings": crossings,
        }

    def _motion_figures(self, params: np.ndarray, crossings: list[str]) -> tuple[float, float]:
        """Framewise and micro-displacement since the previous volume (mm), their crossings appended."""
        th = self._thresholds
        if self._prev_params is None:
            fd = md = 0.0
        else:
            fd = framewise_displacement(self._prev_params, params, self._radius)
            md = micro_displacement(self._prev_params, params)
        self._prev_params = params
        self._fd.add(fd)
        self._md.add(md)
        self._max["fd"] = max(self._max["fd"], fd)
        self._max["md"] = max(self._max["md"], md)
        if th.fd_mm is not None and fd > th.fd_mm:
            crossings.append("fd")
        if th.md_mm is not None and md > th.md_mm:
            crossings.append("md")
        return fd, md

    def _dvars_figures(self, volume: ArrayLike, crossings: list[str]) -> tuple[float | None, float | None]:
        """DVARS (intensity units) and DVARS percent of the volume, None where undefined; a crossing appended."""
        d, pct = self._volume_figures(volume)
        dv, dv_pct = _finite_or_none(d), _finite_or_none(pct)
        if dv_pct is not None:
            self._dv.add(dv_pct)
            self._max["dvars_percent"] = max(self._max["dvars_percent"], dv_pct)
            th = self._thresholds.dvars_percent
            if th is not None and dv_pct > th:
                crossings.append("dvars")
        return dv, dv_pct

    def _add_step(self, name: str, step: ChainStep, baseline: bool) -> None:
        """Fold one chain step of ROI `name` into its running raw, CNR and filter-error figures."""
        if math.isfinite(step.raw):
            self._raw[name].add(step.raw)
        if math.isfinite(step.glm):
            (self._base if baseline else self._task)[name].add(step.glm)
        if math.isfinite(step.kalman) and math.isfinite(step.ar1):
            k = self._mse_n[name] + 1
            self._mse[name] += ((step.kalman - step.ar1) ** 2 - self._mse[name]) / k
            self._mse_n[name] = k

    def _roi_crossings(self, name: str, spike: int, tsnr: float | None) -> list[str]:
        """The spike and tSNR crossings of ROI `name` at this volume (the spike counted, the tSNR fall tracked)."""
        crossings: list[str] = []
        if spike:
            self._spikes[name]["positive" if spike > 0 else "negative"] += 1
            crossings.append(f"spike:{name}")
        tsnr_min = self._thresholds.tsnr_min
        if tsnr_min is not None and tsnr is not None and self._raw[name].n >= self._warmup:
            low = tsnr < tsnr_min
            if low and not self._tsnr_low[name]:
                crossings.append(f"tsnr:{name}")
            self._tsnr_low[name] = low
        return crossings

    def _cnr(self, name: str) -> float | None:
        task, base = self._task[name], self._base[name]
        if task.n < 2 or base.n < 2:
            return None
        denominator = math.sqrt(float(task.variance) + float(base.variance))
        if denominator == 0:
            return None
        return (float(task.mean) - float(base.mean)) / denominator

    def tsnr_map(self) -> np.ndarray | None:
        """Voxelwise temporal SNR (mean / SD) so far, the volumes' shape, NaN outside the mask.

        None before two volumes or when not ``voxelwise``.
        """
        moments = self._voxel_moments
        if moments is None or moments.n < 2 or self._mask is None or self._shape is None:
            return None
        out = np.full(self._shape, math.nan)
        out[self._mask] = moments.snr
        return out

    def mean_map(self) -> np.ndarray | None:
        """Voxelwise mean so far, the volumes' shape, NaN outside the mask; None before a volume."""
        moments = self._voxel_moments
        if moments is None or moments.n < 1 or self._mask is None or self._shape is None:
            return None
        out = np.full(self._shape, math.nan)
        out[self._mask] = moments.mean
        return out

    def summary(self) -> dict[str, Any]:
        """Run-level figures: counts of crossings and spikes, means and maxima, final per-ROI values."""

        def mean_of(m: RunningMoments) -> float | None:
            return float(m.mean) if m.n else None

        return {
            "volumes": self._n,
            "crossings": dict(self._counts),
            "thresholds": asdict(self._thresholds),
            "fd_mean_mm": mean_of(self._fd),
            "fd_max_mm": self._max["fd"],
            "md_mean_mm": mean_of(self._md),
            "md_max_mm": self._max["md"],
            "dvars_mean_percent": mean_of(self._dv),
            "dvars_max_percent": self._max["dvars_percent"] if self._dv.n else None,
            "tsnr": {n: _finite_or_none(float(self._raw[n].snr)) for n in self._names},
            "cnr": {n: self._cnr(n) for n in self._names},
            "spikes": {n: dict(counts) for n, counts in self._spikes.items()},
            "mse": {n: (self._mse[n] if self._mse_n[n] else None) for n in self._names},
        }
