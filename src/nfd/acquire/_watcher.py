"""The watch folder: scan files in, complete volumes out, in acquisition order.

One background task follows the folder with watchfiles (inotify, or polling
for SMB/NFS mounts) and decides about each file from its content:

* a file is read (in a thread) on every change event and, while it is
  incomplete, checked again on a short schedule (every 2 ms for the first
  50 ms after its last change, then backing off to 0.2 s; a ``stat``, and a
  read when size or mtime changed), because a file can complete without a
  further event; it is taken as soon as it reads as a whole volume, never
  after a fixed sleep;
* a file still incomplete ``complete_timeout`` seconds after its last change
  is rejected (``file_incomplete``); a file that is not a scan is rejected
  (``file_rejected``); both are counted and the run goes on;
* duplicates (the same index again, or the same bytes under another name)
  are skipped (``duplicate_skipped``); volumes are released in increasing
  index order, an index that is still absent ``reorder_timeout`` seconds
  after a later volume was ready is declared missing (``volume_missing``),
  and a volume arriving after its index was passed is dropped
  (``volume_late``).

Everything blocking (listing, stat, reading, hashing, decoding) runs in
threads; the event loop only does bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import structlog
from watchfiles import Change, awatch

from nfd.acquire._errors import IncompleteFileError, NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._naming import FileNaming
from nfd.acquire._reader import read_scan_bytes
from nfd.acquire._sequencer import Sequencer, Verdict

__all__ = ["Scan", "ScanWatcher"]

log = structlog.get_logger(__name__)

#: Delays (s) between checks of an incomplete file, counted from its last
#: observed change: every 2 ms for the first ~50 ms (a scanner writes a file
#: within a few ms to tens of ms), then backing off; the last delay repeats
#: until ``complete_timeout``. A check is a ``stat``; the file is read again
#: only when its size or mtime changed.
RECHECK_DELAYS: tuple[float, ...] = (0.002,) * 25 + (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
#: watchfiles' batching (ms): a batch of changes is handed over once no new
#: change came for ``_STEP_MS`` (at most ``_DEBOUNCE_MS`` after the first).
#: The step bounds the latency of a file written in one go (measured on a
#: 74x74x36 mosaic: median 11 ms from the last byte to the Scan with a 5 ms
#: step, 7 ms with 2 ms) and costs idle CPU (watchfiles' thread wakes every
#: step: 0.8 % of a core at 5 ms, 1.5 % at 2 ms).
_DEBOUNCE_MS = 10
_STEP_MS = 2

_STAT_KEYS = ("taken", "rejected", "duplicates", "incomplete", "missing", "late")


@dataclass(frozen=True, eq=False)
class Scan:
    """One volume taken from the watch folder.

    Attributes
    ----------
    index : int
        0-based acquisition index: the scanner's number (from the file name,
        or the header) minus ``first_number``.
    path : Path
        The file it was read from (with ``index_from="header"``, possibly a
        temporary name the scanner renamed since).
    image : ScanImage
        The volume.
    t_complete : float
        ``time.time()`` (seconds since the epoch) when the file was read
        complete.
    """

    index: int
    path: Path
    image: ScanImage
    t_complete: float


class _State(enum.Enum):
    WAITING = "waiting"  # to be read, or incomplete and re-read on a schedule
    REJECTED = "rejected"  # not a scan, or incomplete for too long; re-read if it changes
    DONE = "done"  # taken, duplicate, late: never looked at again


@dataclass
class _File:
    path: Path
    number: int | None  # the scanner's number from the name (index_from="name")
    state: _State = _State.WAITING
    dirty: bool = True  # changed since it was last read
    signature: tuple[int, int] | None = None  # (size, mtime_ns) at the last read
    changed_at: float = field(default_factory=time.monotonic)
    recheck_step: int = 0
    recheck_at: float | None = None
    logged: bool = False  # a rejection line was already written for it
    reason: str = ""  # why it was incomplete when last read


@dataclass(frozen=True)
class _Reading:
    """The outcome of reading one file in a thread."""

    signature: tuple[int, int] | None
    image: ScanImage | None = None
    identity: tuple[int, int, int, int] | None = None  # (st_dev, st_ino, size, mtime_ns)
    digest: bytes = b""
    error: IncompleteFileError | NotAScanError | OSError | None = None
    not_a_file: bool = False
    unchanged: bool = False
    t_complete: float = 0.0


def _read_file(path: Path, unless: tuple[int, int] | None = None) -> _Reading:
    """Stat, read, hash and decode one file (blocking; run in a thread).

    When ``unless`` is given and the file's (size, mtime_ns) still equals
    it, the file is not read again (``unchanged=True``).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return _Reading(signature=None, not_a_file=True)
        if unless is not None and (st.st_size, st.st_mtime_ns) == unless:
            return _Reading(signature=unless, unchanged=True)
        with open(path, "rb") as handle:
            buf = handle.read()
    except OSError as err:
        return _Reading(signature=None, error=err)
    signature = (len(buf), st.st_mtime_ns)
    try:
        image = read_scan_bytes(buf, str(path))
    except (IncompleteFileError, NotAScanError) as err:
        return _Reading(signature=signature, error=err)
    t_complete = time.time()
    return _Reading(
        signature=signature,
        image=image,
        identity=(st.st_dev, st.st_ino, *signature),
        digest=hashlib.sha256(buf).digest(),
        t_complete=t_complete,
    )


