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
* a file larger than ``max_file_mb``, or once the run has a volume more
  than twice the size of its first volume's file plus 1 MB, is rejected
  (``file_rejected``) from its ``stat``, without being read; gzipped content
  is inflated no further than a NIfTI header implies, or than the cap;
* a file holding one slice of a single-slice series (GE, Philips classic)
  goes to the slice assembler (:mod:`nfd.acquire._assembler`), which hands
  over a volume once all its slices have arrived, and the volume goes out
  as soon as it is stacked (when its turn has come), not after the other
  reads of its batch; the files of a single-slice or Siemens XA enhanced
  series are read along their series' first file
  (:mod:`nfd.acquire._series_reader`, which the watcher owns); a volume still lacking
  slices ``complete_timeout`` seconds after its last one is given up
  (``volume_incomplete``), and one whose slices do not stack into a volume
  is refused (``slices_rejected``);
* files of another series than the run's (the series part of the name, or
  the header's series) are ignored (``series_ignored``, once per series) or
  end the iteration so that the caller can start a new run
  (``series_changed``), as ``on_new_series`` says;
* duplicates (the same index again, or the same bytes under another name)
  are skipped (``duplicate_skipped``); volumes are released in increasing
  index order, an index that is still absent ``reorder_timeout`` seconds
  after a later volume was ready is declared missing (``volume_missing``),
  and a volume arriving after its index was passed is dropped
  (``volume_late``).

Everything blocking (listing, stat, reading, hashing, decoding, stacking
slices) runs in threads; the event loop only does bookkeeping. The decisions
are taken by pure cores with the clock passed in, tested alone: each file's
state (:mod:`nfd.acquire._file_state`), the run's series
(:mod:`nfd.acquire._series_policy`), the slices of a volume
(:mod:`nfd.acquire._assembler`) and the acquisition order
(:mod:`nfd.acquire._sequencer`). :class:`ScanWatcher` is the shell around
them: file events, polling, reads in threads, and the asyncio life cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from watchfiles import Change, awatch

from nfd.acquire._assembler import PartialVolume, SliceAssembler, SliceVerdict
from nfd.acquire._echoes import EchoRun
from nfd.acquire._errors import IncompleteFileError, NotAScanError
from nfd.acquire._file_state import FileState, Outcome, Step, WatchedFile, WatchedFiles
from nfd.acquire._image import ScanImage
from nfd.acquire._last_byte import last_byte_time
from nfd.acquire._naming import FileNaming
from nfd.acquire._reader import read_part_bytes
from nfd.acquire._sequencer import Release, Sequencer, Verdict
from nfd.acquire._series import SeriesId
from nfd.acquire._series_policy import OnNewSeries, SeriesDecision, SeriesPolicy, SeriesVerdict, newest_series
from nfd.acquire._series_reader import SeriesReader
from nfd.acquire._slices import SliceImage, SliceOptions, VolumeFrom, assemble_volume
from nfd.acquire._source import ScanSource
from nfd.acquire._watch_options import IndexFrom, WatchOptions

__all__ = ["Scan", "ScanWatcher"]

log = structlog.get_logger(__name__)

#: watchfiles' batching (ms): a batch of changes is handed over once no new
#: change came for ``_STEP_MS`` (at most ``_DEBOUNCE_MS`` after the first).
#: The step bounds the latency of a file written in one go (measured on a
#: 74x74x36 mosaic: median 11 ms from the last byte to the Scan with a 5 ms
#: step, 7 ms with 2 ms) and costs idle CPU (watchfiles' thread wakes every
#: step: 0.8 % of a core at 5 ms, 1.5 % at 2 ms).
_DEBOUNCE_MS = 10
_STEP_MS = 2

_STAT_KEYS = ("taken", "rejected", "duplicates", "incomplete", "missing", "late", "early", "other_series")


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
        temporary name the scanner renamed since); for a volume of several
        slice files, the file that completed it.
    image : ScanImage
        The volume.
    t_complete : float
        ``time.time()`` (seconds since the epoch) when the file (the last
        slice file) was read complete.
    t_written : float or None
        Seconds since the epoch when the scanner wrote the volume's last
        byte: the latest inode change time (last write, or the rename giving
        the file its name) of its file or slice files, as
        :func:`nfd.acquire._last_byte.last_byte_time` trusts it. None when
        unknown (a recording).
    t_read : float or None
        Seconds since the epoch when the read that found the file (the last
        slice file) complete began; ``t_read - t_written`` is the wait for
        the file to be judged complete, ``t_complete - t_read`` its read.
    echoes : tuple of ScanImage
        A multi-echo volume (``echoes > 1``): every echo, ordered by echo
        number, each with its ``echo`` (1, 2, ...) and ``echo_time_ms``
        (matched with or taken from ``echo_times_ms`` when the file lacks
        them); ``image`` is echo 1's, ``path`` the echo file that completed the volume,
        ``t_written`` the latest of the echo files' last bytes, ``t_read`` and
        ``t_complete`` the completing file's. Empty for a single-echo volume.
    """

    index: int
    path: Path
    image: ScanImage
    t_complete: float
    t_written: float | None = None
    t_read: float | None = None
    echoes: tuple[ScanImage, ...] = ()

    @property
    def echo_images(self) -> tuple[ScanImage, ...]:
        """Every echo of the volume by echo number (``echoes``), or ``(image,)`` for a single-echo volume."""
        return self.echoes or (self.image,)


@dataclass(frozen=True)
class _Reading:
    """The outcome of reading one file in a thread."""

    signature: tuple[int, int] | None
    image: ScanImage | SliceImage | None = None
    identity: tuple[int, int, int, int] | None = None  # (st_dev, st_ino, size, mtime_ns)
    digest: bytes = b""
    error: IncompleteFileError | NotAScanError | OSError | None = None
    not_a_file: bool = False
    kind: str = ""  # for not_a_file: what the entry is (a directory, a FIFO...)
    unchanged: bool = False
    t_complete: float = 0.0
    t_read: float = 0.0  # s since the epoch: the stat of this read
    changed: float = 0.0  # s since the epoch: the file's st_ctime (last write or rename)

    @property
    def outcome(self) -> tuple[Outcome, str]:
        """What the read gave, and the reader's reason for anything but a volume."""
        if self.unchanged:
            return Outcome.UNCHANGED, ""
        if isinstance(self.error, NotAScanError):
            return Outcome.NOT_A_SCAN, self.error.reason
        if isinstance(self.error, IncompleteFileError):
            return Outcome.INCOMPLETE, self.error.reason
        if isinstance(self.error, OSError):
            return Outcome.UNREADABLE, f"unreadable: {self.error!r}"
        return Outcome.COMPLETE, ""


