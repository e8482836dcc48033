"""Exceptions raised by :mod:`nfd.feedback`.

The design's errors (:class:`~nfd.design.DesignError`,
:class:`~nfd.design.ProtocolError`, :class:`~nfd.design.VolumeIndexError`)
belong to :mod:`nfd.design`; :mod:`nfd.feedback` re-exports them for the
callers that import them from here.
"""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["FeedbackError"]


class FeedbackError(NfdError, ValueError):
    """Base class of every error raised by :mod:`nfd.feedback`.

    It subclasses :class:`ValueError`: every such error is bad input (an
    argument or an input value that is not as expected).
    """
