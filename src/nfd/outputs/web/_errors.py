"""The exceptions :mod:`nfd.outputs.web` raises.

All derive from :class:`WebError`, itself an :class:`nfd.outputs.OutputError`.
:class:`ControlRefused` and :class:`UnknownTarget` are the two a
:class:`~nfd.outputs.web.Controller` raises to refuse a request; the server
answers them with 409 and 404 and the exception's message as the reason.
"""

from __future__ import annotations

from nfd.outputs._errors import OutputError

__all__ = ["WebError", "WebConfigError", "TokenFileError", "LiveStateError", "ControlRefused", "UnknownTarget"]


class WebError(OutputError):
    """Base class of every error raised by :mod:`nfd.outputs.web`."""


class WebConfigError(WebError, ValueError):
    """The server was configured badly (address, port, limits, a non-loopback address without a token)."""


class TokenFileError(WebConfigError):
    """The bearer token file is missing, unreadable or holds no usable token (the token is never shown)."""


class LiveStateError(WebError, ValueError):
    """:class:`~nfd.outputs.web.LiveState` was given a record, run or prediction of the wrong shape."""


class ControlRefused(WebError):
    """The controller refuses the request in the daemon's current state (answered 409), e.g. a run already runs."""


class UnknownTarget(WebError):
    """The request names something the controller does not know (answered 404), e.g. a feedback source."""
