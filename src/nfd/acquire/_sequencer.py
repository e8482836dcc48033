"""Acquisition order out of arrival order: each index once, increasing, with a bounded wait.

Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``,
monotonic seconds), so it is tested alone. The watch folder offers every
readable volume; the sequencer says whether it is new, a duplicate (same
index, or byte-identical to a volume already accepted) or late (its index
was already passed), and releases the accepted ones in index order, declaring
an index missing once a later volume has waited ``reorder_timeout`` seconds
for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from nfd._checks import ensure_float

__all__ = ["Offer", "Release", "Sequencer", "Verdict"]

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


@dataclass(frozen=True)
class Offer:
    """The verdict on an offered volume.

    Attributes
    ----------
    verdict : Verdict
        Accepted, duplicate, late or before the first index.
    duplicate_of : str or None
        For a duplicate, the key (file) of the volume accepted before it.
    """

    verdict: Verdict
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Release(Generic[T]):
    """One index leaving the sequencer, in increasing order.

    Attributes
    ----------
    index : int
        0-based acquisition index.
    item : object or None
        The accepted volume, or None when the index is declared missing.
    """

    index: int
    item: T | None


class Sequencer(Generic[T]):
    """Orders volumes by acquisition index, each index once, with a bounded wait for gaps.

    Parameters
    ----------
    reorder_timeout : float
        Seconds a ready volume waits for a missing earlier index before that
        index is declared missing.

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
    Offer(verdict=<Verdict.DUPLICATE: 'duplicate'>, duplicate_of='vol0')
    """

    def __init__(self, reorder_timeout: float) -> None:
        self.reorder_timeout = ensure_float(reorder_timeout, "reorder_timeout", minimum=0)
        self._next: int | None = None
        self._pending: dict[int, tuple[T, float]] = {}
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

    def start(self, first: int | None = None) -> None:
        """Begin releasing, from ``first`` or from the smallest index held if smaller.

        Parameters
        ----------
        first : int or None
            The first index expected (0 for a run watched from its start);
            None to start from the smallest index held (0 if none).
        """
        if self._next is not None:
            raise RuntimeError("Sequencer.start() called twice")
        candidates = list(self._pending)
        if first is not None:
            candidates.append(first)
        self._next = min(candidates) if candidates else 0

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
        self._key_by_digest[digest] = key
        self._key_by_index[index] = key
        return Offer(Verdict.ACCEPTED)

    def release(self, now: float) -> list[Release[T]]:
        """Release what can go now, in increasing index order.

        The next index goes as soon as it is held; when it is not, and a
        later volume has been held for ``reorder_timeout`` seconds, the next
        index is declared missing (released with ``item=None``).

        Parameters
        ----------
        now : float
            Monotonic time, seconds.
        """
        released: list[Release[T]] = []
        if self._next is None:
            return released
        while self._pending:
            held = self._pending.pop(self._next, None)
            if held is not None:
                released.append(Release(self._next, held[0]))
            elif now - min(t for _, t in self._pending.values()) >= self.reorder_timeout:
                released.append(Release(self._next, None))
                self.missing.append(self._next)
            else:
                break
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
            released.append(Release(self._next, None if held is None else held[0]))
            self._next += 1
        return released

    def deadline(self) -> float | None:
        """Monotonic time at which :meth:`release` will declare the next index missing.

        None when nothing waits on a gap (nothing held, not started, or the
        next index is held and releasable now).
        """
        if self._next is None or not self._pending or self._next in self._pending:
            return None
        return min(t for _, t in self._pending.values()) + self.reorder_timeout
