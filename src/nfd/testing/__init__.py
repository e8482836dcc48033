"""Test doubles and a subprocess harness for code and tests built on nfd (as ``structlog.testing``).

This subpackage owns what a test needs to drive nfd without a scanner:

:func:`running_daemon`
    A context manager running a real ``nfd run -c CONFIG`` subprocess, its
    JSON log lines captured to a file, with a :class:`RunningDaemon` handle
    to wait for log events, read them, and stop the process; the process is
    always reaped on exit. :class:`DaemonError` is what a wait that fails
    raises (an :class:`AssertionError`, so a test reports it as a failure).
:class:`MemorySink`
    A feedback sink (:class:`nfd.outputs.Sink`) that keeps every message sent.
:class:`MemoryScanSource`
    A scan source (:class:`nfd.acquire.ScanSource`) yielding given scans.

Modules (private): ``_daemon``, ``_sink``, ``_source``.
"""

from nfd.testing._daemon import DaemonError, RunningDaemon, running_daemon
from nfd.testing._sink import MemorySink
from nfd.testing._source import MemoryScanSource

for _public in (DaemonError, MemoryScanSource, MemorySink, RunningDaemon, running_daemon):
    _public.__module__ = __name__
del _public

__all__ = ["running_daemon", "RunningDaemon", "DaemonError", "MemorySink", "MemoryScanSource"]
