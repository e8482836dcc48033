"""Exceptions raised by :mod:`nfd.timeseries`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["RoiError", "TimeseriesError"]


class TimeseriesError(NfdError, ValueError):
    """Base class of every error raised by :mod:`nfd.timeseries`.

    It subclasses :class:`ValueError` because every such error is bad input
    (an argument or a file that is not what the function expects).
    """


class RoiError(TimeseriesError):
    """A region-of-interest mask is unreadable, empty, or not on the EPI grid."""
