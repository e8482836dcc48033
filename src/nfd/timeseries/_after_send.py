"""The after-send stage of a volume: quality figures and the whole-brain GLM, once the feedback is out.

Owns the analysis state a run keeps beside the feedback: the real-time
quality monitor (:class:`~nfd.timeseries.QualityMonitor`) and the incremental
whole-brain GLM (Bagarinao et al. 2003, :class:`~nfd.timeseries.IncrementalGLM`)
inside the monitor's brain mask, and the end-of-run maps they give. Built from
plain arguments (the daemon translates its configuration); blocking, a few ms
per volume at 100×100×35: call :meth:`AfterSend.update` from a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nfd.design import Design, SampledHrf
from nfd.timeseries._iglm import IncrementalGLM, WholeBrainDesign
from nfd.timeseries._quality import QualityMonitor
from nfd.timeseries._roi import RoiSet

__all__ = ["AfterSend", "WholeBrainGLM"]


class WholeBrainGLM:
    """The incremental whole-brain GLM of a run inside a brain mask, with one contrast's t.

    Parameters
    ----------
    design : Design
        The run design; its task regressors (convolved with SPM's HRF, or `hrf`) are the model.
    tr : float
        Repetition time (s).
    skip_volumes : int
        Initial volumes left out.
    high_pass_s : float or None
        DCT high-pass cut-off (s); None for none.
    motion : bool
        Add the six motion parameters as regressors.
    contrast : mapping of str to float, optional
        Condition -> weight; None: every task condition against baseline.
    hrf : SampledHrf or None
        The response whose kernel replaces SPM's canonical HRF in the task
        regressors (:meth:`nfd.design.Design.task_regressors`); None for SPM's.

    Raises
    ------
    TimeseriesError, DesignError
        The design, the options or the contrast do not fit together.
    """

    def __init__(
        self, design: Design, *, tr: float, skip_volumes: int, high_pass_s: float | None, motion: bool,
        contrast: Mapping[str, float] | None = None, hrf: SampledHrf | None = None,
    ) -> None:
        self.design = WholeBrainDesign(
            design.task_regressors(tr, hrf=hrf), tr=tr, skip_volumes=skip_volumes, high_pass_s=high_pass_s,
            motion=motion,
        )
        self.contrast = self.design.contrast(design.contrast_vector(dict(contrast) if contrast else None))
        self.mask: np.ndarray | None = None
        self.glm: IncrementalGLM | None = None

    def update(self, index: int, volume: np.ndarray, params: np.ndarray, mask: np.ndarray) -> None:
        """Add volume ``index`` (on the EPI grid) with its motion parameters (mm, radians); the first fixes the mask."""
        if self.glm is None:
            self.mask = np.asarray(mask, dtype=bool)
            self.glm = IncrementalGLM(int(self.mask.sum()), self.contrast)
        assert self.mask is not None
        self.glm.update(volume[self.mask], self.design.row(index, params))

    def t_map(self) -> np.ndarray | None:
        """The contrast's t on the EPI grid (NaN outside the mask or while not estimable), or None."""
        if self.glm is None or self.mask is None:
            return None
        out = np.full(self.mask.shape, np.nan, dtype=np.float32)
        out[self.mask] = self.glm.t_map()
        return out


class AfterSend:
    """Quality figures and the whole-brain GLM of each volume, and the maps at the end of the run.

    Parameters
    ----------
    quality : QualityMonitor
        The run's quality monitor.
    iglm : WholeBrainGLM, optional
        The whole-brain GLM, when enabled.
    """

    def __init__(self, quality: QualityMonitor, iglm: WholeBrainGLM | None = None) -> None:
        self.quality = quality
        self.iglm = iglm

    def update(self, index: int, params: np.ndarray, smoothed: np.ndarray, steps: Mapping[str, Any]) -> dict[str, Any]:
        """Volume ``index``'s quality figures (see :meth:`QualityMonitor.update`); the GLM takes the volume too."""
        quality = self.quality.update(index, params, smoothed, dict(steps))
        if self.iglm is not None and self.quality.mask is not None:
            self.iglm.update(index, smoothed, params, self.quality.mask)
        return quality

    def maps(self) -> dict[str, np.ndarray]:
        """End-of-run maps on the EPI grid: ``tmap`` (the GLM contrast's t) and ``tsnr``, where available."""
        out: dict[str, np.ndarray] = {}
        if self.iglm is not None and (t := self.iglm.t_map()) is not None:
            out["tmap"] = t
        if (tsnr := self.quality.tsnr_map()) is not None:
            out["tsnr"] = np.asarray(tsnr, dtype=np.float32)
        return out

    @staticmethod
    def map_peaks(maps: Mapping[str, np.ndarray], rois: RoiSet | None) -> dict[str, dict[str, float | None]]:
        """The peak of each map inside each ROI (None where the ROI has no finite value)."""
        if rois is None:
            return {}
        peaks: dict[str, dict[str, float | None]] = {}
        for name, m in maps.items():
            peaks[name] = {}
            for roi in rois.names:
                values = rois.voxels(m, roi)
                finite = values[np.isfinite(values)]
                peaks[name][roi] = float(finite.max()) if finite.size else None
        return peaks

    def summary(self) -> dict[str, Any]:
        """The quality summary of the run so far."""
        return self.quality.summary()
