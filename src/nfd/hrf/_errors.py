"""The one exception of :mod:`nfd.hrf`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["HrfError"]


class HrfError(NfdError, ValueError):
    """Input the HRF estimator cannot use; the message is one line naming the file, parcel or option."""
