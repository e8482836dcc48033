"""What a run reads scans from: the :class:`ScanSource` protocol.

Owns the contract every scan source keeps (the watch folder
:class:`~nfd.acquire.ScanWatcher`, a recording replayed by
:class:`~nfd.acquire.RecordingSource`): an async context manager and an
async iterator of :class:`~nfd.acquire.Scan` in increasing index order,
each index once, with counts for the run summary and the series that ended
the run, if any. The interface suite ``tests/acquire/test_source_interface.py``
checks it for every implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nfd.acquire._series import SeriesId
    from nfd.acquire._watcher import Scan

__all__ = ["ScanSource"]


class ScanSource(Protocol):
    """What a run reads scans from: an async context manager and async iterator of Scan in index order.

    Attributes
    ----------
    stats : mapping of str to int
        Counts for the run summary (``"taken"``, ``"rejected"``, ...).
    new_series : SeriesId or None
        The series that ended this source's run, if any (None for a source
        that follows one series to its end).
    """

    @property
    def stats(self) -> Mapping[str, int]:
        """Counts for the run summary (``"taken"``, ``"rejected"``, ...)."""
        ...

    @property
    def new_series(self) -> SeriesId | None:
        """The series that ended this source's run, if any."""
        ...

    async def __aenter__(self) -> Any:
        """Start the source (returns the source, or an object iterated in its place)."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Stop the source; iteration ends."""
        ...

    def __aiter__(self) -> AsyncIterator[Scan]:
        """The scans, in increasing index order, each index once."""
        ...
