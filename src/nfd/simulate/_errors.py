"""Exceptions raised by :mod:`nfd.simulate`."""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = ["SimulationError"]


class SimulationError(NfdError, ValueError):
    """Arguments that cannot describe a synthetic session, or a file that cannot be written."""
