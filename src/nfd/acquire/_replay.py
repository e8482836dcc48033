"""A recorded run as a scan source, read as fast as the run takes it.

Owns the reading of a recording for a replay: a folder of scan files (a
single-slice series too) or one 4-D NIfTI, as
:func:`~nfd.acquire.plan_recording` plans it. Files are decoded in a thread,
one volume ahead of the consumer; a file that cannot be read gets one
``file_rejected`` log line and the replay goes on, as in a live run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import structlog

from nfd.acquire._errors import ScanFileError
from nfd.acquire._image import ScanImage
from nfd.acquire._naming import FileNaming
from nfd.acquire._recording import plan_recording
from nfd.acquire._series import SeriesId
from nfd.acquire._slices import VolumeFrom
from nfd.acquire._source import ScanSource
from nfd.acquire._watcher import Scan

__all__ = ["RecordingSource"]

log = structlog.get_logger(__name__)

#: Decodes one volume, or every echo of a multi-echo volume (blocking; run in a thread).
Reader = Callable[[], ScanImage | tuple[ScanImage, ...]]


class RecordingSource:
    """Scans of a recording, in order, each read once.

    Use :meth:`open`; the source is an async context manager and an async
    iterator of :class:`~nfd.acquire.Scan`, like the watch folder (a
    :class:`~nfd.acquire.ScanSource`).

    Parameters
    ----------
    items : list of (int, Path, callable)
        Per volume, in order: its 0-based index, the file it is read from
        (the last one for a volume of slice files) and a reader returning
        its :class:`~nfd.acquire.ScanImage` (or, for a multi-echo volume,
        the tuple of its echoes, which become :attr:`Scan.echoes`; so do a
        file's echoes, :attr:`ScanImage.more_echoes`, of a Siemens XA file of several).

    Attributes
    ----------
    stats : dict of str to int
        ``taken`` and ``rejected`` counts.
    missing : list of int
        Indices whose file could not be read.
    new_series : None
        Always None: a recording is one series.

    Examples
    --------
    >>> import asyncio, tempfile, pathlib, nibabel as nib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.nii"
    >>> nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.int16), np.eye(4)), path)
    >>> async def indices():
    ...     async with RecordingSource.open(path) as source:
    ...         return [scan.index async for scan in source], source.stats["taken"]
    >>> asyncio.run(indices())
    ([0, 1], 2)
    """

    def __init__(self, items: list[tuple[int, Path, Reader]]) -> None:
        self._items = items
        self.stats: dict[str, int] = {"taken": 0, "rejected": 0}
        self.missing: list[int] = []

    @property
    def new_series(self) -> SeriesId | None:
        """Always None: a recording is one series, it ends with its last volume."""
        return None

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        naming: FileNaming | None = None,
        first_number: int = 1,
        slices_per_volume: int | None = None,
        volume_from: VolumeFrom = "auto",
        echo_times_ms: Sequence[float] | None = None,
    ) -> RecordingSource:
        """A source over ``path``: a folder of scan files (single-slice series too) or a 4-D NIfTI.

        Parameters
        ----------
        path : str or Path
            The recording.
        naming : FileNaming, optional
            Which file names are volumes and their numbers (default: Siemens
            real-time export); index = number - ``first_number``. Without a
            match, the headers or the natural name order give the order.
        first_number : int
            The number the scanner gave the first volume.
        slices_per_volume : int or None
            Single-slice series: slices per volume (None: from the header).
        volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
            Single-slice series: the header field giving a slice's volume.
        echo_times_ms : sequence of float or None
            Multi-echo recordings (one 4-D NIfTI per echo: pass the echo-1
            file, ``..._echo-1_bold.nii[.gz]``; or a folder of files of
            several echoes): the TE of each echo, ms, where no header or BIDS
            sidecar gives it. Each Scan then has ``echoes``.

        Raises
        ------
        RecordingError
            ``path`` holds no usable recording (the message says why).
        """
        planned = plan_recording(
            Path(path),
            naming=naming,
            first_number=first_number,
            slices_per_volume=slices_per_volume,
            volume_from=volume_from,
            echo_times_ms=echo_times_ms,
        )
        return cls([(v.index, Path(v.files[-1]), v.read_echoes if v.echoes else v.read) for v in planned])

    async def __aenter__(self) -> RecordingSource:
        """The source itself (nothing to start)."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Nothing to stop."""
        return None

    def __aiter__(self) -> AsyncIterator[Scan]:
        """The recording's scans, in order, decoded one ahead in a thread."""
        return self._scans()

    async def _scans(self) -> AsyncIterator[Scan]:
        pending: asyncio.Future[ScanImage | tuple[ScanImage, ...]] | None = None
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
                if not isinstance(image, tuple) and image.more_echoes:  # a file of several echoes (Siemens XA)
                    image = image.file_echoes
                if isinstance(image, tuple):
                    yield Scan(index=index, path=path, image=image[0], t_complete=time.time(), echoes=image)
                else:
                    yield Scan(index=index, path=path, image=image, t_complete=time.time())
        finally:
            if pending is not None:
                pending.cancel()


_recording_is_a_source: type[ScanSource] = RecordingSource