#: A file larger than this many times the run's first volume file (plus
#: ``_EXPECTED_MARGIN`` bytes) is refused unread: no volume of the series is that large.
_EXPECTED_FACTOR = 2
_EXPECTED_MARGIN = 10**6


def _read_file(
    path: Path,
    slices: SliceOptions,
    unless: tuple[int, int] | None = None,
    max_bytes: int = 512 * 10**6,
    expected: int | None = None,
    reader: SeriesReader | None = None,
) -> _Reading:
    """Stat, read, hash and decode one file (blocking; run in a thread).

    When ``unless`` is given and the file's (size, mtime_ns) still equals
    it, the file is not read again (``unchanged=True``). A file larger than
    ``max_bytes``, or than ``_EXPECTED_FACTOR * expected + _EXPECTED_MARGIN``
    bytes when ``expected`` (the size of the run's first volume file) is
    given, is not read (a :class:`NotAScanError` naming its size and the
    cap); gzipped content may inflate to ``max_bytes`` at most. ``reader``
    (when given) reads the content, keeping what a single-slice series'
    first file says; else :func:`~nfd.acquire._reader.read_part_bytes`.
    """
    try:
        # O_NONBLOCK: a FIFO named like a scan never blocks the open; fstat then tells what was opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb", closefd=True) as handle:
            st = os.fstat(fd)
            t_read = time.time()
            if not stat.S_ISREG(st.st_mode):
                return _Reading(signature=None, not_a_file=True, kind=_kind_of(st.st_mode))
            if unless is not None and (st.st_size, st.st_mtime_ns) == unless:
                return _Reading(signature=unless, unchanged=True)
            too_large = _size_refusal(st.st_size, max_bytes, expected)
            if too_large is not None:
                return _Reading((st.st_size, st.st_mtime_ns), error=NotAScanError(path, too_large))
            buf = handle.read()
    except IsADirectoryError:
        return _Reading(signature=None, not_a_file=True, kind="a directory")
    except OSError as err:
        return _Reading(signature=None, error=err)
    signature = (len(buf), st.st_mtime_ns)
    try:
        read = read_part_bytes if reader is None else reader.read
        image = read(buf, str(path), slices, max_inflated=max_bytes)
    except (IncompleteFileError, NotAScanError) as err:
        return _Reading(signature=signature, error=err)
    t_complete = time.time()
    return _Reading(
        signature=signature,
        image=image,
        identity=(st.st_dev, st.st_ino, *signature),
        digest=hashlib.sha256(buf).digest(),
        t_complete=t_complete,
        t_read=t_read,
        changed=st.st_ctime_ns / 1e9,
    )


def _size_refusal(size: int, max_bytes: int, expected: int | None) -> str | None:
    """Why a file of ``size`` bytes is too large to read (None when it is not)."""
    if size > max_bytes:
        return f"{size} bytes, above the size cap of {max_bytes} bytes (max_file_mb): not read"
    if expected is not None and size > _EXPECTED_FACTOR * expected + _EXPECTED_MARGIN:
        limit = _EXPECTED_FACTOR * expected + _EXPECTED_MARGIN
        return (
            f"{size} bytes, above {limit} bytes ({_EXPECTED_FACTOR} x the run's first volume file of "
            f"{expected} bytes, plus {_EXPECTED_MARGIN}): not read"
        )
    return None


