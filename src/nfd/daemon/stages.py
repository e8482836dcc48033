"""The run's analysis stages, built from the configuration.

Owns the translation from the TOML sections (``[signal]``, ``[quality]``,
``[iglm]``, ``[feedback]`` and its sub-tables) to the objects of
:mod:`nfd.timeseries` and :mod:`nfd.feedback`, and the whole-brain GLM's
per-volume step. Every error of a stage's options is a
:class:`~nfd.config.ConfigError` naming the TOML section.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nfd.config import Config, ConfigError
from nfd.design import Design, DesignError
from nfd.feedback import FeedbackComputer, FeedbackError, make_feedback
from nfd.timeseries import (
    ChainOptions,
    IncrementalGLM,
    QualityMonitor,
    QualityThresholds,
    SignalChain,
    TimeseriesError,
    WholeBrainDesign,
)


def build_chains(cfg: Config, design: Design) -> dict[str, SignalChain]:
    """One signal chain per ROI, with the ``[signal]`` options."""
    s = cfg.signal
    try:
        options = ChainOptions.from_table({
            "high_pass_s": s.high_pass_s, "stage_volumes": s.stage_volumes,
            "motion_regressors": s.motion_regressors, "ar1": s.ar1, "kalman_q": s.kalman_q,
            "kalman_r": s.kalman_r, "kalman_threshold": s.kalman_threshold,
            "scaling_warmup": s.scaling_warmup, "scaling_fraction": s.scaling_fraction,
            "scaling_floor": s.scaling_floor, "scaling_window": s.scaling_window,
        })
        return {name: SignalChain(design, cfg.run.tr, options) for name in cfg.roi}
    except TimeseriesError as exc:
        raise ConfigError(str(exc), key="signal") from None


def feedback_options(cfg: Config) -> dict[str, Any]:
    """The keyword options of :func:`nfd.feedback.make_feedback` for ``feedback.type``."""
    fb = cfg.feedback
    common: dict[str, Any] = {"signal": fb.signal} if fb.signal else {}
    pairs = [list(p) for p in fb.correlation.pairs] or None
    kind = fb.type
    if kind == "psc":
        return {**common, "delay": fb.delay, "combine": fb.combine}
    if kind == "psc_intermittent":
        sh = fb.shaping
        shaping: Any = (
            {"first_threshold": sh.first_threshold, "margin": sh.margin, "history": sh.history}
            if sh.enabled else False
        )
        return {**common, "delay": fb.delay, "combine": fb.combine, "shaping": shaping}
    if kind == "correlation":
        return {**common, "window": fb.correlation.window, "pairs": pairs, "combine": fb.combine}
    if kind == "correlation_intermittent":
        return {**common, "delay": fb.delay, "pairs": pairs, "combine": fb.combine}
    if kind == "proxy":
        p = fb.proxy
        return {**common, "targets": list(p.targets), "control": p.control, "min_agree": p.min_agree or None,
                "consecutive": p.consecutive, "min_change_sd": p.min_change_sd}
    if kind == "decoder":
        d = fb.decoder
        return {**common, "model_path": d.model, "sha256": d.sha256, "input": d.input, "output": d.output,
                "positive_class": d.positive_class or None}
    return {"max_age_s": fb.external.max_age_s or None}  # external


def build_feedback(cfg: Config, design: Design) -> FeedbackComputer:
    """The feedback computer of ``feedback.type`` (a decoder loads its model: call it from a thread)."""
    try:
        return make_feedback(cfg.feedback.type, design, list(cfg.roi), **feedback_options(cfg))
    except (FeedbackError, DesignError) as exc:
        raise ConfigError(str(exc), key=f"feedback.{cfg.feedback.type}"
                          if cfg.feedback.type in ("proxy", "decoder", "correlation", "external")
                          else "feedback") from None


def build_quality(cfg: Config, design: Design) -> QualityMonitor:
    """The real-time quality monitor with the ``[quality]`` thresholds (0 turns one off)."""
    q = cfg.quality
    try:
        thresholds = QualityThresholds(
            fd_mm=q.fd_mm or None, md_mm=q.md_mm or None, dvars_percent=q.dvars_percent or None,
            tsnr_min=q.tsnr_min or None,
        )
        return QualityMonitor(design, list(cfg.roi), thresholds=thresholds, voxelwise=q.voxelwise,
                              tsnr_warmup=q.tsnr_warmup)
    except TimeseriesError as exc:
        raise ConfigError(str(exc), key="quality") from None


class WholeBrainGLM:
    """The incremental whole-brain GLM of a run (Bagarinao et al. 2003), inside a brain mask.

    Built lazily at the first volume, once the quality monitor has its mask.
    :meth:`update` is blocking (a few ms at 100×100×35): call it from a thread,
    after the feedback is sent.
    """

    def __init__(self, cfg: Config, design: Design) -> None:
        g = cfg.iglm
        try:
            self.design = WholeBrainDesign(
                design.task_regressors(cfg.run.tr), tr=cfg.run.tr, skip_volumes=cfg.run.skip_volumes,
                high_pass_s=g.high_pass_s or None, motion=g.motion,
            )
            self.contrast = self.design.contrast(design.contrast_vector(dict(g.contrast) or None))
        except (TimeseriesError, DesignError) as exc:
            raise ConfigError(str(exc), key="iglm") from None
        self.mask: np.ndarray | None = None
        self.glm: IncrementalGLM | None = None

    def update(self, index: int, volume: np.ndarray, params: np.ndarray, mask: np.ndarray) -> None:
        """Add volume ``index`` (on the EPI grid) with its motion parameters (mm, radians)."""
        if self.glm is None:
            self.mask = np.asarray(mask, dtype=bool)
            self.glm = IncrementalGLM(int(self.mask.sum()), self.contrast)
        self.glm.update(volume[self.mask], self.design.row(index, params))

    def t_map(self) -> np.ndarray | None:
        """The contrast's t on the EPI grid (NaN outside the mask or while not estimable), or None."""
        if self.glm is None or self.mask is None:
            return None
        out = np.full(self.mask.shape, np.nan, dtype=np.float32)
        out[self.mask] = self.glm.t_map()
        return out
