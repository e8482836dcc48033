"""One volume's way from a complete scan file to feedback sent and a record on disk.

Owns the per-run state that links the stages: the volume worker, the ROI
masks, one PSC state per ROI, the previous motion estimate, the sinks and the
run folder. Each stage is a call into its subpackage; this module only times
them, passes their results on and writes the record. Called by
:mod:`nfd.daemon.app`, one volume at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import structlog

from nfd.acquire import Scan
from nfd.config import Config, ConfigError
from nfd.daemon._volume_step import VolumeStep
from nfd.daemon.build import build_after_send, build_chains, load_rois
from nfd.daemon.worker import VolumeOutput, WorkerCrashed
from nfd.design import Design
from nfd.eeg import EegError, EegSession, Prediction, prediction_values
from nfd.feedback import FeedbackComputer, FeedbackError, scale_feedback
from nfd.outputs import FeedbackMessage, RunFolder, Sink, VolumeRecord, VolumeStatus
from nfd.outputs.web import LiveState
from nfd.timeseries import RoiSet
from nfd.volume import VolumeError, conform_to_grid

log = structlog.get_logger(__name__)

VolumeCallback = Callable[[VolumeRecord], None]


class Pipeline:
    """Process scans one by one, in index order.

    Parameters
    ----------
    cfg : Config
        The run's configuration.
    design : Design
        The block protocol over all ``cfg.run.n_volumes`` volumes.
    worker : VolumeStep
        A started volume step: the worker process (:class:`~nfd.daemon.VolumeWorker`, the daemon)
        or this process (:class:`~nfd.daemon.InProcessVolumeStep`, replays, tests, offline tools).
    sinks : sequence of Sink
        Opened output sinks; each gets every feedback message.
    run : RunFolder
        Where each processed volume's record is appended.
    feedback : FeedbackComputer
        The run's feedback computer (:func:`nfd.daemon.build.build_feedback`).
    on_volume : callable, optional
        Called with each record after it is on disk (the demo prints them).
    live : LiveState, optional
        The operator's window: told of each processed volume and each gap.
    eeg : EegSession, optional
        The EEG side: a prediction of the modelled fMRI signal at every volume
        (before the feedback when it is the feedback's source, else after the send).
    """

    def __init__(
        self,
        cfg: Config,
        *,
        design: Design,
        worker: VolumeStep,
        sinks: Sequence[Sink],
        run: RunFolder,
        feedback: FeedbackComputer,
        on_volume: VolumeCallback | None = None,
        live: LiveState | None = None,
        eeg: EegSession | None = None,
    ) -> None:
        self.cfg = cfg
        self.design = design
        self.worker = worker
        self.sinks = list(sinks)
        self.run = run
        self.on_volume = on_volume
        self.live = live
        self.eeg = eeg
        fb = cfg.feedback
        self._eeg_feeds_back = eeg is not None and fb.type == "external" and fb.external.source == "eeg"
        self.rois: RoiSet | None = None
        #: The EPI grid (shape, affine) every scan is conformed to: the reference's.
        self.grid: tuple[tuple[int, ...], np.ndarray] | None = None
        self.chains = build_chains(cfg, design)
        self.after_send = build_after_send(cfg, design)
        self.feedback = feedback
        self.raw: list[np.ndarray] = []
        self.raw_affine: np.ndarray | None = None
        self.latencies_ms: list[float] = []
        self.latencies_from_complete = 0  # volumes whose last byte was unknown (latency from t_complete)
        self.processed = 0
        self.skipped = 0
        self.refused = 0  # not on the reference grid, or refused by the engine
        self.failed = 0  # processing raised (a bug, the worker dying twice)
        self.missing: list[int] = []
        self.last_index = -1
        #: Indices up to this one are already recorded (a resumed run): processed again to rebuild the state only.
        self.restore_until = -1
        #: A volume whose file was written longer ago than this (s) is stale: processed, recorded, never sent.
        self.stale_after: float | None = cfg.feedback.stale_after or default_stale_after(cfg.run.tr)
        self.stale = 0
        #: Multi-echo: the run's echo times (ms, from its first volume), and a template reference set before them.
        self.echo_times_ms: list[float] | None = None
        self._pending_reference: tuple[np.ndarray, np.ndarray] | None = None

    def resume(self, records: Sequence[VolumeRecord]) -> None:
        """Continue a run whose ``records`` are on disk: count them, and rebuild the state from their volumes.

        The scans of those indices, handled again (from the files still in
        the watch folder), go through the road to rebuild the realignment, the
        signal chains, the feedback and the quality figures, without being
        sent or recorded again.
        """
        for record in records:
            if record.status is VolumeStatus.PROCESSED:
                self.processed += 1
                if record.latency_ms is not None:
                    self.latencies_ms.append(record.latency_ms)
                self.stale += bool(record.stale)
            elif record.status is VolumeStatus.MISSING:
                self.missing.append(record.index)
            elif record.status is VolumeStatus.REFUSED:
                self.refused += 1
            else:
                self.failed += 1
        self.restore_until = max((r.index for r in records), default=-1)

    async def set_reference(
        self, data: np.ndarray, affine: np.ndarray, echo_times_ms: Sequence[float] | None = None
    ) -> None:
        """Build the engine on the reference and load the ROI masks on its grid.

        A multi-echo run (``[multiecho] echoes`` > 1) needs the echo times:
        without them (a template reference, set before the first scan) the
        engine is built on the first scan, with its echoes' times.

        Raises
        ------
        ConfigError
            A mask is not on the reference (EPI) grid.
        """
        shape = tuple(int(n) for n in data.shape)
        if len(shape) != 3:
            raise VolumeError(f"expected a 3-D reference volume, got shape {shape}")
        self.rois = load_rois(self.cfg, (shape[0], shape[1], shape[2]), affine)
        if self.feedback.projects_voxels:  # a weight map: on the same grid as the masks
            try:
                self.feedback.bind_rois(self.rois)
            except FeedbackError as exc:
                raise ConfigError(str(exc), key="feedback.decoder.weights") from None
        if self.cfg.multiecho.echoes > 1 and echo_times_ms is None:
            self._pending_reference = (data, affine)
        else:
            await self.worker.set_reference(data, affine, echo_times_ms)
            self._pending_reference = None
        self.grid = (tuple(data.shape), np.asarray(affine, dtype=np.float64))

    async def handle(self, scan: Scan) -> VolumeRecord | None:
        """Process one scan: returns its record, or None when it was skipped or refused.

        The road, one private step each: record the gap before it, admit it
        (skipped and beyond-the-run volumes stop here), the volume step, ROI
        means through the signal chains, the feedback computed and sent, then
        (after the send) quality and the whole-brain GLM, and the record on disk.
        """
        marks = {"start": time.time()}
        index = scan.index
        if index <= self.restore_until:
            await self._restore(scan)
            return None
        await self._record_gap(index)
        self.last_index = max(self.last_index, index)
        if not self._admit(scan):
            return None
        out = await self._volume(scan)
        if out is None:
            return None
        marks["volume"] = time.time()
        assert self.rois is not None
        means = self.rois.means(out.smoothed)
        steps = {name: self.chains[name].update(index, value, out.params)
                 for name, value in self._chain_inputs(out, means).items()}
        marks["roi"] = time.time()
        eeg_prediction = await self._eeg_for_feedback(index, scan.t_complete)
        stale = self._is_stale(scan)
        measure, value = self._feed_back(index, steps, out, _latency_origin(scan), marks, send=not stale)
        if stale:
            value = None
        quality = await asyncio.to_thread(self.after_send.update, index, out.params, out.smoothed, steps)
        if self.eeg is not None and not self._eeg_feeds_back:
            eeg_prediction = await self._predict_eeg(index, scan.t_complete)
        marks["after_send"] = time.time()
        self._warn_crossings(index, quality)
        record = self._record(scan, out, means, steps, quality, eeg_prediction, measure, value, marks)
        if stale:
            record = dataclasses.replace(record, stale=True, t_sent=None, latency_ms=None)
        await self._append(record)
        self._account(scan, record, out, (marks["sent"] - _latency_origin(scan)) * 1e3)
        return record

    async def _restore(self, scan: Scan) -> None:
        """An index already recorded (a resumed run): through the road for its state only, nothing sent or written."""
        self.last_index = max(self.last_index, scan.index)
        if not self._admit(scan):
            return
        try:
            out = await self.worker.process(await self._input(scan))
        except (VolumeError, WorkerCrashed) as exc:  # recorded as refused or failed the first time
            log.debug("volume_not_restored", index=scan.index, reason=str(exc))
            return
        assert self.rois is not None
        means = self.rois.means(out.smoothed)
        steps = {name: self.chains[name].update(scan.index, value, out.params)
                 for name, value in self._chain_inputs(out, means).items()}
        voxels = ({name: self.rois.voxels(out.smoothed, name) for name in self.rois.names}
                  if self.feedback.needs_voxels else None)
        self.feedback.update(scan.index, steps, voxels)
        await asyncio.to_thread(self.after_send.update, scan.index, out.params, out.smoothed, steps)
        log.debug("volume_restored", index=scan.index, file=scan.path.name)

    def _chain_inputs(self, out: VolumeOutput, means: Any) -> dict[str, float]:
        """Each ROI's value entering its signal chain: its mean, or with a weight map its voxels' projection."""
        assert self.rois is not None
        if self.feedback.projects_voxels:
            return self.feedback.raw_values({name: self.rois.voxels(out.smoothed, name) for name in self.rois.names})
        return {name: float(m) for name, m in zip(self.rois.names, means, strict=True)}

    def _is_stale(self, scan: Scan) -> bool:
        """Whether the scan's file was written longer ago than :attr:`stale_after` (then it is not sent)."""
        written = scan.t_written
        if written is None or self.stale_after is None:
            return False
        age = time.time() - written
        if age <= self.stale_after:
            return False
        self.stale += 1
        log.info("volume_stale", index=scan.index, file=scan.path.name, age_s=round(age, 3),
                    stale_after_s=self.stale_after, reason="processed and recorded, not sent")
        return True

    def _admit(self, scan: Scan) -> bool:
        """False (logged, counted as skipped) for an initial volume or one beyond the run."""
        index = scan.index
        if index < self.cfg.run.skip_volumes:
            self.skipped += 1
            log.info("volume_skipped", index=index, file=scan.path.name, reason="initial volume (run.skip_volumes)")
            return False
        if index >= self.cfg.run.n_volumes:
            self.skipped += 1
            log.warning(
                "volume_beyond_run", index=index, file=scan.path.name,
                reason=f"run.n_volumes is {self.cfg.run.n_volumes}",
            )
            return False
        return True

    async def _volume(self, scan: Scan) -> VolumeOutput | None:
        """The volume step on the scan conformed to the EPI grid; None (recorded as refused) when unusable."""
        try:
            return await self.worker.process(await self._input(scan))
        except WorkerCrashed as exc:  # the worker died twice on it: this volume failed, the run goes on
            log.error("volume_failed", index=scan.index, file=scan.path.name, reason=str(exc))
            await self.record_failure(scan, exc)
            if self.live is not None:
                self.live.warning("volume_failed", f"{scan.path.name}: {exc}", index=scan.index)
            return None
        except VolumeError as exc:  # wrong grid, unusable volume
            self.refused += 1
            log.warning("volume_rejected", index=scan.index, file=scan.path.name, reason=str(exc))
            await self._append(VolumeRecord(index=scan.index, status=VolumeStatus.REFUSED, file=scan.path.name,
                                            condition=self.design.condition(scan.index), reason=str(exc)))
            if self.live is not None:
                self.live.warning("volume_refused", f"{scan.path.name}: {exc}", index=scan.index)
            return None

    async def _input(self, scan: Scan) -> np.ndarray:
        """The scan on the EPI grid (multi-echo: its echoes stacked), the engine built on the first one.

        Raises
        ------
        VolumeError
            Off the grid, or not the configured echoes (count, echo times).
        """
        images = scan.echo_images
        me = self.cfg.multiecho
        tes = self._echo_times(scan) if me.echoes > 1 else None
        if self.grid is None:
            first = images[me.realign_echo - 1] if me.echoes > 1 else scan.image
            await self.set_reference(first.data, first.affine, tes)
        elif tes is not None and self._pending_reference is not None:
            await self.worker.set_reference(*self._pending_reference, tes)
            self._pending_reference = None
        assert self.grid is not None
        if tes is None:
            return conform_to_grid(scan.image.data, scan.image.affine, *self.grid, name=scan.path.name)
        if self.echo_times_ms is None:
            self.echo_times_ms = tes
        elif not np.allclose(tes, self.echo_times_ms, rtol=0, atol=0.01):
            raise VolumeError(f"echo times {tes} ms differ from the run's {self.echo_times_ms} ms")
        return np.stack([conform_to_grid(im.data, im.affine, *self.grid, name=scan.path.name) for im in images])

    def _echo_times(self, scan: Scan) -> list[float]:
        """The echo times of a multi-echo scan, ms: from its files, else ``[multiecho] echo_times_ms``."""
        me = self.cfg.multiecho
        images = scan.echo_images
        if len(images) != me.echoes:
            raise VolumeError(f"expected {me.echoes} echoes per volume ([multiecho] echoes), got {len(images)}")
        tes = [im.echo_time_ms for im in images]
        if all(t is not None for t in tes):
            return [float(t) for t in tes if t is not None]
        if me.echo_times_ms:
            return [float(t) for t in me.echo_times_ms]
        raise VolumeError("expected the echo times in the files (DICOM EchoTime, a BIDS sidecar's EchoTime) "
                          "or in [multiecho] echo_times_ms; found none")

    async def echo_maps(self) -> dict[str, np.ndarray]:
        """A multi-echo run's maps on the EPI grid: ``t2star`` (ms), ``s0``, ``tsnr_echo-<n>``; empty otherwise."""
        return await self.worker.echo_maps() if self.cfg.multiecho.echoes > 1 else {}

    def multiecho_summary(self, maps: dict[str, np.ndarray]) -> dict[str, Any] | None:
        """A multi-echo run's echoes, combination and, per ROI, the median T2* (ms) and each echo's median tSNR.

        ``maps``: the run's end maps (:meth:`echo_maps`); None for a single-echo run.
        """
        me = self.cfg.multiecho
        if me.echoes == 1 or "t2star" not in maps or self.rois is None:
            return None

        def median(values: np.ndarray) -> float | None:
            kept = values[np.isfinite(values) & (values > 0)]
            return round(float(np.median(kept)), 2) if kept.size else None

        rois = self.rois
        return {
            "echoes": me.echoes, "echo_times_ms": self.echo_times_ms, "combine": me.combine,
            "realign_echo": me.realign_echo,
            "t2star_ms_median": {name: median(rois.voxels(maps["t2star"], name)) for name in rois.names},
            "tsnr_median_by_echo": {
                name: [median(rois.voxels(maps[f"tsnr_echo-{e}"], name)) for e in range(1, me.echoes + 1)]
                for name in rois.names
            },
        }

    async def _eeg_for_feedback(self, index: int, t_complete: float) -> Prediction | None:
        """When the EEG is the feedback's source: its prediction, pushed to the feedback before it is computed."""
        if not self._eeg_feeds_back:
            return None
        prediction = await self._predict_eeg(index, t_complete)
        if prediction is not None:
            assert self.eeg is not None
            self.feedback.push(prediction_values(prediction, tuple(self.eeg.model.target_names)), index=index)
        return prediction

    def _feed_back(
        self, index: int, steps: dict[str, Any], out: VolumeOutput, t_origin: float, marks: dict[str, float],
        send: bool = True,
    ) -> tuple[float | None, float | None]:
        """The feedback measure and the scaled value, sent to every sink when there is one and ``send``.

        The message's ``latency_ms`` is from ``t_origin`` (the scanner's last byte, see :func:`_latency_origin`).
        """
        assert self.rois is not None
        voxels = ({name: self.rois.voxels(out.smoothed, name) for name in self.rois.names}
                  if self.feedback.needs_voxels else None)
        measure = self.feedback.update(index, steps, voxels)
        fb = self.cfg.feedback
        # OpenNFT shows 0 during baseline even when its display range starts above 0 (1.0: [1, 100])
        at_baseline = 0.0 if fb.reference == "opennft" and self.design.is_baseline(index) else None
        value = None if measure is None else scale_feedback(
            measure, gain=fb.gain, lo=fb.min, hi=fb.max, decimals=None if fb.decimals < 0 else fb.decimals,
            baseline_value=at_baseline)
        marks["feedback"] = marks["sent"] = time.time()
        if value is not None and send:  # intermittent feedback: only at the end of a block
            msg = FeedbackMessage(
                index=index, condition=self.design.condition(index), feedback=value, time=marks["sent"],
                latency_ms=(marks["sent"] - t_origin) * 1e3, is_baseline=self.design.is_baseline(index),
            )
            for sink in self.sinks:
                sink.send(msg)
        marks["done"] = time.time()
        return measure, value

    def _warn_crossings(self, index: int, quality: dict[str, Any]) -> None:
        for crossing in quality.get("crossings", []):
            log.warning("quality_threshold_crossed", index=index, threshold=crossing,
                        fd=quality.get("fd"), dvars_percent=quality.get("dvars_percent"))
            if self.live is not None:
                self.live.warning("quality_threshold_crossed", f"volume {index}: {crossing}", index=index,
                                  threshold=crossing)

    def _record(
        self, scan: Scan, out: VolumeOutput, means: Any, steps: dict[str, Any], quality: dict[str, Any],
        eeg_prediction: Prediction | None, measure: float | None, value: float | None, marks: dict[str, float],
    ) -> VolumeRecord:
        """The processed volume's record."""
        assert self.rois is not None
        detail = self.feedback.detail
        sent = value is not None
        return VolumeRecord(
            index=scan.index, status=VolumeStatus.PROCESSED, file=scan.path.name,
            condition=self.design.condition(scan.index), t_written=scan.t_written, t_complete=scan.t_complete,
            t_sent=marks["sent"] if sent else None,
            latency_ms=(marks["sent"] - _latency_origin(scan)) * 1e3 if sent else None,
            durations_ms={
                **_before_the_pipeline(scan),
                "queue": (marks["start"] - scan.t_complete) * 1e3,
                "volume": (marks["volume"] - marks["start"]) * 1e3,
                "volume_worker": out.worker_ms,
                "roi": (marks["roi"] - marks["volume"]) * 1e3,
                "feedback": (marks["feedback"] - marks["roi"]) * 1e3,
                "send": (marks["done"] - marks["feedback"]) * 1e3,
                "after_send": (marks["after_send"] - marks["done"]) * 1e3,
            },
            motion=[float(p) for p in out.params], iterations=out.iterations, converged=out.converged,
            fd=quality.get("fd"), dvars=quality.get("dvars"),
            roi={name: float(m) for name, m in zip(self.rois.names, means, strict=True)},
            chain={name: step.as_record() for name, step in steps.items()},
            quality={k: v for k, v in quality.items() if k not in ("index", "fd", "dvars")},
            eeg_prediction=None if eeg_prediction is None else eeg_prediction.value,
            feedback_measure=measure, feedback_detail=detail, feedback=value,
            psc=detail.get("roi"),  # per-ROI percent signal change of the activity kinds
        )

    def _account(self, scan: Scan, record: VolumeRecord, out: VolumeOutput, latency_ms: float) -> None:
        """Keep the raw volume if asked, count, log, and tell the operator's window and the callback."""
        if self.cfg.run.save_raw:
            self.raw.append(np.array(scan.image.data, dtype=np.float32))
            self.raw_affine = scan.image.affine
        self.processed += 1
        if record.latency_ms is not None:
            self.latencies_ms.append(record.latency_ms)
            self.latencies_from_complete += scan.t_written is None
        log.info(
            "volume_processed", index=record.index, condition=record.condition,
            feedback=None if record.feedback is None else round(record.feedback, 4),
            latency_ms=round(latency_ms, 2),
            fd=round(record.fd or 0.0, 4), iterations=out.iterations,
            volume_ms=round(record.durations_ms["volume"], 2),
        )
        if not out.converged:
            log.warning("realignment_not_converged", index=record.index, iterations=out.iterations)
        if self.live is not None:
            self.live.volume(record)
        if self.on_volume is not None:
            self.on_volume(record)

    async def _predict_eeg(self, index: int, t_complete: float) -> Prediction | None:
        """The EEG prediction for volume ``index``, its window ending when the volume's acquisition began.

        nfd eeg fit ends its training windows at each volume's trigger; the
        volume's file is complete about one TR after that.
        """
        assert self.eeg is not None
        try:
            p = await self.eeg.predict_volume(index, t=t_complete - self.cfg.run.tr)
        except EegError as exc:
            log.warning("eeg_prediction_failed", index=index, reason=str(exc))
            return None
        if p is not None and self.live is not None:
            self.live.eeg_prediction({**p.as_dict(), "time": p.t})
        return p

    def maps(self) -> dict[str, np.ndarray]:
        """End-of-run maps on the EPI grid: ``tmap`` (iGLM contrast t) and ``tsnr``, where available."""
        return self.after_send.maps()

    def map_peaks(self, maps: dict[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
        """Peak of each map inside each ROI, for the run summary."""
        return self.after_send.map_peaks(maps, self.rois)

    async def record_failure(self, scan: Scan, exc: BaseException) -> None:
        """Record a volume whose processing raised an unexpected error (the run goes on)."""
        self.failed += 1
        self.last_index = max(self.last_index, scan.index)
        if self.cfg.run.skip_volumes <= scan.index < self.cfg.run.n_volumes:
            await self._append(VolumeRecord(
                index=scan.index, status=VolumeStatus.FAILED, file=scan.path.name,
                condition=self.design.condition(scan.index), reason=f"{type(exc).__name__}: {exc}",
            ))

    async def _append(self, record: VolumeRecord) -> None:
        """Append a record to volumes.jsonl and have it on disk before going on."""
        self.run.append_volume(record)
        await self.run.sync()

    async def _record_gap(self, index: int) -> None:
        """Record the indices between the last volume seen and ``index`` as missing."""
        first = max(self.last_index + 1, self.cfg.run.skip_volumes)
        for missing in range(first, min(index, self.cfg.run.n_volumes)):
            self.missing.append(missing)
            await self._append(VolumeRecord(index=missing, status=VolumeStatus.MISSING,
                                            condition=self.design.condition(missing)))
            if self.live is not None:
                self.live.warning("volume_missing", f"volume {missing} never arrived complete", index=missing)

    def summary(self) -> dict[str, Any]:
        """Counts and latency figures for the run so far."""
        lat = np.asarray(self.latencies_ms, dtype=float)
        return {
            "volumes_processed": self.processed,
            "volumes_skipped": self.skipped,
            "volumes_refused": self.refused,
            "volumes_failed": self.failed,
            "volumes_stale": self.stale,
            "volumes_missing": len(self.missing),
            "missing_indices": list(self.missing),
            "latency_ms_median": float(np.median(lat)) if lat.size else None,
            "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
            "latency_ms_max": float(lat.max()) if lat.size else None,
            # what the latencies start from: the scanner's last byte, unless some volume's was unknown (a replay)
            "latency_from": "t_complete" if self.latencies_from_complete else "t_written",
            "worker_restarts": self.worker.restarts,
            "quality": self.after_send.summary(),
            "feedback": self.feedback.summary(),
            "hrf": self._hrf_used(),
        }

    def _hrf_used(self) -> dict[str, Any] | None:
        """The ``[signal] hrf`` the task regressors used (file, column, SHA-256 of its bytes), None for SPM's."""
        hrf = next((c.options.hrf for c in self.chains.values() if c.options.hrf is not None), None)
        if hrf is None:
            return None
        return {"path": hrf.path, "column": hrf.column, "sha256": hrf.sha256, "time_to_peak_s": hrf.time_to_peak_s}


def _latency_origin(scan: Scan) -> float:
    """Where a volume's latency starts (s since the epoch): the scanner's last byte, else the file complete."""
    return scan.t_complete if scan.t_written is None else scan.t_written


def _before_the_pipeline(scan: Scan) -> dict[str, float]:
    """``wait_complete`` (last byte -> the read that found the file complete) and ``read`` (ms), when known."""
    stages: dict[str, float] = {}
    if scan.t_read is not None:
        if scan.t_written is not None:
            stages["wait_complete"] = (scan.t_read - scan.t_written) * 1e3
        stages["read"] = (scan.t_complete - scan.t_read) * 1e3
    return stages


#: The default staleness bound, in TRs, and its floor (s).
STALE_AFTER_TRS, STALE_AFTER_FLOOR_S = 2.0, 1.0


def default_stale_after(tr: float) -> float:
    """``feedback.stale_after = 0``: two TRs, at least 1 s (s).

    Long enough for the run's first volume, which also sets the realignment
    reference and reads the series' first file in full (0.35-0.65 s for a
    35-slice Philips volume on a 2-core machine, more than one TR of 0.5 s),
    short enough that the backlog a restart finds is never sent.

    >>> default_stale_after(2.0), default_stale_after(0.4)
    (4.0, 1.0)
    """
    return max(STALE_AFTER_TRS * tr, STALE_AFTER_FLOOR_S)
