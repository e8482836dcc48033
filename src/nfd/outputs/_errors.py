"""The exceptions :mod:`nfd.outputs` raises.

Every one derives from :class:`OutputError`, so a caller can catch the whole
subpackage's failures with one ``except`` clause.  Transport trouble while
sending (a receiver that has gone away, a full socket buffer) is *not* an
exception: sinks log it once and count it (see :class:`nfd.outputs.UdpSink`).
"""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["OutputError", "SinkConfigError", "SinkOpenError", "MessageError", "RunFolderError"]


class OutputError(NfdError):
    """Base class of every error raised by :mod:`nfd.outputs`."""


class SinkConfigError(OutputError, ValueError):
    """A sink was constructed with a bad argument (format, port, host)."""


class SinkOpenError(OutputError):
    """A sink could not be opened (unresolvable host, no route, bind failure)."""


class MessageError(OutputError, ValueError):
    """A :class:`~nfd.outputs.FeedbackMessage` field holds a value of the wrong kind."""


class RunFolderError(OutputError):
    """The run folder cannot be created, written, or read as expected."""
