"""The daemon: one asyncio loop from a scan source to feedback and a run folder.

Owns the daemon's and each run's lifetime (:class:`Daemon`): builds every part
from the configuration (protocol, ROI masks, sinks, volume worker, run folder,
operator's window), feeds the scans a source yields to the
:class:`~nfd.daemon.pipeline.Pipeline` one at a time, answers SIGTERM and
SIGINT (finish the volume in flight, flush, return), keeps systemd informed,
and writes the end-of-run files whatever happened.

A *source* is any async context manager that is also an async iterator of
:class:`nfd.acquire.Scan` in index order: the watch folder
(:class:`nfd.acquire.ScanWatcher`) for ``nfd run`` and the demo, a recording
(:class:`nfd.acquire.RecordingSource`) for ``nfd replay``; both satisfy
:class:`nfd.acquire.ScanSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from threadpoolctl import threadpool_limits

from nfd._version import __version__
from nfd.acquire import Scan, ScanSource, SeriesId
from nfd.config import Config, ConfigError
from nfd.daemon._volume_step import VolumeStep
from nfd.daemon.build import (
    build_feedback,
    eeg_session,
    load_design,
    load_eeg_model,
    open_sinks,
    read_template,
    roi_names,
    start_web_server,
    watch_source,
)
from nfd.daemon.pipeline import Pipeline, VolumeCallback
from nfd.daemon.sdnotify import SystemdNotifier
from nfd.daemon.worker import VolumeWorker, engine_options, multiecho_options
from nfd.design import Design
from nfd.eeg import EegModel, EegSession, prediction_values
from nfd.outputs import RunFolder, RunFolderError, Sink
from nfd.outputs.web import ControlRefused, LiveState, RunInfo, UnknownTarget, WebServer
from nfd.outputs.web._live import EegState

log = structlog.get_logger(__name__)


async def _next_or_stop(it: AsyncIterator[Scan], stop: asyncio.Event) -> Scan | None:
    """The next scan, or None when the source ends or ``stop`` is set first."""
    nxt = asyncio.ensure_future(anext(it))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if nxt not in done:
        nxt.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await nxt
        return None
    try:
        return nxt.result()
    except StopAsyncIteration:
        return None


async def _first_of(*events: asyncio.Event) -> None:
    """Return when any of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _log_eeg_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("eeg_stopped", reason=str(exc), error=type(exc).__name__)


async def _relay_eeg(eeg: EegSession, live: LiveState, interval: float) -> None:
    """Show the EEG stream's state (with why and since when it is lost, and the model's window: what
    ``GET /api/v1/eeg/prediction`` answers from) and its periodic predictions on the operator's window."""
    last = None
    while True:
        await asyncio.sleep(interval)
        details = eeg.stream_status()
        state: EegState = details.pop("state")
        live.eeg_status(state, **details)
        p = eeg.latest
        if p is not None and p is not last and state == "streaming":
            live.eeg_prediction({**p.as_dict(), "time": p.t, "values": prediction_values(p, eeg.model.target_names)})
            last = p


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them, whatever they end with."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _watchdog(notifier: SystemdNotifier, daemon: Daemon) -> None:
    interval = notifier.watchdog_interval or 5.0
    while True:
        # Sent from the loop itself: a blocked loop misses its watchdog.
        p = daemon.pipeline
        status = (
            f"volume {p.last_index + 1}/{p.cfg.run.n_volumes}, {p.processed} processed" if p is not None else "idle"
        )
        notifier.notify(WATCHDOG=1, STATUS=status)
        await asyncio.sleep(interval)