def _kind_of(mode: int) -> str:
    """What a file-system entry that is not a regular file is, for a log line."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _list_folder(folder: Path) -> list[tuple[Path, int]]:
    """Entries of a folder with their mtime (ns) (blocking; run in a thread).

    Not only regular files: an entry named like a scan that is a directory or
    a FIFO is read (and skipped with a line) like any other.
    """
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # removed while listing
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
        Seconds an overdue index is waited for before it is declared missing.
    tr : float or None
        Repetition time, s. With it an index is overdue one TR after its
        predecessor arrived (or from the arrival of a later volume), and a
        file far ahead of the scanner (more than
        :data:`~nfd.acquire._sequencer.EARLY_AFTER` volumes beyond where it
        should be) is held, logged once as ``volume_early``, and times no
        gap. None: gaps are timed from the earliest later volume held.
    slices_per_volume : int or None
        Single-slice series: slices per volume (None: from the header, GE
        LocationsInAcquisition, Philips NumberOfSlicesMR, ImagesInAcquisition).
    volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
        Single-slice series: the header field that gives a slice's volume
        number (TemporalPositionIdentifier, AcquisitionNumber, or
        InstanceNumber with the slice count; "auto" picks by vendor). The
        volume of a slice always comes from its header, whatever
        ``index_from`` (with ``"name"`` the slice files' names must still
        match the pattern).
    on_new_series : {"ignore", "new_run"}
        What a file of another series than the run's does: it is ignored,
        or it ends the iteration (after the volumes held are released) and
        :attr:`new_series` tells which series it was, so that the caller
        starts a new run with a new watcher (``series=watcher.new_series``).
    series : SeriesId or None
        The run's series. None: the series of the newest file present at
        start, else of the first volume taken. Files of older series present
        at start are ignored in both modes.
    max_file_mb : float
        Size cap, MB (10^6 bytes): a larger file is rejected from its
        ``stat``, never read, and gzipped content may not inflate beyond it.
        Once a volume is taken, a file larger than twice that volume's file
        plus 1 MB is rejected the same way.
    echoes : int
        Echoes per volume (one file per echo: Siemens mosaics with
        EchoNumbers, NIfTI named with the BIDS ``_echo-<n>_`` entity). With
        more than one, a volume waits until a file of each of its echoes is
        there, as a single-slice volume for its slices (given up
        ``complete_timeout`` seconds after its last echo, ``volume_incomplete``
        naming the echoes present and missing), and is then released as
        one :class:`Scan` with ``echoes``. An echo file with no echo number or
        one above ``echoes``, on another grid than the run's first echo
        file, with a TE other than the run's first for that echo, or with no
        TE at all, is refused (``echo_rejected``, one line naming the file and
        what was expected) and its volume is missing. A single-slice series
        (GE, Philips classic) has one file per slice and echo: the slices
        are collected per volume and echo (each slice's echo and TE judged as
        an echo file's), each echo is stacked and then waits for the other
        echoes as an echo file would; a volume with a slice of one echo
        missing is given up whole, one ``volume_incomplete`` line naming the
        index, the echo and the slices missing. Slices numbered 1 (or not at
        all) with another TE than echo 1's are of the echo whose TE is in
        ``echo_times_ms`` (GE exports write EchoNumbers 1 for every echo);
        without ``echo_times_ms`` they are refused with one line asking for
        them, and every slice of the run with them. A Siemens XA enhanced
        file whose frames hold ``echoes`` echoes is a whole volume at once
        (each echo judged as an echo file's, then released as one Scan); a
        file of another echo count is refused with one line naming the
        echo counts expected and found (``file_rejected`` when ``echoes`` is 1).
    echo_times_ms : sequence of float or None
        Echo times, ms, one per echo, for files that do not give them (NIfTI
        without a BIDS sidecar), and to number the echoes of files that do
        not (Siemens XA without EchoNumbers, GE slices all numbered 1).

    Attributes
    ----------
    stats : dict of str to int
        Counts: ``taken`` (yielded), ``rejected`` (not a scan, or numbered
        below ``first_number``), ``duplicates`` (files), ``incomplete``
        (files rejected after ``complete_timeout``, and volumes given up
        with slices missing), ``missing``, ``late``, ``other_series``
        (files of another series ignored).
    missing : list of int
        Indices declared missing, in order.
    series : SeriesId or None
        The run's series, once known.
    new_series : SeriesId or None
        With ``on_new_series="new_run"``, the series whose first file ended
        the iteration; None otherwise.
    barred : frozenset of SeriesId
        The series that never start a run, to hand to the next watcher: the
        ones given, those whose first file came while the run's series was
        still being written (less than one TR before), and, once a new
        series began, the run's.

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
        index_from: IndexFrom = "name",
        poll: bool = False,
        poll_interval: float = 0.1,
        complete_timeout: float = 10.0,
        reorder_timeout: float = 2.0,
        tr: float | None = None,
        slices_per_volume: int | None = None,
        volume_from: VolumeFrom = "auto",
        on_new_series: OnNewSeries = "ignore",
        series: SeriesId | None = None,
        barred: Iterable[SeriesId] = (),
        max_file_mb: float = 512.0,
        echoes: int = 1,
        echo_times_ms: Sequence[float] | None = None,
    ) -> None:
        self.options = WatchOptions(
            naming=naming if naming is not None else FileNaming(),
            first_number=first_number,
            index_from=index_from,
            poll=poll,
            poll_interval=poll_interval,
            complete_timeout=complete_timeout,
            reorder_timeout=reorder_timeout,
            tr=tr,
            slices=SliceOptions(slices_per_volume, volume_from, echoes),
            on_new_series=on_new_series,
            series=series,
            barred=frozenset(barred),
            max_file_mb=max_file_mb,
            echoes=echoes, echo_times_ms=None if echo_times_ms is None else tuple(echo_times_ms),
        )
        self.folder = Path(folder).absolute()
        self.stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)
        self._policy = SeriesPolicy(
            self.options.on_new_series, self.options.series, tr=self.options.tr, barred=self.options.barred
        )
        self._sequencer: Sequencer[Scan] = Sequencer(self.options.reorder_timeout, tr=self.options.tr)
        self._assembler: SliceAssembler[SliceImage] = SliceAssembler(self.options.complete_timeout)
        self._init_echoes()
        self._reader = SeriesReader()  # each single-slice series' first file, for reading the rest fast
        self._files = WatchedFiles()
        self._ignored: set[Path] = set()  # names that are not a volume's, logged once
        self._taken_identities: dict[tuple[int, int, int, int], Path] = {}
        self._slices_written: dict[tuple[int, int], float] = {}  # (index, echo) -> latest last byte so far (epoch s)
        self._late_logged: set[int] = set()
        self._initial_indices: list[int] = []
        self._saw_slices = False
        self._ended = False
        self._events: asyncio.Queue[set[tuple[Change, str]] | BaseException] = asyncio.Queue()
        self._out: asyncio.Queue[Scan | _End] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._closed = False

    def _init_echoes(self) -> None:
        """The state of a multi-echo run: its echoes' judge, the volumes lacking echoes, the indices refused."""
        self._echo_run = EchoRun(self.options.echoes, self.options.echo_times_ms)
        self._echo_assembler: SliceAssembler[Scan] = SliceAssembler(self.options.complete_timeout)
        self._refused: set[int] = set()  # indices of which an echo file was refused
        self._given_up: set[int] = set()  # multi-echo single-slice indices given up lacking slices
        self._unnumbered = ""  # why the run's slices cannot be told apart by echo (GE's EchoNumbers 1), once seen
        self._slice_positions: list[int] | None = None  # the run's slice positions (um grid), from its first volume

    @property
    def series(self) -> SeriesId | None:
        """The run's series, once known."""
        return self._policy.series

    @property
    def new_series(self) -> SeriesId | None:
        """With ``on_new_series="new_run"``, the series whose first file ended the iteration."""
        return self._policy.new_series

    @property
    def barred(self) -> frozenset[SeriesId]:
        """With ``on_new_series="new_run"``, the series that never start a run (for the next watcher)."""
        return self._policy.barred

    @property
    def missing(self) -> list[int]:
        """Indices declared missing, in order."""
        return list(self._sequencer.missing)

    # -- life cycle ---------------------------------------------------------

    async def __aenter__(self) -> ScanWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
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
        initial = [self._register(path, mtime) for path, mtime in self._initial_order(listing)]
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
                force_polling=self.options.poll,
                poll_delay_ms=max(1, round(self.options.poll_interval * 1000)),
                recursive=False,
            ):
                self._events.put_nowait(changes)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - handed to the watching task, which raises it
            self._events.put_nowait(err)

    async def _run(self, initial_files: list[WatchedFile]) -> None:
        await self._take_initial(initial_files)
        self._sequencer.start(self._initial_index(initial_files), now=time.monotonic())
        log.debug(
            "watch_started",
            folder=str(self.folder),
            files_at_start=len(initial_files),
            first_index=self._sequencer.next_index,
            series=None if self.series is None else str(self.series),
        )
        self._flush()
        while not self._ended:
            await self._wait_for_events()
            for entry in self._files.due(time.monotonic()):
                self._drain_events()
                if self._files.waits(entry):
                    await self._read(entry)
                if self._ended:
                    return
            self._flush()

    async def _take_initial(self, initial_files: list[WatchedFile]) -> None:
        """Read the files present at start, settle the run's series, then offer them in order."""
        readings: list[tuple[WatchedFile, _Reading]] = []
        for entry in initial_files:
            self._drain_events()
            if self._files.waits(entry):
                reading = await self._fetch(entry)
                if reading is not None:
                    readings.append((entry, reading))
        self._policy.settle(newest_series(_series_at_start(initial_files, readings)))
        for entry, reading in readings:
            if self._files.follows(entry):
                await self._handle(entry, reading, time.monotonic())
                if self._ended:
                    return

    def _initial_order(self, listing: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        """Files present at start, in the order to take them."""
        if self.options.index_from == "header":
            return sorted(listing, key=lambda item: (item[1], item[0].name))
        naming, first_number = self.options.naming, self.options.first_number

        def key(item: tuple[Path, int]) -> tuple[bool, int, str]:
            number = naming.volume_number(item[0].name)
            number = -1 if number is None else number
            # Numbers below first_number last: byte copies of later volumes
            # (the rt-cloud sample's 000000) are then recognised as duplicates.
            return (number < first_number, number, item[0].name)

        return sorted(listing, key=key)

    def _initial_index(self, initial: list[WatchedFile]) -> int | None:
        """First index to expect: the smallest index present at start.

        The indices of the volumes and slices of the run's series read at
        start, and with ``index_from="name"`` the numbers in the names of
        files still being written (unless the series is one of slices, whose
        names do not number volumes); 0 when there is none (None with
        ``index_from="header"``: the smallest index the sequencer holds).
        """
        indices = [i for i in self._initial_indices if i >= 0]
        if self.options.index_from == "name" and not self._saw_slices:
            pending = [
                f.number - self.options.first_number
                for f in initial
                if f.number is not None and f.state is FileState.WAITING
            ]
            indices += [i for i in pending if i >= 0]
        if indices:
            return min(indices)
        return None if self.options.index_from == "header" else 0

    async def _wait_for_events(self) -> None:
        """Wait for file events, or until the next re-check, reorder or slice deadline."""
        candidates = (self._files.next_check(), self._sequencer.deadline(), self._assembler.deadline(),
                      self._echo_assembler.deadline())
        deadlines = [deadline for deadline in candidates if deadline is not None]
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
            if change is Change.deleted:
                if self._files.removed(path):
                    log.debug("file_removed", file=str(path))
            elif not self._files.changed(path):
                self._register(path)

    def _register(self, path: Path, mtime_ns: int = 0) -> WatchedFile | None:
        """Start following a file (None when its name is not a volume's)."""
        naming = self.options.naming
        number = naming.volume_number(path.name)
        if number is None and self.options.index_from == "name":
            if path not in self._ignored:
                self._ignored.add(path)
                log.debug("file_ignored", file=str(path), reason=f"name does not match {naming.pattern!r}")
            return None
        series_name = naming.series(path.name)
        entry = WatchedFile(path, number, time.monotonic(), series_name=series_name, mtime_ns=mtime_ns)
        return self._files.add(entry)

    async def _read(self, entry: WatchedFile) -> None:
        """Read a file (or, on a scheduled check without event, stat it) and act on it."""
        reading = await self._fetch(entry)
        if reading is not None:
            await self._handle(entry, reading, time.monotonic())

    async def _fetch(self, entry: WatchedFile) -> _Reading | None:
        """Read a file in a thread; None when it is gone, not a file, or of an ignored series."""
        ignored = self._policy.by_name(entry.series_name)
        if ignored is not None:
            self._ignore_series(entry, ignored)
            return None
        unless = None if entry.dirty else entry.signature
        entry.dirty = False
        reading = await asyncio.to_thread(
            _read_file, entry.path, self.options.slices, unless, self.options.max_file_bytes, self._expected_size(),
            self._reader,
        )
        if not self._files.follows(entry):
            return None  # removed while it was being read
        if reading.not_a_file:
            reason = f"{reading.kind or 'not a regular file'}, not a scan file"
            self._reject(entry, "file_skipped", reason, "rejected", state=FileState.DONE)
            self._files.forget(entry)
            return None
        if isinstance(reading.error, FileNotFoundError):
            log.debug("file_removed", file=str(entry.path))
            self._files.forget(entry)
            return None
        entry.observe(reading.signature, time.monotonic())
        return reading

    def _expected_size(self) -> int | None:
        """Bytes of the run's first volume (or slice) file taken, None before one is."""
        first = next(iter(self._taken_identities), None)
        return None if first is None else first[2]

    async def _handle(self, entry: WatchedFile, reading: _Reading, now: float) -> None:
        """Act on what reading a file gave."""
        outcome, reason = reading.outcome
        decision = entry.judge(outcome, reason, now, self.options.complete_timeout)
        if decision.step is Step.REJECT:
            self._reject(entry, "file_rejected", decision.reason, "rejected")
        elif decision.step is Step.EXPIRE:
            self._reject(entry, "file_incomplete", decision.reason, "incomplete")
        elif decision.step is Step.OFFER:
            await self._offer(entry, reading, now)

    def _reject(
        self, entry: WatchedFile, event: str, reason: str, count: str, state: FileState = FileState.REJECTED
    ) -> None:
        """Log (once per file) and count a rejection.

        A REJECTED file is read again if it changes; a DONE one never.
        """
        self._files.settle(entry, state)
        if not entry.logged:
            entry.logged = True
            self.stats[count] += 1
            log.warning(event, file=str(entry.path), reason=reason)
            self._give_up_index(entry, f"its file {entry.path.name} was {count}: {reason}")

    def _give_up_index(self, entry: WatchedFile, reason: str) -> None:
        """A file numbered by its name that cannot be a volume: its index is missing at once, not after a wait."""
        if self.options.index_from != "name" or entry.number is None or self._saw_slices:
            return
        self._sequencer.give_up(entry.number - self.options.first_number, reason)

    # -- series -------------------------------------------------------------

    def _ignore_series(self, entry: WatchedFile, decision: SeriesDecision) -> None:
        self._files.settle(entry, FileState.DONE)
        self.stats["other_series"] += 1
        if decision.first:
            log.warning(
                "series_ignored",
                file=str(entry.path),
                series=str(decision.series),
                run_series=str(self.series),
                reason=decision.reason,
            )
        else:
            log.debug("file_ignored", file=str(entry.path), reason=f"{decision.series}: {decision.reason}")

    def _check_series(self, entry: WatchedFile, image: ScanImage | SliceImage, written: float) -> bool:
        """Whether the file is of the run's series (the policy learns the series from the first one).

        A file of another series is ignored, or, with ``on_new_series="new_run"``
        and once the run is under way, ends the run's series.
        """
        decision = self._policy.judge(
            SeriesId(entry.series_name, image.series), self._sequencer.started, now=written
        )
        if decision.verdict is SeriesVerdict.RUN:
            return True
        if decision.verdict is SeriesVerdict.NEW_RUN:
            self._end_series(entry, decision.series)
        else:
            self._ignore_series(entry, decision)
        return False

    def _end_series(self, entry: WatchedFile, series: SeriesId) -> None:
        """A new series began: release what is held, give up partial volumes, end the iteration."""
        self._files.settle(entry, FileState.DONE)
        log.info(
            "series_changed", file=str(entry.path), series=str(self.series), new_series=str(series)
        )
        self._hand_over(self._sequencer.finish())
        for volume in self._assembler.drop_all():
            self._give_up(volume, "a new series began")
        for echoes in self._echo_assembler.drop_all():
            self._give_up_echoes(echoes, "a new series began")
        self._ended = True
        self._out.put_nowait(_End())

    # -- volumes and slices -------------------------------------------------

    async def _offer(self, entry: WatchedFile, reading: _Reading, now: float) -> None:
        """Give a complete volume to the sequencer, or a slice to the assembler."""
        image = reading.image
        assert image is not None and reading.identity is not None
        renamed_from = self._taken_identities.get(reading.identity)
        if renamed_from is not None:
            # Same inode, size and mtime: a file already taken, renamed
            # (a temporary name is also a volume's with index_from="header").
            log.debug("file_renamed", file=str(entry.path), renamed_from=str(renamed_from))
            self._files.settle(entry, FileState.DONE)
            return
        written = self._last_byte(entry, reading)
        if not self._check_series(entry, image, written):
            return
        if isinstance(image, SliceImage):
            await self._offer_slice(entry, reading, image, now, written)
            return
        if self.options.index_from == "name":
            assert entry.number is not None
            number = entry.number
        elif image.header_index is not None:
            number = image.header_index
        else:
            reason = "no acquisition number in the header (index_from='header')"
            self._reject(entry, "file_rejected", reason, "rejected")
            return
        index = number - self.options.first_number
        scan = Scan(index=index, path=entry.path, image=image, t_complete=reading.t_complete,
                    t_written=written, t_read=reading.t_read)
        if image.more_echoes:
            self._offer_file_echoes(entry, scan, reading, now)
            return
        if self.options.echoes > 1:
            self._offer_echo(entry, scan, reading, now)
            return
        self._offer_volume(entry, scan, reading.digest, reading.identity, now)

    def _offer_volume(
        self,
        entry: WatchedFile,
        scan: Scan,
        digest: bytes,
        identity: tuple[int, int, int, int] | None,
        now: float,
    ) -> None:
        """Give a complete volume to the sequencer, and log what it says."""
        index = scan.index
        offer = self._sequencer.offer(index, digest, str(entry.path), scan, now)
        self._files.settle(entry, FileState.DONE)
        if offer.verdict is Verdict.ACCEPTED:
            if identity is not None:
                self._taken_identities[identity] = entry.path
            if not self._sequencer.started:
                self._initial_indices.append(index)
            log.debug("file_complete", file=str(entry.path), index=index)
            if offer.early:
                self.stats["early"] += 1
                log.warning(
                    "volume_early", file=str(entry.path), index=index, expected_near=self._sequencer.next_index,
                    reason="far ahead of the scanner: held until its turn, timing no gap",
                )
            if self._sequencer.started:  # out at once, not after the rest of this batch of reads
                self._hand_over(self._sequencer.release(now))
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
            number = index + self.options.first_number
            reason = f"volume number {number} is below first_number {self.options.first_number}"
            self._reject(entry, "file_rejected", reason, "rejected", state=FileState.DONE)

    async def _offer_slice(
        self, entry: WatchedFile, reading: _Reading, image: SliceImage, now: float, written: float
    ) -> None:
        """Give a slice to the assembler; stack and offer its volume once it is whole.

        ``written`` is the slice file's last byte (s since the epoch); the volume's is the latest of its slices'.
        """
        assert reading.identity is not None
        self._saw_slices = True
        index = image.volume_number - self.options.first_number
        if index < 0:
            reason = (
                f"slice of volume {image.volume_number}, below first_number {self.options.first_number}"
            )
            self._reject(entry, "file_rejected", reason, "rejected", state=FileState.DONE)
            return
        echo = 0
        if self.options.echoes > 1:
            settled = self._settle_slice_echo(entry, index, image)
            if settled is None:
                return
            image, echo = settled, settled.echo or 0
        original = self._assembler.duplicate_of(index, image.position, reading.digest, echo)
        if original is not None:
            self._files.settle(entry, FileState.DONE)
            self.stats["duplicates"] += 1
            log.warning("duplicate_skipped", file=str(entry.path), duplicate_of=original, index=index)
            return
        if self._index_passed(entry, index, "slice_late"):
            return
        offer = self._assembler.offer(
            index,
            image.position,
            image.slices_per_volume,
            reading.digest,
            str(entry.path),
            image,
            now,
            echo,
        )
        self._files.settle(entry, FileState.DONE)
        assert offer.verdict is not SliceVerdict.DUPLICATE  # ruled out above
        self._taken_identities[reading.identity] = entry.path
        self._echo_assembler.touch(index, now)  # echoes stacked wait while slices of their volume come
        written = max(self._slices_written.get((index, echo), 0.0), written)
        self._slices_written[(index, echo)] = written
        if not self._sequencer.started:
            self._initial_indices.append(index)
        log.debug("slice_complete", file=str(entry.path), index=index, echo=echo or None)
        if offer.volume is None:
            return
        del self._slices_written[(index, echo)]
        await self._stack(entry, reading, offer.volume, written)

    async def _stack(
        self, entry: WatchedFile, reading: _Reading, volume: PartialVolume[SliceImage], written: float
    ) -> None:
        """Stack a whole volume's slices (in a thread) and offer it, released at once when its turn has come.

        ``entry`` and ``reading`` are its last slice file's; ``written`` the
        latest last byte of its slice files (s since the epoch).
        """
        index = volume.index
        try:
            stacked = await asyncio.to_thread(assemble_volume, volume.items, str(entry.path))
        except NotAScanError as err:
            self.stats["rejected"] += 1
            log.warning("slices_rejected", file=str(entry.path), index=index, reason=err.reason)
            return
        if self._ended:
            return
        scan = Scan(index=index, path=entry.path, image=stacked, t_complete=reading.t_complete,
                    t_written=written, t_read=reading.t_read)
        digest = hashlib.sha256(b"".join(sorted(volume.digests))).digest()
        if volume.echo:
            if self._slice_positions is None:
                self._slice_positions = sorted(volume.slices)
            self._offer_stacked_echo(entry, scan, volume.echo, digest, time.monotonic())
            return
        self._offer_volume(entry, scan, digest, None, time.monotonic())

    # -- echoes -------------------------------------------------------------

    def _settle_slice_echo(self, entry: WatchedFile, index: int, image: SliceImage) -> SliceImage | None:
        """A slice of a multi-echo series with the echo and TE the run settles on, or None (refused or dropped)."""
        if self._unnumbered or index in self._refused or index in self._given_up:
            self._files.settle(entry, FileState.DONE)
            reason = self._unnumbered or "its volume was refused or given up"
            log.debug("slice_dropped", file=str(entry.path), index=index, reason=reason)
            return None
        unnumbered = self._echo_run.unnumbered(image)
        if unnumbered:
            self._refuse_unnumbered(entry, index, image, unnumbered)
            return None
        number = self._echo_run.number(image)
        if number.echo is None or number.reason:
            self._refuse_echo(entry, index, number.echo, number.reason)
            return None
        checked = self._echo_run.check_time(image, number.echo)
        if checked.reason or checked.echo_time_ms is None:
            self._refuse_echo(entry, index, number.echo, checked.reason)
            return None
        self._echo_run.accept_time(number.echo, checked.echo_time_ms)
        if (image.echo, image.echo_time_ms) == (number.echo, checked.echo_time_ms):
            return image
        return dataclasses.replace(image, echo=number.echo, echo_time_ms=checked.echo_time_ms)

    def _refuse_unnumbered(self, entry: WatchedFile, index: int, image: SliceImage, reason: str) -> None:
        """The run's slices do not number their echoes: one line, everything held dropped, every later slice too."""
        self._unnumbered = reason
        self._files.settle(entry, FileState.DONE)
        self.stats["rejected"] += 1
        log.warning("echo_rejected", file=str(entry.path), index=index, echo=image.echo, reason=reason)
        held = self._assembler.drop_all() + self._echo_assembler.drop_all()
        self._slices_written.clear()
        for i in sorted({index, *(volume.index for volume in held)}):
            self._sequencer.give_up(i, reason)
        log.debug("slices_dropped", indices=sorted({v.index for v in held}), reason=reason)

    def _offer_stacked_echo(self, entry: WatchedFile, scan: Scan, echo: int, digest: bytes, now: float) -> None:
        """Give one echo's stacked slices to the echo assembler, as a one-file echo; offer the volume once whole.

        ``entry`` is the slice file that completed the echo.
        """
        index, image = scan.index, scan.image
        if self._unnumbered or index in self._refused or index in self._given_up:
            log.debug("echo_dropped", file=str(entry.path), index=index, reason="its volume was refused or given up")
            return
        grid = self._echo_run.grid_refusal(image)
        if grid:
            self._refuse_echo(entry, index, echo, grid)
            return
        self._echo_run.accept_grid(image)
        if self._echo_duplicate(entry, index, echo, digest) or self._passed(entry, index):
            return
        offer = self._echo_assembler.offer(index, echo, self.options.echoes, digest, str(entry.path), scan, now)
        log.debug("echo_complete", file=str(entry.path), index=index, echo=echo)
        if offer.volume is not None:
            whole = _whole_volume(offer.volume)
            self._offer_volume(entry, whole, hashlib.sha256(b"".join(sorted(offer.volume.digests))).digest(),
                               None, now)

    def _give_up_echo_slices(self, volume: PartialVolume[SliceImage], reason: str) -> None:
        """A multi-echo volume lacking slices of an echo is given up whole: one line naming echo and slices missing."""
        index = volume.index
        if index in self._given_up:
            return
        self._given_up.add(index)
        partial = sorted([volume, *self._assembler.discard_index(index)], key=lambda v: v.echo)
        held = self._echo_assembler.discard(index)
        for part in partial:
            self._slices_written.pop((index, part.echo), None)
        positions = self._slice_positions
        missing = [] if positions is None else [k for k, p in enumerate(positions, 1) if p not in volume.slices]
        self.stats["incomplete"] += 1
        log.warning(
            "volume_incomplete",
            index=index,
            echo=volume.echo,
            slices=len(volume.slices),
            expected=volume.expected,
            missing_slices=missing,
            echoes_lacking_slices=[part.echo for part in partial],
            echoes_complete=[] if held is None else sorted(scan.image.echo or 0 for scan in held.items),
            last_file=volume.last_key,
            reason=reason,
        )
        self._sequencer.give_up(index, f"slices of echo {volume.echo} missing: {reason}")

    def _offer_echo(self, entry: WatchedFile, scan: Scan, reading: _Reading, now: float) -> None:
        """Give one echo file's volume to the echo assembler; offer the volume once every echo is there."""
        index, image = scan.index, scan.image
        if index in self._refused:  # an echo of this volume was refused: the volume is missing
            self._files.settle(entry, FileState.DONE)
            log.debug("echo_dropped", file=str(entry.path), index=index, reason="an echo of its volume was refused")
            return
        number = self._echo_run.number(image)
        if number.echo is None or number.reason:
            self._refuse_echo(entry, index, number.echo, number.reason)
            return
        echo = number.echo
        if self._echo_duplicate(entry, index, echo, reading.digest) or self._passed(entry, index):
            return
        checked = self._echo_run.check(image, echo)
        if checked.reason or checked.echo_time_ms is None:
            self._refuse_echo(entry, index, echo, checked.reason)
            return
        self._echo_run.accept(image, echo, checked.echo_time_ms)
        if (image.echo, image.echo_time_ms) != (echo, checked.echo_time_ms):  # from echo_times_ms
            image = dataclasses.replace(image, echo=echo, echo_time_ms=checked.echo_time_ms)
            scan = dataclasses.replace(scan, image=image)
        offer = self._echo_assembler.offer(
            index, echo, self.options.echoes, reading.digest, str(entry.path), scan, now
        )
        self._files.settle(entry, FileState.DONE)
        assert reading.identity is not None
        self._taken_identities[reading.identity] = entry.path
        if not self._sequencer.started:
            self._initial_indices.append(index)
        log.debug("echo_complete", file=str(entry.path), index=index, echo=echo)
        if offer.volume is not None:
            whole = _whole_volume(offer.volume)
            digest = hashlib.sha256(b"".join(sorted(offer.volume.digests))).digest()
            self._offer_volume(entry, whole, digest, None, now)

    def _offer_file_echoes(self, entry: WatchedFile, scan: Scan, reading: _Reading, now: float) -> None:
        """A file holding every echo of a volume (Siemens XA frames of several echoes): one multi-echo Scan.

        Each echo is judged as an echo file is (number, TE, grid); a file of
        another echo count than ``echoes``, or any echo refused, is refused
        with one line and its volume is missing.
        """
        index, found, expected = scan.index, scan.image.file_echoes, self.options.echoes
        if len(found) != expected:
            reason = (f"the file holds {len(found)} echoes (frames of {len(found)} echo times), expected {expected} "
                      f"(echoes={expected})")
            if expected == 1:
                self._reject(entry, "file_rejected", reason + ": set [multiecho] echoes", "rejected")
            else:
                self._refuse_echo(entry, index, None, reason, expected_echoes=expected, found_echoes=len(found))
            return
        if index in self._refused:  # as for an echo file (the sequencer tells duplicates, late or early volumes)
            self._files.settle(entry, FileState.DONE)
            log.debug("echo_dropped", file=str(entry.path), index=index, reason="an echo of its volume was refused")
            return
        settled = []
        for image in found:
            number = self._echo_run.number(image)
            checked = self._echo_run.check(image, number.echo) if number.echo and not number.reason else number
            if checked.echo is None or checked.reason or checked.echo_time_ms is None:
                self._refuse_echo(entry, index, checked.echo, checked.reason)
                return
            settled.append(dataclasses.replace(image, echo=checked.echo, echo_time_ms=checked.echo_time_ms))
        if sorted(image.echo or 0 for image in settled) != list(range(1, expected + 1)):
            self._refuse_echo(entry, index, None, f"echoes {[i.echo for i in settled]} of the file's echo times, "
                              f"expected each of 1..{expected} once")
            return
        for image in settled:
            assert image.echo is not None and image.echo_time_ms is not None
            self._echo_run.accept(image, image.echo, image.echo_time_ms)
        echoes = tuple(sorted(settled, key=lambda image: image.echo or 0))
        log.debug("echoes_complete", file=str(entry.path), index=index, echoes=expected)
        self._offer_volume(entry, dataclasses.replace(scan, image=echoes[0], echoes=echoes), reading.digest,
                           reading.identity, now)

    def _echo_duplicate(self, entry: WatchedFile, index: int, echo: int, digest: bytes) -> bool:
        """Whether an echo file is a duplicate: the bytes of an echo file taken, an echo held, or a volume complete."""
        original = self._echo_assembler.duplicate_of(index, echo, digest)
        if original is None:
            return False
        self._files.settle(entry, FileState.DONE)
        self.stats["duplicates"] += 1
        log.warning("duplicate_skipped", file=str(entry.path), duplicate_of=original, index=index, echo=echo)
        return True

    def _passed(self, entry: WatchedFile, index: int) -> bool:
        """Whether an echo file's index is below first_number (rejected) or was passed (``volume_late``, once)."""
        if index < 0:
            number = index + self.options.first_number
            reason = f"volume number {number} is below first_number {self.options.first_number}"
            self._reject(entry, "file_rejected", reason, "rejected", state=FileState.DONE)
            return True
        return self._index_passed(entry, index, "echo_late")

    def _index_passed(self, entry: WatchedFile, index: int, again: str) -> bool:
        """Whether ``index`` was already passed: the file is settled, ``volume_late`` logged once per index
        (``again`` at debug level for its further files)."""
        next_index = self._sequencer.next_index
        if not (self._sequencer.started and next_index is not None and index < next_index):
            return False
        self._files.settle(entry, FileState.DONE)
        if index not in self._late_logged:
            self._late_logged.add(index)
            self.stats["late"] += 1
            log.warning("volume_late", file=str(entry.path), index=index)
        else:
            log.debug(again, file=str(entry.path), index=index)
        return True

    def _refuse_echo(self, entry: WatchedFile, index: int, echo: int | None, reason: str, **fields: int) -> None:
        """Refuse an echo file (one line, with ``fields``): its volume is given up, recorded missing in its turn."""
        self._files.settle(entry, FileState.REJECTED)
        if entry.logged:
            return
        entry.logged = True
        self.stats["rejected"] += 1
        log.warning("echo_rejected", file=str(entry.path), index=index, echo=echo, reason=reason, **fields)
        self._refused.add(index)
        held = self._echo_assembler.discard(index)
        if held is not None:
            log.debug("echoes_dropped", index=index, files=held.keys)
        for part in self._assembler.discard_index(index):  # a multi-echo single-slice volume's other slices
            self._slices_written.pop((index, part.echo), None)
            log.debug("slices_dropped", index=index, echo=part.echo, files=part.keys)
        self._sequencer.give_up(index, f"its echo file {entry.path.name} was refused: {reason}")

    def _give_up_echoes(self, volume: PartialVolume[Scan], reason: str) -> None:
        """A volume still lacking echoes is given up: one line naming the echoes present and missing."""
        present = sorted(scan.image.echo or 0 for scan in volume.items)
        self.stats["incomplete"] += 1
        log.warning(
            "volume_incomplete",
            index=volume.index,
            echoes_present=present,
            echoes_missing=[e for e in range(1, volume.expected + 1) if e not in present],
            expected=volume.expected,
            last_file=volume.last_key,
            reason=reason,
        )

    def _last_byte(self, entry: WatchedFile, reading: _Reading) -> float:
        """When the scanner wrote the file's last byte (s since the epoch): :mod:`nfd.acquire._last_byte`'s rule."""
        t, _ = last_byte_time(reading.changed, reading.t_read, polled=self.options.poll,
                              poll_interval=self.options.poll_interval, at_start=bool(entry.mtime_ns))
        return t

    def _give_up(self, volume: PartialVolume[SliceImage], reason: str) -> None:
        if volume.echo:
            self._give_up_echo_slices(volume, reason)
            return
        self._slices_written.pop((volume.index, 0), None)
        self.stats["incomplete"] += 1
        log.warning(
            "volume_incomplete",
            index=volume.index,
            slices=len(volume.slices),
            expected=volume.expected,
            last_file=volume.last_key,
            reason=reason,
        )

    def _flush(self) -> None:
        """Hand over what the sequencer releases now; give up volumes lacking slices."""
        now = time.monotonic()
        for volume in self._assembler.expire(now):
            waited = round(now - volume.updated_at, 3)
            self._give_up(volume, f"no new slice for {waited} s")
        for echoes in self._echo_assembler.expire(now):
            self._give_up_echoes(echoes, f"no new echo for {round(now - echoes.updated_at, 3)} s")
        self._hand_over(self._sequencer.release(now))
        next_index = self._sequencer.next_index
        if next_index is not None:
            for volume in self._assembler.drop_before(next_index):
                self._give_up(volume, "its index was passed")
            for echoes in self._echo_assembler.drop_before(next_index):
                self._give_up_echoes(echoes, "its index was passed")

    def _hand_over(self, releases: list[Release[Scan]]) -> None:
        for release in releases:
            if release.item is None:
                self.stats["missing"] += 1
                log.warning("volume_missing", index=release.index, reason=release.reason)
            else:
                self.stats["taken"] += 1
                self._out.put_nowait(release.item)


_watcher_is_a_source: type[ScanSource] = ScanWatcher


def _whole_volume(volume: PartialVolume[Scan]) -> Scan:
    """One Scan of a volume's echoes (each a Scan of one echo file), ordered by echo number."""
    scans = volume.items  # by position, i.e. by echo number
    last = max(scans, key=lambda scan: scan.t_complete)
    written = [scan.t_written for scan in scans if scan.t_written is not None]
    return Scan(
        index=volume.index,
        path=last.path,
        image=scans[0].image,
        t_complete=last.t_complete,
        t_written=max(written) if written else None,
        t_read=last.t_read,
        echoes=tuple(scan.image for scan in scans),
    )


def _series_at_start(
    initial_files: list[WatchedFile], readings: list[tuple[WatchedFile, _Reading]]
) -> list[tuple[int, SeriesId]]:
    """Each file present at start with its mtime (ns) and series (name's and header's), as listed."""
    read = {entry.path: reading for entry, reading in readings}
    found = []
    for entry in initial_files:
        reading = read.get(entry.path)
        uid = reading.image.series if reading is not None and reading.image is not None else None
        mtime = reading.signature[1] if reading is not None and reading.signature else entry.mtime_ns
        found.append((mtime, SeriesId(entry.series_name, uid)))
    return found
