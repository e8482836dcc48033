"""Exceptions raised by :mod:`nfd.design`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["DesignError", "ProtocolError", "VolumeIndexError"]


class DesignError(NfdError, ValueError):
    """Base class of every error raised by :mod:`nfd.design`: arguments that do not describe a valid design.

    It subclasses :class:`ValueError`: every such error is bad input (an
    argument, a volume index or a protocol file that is not as expected).
    """


class ProtocolError(DesignError):
    """A protocol file is unreadable or malformed; the message names the file."""


class VolumeIndexError(DesignError, IndexError):
    """A volume index outside the design (0-based acquisition indices)."""