class Daemon:
    """The long-lived daemon: what outlives a run, and the runs themselves.

    Owns the volume worker (one process, started once), the operator's window
    (:class:`~nfd.outputs.web.LiveState` and :class:`~nfd.outputs.web.WebServer`,
    when ``[web]`` is enabled), SIGTERM/SIGINT handling and systemd
    notifications. Each :meth:`run` builds its own sinks, run folder and
    :class:`~nfd.daemon.pipeline.Pipeline`. Implements
    :class:`nfd.outputs.web.Controller` for the web API's ``POST`` routes.

    Parameters
    ----------
    cfg : Config
        Validated configuration (see :func:`nfd.config.load_config`).
    config_text : str
        The configuration file's text, saved in each run folder.
    handle_signals : bool
        Install SIGTERM and SIGINT handlers: finish the volume in flight, flush, end.
    output_dir : Path, optional
        Overrides ``cfg.run.output_dir`` (``nfd replay --out``).
    on_volume : callable, optional
        Called with each processed volume's record once it is on disk.
    on_ready : callable, optional
        Called (no arguments) when a run is ready for its volumes: the source
        is watching and systemd has been told ``READY=1``.
    web : bool, optional
        Serve the operator's window; ``cfg.web.enabled`` when None.
    volume_step : VolumeStep, optional
        Where volumes are realigned, resliced and smoothed; by default a
        worker process (:class:`~nfd.daemon.VolumeWorker`). An
        :class:`~nfd.daemon.InProcessVolumeStep` runs the same engine in this process.
    send : bool
        Open the configured sinks (UDP, serial) and send feedback. ``nfd replay``
        passes False unless ``--send`` is given, so that an offline rehearsal
        never drives a live stimulus PC; everything else (run folder, live page)
        is the same.

    Examples
    --------
    ``nfd run`` is, in essence::

        async with Daemon(cfg, config_text=text) as daemon:
            await daemon.run(watch_source(cfg))
    """

    def __init__(
        self,
        cfg: Config,
        *,
        config_text: str = "",
        handle_signals: bool = True,
        output_dir: Path | None = None,
        on_volume: VolumeCallback | None = None,
        web: bool | None = None,
        volume_step: VolumeStep | None = None,
        send: bool = True,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.send = send
        self.config_text = config_text
        self.output_dir = output_dir or cfg.run.output_dir
        self.on_volume = on_volume
        self.on_ready = on_ready
        self.handle_signals = handle_signals
        self.worker: VolumeStep = volume_step or VolumeWorker(
            **engine_options(cfg.volume), multiecho=multiecho_options(cfg.multiecho)
        )
        self.notifier = SystemdNotifier()
        serve = cfg.web.enabled if web is None else web
        self.live: LiveState | None = LiveState(queue_size=cfg.web.client_queue) if serve else None
        self.server: WebServer | None = None
        #: Set by SIGTERM/SIGINT: the daemon ends after the volume in flight.
        self.shutdown = asyncio.Event()
        #: The run in progress, if any.
        self.pipeline: Pipeline | None = None
        self._stop_run: asyncio.Event | None = None
        self._signals: list[int] = []
        self._watchdog: asyncio.Task[None] | None = None
        self.eeg_model: EegModel | None = None
        self._start_requested = asyncio.Event()
        self._armable = False  # waiting for POST /runs/start
        self._armed = False  # waiting for the next series

    async def __aenter__(self) -> Daemon:
        loop = asyncio.get_running_loop()
        # Small matrix work per volume: BLAS threads only add contention with the worker.
        self._blas = threadpool_limits(limits=1)
        # EEG predictions run in a Python thread: hand the GIL back to the loop within 1 ms.
        sys.setswitchinterval(0.001)
        try:
            if self.handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self._request_shutdown)
                    self._signals.append(sig)
            await self.worker.start()
            if self.cfg.eeg.enabled:
                self.eeg_model = await asyncio.to_thread(load_eeg_model, self.cfg)
            if self.live is not None:
                self.server = await start_web_server(self.cfg, self.live, self)
            self._watchdog = asyncio.create_task(_watchdog(self.notifier, self))
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        self.notifier.notify(STOPPING=1)
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await self.worker.close()
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()
        self.notifier.close()
        self._blas.restore_original_limits()

    def _request_shutdown(self) -> None:
        log.info("shutdown_requested", run_in_progress=self.pipeline is not None)
        self.shutdown.set()
        if self._stop_run is not None:
            self._stop_run.set()

    async def run(self, source: ScanSource, resume: bool = False) -> dict[str, Any]:
        """One neurofeedback run from ``source``: until its last volume, its end, or a stop.

        With ``resume`` (``nfd run``'s first run), an unfinished run folder of
        the same configuration whose last volume's file is still in the watch
        folder (a daemon killed or restarted mid-run) is continued: its
        records stay, the files already recorded rebuild the state without
        being sent again, and the run goes on appending to the same folder.

        Returns
        -------
        dict
            The run summary (also written to ``summary.json`` in the run folder).

        Raises
        ------
        ConfigError
            A problem with the configuration found at start or at the first
            volume (malformed protocol, ROI masks off the EPI grid, an output
            that cannot be opened...).
        """
        cfg = self.cfg
        design = load_design(cfg)
        t0 = time.time()
        stop = self._stop_run = asyncio.Event()
        if self.shutdown.is_set():
            stop.set()
        opened: list[Sink] = []
        run: RunFolder | None = None
        pipeline: Pipeline | None = None
        eeg: EegSession | None = None
        eeg_tasks: list[asyncio.Task[None]] = []
        try:
            opened = await open_sinks(cfg) if self.send else []
            if not self.send:
                log.info("feedback_not_sent", reason="replay without --send: no sink is opened")
            run = self._resumable() if resume else None
            if run is None:
                run = RunFolder.create(
                    self.output_dir, prefix=cfg.run.prefix, config_text=self.config_text, started=datetime.now()
                )
            feedback = await asyncio.to_thread(build_feedback, cfg, design)  # a decoder loads its model
            eeg, eeg_tasks = self._start_eeg(run.path)
            pipeline = self.pipeline = Pipeline(
                cfg, design=design, worker=self.worker, sinks=opened, run=run, feedback=feedback,
                on_volume=self.on_volume, live=self.live, eeg=eeg,
            )
            pipeline.resume(run.records)
            await self._prepare(pipeline, design, run)
            await self._drive(source, pipeline, run, stop)
        finally:
            await _cancel_all(eeg_tasks)
            try:
                summary = await self._finish(pipeline, source, run, eeg, t0)
            finally:
                self.pipeline = None
                self._stop_run = None
                for sink in opened:
                    await sink.close()
        return summary

    def _resumable(self) -> RunFolder | None:
        """The unfinished run folder to continue after a restart (see :meth:`run`), reopened and marked; or None."""
        cfg = self.cfg
        try:
            present = os.listdir(cfg.acquire.watch_dir)
        except OSError:
            return None
        folder = RunFolder.find_unfinished(self.output_dir, cfg.run.prefix, self.config_text, present)
        if folder is None:
            return None
        run = RunFolder.reopen(folder)
        last = run.mark_resumed(os.getpid(), time.time())
        log.warning("run_resumed", run_folder=str(folder), interrupted_after_index=last,
                    records=len(run.records), detail="recorded volumes rebuild the state, unsent; the run goes on")
        return run

    def _start_eeg(self, folder: Path) -> tuple[EegSession | None, list[asyncio.Task[None]]]:
        """The run's EEG session and its tasks (reading, relaying to the operator's window), when EEG is on."""
        if self.eeg_model is None:
            return None, []
        eeg = eeg_session(self.cfg, self.eeg_model, folder)
        tasks = [asyncio.create_task(eeg.run())]
        tasks[-1].add_done_callback(_log_eeg_end)
        if self.live is not None:
            self.live.eeg_status("waiting")
            tasks.append(asyncio.create_task(_relay_eeg(eeg, self.live, self.cfg.eeg.interval or 0.25)))
        return eeg, tasks

    async def _prepare(self, pipeline: Pipeline, design: Design, run: RunFolder) -> None:
        """Set a configured realignment reference, and tell the operator's window that the run started."""
        cfg = self.cfg
        if cfg.volume.reference != "first":
            template = await asyncio.to_thread(read_template, Path(cfg.volume.reference))
            await pipeline.set_reference(template.data, template.affine)
        if self.live is not None:
            fb = cfg.feedback
            rois = await asyncio.to_thread(roi_names, cfg)  # [roi] and the [atlas]'s (its TSV read off the loop)
            self.live.run_started(RunInfo(
                run_id=run.path.name, n_volumes=cfg.run.n_volumes, tr=cfg.run.tr, blocks=design.blocks,
                baseline=design.baseline, rois=rois, skip_volumes=cfg.run.skip_volumes,
                feedback_range=(fb.min, fb.max), folder=str(run.path),
            ))

    async def _drive(self, source: ScanSource, pipeline: Pipeline, run: RunFolder, stop: asyncio.Event) -> None:
        """Feed the source's scans to the pipeline until the last volume, the source's end or a stop."""
        cfg = self.cfg
        async with source:
            log.info("run_started", run_folder=str(run.path), n_volumes=cfg.run.n_volumes, version=__version__)
            self.notifier.notify(READY=1, STATUS=f"waiting for volumes; run folder {run.path}")
            if self.on_ready is not None:
                self.on_ready()
            it = aiter(source)
            while not stop.is_set():
                scan = await _next_or_stop(it, stop)
                if scan is None:
                    break
                try:
                    await pipeline.handle(scan)
                except ConfigError:
                    raise
                except Exception as exc:  # one volume's bug never ends the run
                    log.exception("volume_failed", index=scan.index, file=scan.path.name)
                    await pipeline.record_failure(scan, exc)
                if scan.index >= cfg.run.n_volumes - 1:
                    break
            new_series = source.new_series
            reason = "stopped" if stop.is_set() else "new_series" if new_series is not None else "complete"
            log.info("run_ending", reason=reason, last_index=pipeline.last_index)

    async def _finish(
        self, pipeline: Pipeline | None, source: ScanSource, run: RunFolder | None, eeg: EegSession | None,
        t0: float,
    ) -> dict[str, Any]:
        """Write the maps, the summary and the tables of a run that got as far as its pipeline."""
        if pipeline is None or run is None:
            if run is not None:
                run.close()
            return {}
        maps = pipeline.maps()
        try:
            maps.update(await pipeline.echo_maps())  # multi-echo: t2star, s0, tsnr_echo-<n>
        except (BrokenProcessPool, OSError) as exc:
            log.error("echo_maps_lost", error=str(exc), reason="the volume worker is gone")
        unwritten: list[str] = []
        if pipeline.grid is not None:
            for name, data in maps.items():
                try:
                    await asyncio.to_thread(run.write_map, name, data, pipeline.grid[1])
                except RunFolderError as exc:  # a full disk: the summary still goes to stdout
                    log.error("run_folder_write_failed", path=str(run.path / f"{name}.nii.gz"), error=str(exc),
                              detail="at the end of the run")
                    unwritten.append(f"{name}.nii.gz")
        summary = _summarise(pipeline, source, run, t0)
        summary["map_peaks_in_rois"] = pipeline.map_peaks(maps)
        multiecho = pipeline.multiecho_summary(maps)
        if multiecho is not None:
            summary["multiecho"] = multiecho
        if eeg is not None:
            summary["eeg"] = eeg.summary()
        raw = np.stack(pipeline.raw, axis=-1) if pipeline.raw else None
        unwritten += await asyncio.to_thread(
            run.finish, summary, raw, pipeline.raw_affine, self.cfg.run.tr, feedback_units=_units(self.cfg)
        )
        if unwritten:
            summary["files_not_written"] = unwritten
            summary["volume_records_not_written"] = run.pending_writes + len(run.dropped)
        log.info("run_finished", **summary)
        if self.live is not None:
            self.live.run_ended(summary)
        return summary

    async def serve(self) -> list[dict[str, Any]]:
        """``nfd run``: runs on the watch folder until SIGTERM.

        With ``acquire.on_new_series = "new_run"``, a file of another series
        ends the run in progress and starts the next on that series; after a
        run that ends by itself, the daemon waits for the next series. With
        ``"ignore"``, the daemon holds one run and then, when it serves the
        web API, waits for ``POST /api/v1/runs/start`` to arm the next run
        (which starts with the next series); without the web API it ends.
        """
        summaries: list[dict[str, Any]] = []
        series: SeriesId | None = None
        auto = self.cfg.acquire.on_new_series == "new_run"
        barred: frozenset[SeriesId] = frozenset()  # series that never start a run (new_run)
        while not self.shutdown.is_set():
            watcher = watch_source(self.cfg, series, barred=barred)
            try:
                summaries.append(await self.run(watcher, resume=not summaries))
            except ConfigError as exc:
                if series is None:  # the first run: the configuration itself is wrong
                    raise
                # a later series that does not fit (e.g. an anatomical scan in the same folder)
                log.error("run_refused", series=str(series), reason=str(exc))
                summaries.append({})
            if self.shutdown.is_set() or not (auto or self.server is not None):
                break
            series = watcher.new_series if auto else None
            barred = watcher.barred if auto else frozenset()
            if series is None:
                # without auto, the operator arms the next run (POST /api/v1/runs/start)
                if not auto and not await self._wait_for_start():
                    break
                series, barred = await self._wait_for_new_series(watcher.series, barred)
                if series is None:
                    break
            log.info("new_series", series=str(series))
        return summaries

    async def _wait_for_start(self) -> bool:
        """Wait between runs for ``POST /api/v1/runs/start``; False on shutdown."""
        self._start_requested.clear()
        self._armable = True
        self.notifier.notify(STATUS="run finished; waiting for POST /api/v1/runs/start")
        log.info("waiting_for_start_request")
        try:
            await _first_of(self._start_requested, self.shutdown)
        finally:
            self._armable = False
        return not self.shutdown.is_set()

    async def _wait_for_new_series(
        self, current: SeriesId | None, barred: frozenset[SeriesId]
    ) -> tuple[SeriesId | None, frozenset[SeriesId]]:
        """Wait, between runs, for a file of a series other than ``current`` and not ``barred``.

        Returns the new series (None on shutdown) and the series barred after it.
        """
        self.notifier.notify(STATUS="run finished; waiting for a new series")
        log.info("waiting_for_new_series", after=str(current))
        self._armed = True
        watcher = watch_source(self.cfg, current, on_new_series="new_run", barred=barred)
        async with watcher:  # the current series' files pass by unprocessed
            it = aiter(watcher)
            try:
                while await _next_or_stop(it, self.shutdown) is not None:
                    pass
            finally:
                self._armed = False
        return (None if self.shutdown.is_set() else watcher.new_series), watcher.barred

    # -- nfd.outputs.web.Controller: the POST routes ------------------------------------------

    def start_run(self) -> dict[str, Any]:
        """Arm the next run between runs: it starts with the first volume of the next series."""
        if self.pipeline is not None:
            raise ControlRefused(f"run {self.pipeline.run.path.name} is in progress")
        if self._armed:
            return {"state": "armed", "detail": "the next series starts the next run"}
        if not self._armable:
            raise ControlRefused("the daemon is starting or stopping: no run can be armed now")
        self._start_requested.set()
        log.info("run_armed", by="api")
        return {"state": "armed", "detail": "the next series starts the next run"}

    def stop_run(self) -> dict[str, Any]:
        """End the run in progress after the volume in flight."""
        if self.pipeline is None or self._stop_run is None:
            raise ControlRefused("no run is in progress")
        log.info("run_stop_requested", run=self.pipeline.run.path.name, by="api")
        self._stop_run.set()
        return {"run_id": self.pipeline.run.path.name}

    def mark_event(self, name: str, t: float) -> dict[str, Any]:
        """Record an operator's event in the run folder's ``events.jsonl``."""
        if self.pipeline is None:
            raise ControlRefused("no run is in progress: events belong to a run")
        event = {"name": name, "time": t, "after_index": self.pipeline.last_index}
        self.pipeline.run.append_event(event)
        log.info("event_marked", **event)
        return {"run_id": self.pipeline.run.path.name}

    def push_value(self, source: str, value: float, t: float) -> dict[str, Any]:
        """Give a configured feedback source's value to the run's feedback, when that source feeds it.

        ``t`` (s since the epoch) is the Controller protocol's; the feedback takes the value as of now.
        """
        if source not in self.cfg.feedback.external_sources:
            raise UnknownTarget(
                f"no feedback source {source!r}: configured ones are "
                f"{list(self.cfg.feedback.external_sources) or 'none (feedback.external_sources)'}"
            )
        p = self.pipeline
        if p is not None and source == self.cfg.feedback.external.source and p.feedback.accepts_push:
            p.feedback.push(float(value))
        return {"source": source}


async def run_daemon(
    cfg: Config,
    source: ScanSource,
    *,
    config_text: str = "",
    on_volume: VolumeCallback | None = None,
    handle_signals: bool = True,
    output_dir: Path | None = None,
    web: bool | None = None,
    volume_step: VolumeStep | None = None,
    send: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run one neurofeedback run from ``source`` in a :class:`Daemon` of its own.

    Parameters are those of :class:`Daemon`; returns the run summary.

    Raises
    ------
    ConfigError
        See :meth:`Daemon.run`.
    """
    async with Daemon(cfg, config_text=config_text, handle_signals=handle_signals, output_dir=output_dir,
                      on_volume=on_volume, web=web, volume_step=volume_step, send=send,
                      on_ready=on_ready) as daemon:
        return await daemon.run(source)


def _units(cfg: Config) -> str:
    fb = cfg.feedback
    return f"percent signal change x {fb.gain:g}, clipped to [{fb.min:g}, {fb.max:g}]"


def _summarise(pipeline: Pipeline, source: ScanSource, run: RunFolder, t0: float) -> dict[str, Any]:
    stats = dict(source.stats)
    return {
        "run_folder": str(run.path),
        "duration_s": time.time() - t0,
        **pipeline.summary(),
        "source": stats,
    }
