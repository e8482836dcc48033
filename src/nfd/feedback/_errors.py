"""Exceptions raised by :mod:`nfd.feedback`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["DesignError", "FeedbackError", "ProtocolError", "VolumeIndexError"]


class FeedbackError(NfdError, ValueError):
    """Base class of every error raised by :mod:`nfd.feedback`.

    It subclasses :class:`ValueError`: every such error is bad input (an
    argument, a volume index or a protocol file that is not as expected).
    """


class DesignError(FeedbackError):
    """Arguments that do not describe a valid block design."""


class ProtocolError(FeedbackError):
    """A protocol file is unreadable or malformed; the message names the file."""


class VolumeIndexError(FeedbackError, IndexError):
    """A volume index outside the design (0-based acquisition indices)."""
