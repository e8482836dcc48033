"""The daemon: one asyncio loop from a scan source to feedback and a run folder.

Owns the run's lifetime: builds every part from the configuration (protocol,
ROI masks, sinks, volume worker, run folder), feeds the scans a source yields
to the :class:`~nfd.daemon.pipeline.Pipeline` one at a time, answers SIGTERM
and SIGINT (finish the volume in flight, flush, return), keeps systemd
informed, and writes the end-of-run files whatever happened.

A *source* is any async context manager that is also an async iterator of
:class:`nfd.acquire.Scan` in index order: the watch folder
(:class:`nfd.acquire.ScanWatcher`) for ``nfd run`` and the demo, a recording
(:class:`nfd.daemon.replay.RecordingSource`) for ``nfd replay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from nfd._version import __version__
from nfd.acquire import FileNaming, Scan, ScanFileError, ScanWatcher, read_scan
from nfd.config import Config, ConfigError
from nfd.daemon.pipeline import Pipeline, VolumeCallback
from nfd.daemon.sdnotify import SystemdNotifier
from nfd.daemon.worker import VolumeWorker
from nfd.feedback import Design, FeedbackError, load_protocol
from nfd.outputs import OutputError, RunFolder, Sink, UdpSink

log = structlog.get_logger(__name__)


class ScanSource(Protocol):
    """What the daemon reads scans from (see the module docstring)."""

    stats: dict[str, int]

    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> Any: ...
    def __aiter__(self) -> AsyncIterator[Scan]: ...


def watch_source(cfg: Config) -> ScanWatcher:
    """The watch folder of ``cfg.acquire`` as a scan source."""
    a = cfg.acquire
    return ScanWatcher(
        a.watch_dir,
        naming=FileNaming(a.pattern),
        first_number=a.first_number,
        index_from=a.index_from,
        poll=a.poll,
        poll_interval=a.poll_interval,
        complete_timeout=a.complete_timeout,
        reorder_timeout=a.reorder_timeout,
    )


def load_design(cfg: Config) -> Design:
    """The block protocol of ``cfg.feedback.protocol``, over ``cfg.run.n_volumes`` volumes.

    Raises
    ------
    ConfigError
        The protocol file is malformed (the message says how).
    """
    try:
        return load_protocol(
            cfg.feedback.protocol, n_volumes=cfg.run.n_volumes, skip_volumes=cfg.run.skip_volumes, tr=cfg.run.tr
        )
    except FeedbackError as exc:  # a malformed protocol, or one that does not fit the run
        raise ConfigError(str(exc), key="feedback.protocol") from None


def _build_sinks(cfg: Config) -> list[Sink]:
    sinks: list[Sink] = []
    udp = cfg.feedback.udp
    if udp.enabled:
        sinks.append(UdpSink(host=udp.host, port=udp.port, fmt=udp.format, send_condition=udp.send_condition))
    return sinks


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


async def _watchdog(notifier: SystemdNotifier, pipeline: Pipeline) -> None:
    interval = notifier.watchdog_interval or 5.0
    while True:
        # Sent from the loop itself: a blocked loop misses its watchdog.
        notifier.notify(
            WATCHDOG=1,
            STATUS=f"volume {pipeline.last_index + 1}/{pipeline.cfg.run.n_volumes}, "
            f"{pipeline.processed} processed",
        )
        await asyncio.sleep(interval)


async def run_daemon(
    cfg: Config,
    source: ScanSource,
    *,
    config_text: str = "",
    stop: asyncio.Event | None = None,
    on_volume: VolumeCallback | None = None,
    handle_signals: bool = True,
    output_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one neurofeedback run from ``source`` until it ends, is stopped, or is complete.

    Parameters
    ----------
    cfg : Config
        Validated configuration (see :func:`nfd.config.load_config`).
    source : ScanSource
        Where scans come from (watch folder or recording).
    config_text : str
        The configuration file's text, saved in the run folder.
    stop : asyncio.Event, optional
        Set it to end the run after the volume in flight.
    on_volume : callable, optional
        Called with each volume's record once it is on disk.
    handle_signals : bool
        Install SIGTERM and SIGINT handlers that set ``stop``.
    output_dir : Path, optional
        Overrides ``cfg.run.output_dir`` (``nfd replay --out``).

    Returns
    -------
    dict
        The run summary (also written to ``summary.json`` in the run folder).

    Raises
    ------
    ConfigError
        A problem with the configuration found at start or at the first volume
        (malformed protocol, ROI masks off the EPI grid, unresolvable host...).
    """
    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else asyncio.Event()
    notifier = SystemdNotifier()
    design = load_design(cfg)
    sinks = _build_sinks(cfg)
    t0 = time.time()
    opened: list[Sink] = []
    worker = VolumeWorker(smooth_fwhm=cfg.volume.smooth_fwhm)
    run: RunFolder | None = None
    pipeline: Pipeline | None = None
    watchdog: asyncio.Task[None] | None = None
    installed: list[int] = []
    try:
        for sink in sinks:
            try:
                await sink.open()
            except OutputError as exc:
                raise ConfigError(str(exc), key="feedback.udp.host") from None
            opened.append(sink)
        await worker.start()
        run = RunFolder.create(
            output_dir or cfg.run.output_dir, prefix=cfg.run.prefix, config_text=config_text, started=datetime.now()
        )
        pipeline = Pipeline(cfg, design=design, worker=worker, sinks=opened, run=run, on_volume=on_volume)
        if cfg.volume.reference != "first":
            template = await asyncio.to_thread(_read_template, Path(cfg.volume.reference))
            await pipeline.set_reference(template.data, template.affine)
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        async with source:
            log.info("run_started", run_folder=str(run.path), n_volumes=cfg.run.n_volumes, version=__version__)
            notifier.notify(READY=1, STATUS=f"waiting for volumes; run folder {run.path}")
            watchdog = asyncio.create_task(_watchdog(notifier, pipeline))
            it = aiter(source)
            while not stop.is_set():
                scan = await _next_or_stop(it, stop)
                if scan is None:
                    break
                try:
                    await pipeline.handle(scan)
                except ConfigError:
                    raise
                except Exception:  # one volume's bug never ends the run
                    pipeline.failed += 1
                    log.exception("volume_failed", index=scan.index, file=scan.path.name)
                if scan.index >= cfg.run.n_volumes - 1:
                    break
            reason = "stopped" if stop.is_set() else "complete"
            log.info("run_ending", reason=reason, last_index=pipeline.last_index)
    finally:
        notifier.notify(STOPPING=1)
        for sig in installed:
            loop.remove_signal_handler(sig)
        if watchdog is not None:
            watchdog.cancel()
        summary: dict[str, Any] = {}
        try:
            if pipeline is not None and run is not None:
                summary = _summarise(pipeline, source, run, t0)
                raw = np.stack(pipeline.raw, axis=-1) if pipeline.raw else None
                await asyncio.to_thread(
                    run.finish, summary, raw, pipeline.raw_affine, cfg.run.tr, feedback_units=_units(cfg)
                )
                log.info("run_finished", **summary)
        finally:
            for sink in opened:
                await sink.close()
            await worker.close()
            notifier.close()
    return summary


def _units(cfg: Config) -> str:
    fb = cfg.feedback
    return f"percent signal change x {fb.gain:g}, clipped to [{fb.min:g}, {fb.max:g}]"


def _read_template(path: Path) -> Any:
    try:
        return read_scan(path)
    except ScanFileError as exc:
        raise ConfigError(f"cannot use {path} as the realignment reference: {exc}", key="volume.reference") from None


def _summarise(pipeline: Pipeline, source: ScanSource, run: RunFolder, t0: float) -> dict[str, Any]:
    stats = dict(getattr(source, "stats", {}))
    return {
        "run_folder": str(run.path),
        "duration_s": time.time() - t0,
        **pipeline.summary(),
        "source": stats,
    }
