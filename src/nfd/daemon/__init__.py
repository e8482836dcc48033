"""The daemon: wiring the data's path into one asyncio loop, and nothing else.

``nfd.daemon`` builds the run's objects from the configuration and passes each
volume along the road ``acquire -> volume -> timeseries -> feedback ->
outputs``; the science lives in those packages. Public face:

:class:`Daemon`, :func:`run_daemon`
    The long-lived daemon (``nfd run``) and one run in a daemon of its own
    (``nfd replay``, the demo).
:class:`Pipeline`
    One volume's way from a complete scan to feedback sent and a
    :class:`~nfd.outputs.VolumeRecord` on disk; it runs without a daemon.
:class:`VolumeStep`, :class:`VolumeWorker`, :class:`InProcessVolumeStep`
    Where the pipeline realigns, reslices and smooths: a worker process over
    shared memory (the daemon) or this process (replays, tests, offline tools).
:func:`watch_source`, :func:`load_design`
    The configured watch folder as a scan source; the configured run design.

Modules: ``app`` (the daemon and its runs), ``pipeline`` (the per-volume road),
``worker`` (the worker process), ``_volume_step`` (the step protocol and its
in-process implementation), ``build`` (the run's objects from the
configuration: the only place a package's error becomes a config error),
``sdnotify`` (systemd notifications). Scan sources (the watch folder, a
recording) are :mod:`nfd.acquire`'s.
"""

from nfd.daemon._volume_step import InProcessVolumeStep, VolumeStep
from nfd.daemon.app import Daemon, load_design, run_daemon, watch_source
from nfd.daemon.pipeline import Pipeline
from nfd.daemon.worker import VolumeOutput, VolumeWorker

__all__ = [
    "Daemon",
    "InProcessVolumeStep",
    "Pipeline",
    "VolumeOutput",
    "VolumeStep",
    "VolumeWorker",
    "load_design",
    "run_daemon",
    "watch_source",
]
