"""The one exception of :mod:`nfd.normative`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["NormativeError"]


class NormativeError(NfdError, ValueError):
    """Input that the normative tools cannot use; the message is one line naming the file, subject or key."""
