"""The seam for the ``POST`` routes: what the server asks the daemon to do.

The daemon implements :class:`Controller`; the server validates each
request, calls the matching method and answers with what it returns.  A
method refuses by raising :class:`~nfd.outputs.web.ControlRefused` (answered
409) or :class:`~nfd.outputs.web.UnknownTarget` (answered 404), with a
message that says why; any other exception is answered 500 and logged
(``web_controller_failed``).  Methods may be coroutines or plain functions;
they run in the daemon's loop and must not block it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Controller"]


@runtime_checkable
class Controller(Protocol):
    """What the daemon does for the ``POST /api/v1/...`` routes (a :class:`typing.Protocol`)."""

    def start_run(self) -> Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None:
        """Start a run (``POST /api/v1/runs/start``); return e.g. ``{"run_id": ...}``.

        Raise :class:`~nfd.outputs.web.ControlRefused` when a run is already running.
        """
        ...

    def stop_run(self) -> Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None:
        """Stop the run after the volume in flight (``POST /api/v1/runs/stop``).

        Raise :class:`~nfd.outputs.web.ControlRefused` when no run is running.
        """
        ...

    def mark_event(self, name: str, t: float) -> Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None:
        """Record an event ``name`` at ``t`` (s since the epoch) (``POST /api/v1/events``)."""
        ...

    def push_value(
        self, source: str, value: float, t: float
    ) -> Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None:
        """Take a value of the additional feedback source ``source`` measured at ``t`` (s since the epoch).

        Raise :class:`~nfd.outputs.web.UnknownTarget` when no feedback source of that name is configured.
        """
        ...
