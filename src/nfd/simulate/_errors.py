"""Exceptions raised by :mod:`nfd.simulate`."""

from __future__ import annotations

__all__ = ["SimulationError"]


class SimulationError(ValueError):
    """Arguments that cannot describe a synthetic session, or a file that cannot be written."""