def _list_folder(folder: Path) -> list[tuple[Path, int]]:
    """Regular files in a folder with their mtime (ns) (blocking; run in a thread)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # removed while listing
                if entry.is_file():
                    found.append((Path(entry.path), entry.stat().st_mtime_ns))
    return found


class _End:
    """End of the scan stream (with the failure that ended it, if any)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class ScanWatcher:
    """Watch a folder for scan files and yield complete volumes in acquisition order.

    Parameters
    ----------
    folder : str or Path
        The folder the scanner (or its export) writes to; it must exist when
        the watcher starts. Only files directly in it are considered.
    naming : FileNaming, optional
        Which file names are volumes and their numbers (default: Siemens
        real-time export ``001_SSSSSS_VVVVVV.dcm``).
    first_number : int
        The number the scanner gives the first volume (1 for Siemens);
        ``Scan.index = number - first_number``.
    index_from : {"name", "header"}
        Where the number comes from: the file name (files whose names do not
        match are ignored) or the header's acquisition number
        (``ScanImage.header_index``; every file that reads as a scan counts).
    poll : bool
        Poll the folder instead of using file-system events (SMB/NFS mounts).
    poll_interval : float
        Seconds between polls when ``poll`` is true.
    complete_timeout : float
        Seconds a file may stay incomplete after its last change before it
        is rejected.
    reorder_timeout : float
        Seconds a ready volume waits for a missing earlier index before that
        index is declared missing.

    Attributes
    ----------
    stats : dict of str to int
        Counts: ``taken`` (yielded), ``rejected`` (not a scan, or numbered
        below ``first_number``), ``duplicates``, ``incomplete`` (rejected
        after ``complete_timeout``), ``missing``, ``late``.
    missing : list of int
        Indices declared missing, in order.

    Examples
    --------
    >>> import asyncio, tempfile, pathlib, nibabel as nib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for number in (1, 2):
    ...     vol = nib.Nifti1Image(np.full((4, 4, 3), number, np.int16), np.eye(4))
    ...     nib.save(vol, folder / f"vol{number:03d}.nii")
    >>> async def first_two():
    ...     naming = FileNaming(r"vol(?P<volume>\\d+)\\.nii")
    ...     scans = []
    ...     async with ScanWatcher(folder, naming=naming) as watcher:
    ...         async for scan in watcher:
    ...             scans.append((scan.index, float(scan.image.data.max())))
    ...             if len(scans) == 2:
    ...                 return scans, watcher.stats["taken"]
    >>> asyncio.run(first_two())
    ([(0, 1.0), (1, 2.0)], 2)
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        naming: FileNaming | None = None,
        first_number: int = 1,
        index_from: Literal["name", "header"] = "name",
        poll: bool = False,
        poll_interval: float = 0.1,
        complete_timeout: float = 10.0,
        reorder_timeout: float = 2.0,
    ) -> None:
        if index_from not in ("name", "header"):
            raise ValueError(f"index_from must be 'name' or 'header', got {index_from!r}")
        if not isinstance(first_number, int) or isinstance(first_number, bool):
            raise ValueError(f"first_number must be an integer, got {first_number!r}")
        for arg, value in (
            ("poll_interval", poll_interval),
            ("complete_timeout", complete_timeout),
            ("reorder_timeout", reorder_timeout),
        ):
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"{arg} must be a number of seconds >= 0, got {value!r}")
        if poll and not poll_interval > 0:
            raise ValueError(
                f"poll_interval must be > 0 seconds when poll=True, got {poll_interval!r}"
            )
        self.folder = Path(folder).absolute()
        self.naming = naming if naming is not None else FileNaming()
        self.first_number = first_number
        self.index_from = index_from
        self.poll = bool(poll)
        self.poll_interval = float(poll_interval)
        self.complete_timeout = float(complete_timeout)
        self.reorder_timeout = float(reorder_timeout)
        self.stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)
        self._sequencer: Sequencer[Scan] = Sequencer(self.reorder_timeout)
        self._files: dict[Path, _File] = {}
        self._waiting: dict[Path, _File] = {}  # the files in state WAITING
        self._ignored: set[Path] = set()
        self._taken_identities: dict[tuple[int, int, int, int], Path] = {}
        self._events: asyncio.Queue[set[tuple[Change, str]] | BaseException] = asyncio.Queue()
        self._out: asyncio.Queue[Scan | _End] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def missing(self) -> list[int]:
        """Indices declared missing, in order."""
        return list(self._sequencer.missing)

    # -- life cycle ---------------------------------------------------------

    async def __aenter__(self) -> ScanWatcher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start watching; files in the folder when this returns are taken first, in order.

        Returns once the folder is watched and listed: a file written after
        that is a new file, one written before is "present at start" (and
        the smallest index present at start is the first expected).

        Raises
        ------
        NotADirectoryError
            When the folder does not exist or is not a directory.
        RuntimeError
            When the watcher was already started.
        """
        if self._task is not None or self._closed:
            raise RuntimeError(f"ScanWatcher({self.folder}) can be started only once")
        if not await asyncio.to_thread(self.folder.is_dir):
            raise NotADirectoryError(
                f"watch folder {self.folder} does not exist or is not a directory"
            )
        self._pump_task = asyncio.create_task(
            self._pump(), name=f"nfd-watch-events:{self.folder}"
        )
        # awatch arms its watch synchronously in its first step: let it run
        # before listing, so a file written meanwhile is seen one way or the other.
        await asyncio.sleep(0)
        try:
            listing = await asyncio.to_thread(_list_folder, self.folder)
        except BaseException:
            await self.aclose()
            raise
        initial = [self._register(path) for path, _ in self._initial_order(listing)]
        self._task = asyncio.create_task(
            self._run([f for f in initial if f is not None]),
            name=f"nfd-watch-folder:{self.folder}",
        )
        self._task.add_done_callback(self._on_task_done)

    async def aclose(self) -> None:
        """Stop watching; iteration ends (volumes still held are dropped).

        A failure of the watching task is not raised here: the iteration
        raised it already.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()  # awatch returns within one step
        tasks = [task for task in (self._task, self._pump_task) if task is not None]
        if self._task is not None:
            self._task.cancel()
        if self._pump_task is not None:
            _, pending = await asyncio.wait([self._pump_task], timeout=2.0)
            for task in pending:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._out.put_nowait(_End())

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._out.put_nowait(_End(error))

    # -- iteration ----------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Scan]:
        return self

    async def __anext__(self) -> Scan:
        if self._task is None:
            raise RuntimeError(
                "ScanWatcher is not started: use 'async with watcher:' or 'await watcher.start()'"
            )
        item = await self._out.get()
        if isinstance(item, _End):
            self._out.put_nowait(item)  # every later call ends too
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    # -- the watching task --------------------------------------------------

    async def _pump(self) -> None:
        """Forward watchfiles' batches of changes to the watching task."""
        try:
            async for changes in awatch(
                self.folder,
                watch_filter=None,
                debounce=_DEBOUNCE_MS,
                step=_STEP_MS,
                stop_event=self._stop,
                rust_timeout=1000,
                force_polling=self.poll,
                poll_delay_ms=max(1, round(self.poll_interval * 1000)),
                recursive=False,
            ):
                self._events.put_nowait(changes)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - handed to the watching task, which raises it
            self._events.put_nowait(err)

    async def _run(self, initial_files: list[_File]) -> None:
        for entry in initial_files:
            self._drain_events()
            if self._waiting.get(entry.path) is entry:
                await self._read(entry)
        self._sequencer.start(self._initial_index(initial_files))
        log.debug(
            "watch_started",
            folder=str(self.folder),
            files_at_start=len(initial_files),
            first_index=self._sequencer.next_index,
        )
        self._flush()
        while True:
            await self._wait_for_events()
            now = time.monotonic()
            due = [
                f
                for f in self._waiting.values()
                if f.dirty or (f.recheck_at is not None and f.recheck_at <= now)
            ]
            due.sort(key=self._order_key)
            for entry in due:
                self._drain_events()
                if self._waiting.get(entry.path) is entry:
                    await self._read(entry)
            self._flush()

    def _initial_order(self, listing: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        """Files present at start, in the order to take them."""
        if self.index_from == "header":
            return sorted(listing, key=lambda item: (item[1], item[0].name))

        def key(item: tuple[Path, int]) -> tuple[bool, int, str]:
            number = self.naming.volume_number(item[0].name)
            number = -1 if number is None else number
            # Numbers below first_number last: byte copies of later volumes
            # (the rt-cloud sample's 000000) are then recognised as duplicates.
            return (number < self.first_number, number, item[0].name)

        return sorted(listing, key=key)

    def _initial_index(self, initial: list[_File]) -> int | None:
        """First index to expect: the smallest index present at start (0 when empty)."""
        if self.index_from == "header":
            return None  # the smallest index the sequencer holds
        indices = [f.number - self.first_number for f in initial if f.number is not None]
        indices = [i for i in indices if i >= 0]
        return min(indices) if indices else 0

    def _order_key(self, entry: _File) -> tuple[int, str]:
        return (entry.number if entry.number is not None else -1, entry.path.name)

    async def _wait_for_events(self) -> None:
        """Wait for file events, or until the next re-check or reorder deadline."""
        deadlines = [f.recheck_at for f in self._waiting.values() if f.recheck_at is not None]
        reorder = self._sequencer.deadline()
        if reorder is not None:
            deadlines.append(reorder)
        if any(f.dirty for f in self._waiting.values()):
            deadlines.append(0.0)
        delay = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        try:
            async with asyncio.timeout(delay):
                batch = await self._events.get()
        except TimeoutError:
            return
        self._apply(batch)
        self._drain_events()

    def _drain_events(self) -> None:
        while not self._events.empty():
            self._apply(self._events.get_nowait())

    def _apply(self, batch: set[tuple[Change, str]] | BaseException) -> None:
        """Take a batch of file events into account (the reading happens later)."""
        if isinstance(batch, BaseException):
            raise batch
        for change, name in batch:
            path = Path(name)
            if path.parent != self.folder:
                continue
            entry = self._files.get(path)
            if change is Change.deleted:
                if entry is not None and entry.state is not _State.DONE:
                    log.debug("file_removed", file=str(path))
                    self._forget(entry)
            elif entry is None:
                self._register(path)
            elif entry.state is not _State.DONE:
                entry.dirty = True
                self._set_state(entry, _State.WAITING)

    def _register(self, path: Path) -> _File | None:
        """Start following a file (None when its name is not a volume's)."""
        number = self.naming.volume_number(path.name)
        if number is None and self.index_from == "name":
            if path not in self._ignored:
                self._ignored.add(path)
                reason = f"name does not match {self.naming.pattern!r}"
                log.debug("file_ignored", file=str(path), reason=reason)
            return None
        entry = _File(path=path, number=number)
        self._files[path] = entry
        self._waiting[path] = entry
        return entry

    def _set_state(self, entry: _File, state: _State) -> None:
        entry.state = state
        if state is _State.WAITING:
            self._waiting[entry.path] = entry
        else:
            self._waiting.pop(entry.path, None)
            entry.recheck_at = None

    def _forget(self, entry: _File) -> None:
        self._files.pop(entry.path, None)
        self._waiting.pop(entry.path, None)

    async def _read(self, entry: _File) -> None:
        """Read a file (or, on a scheduled check without event, stat it) and act on it."""
        unless = None if entry.dirty else entry.signature
        entry.dirty = False
        reading = await asyncio.to_thread(_read_file, entry.path, unless)
        now = time.monotonic()
        if self._files.get(entry.path) is not entry:
            return  # removed while it was being read
        if reading.not_a_file:
            log.debug("file_ignored", file=str(entry.path), reason="not a regular file")
            self._forget(entry)
            return
        if isinstance(reading.error, FileNotFoundError):
            log.debug("file_removed", file=str(entry.path))
            self._forget(entry)
            return
        if reading.signature != entry.signature:
            entry.signature = reading.signature
            entry.changed_at = now
            entry.recheck_step = 0
        if reading.unchanged:
            self._still_incomplete(entry, now)
        elif isinstance(reading.error, NotAScanError):
            self._reject(entry, "file_rejected", reading.error.reason, "rejected")
        elif isinstance(reading.error, IncompleteFileError):
            entry.reason = reading.error.reason
            self._still_incomplete(entry, now)
        elif isinstance(reading.error, OSError):
            entry.reason = f"unreadable: {reading.error!r}"
            self._still_incomplete(entry, now)
        elif reading.image is not None:
            self._offer(entry, reading, now)

    def _still_incomplete(self, entry: _File, now: float) -> None:
        """Schedule the next check, or reject the file after ``complete_timeout``."""
        if now - entry.changed_at >= self.complete_timeout:
            waited = round(now - entry.changed_at, 3)
            reason = f"{entry.reason} (no change for {waited} s)"
            self._reject(entry, "file_incomplete", reason, "incomplete")
            return
        delay = RECHECK_DELAYS[min(entry.recheck_step, len(RECHECK_DELAYS) - 1)]
        entry.recheck_step += 1
        entry.recheck_at = min(now + delay, entry.changed_at + self.complete_timeout)

    def _reject(
        self, entry: _File, event: str, reason: str, count: str, state: _State = _State.REJECTED
    ) -> None:
        """Log (once per file) and count a rejection.

        A REJECTED file is read again if it changes; a DONE one never.
        """
        self._set_state(entry, state)
        if not entry.logged:
            entry.logged = True
            self.stats[count] += 1
            log.warning(event, file=str(entry.path), reason=reason)

    def _offer(self, entry: _File, reading: _Reading, now: float) -> None:
        """Give a complete volume to the sequencer, and log what it says."""
        image = reading.image
        assert image is not None and reading.identity is not None
        renamed_from = self._taken_identities.get(reading.identity)
        if renamed_from is not None:
            # Same inode, size and mtime: a file already taken, renamed
            # (a temporary name is also a volume's with index_from="header").
            log.debug("file_renamed", file=str(entry.path), renamed_from=str(renamed_from))
            self._set_state(entry, _State.DONE)
            return
        if self.index_from == "name":
            assert entry.number is not None
            number = entry.number
        elif image.header_index is not None:
            number = image.header_index
        else:
            reason = "no acquisition number in the header (index_from='header')"
            self._reject(entry, "file_rejected", reason, "rejected")
            return
        index = number - self.first_number
        scan = Scan(index=index, path=entry.path, image=image, t_complete=reading.t_complete)
        offer = self._sequencer.offer(index, reading.digest, str(entry.path), scan, now)
        self._set_state(entry, _State.DONE)
        if offer.verdict is Verdict.ACCEPTED:
            self._taken_identities[reading.identity] = entry.path
            log.debug("file_complete", file=str(entry.path), index=index)
        elif offer.verdict is Verdict.DUPLICATE:
            self.stats["duplicates"] += 1
            log.warning(
                "duplicate_skipped",
                file=str(entry.path),
                duplicate_of=offer.duplicate_of,
                index=index,
            )
        elif offer.verdict is Verdict.LATE:
            self.stats["late"] += 1
            log.warning("volume_late", file=str(entry.path), index=index)
        else:
            reason = f"volume number {number} is below first_number {self.first_number}"
            self._reject(entry, "file_rejected", reason, "rejected", state=_State.DONE)

    def _flush(self) -> None:
        """Hand over what the sequencer releases now."""
        for release in self._sequencer.release(time.monotonic()):
            if release.item is None:
                self.stats["missing"] += 1
                log.warning("volume_missing", index=release.index, waited_s=self.reorder_timeout)
            else:
                self.stats["taken"] += 1
                self._out.put_nowait(release.item)
