"""A recorded run as a scan source, read as fast as the pipeline takes it.

Owns the reading of a recording for ``nfd replay``: a folder of scan files
(a single-slice series too) or one 4-D NIfTI, as
:func:`nfd.acquire.plan_recording` plans it. Files are decoded in a thread, one volume ahead
of the pipeline; a file that cannot be read gets one log line and the replay
goes on, as in a live run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog

from nfd.acquire import FileNaming, RecordingError, Scan, ScanFileError, ScanImage, plan_recording
from nfd.config import AcquireConfig, ConfigError

log = structlog.get_logger(__name__)

Reader = Callable[[], ScanImage]


class RecordingSource:
    """Scans of a recording, in order, each read once.

    Use :meth:`open`; the source is an async context manager and an async
    iterator of :class:`nfd.acquire.Scan`, like the watch folder.

    Attributes
    ----------
    stats : dict
        ``taken`` and ``rejected`` counts.
    missing : list of int
        Indices whose file could not be read.
    """

    def __init__(self, items: list[tuple[int, Path, Reader]]) -> None:
        self._items = items
        self.stats: dict[str, int] = {"taken": 0, "rejected": 0}
        self.missing: list[int] = []

    @classmethod
    def open(cls, path: Path, acquire: AcquireConfig) -> RecordingSource:
        """A source over ``path``: a folder of scan files (single-slice series too) or a 4-D NIfTI.

        The order and indices come from :func:`nfd.acquire.plan_recording`:
        the file-name pattern of ``acquire`` (index = number -
        ``acquire.first_number``), else the headers or the natural name order.

        Raises
        ------
        ConfigError
            ``path`` holds no usable recording (the message says why).
        """
        try:
            planned = plan_recording(
                path, naming=FileNaming(acquire.pattern), first_number=acquire.first_number,
                slices_per_volume=acquire.slices_per_volume or None, volume_from=acquire.volume_from,
            )
        except RecordingError as exc:
            raise ConfigError(str(exc), key="--input") from None
        return cls([(v.index, Path(v.files[-1]), v.read) for v in planned])

    async def __aenter__(self) -> RecordingSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[Scan]:
        return self._scans()

    async def _scans(self) -> AsyncIterator[Scan]:
        pending: asyncio.Future[ScanImage] | None = None
        try:
            for k, (index, path, read) in enumerate(self._items):
                current = pending if pending is not None else asyncio.ensure_future(asyncio.to_thread(read))
                pending = None
                try:
                    image = await current
                except ScanFileError as exc:
                    self.stats["rejected"] += 1
                    self.missing.append(index)
                    log.warning("file_rejected", file=str(path), reason=str(exc))
                    continue
                if k + 1 < len(self._items):  # decode the next one while this one is processed
                    pending = asyncio.ensure_future(asyncio.to_thread(self._items[k + 1][2]))
                self.stats["taken"] += 1
                yield Scan(index=index, path=path, image=image, t_complete=time.time())
        finally:
            if pending is not None:
                pending.cancel()
