"""One scan file's life in the watch folder: seen, still being written, then complete or refused.

Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``,
monotonic seconds), like :mod:`nfd.acquire._sequencer`: the watch folder
reads or stats a file and tells its :class:`WatchedFile` what it saw (the
file's size and mtime, and whether it read as a volume, as a scan still
short of its header, as no scan at all, or not at all); the file says what
to do next (:class:`Step`): check again at :attr:`WatchedFile.recheck_at`,
reject it, give it up as incomplete, or offer its volume. The last observed
change of each file (its size or mtime changing) is kept, and handed over
with the complete file (:attr:`Decision.changed_at`, :attr:`Decision.mtime_ns`).

:class:`WatchedFiles` is the folder's table of followed files: which are
waiting to be read, which are due for a check at ``now``, and the earliest
time one will be.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RECHECK_DELAYS", "Decision", "FileState", "Outcome", "Step", "WatchedFile", "WatchedFiles"]

#: Delays (s) between checks of an incomplete file, counted from its last
#: observed change: every 2 ms for the first ~50 ms (a scanner writes a file
#: within a few ms to tens of ms), then backing off; the last delay repeats
#: until ``complete_timeout``. A check is a ``stat``; the file is read again
#: only when its size or mtime changed.
RECHECK_DELAYS: tuple[float, ...] = (0.002,) * 25 + (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)

#: (size in bytes, mtime in ns) of a file when it was last read.
Signature = tuple[int, int]


class FileState(enum.Enum):
    """Where a followed file stands."""

    #: To be read, or incomplete and checked again on a schedule.
    WAITING = "waiting"
    #: Not a scan, or incomplete for too long; read again if it changes.
    REJECTED = "rejected"
    #: Taken, duplicate, late, of another series: never looked at again.
    DONE = "done"


class Outcome(enum.Enum):
    """What reading (or only stat-ing) a file gave."""

    #: Size and mtime as at the last read: not read again.
    UNCHANGED = "unchanged"
    #: A recognisable scan, shorter than its header says (may still be growing).
    INCOMPLETE = "incomplete"
    #: The read failed (an OSError other than the file being gone).
    UNREADABLE = "unreadable"
    #: Not a scan, and never will be.
    NOT_A_SCAN = "not_a_scan"
    #: A whole volume (or slice).
    COMPLETE = "complete"


class Step(enum.Enum):
    """What the watch folder does next with a file."""

    #: Still incomplete: check again at :attr:`WatchedFile.recheck_at`.
    RECHECK = "recheck"
    #: Not a scan: reject it (``file_rejected``); read again if it changes.
    REJECT = "reject"
    #: Incomplete for ``complete_timeout`` seconds: give it up (``file_incomplete``).
    EXPIRE = "expire"
    #: Complete: offer its volume (or slice).
    OFFER = "offer"


@dataclass(frozen=True)
class Decision:
    """What a file's latest observation calls for.

    Attributes
    ----------
    step : Step
        Check again, reject, give up or offer.
    reason : str
        For REJECT and EXPIRE, why (the reader's reason, and for EXPIRE how
        long the file went without a change); empty otherwise.
    changed_at : float
        Monotonic time (s) of the file's last observed change.
    mtime_ns : int or None
        The file's mtime (ns since the epoch) at its last read, if it was read.
    """

    step: Step
    changed_at: float
    reason: str = ""
    mtime_ns: int | None = None


@dataclass
class WatchedFile:
    """A file the watch folder follows, with what it has seen of it so far.

    Attributes
    ----------
    path : Path
        The file.
    number : int or None
        The scanner's number from the name (None when the name has none).
    series_name : str or None
        The series part of the name.
    changed_at : float
        Monotonic time (s) of its last observed change (when it was first
        seen, until a read shows another size or mtime).
    mtime_ns : int
        Its mtime (ns) when listed at start (0 for a file seen later).
    state : FileState
        Waiting, rejected or done.
    dirty : bool
        Changed (a file event) since it was last read.
    signature : (int, int) or None
        (size in bytes, mtime in ns) at its last read.
    recheck_step : int
        Checks since its last change (indexes :data:`RECHECK_DELAYS`).
    recheck_at : float or None
        Monotonic time (s) of its next scheduled check.
    logged : bool
        Whether a rejection line was already written for it.
    reason : str
        Why it was incomplete (or unreadable) when last read.

    Examples
    --------
    >>> f = WatchedFile(Path("vol_0001.nii"), number=1, changed_at=0.0)
    >>> f.observe((100, 5), now=0.01)
    True
    >>> d = f.judge(Outcome.INCOMPLETE, "100 of 352 bytes", now=0.01, complete_timeout=1.0)
    >>> d.step.name, f.recheck_at
    ('RECHECK', 0.012)
    >>> f.judge(Outcome.UNCHANGED, "", now=1.01, complete_timeout=1.0)
    Decision(step=<Step.EXPIRE: 'expire'>, changed_at=0.01, reason='100 of 352 bytes (no change for 1.0 s)', mtime_ns=5)
    """

    path: Path
    number: int | None
    changed_at: float
    series_name: str | None = None
    mtime_ns: int = 0
    state: FileState = FileState.WAITING
    dirty: bool = True
    signature: Signature | None = None
    recheck_step: int = 0
    recheck_at: float | None = None
    logged: bool = False
    reason: str = ""

    def observe(self, signature: Signature | None, now: float) -> bool:
        """Take in the (size, mtime_ns) a read or stat found; whether the file changed.

        A change restarts the check schedule and the ``complete_timeout`` clock.

        Parameters
        ----------
        signature : (int, int) or None
            (size in bytes, mtime in ns), None when the read failed.
        now : float
            Monotonic time, seconds.
        """
        if signature == self.signature:
            return False
        self.signature = signature
        self.changed_at = now
        self.recheck_step = 0
        return True

    def judge(self, outcome: Outcome, reason: str, now: float, complete_timeout: float) -> Decision:
        """What to do after a read that gave ``outcome``.

        Parameters
        ----------
        outcome : Outcome
            What the read gave.
        reason : str
            The reader's reason (for INCOMPLETE, NOT_A_SCAN, UNREADABLE).
        now : float
            Monotonic time, seconds.
        complete_timeout : float
            Seconds a file may stay incomplete after its last change.
        """
        mtime_ns = None if self.signature is None else self.signature[1]
        if outcome is Outcome.COMPLETE:
            return Decision(Step.OFFER, self.changed_at, mtime_ns=mtime_ns)
        if outcome is Outcome.NOT_A_SCAN:
            return Decision(Step.REJECT, self.changed_at, reason, mtime_ns)
        if outcome is not Outcome.UNCHANGED:
            self.reason = reason
        return self._still_incomplete(now, complete_timeout)

    def _still_incomplete(self, now: float, complete_timeout: float) -> Decision:
        """Schedule the next check, or give up after ``complete_timeout``."""
        mtime_ns = None if self.signature is None else self.signature[1]
        waited = now - self.changed_at
        if waited >= complete_timeout:
            reason = f"{self.reason} (no change for {round(waited, 3)} s)"
            return Decision(Step.EXPIRE, self.changed_at, reason, mtime_ns)
        delay = RECHECK_DELAYS[min(self.recheck_step, len(RECHECK_DELAYS) - 1)]
        self.recheck_step += 1
        self.recheck_at = min(now + delay, self.changed_at + complete_timeout)
        return Decision(Step.RECHECK, self.changed_at, mtime_ns=mtime_ns)

    def due(self, now: float) -> bool:
        """Whether it is to be read (changed) or checked (its check is due) at ``now``."""
        return self.dirty or (self.recheck_at is not None and self.recheck_at <= now)

    @property
    def order(self) -> tuple[int, str]:
        """Sort key: by number (files without one first), then name."""
        return (self.number if self.number is not None else -1, self.path.name)


class WatchedFiles:
    """The files a watch folder follows, and which of them wait to be read.

    Examples
    --------
    >>> table = WatchedFiles()
    >>> f = table.add(WatchedFile(Path("vol_0002.nii"), number=2, changed_at=0.0))
    >>> [g.path.name for g in table.due(now=0.0)]
    ['vol_0002.nii']
    >>> f.dirty = False
    >>> table.due(now=0.0), table.next_check()
    ([], None)
    >>> table.settle(f, FileState.DONE)
    >>> table.changed(f.path), f.state.name   # a done file stays done
    (True, 'DONE')
    """

    def __init__(self) -> None:
        self._files: dict[Path, WatchedFile] = {}
        self._waiting: dict[Path, WatchedFile] = {}

    def __iter__(self) -> Iterator[WatchedFile]:
        return iter(list(self._files.values()))

    def add(self, entry: WatchedFile) -> WatchedFile:
        """Follow a file (waiting to be read)."""
        self._files[entry.path] = entry
        if entry.state is FileState.WAITING:
            self._waiting[entry.path] = entry
        return entry

    def follows(self, entry: WatchedFile) -> bool:
        """Whether ``entry`` is still the file followed at its path."""
        return self._files.get(entry.path) is entry

    def waits(self, entry: WatchedFile) -> bool:
        """Whether ``entry`` is followed and waiting to be read."""
        return self._waiting.get(entry.path) is entry

    def settle(self, entry: WatchedFile, state: FileState) -> None:
        """Put a file in ``state`` (a file no longer waiting has no check scheduled)."""
        entry.state = state
        if state is FileState.WAITING:
            self._waiting[entry.path] = entry
        else:
            self._waiting.pop(entry.path, None)
            entry.recheck_at = None

    def forget(self, entry: WatchedFile) -> None:
        """Stop following a file (removed, or not a regular file)."""
        self._files.pop(entry.path, None)
        self._waiting.pop(entry.path, None)

    def changed(self, path: Path) -> bool:
        """A file event for ``path``: to be read again unless done; False when it is not followed."""
        entry = self._files.get(path)
        if entry is None:
            return False
        if entry.state is not FileState.DONE:
            entry.dirty = True
            self.settle(entry, FileState.WAITING)
        return True

    def removed(self, path: Path) -> bool:
        """A deletion event for ``path``: forget it unless done; whether it was forgotten."""
        entry = self._files.get(path)
        if entry is None or entry.state is FileState.DONE:
            return False
        self.forget(entry)
        return True

    def due(self, now: float) -> list[WatchedFile]:
        """The waiting files to read or check at ``now``, by number then name."""
        return sorted((f for f in self._waiting.values() if f.due(now)), key=lambda f: f.order)

    def next_check(self) -> float | None:
        """When the next file is to be read (0.0: now, one changed) or checked; None if none waits."""
        if any(f.dirty for f in self._waiting.values()):
            return 0.0
        checks = [f.recheck_at for f in self._waiting.values() if f.recheck_at is not None]
        return min(checks) if checks else None
