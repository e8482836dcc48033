"""Acquisition order out of arrival order: each index once, increasing, with a bounded wait.

Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``,
monotonic seconds), so it is tested alone. The watch folder offers every
readable volume; the sequencer says whether it is new, a duplicate (same
index, or byte-identical to a volume already accepted) or late (its index
was already passed), and releases the accepted ones in index order, declaring
an index missing once it has been overdue for ``reorder_timeout`` seconds.

When the repetition time is known, an index is overdue from one TR after its
predecessor arrived (or was due, if it was missing), or from the arrival of
a later volume, whichever is first. A volume far ahead of the scanner (more
than ``early_after`` volumes beyond the highest on-time index offered, plus
one per TR since that one arrived: e.g. a file copied in by hand) is early:
held until its turn, but timing no gap until the scanner could have reached
it, so it never makes the on-time volumes before it missing. Without a TR, every gap is timed from the earliest later
volume held.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from nfd._checks import ensure_float, ensure_int

__all__ = ["EARLY_AFTER", "Offer", "Release", "Sequencer", "Verdict"]

T = TypeVar("T")


class Verdict(enum.Enum):
    """What becomes of an offered volume."""

    #: New: held until its turn, then released.
    ACCEPTED = "accepted"
    #: Its index, or its bytes, were already accepted.
    DUPLICATE = "duplicate"
    #: Its index was already passed (released, or declared missing).
    LATE = "late"
    #: Its index is negative (a scanner number below the first number).
    BEFORE_FIRST = "before_first"


#: Volumes beyond the scanner's expected position after which an offered volume is early.
EARLY_AFTER = 4


@dataclass(frozen=True)
class Offer:
    """The verdict on an offered volume.

    Attributes
    ----------
    verdict : Verdict
        Accepted, duplicate, late or before the first index.
    duplicate_of : str or None
        For a duplicate, the key (file) of the volume accepted before it.
    early : bool
        For an accepted volume, whether it is far ahead of the scanner's
        expected position (held, but timing no gap).
    """

    verdict: Verdict
    duplicate_of: str | None = None
    early: bool = False


@dataclass(frozen=True)
class Release(Generic[T]):
    """One index leaving the sequencer, in increasing order.

    Attributes
    ----------
    index : int
        0-based acquisition index.
    item : object or None
        The accepted volume, or None when the index is declared missing.
    reason : str
        For a missing index, why: overdue past the reorder window, given up
        (:meth:`Sequencer.give_up`, e.g. its file was rejected), or the
        series ended first.
    """

    index: int
    item: T | None
    reason: str = ""


class Sequencer(Generic[T]):
    """Orders volumes by acquisition index, each index once, with a bounded wait for gaps.

    Parameters
    ----------
    reorder_timeout : float
        Seconds an overdue index is waited for before it is declared missing.
    tr : float or None
        Repetition time, s: an index is due one TR after its predecessor.
        None: gaps are timed from the earliest later volume held only.
    early_after : int
        Volumes beyond the scanner's expected position from which an offered
        volume is early (held, timing no gap).

    Examples
    --------
    >>> seq = Sequencer(reorder_timeout=2.0)
    >>> seq.start(0)
    >>> seq.offer(1, b"b", "vol1", "B", now=0.0).verdict.name
    'ACCEPTED'
    >>> seq.release(now=1.0)           # index 0 may still come
    []
    >>> seq.offer(0, b"a", "vol0", "A", now=1.5).verdict.name
    'ACCEPTED'
    >>> [(r.index, r.item) for r in seq.release(now=1.5)]
    [(0, 'A'), (1, 'B')]
    >>> seq.offer(3, b"d", "vol3", "D", now=2.0).verdict.name
    'ACCEPTED'
    >>> [(r.index, r.item) for r in seq.release(now=4.0)]   # 2 never came
    [(2, None), (3, 'D')]
    >>> seq.offer(2, b"c", "vol2", "C", now=5.0).verdict.name
    'LATE'
    >>> seq.offer(9, b"a", "copy", "A", now=5.0)
    Offer(verdict=<Verdict.DUPLICATE: 'duplicate'>, duplicate_of='vol0', early=False)
    """

    def __init__(self, reorder_timeout: float, tr: float | None = None, early_after: int = EARLY_AFTER) -> None:
        self.reorder_timeout = ensure_float(reorder_timeout, "reorder_timeout", minimum=0)
        self.tr = None if tr is None else ensure_float(tr, "tr (s)", positive=True)
        self.early_after = ensure_int(early_after, "early_after (volumes)", minimum=1)
        self._next: int | None = None
        #: when the predecessor of the next index arrived (or was due); None before the first release
        self._anchor: float | None = None
        #: the highest on-time index offered (the scanner's position) and when it arrived
        self._front: tuple[int, float] | None = None
        self._early: set[int] = set()  # indices held that came early
        self._pending: dict[int, tuple[T, float]] = {}
        self._given_up: dict[int, str] = {}  # indices missing as soon as their turn comes, and why
        self._key_by_digest: dict[bytes, str] = {}
        self._key_by_index: dict[int, str] = {}
        self.missing: list[int] = []

    @property
    def next_index(self) -> int | None:
        """The index released next (None before :meth:`start`)."""
        return self._next

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self._next is not None

    @property
    def n_pending(self) -> int:
        """Number of accepted volumes not yet released."""
        return len(self._pending)

    def start(self, first: int | None = None, now: float | None = None) -> None:
        """Begin releasing, from ``first`` or from the smallest index held if smaller.

        Parameters
        ----------
        first : int or None
            The first index expected (0 for a run watched from its start);
            None to start from the smallest index held (0 if none).
        now : float or None
            Monotonic time, s: with a TR, volumes more than ``early_after``
            beyond the first index, plus one per TR since ``now``, are early
            (None: no volume is ever early).
        """
        if self._next is not None:
            raise RuntimeError("Sequencer.start() called twice")
        candidates = list(self._pending)
        if first is not None:
            candidates.append(first)
        self._next = min(candidates) if candidates else 0
        if now is not None:
            self._front = (self._next - 1, now)
            self._early = {index for index in sorted(self._pending) if not self._advance_front(index, now)}

    def offer(self, index: int, digest: bytes, key: str, item: T, now: float) -> Offer:
        """Offer a volume that is complete and read.

        Parameters
        ----------
        index : int
            0-based acquisition index.
        digest : bytes
            Hash of the file's bytes (byte-identical copies are duplicates).
        key : str
            Identity of the volume in messages (its file).
        item : object
            The volume, released by :meth:`release` when its turn comes.
        now : float
            Monotonic time, seconds.

        Returns
        -------
        Offer
            ACCEPTED (held), or DUPLICATE / LATE / BEFORE_FIRST (dropped).
        """
        original = self._key_by_digest.get(digest)
        if original is None:
            original = self._key_by_index.get(index)
        if original is not None:
            return Offer(Verdict.DUPLICATE, duplicate_of=original)
        if index < 0:
            return Offer(Verdict.BEFORE_FIRST)
        if self._next is not None and index < self._next:
            return Offer(Verdict.LATE)
        self._pending[index] = (item, now)
        self._given_up.pop(index, None)  # its file came good after all, before its turn
        self._key_by_digest[digest] = key
        self._key_by_index[index] = key
        early = not self._advance_front(index, now)
        if early:
            self._early.add(index)
        return Offer(Verdict.ACCEPTED, early=early)

    def give_up(self, index: int, reason: str) -> bool:
        """Declare ``index`` missing as soon as its turn comes, without waiting for it (e.g. its file was rejected).

        Returns False, and changes nothing, when the index is already passed,
        held, or negative. A volume of that index offered before its turn is
        still taken.

        Examples
        --------
        >>> seq = Sequencer(reorder_timeout=60.0)
        >>> seq.start(0)
        >>> seq.offer(1, b"b", "vol1", "B", now=0.0).verdict.name
        'ACCEPTED'
        >>> seq.give_up(0, "its file vol0 is not a scan")
        True
        >>> [(r.index, r.item, r.reason) for r in seq.release(now=0.0)]
        [(0, None, 'its file vol0 is not a scan'), (1, 'B', '')]
        """
        if index < 0 or index in self._pending or (self._next is not None and index < self._next):
            return False
        self._given_up[index] = reason
        return True

    def _advance_front(self, index: int, now: float) -> bool:
        """Whether ``index``, offered at ``now``, is on time; if so it may move the scanner's position."""
        if self._near_from(index) > now:
            return False
        if self._front is not None and index > self._front[0]:
            self._front = (index, now)
        return True

    def _near_from(self, index: int) -> float:
        """When a held ``index`` stops being early: once the scanner could be within ``early_after`` of it."""
        if self.tr is None or self._front is None:
            return -math.inf
        front, arrived = self._front
        ahead = index - front - self.early_after
        return -math.inf if ahead <= 0 else arrived + ahead * self.tr

    def _times_gaps_from(self, index: int, arrived: float) -> float:
        """When a held volume starts timing gaps: its arrival, or, if it came early, when it stopped being early."""
        if index not in self._early:
            return arrived
        assert self._front is not None
        front, front_arrived = self._front
        return max(arrived, front_arrived + max(0, index - front - self.early_after) * (self.tr or 0.0))

    def _gap_deadline(self) -> float | None:
        """When the next index, not held, is declared missing (None if no later volume times it)."""
        assert self._next is not None
        if not self._pending:
            return None
        # a later volume times the gap from its arrival, or from when it stops being early
        present = min(self._times_gaps_from(i, t) for i, (_, t) in self._pending.items())
        overdue = present
        if self.tr is not None and self._anchor is not None:
            overdue = min(overdue, self._anchor + self.tr)
        return max(overdue + self.reorder_timeout, present)

    def release(self, now: float) -> list[Release[T]]:
        """Release what can go now, in increasing index order.

        The next index goes as soon as it is held; when it is not, it is
        declared missing (released with ``item=None``) once it has been
        overdue for ``reorder_timeout`` seconds and a later volume, not early,
        is held (see the module's docstring for when an index is overdue).

        Parameters
        ----------
        now : float
            Monotonic time, seconds.
        """
        released: list[Release[T]] = []
        if self._next is None:
            return released
        while self._pending or self._next in self._given_up:
            held = self._pending.pop(self._next, None)
            if held is not None:
                released.append(Release(self._next, held[0]))
                self._anchor = self._times_gaps_from(self._next, held[1])  # an early file: as if it came on time
                self._early.discard(self._next)
            else:
                reason = self._given_up.pop(self._next, None)
                if reason is None:
                    deadline = self._gap_deadline()
                    if deadline is None or now < deadline:
                        break
                    reason = f"not arrived {self.reorder_timeout:g} s after it was due"
                released.append(Release(self._next, None, reason))
                self.missing.append(self._next)
                if self._anchor is not None and self.tr is not None:
                    self._anchor += self.tr  # when the missing index was due
            self._next += 1
        return released

    def finish(self) -> list[Release[T]]:
        """Release everything held now, in index order, declaring the gaps between missing.

        For the end of a series: no earlier volume will come any more.

        Examples
        --------
        >>> seq = Sequencer(reorder_timeout=60.0)
        >>> seq.start(0)
        >>> seq.offer(2, b"c", "vol2", "C", now=0.0).verdict.name
        'ACCEPTED'
        >>> [(r.index, r.item) for r in seq.finish()]
        [(0, None), (1, None), (2, 'C')]
        """
        released: list[Release[T]] = []
        if self._next is None:
            self.start()
        assert self._next is not None
        while self._pending:
            held = self._pending.pop(self._next, None)
            if held is None:
                self.missing.append(self._next)
                reason = self._given_up.pop(self._next, "the series ended before it came")
                released.append(Release(self._next, None, reason))
            else:
                released.append(Release(self._next, held[0]))
            self._next += 1
        return released

    def deadline(self) -> float | None:
        """Monotonic time at which :meth:`release` will declare the next index missing.

        None when nothing waits on a gap (nothing held, not started, or the
        next index is held and releasable now).
        """
        if self._next is None or self._next in self._pending:
            return None
        if self._next in self._given_up:
            return -math.inf  # due now
        if not self._pending:
            return None
        return self._gap_deadline()
