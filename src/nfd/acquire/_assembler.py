"""Volumes out of slice files: collect the slices of each volume until it is whole.

Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``,
monotonic seconds), like :mod:`nfd.acquire._sequencer`, which it feeds: the
watch folder offers every slice it reads; the assembler says whether it is
held (its volume still lacks slices), completes its volume (the volume's
slices are returned, to be stacked and offered to the sequencer), or is a
duplicate (the same bytes again, a second slice at a held position, or a
slice of a volume already complete). A volume that stops receiving slices
is given up after ``complete_timeout`` seconds (:meth:`SliceAssembler.expire`),
and one the sequencer has passed is dropped (:meth:`SliceAssembler.drop_before`).

A multi-echo single-slice series is collected per volume and echo: each
offer names its ``echo`` (0, the default, for a single-echo series), and
``(index, echo)`` is a volume of its own here (the watch folder then groups
the echoes of an index).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from nfd._checks import ensure_float

__all__ = ["PartialVolume", "SliceAssembler", "SliceOffer", "SliceVerdict"]

T = TypeVar("T")

#: Positions (mm) are compared on this grid: closer slices are the same slice.
POSITION_RESOLUTION_MM = 1e-3


class SliceVerdict(enum.Enum):
    """What becomes of an offered slice."""

    #: Kept; its volume still lacks slices.
    HELD = "held"
    #: Kept, and its volume now has all its slices.
    COMPLETE = "complete"
    #: Dropped: same bytes, same position, or its volume is already complete.
    DUPLICATE = "duplicate"


@dataclass
class PartialVolume(Generic[T]):
    """The slices of one volume received so far.

    Attributes
    ----------
    index : int
        0-based acquisition index of the volume.
    expected : int
        Number of slices the volume has.
    slices : dict of int to (str, object)
        Per position (on the 1-um grid): the slice's key (its file) and item.
    updated_at : float
        Monotonic time the last slice was added, seconds.
    digests : list of bytes
        The slices' content hashes.
    last_key : str
        The key (file) of the slice added last.
    echo : int
        The echo it holds (0: a single-echo series).
    """

    index: int
    expected: int
    updated_at: float
    slices: dict[int, tuple[str, T]] = field(default_factory=dict)
    digests: list[bytes] = field(default_factory=list)
    last_key: str = ""
    echo: int = 0

    @property
    def items(self) -> list[T]:
        """The slices' items, in increasing position."""
        return [self.slices[p][1] for p in sorted(self.slices)]

    @property
    def keys(self) -> list[str]:
        """The slices' keys (files), in increasing position."""
        return [self.slices[p][0] for p in sorted(self.slices)]


@dataclass(frozen=True)
class SliceOffer(Generic[T]):
    """The verdict on an offered slice.

    Attributes
    ----------
    verdict : SliceVerdict
        Held, complete or duplicate.
    volume : PartialVolume or None
        For COMPLETE, the whole volume (no longer held).
    duplicate_of : str or None
        For DUPLICATE, the key (file) of the slice or volume taken before.
    """

    verdict: SliceVerdict
    volume: PartialVolume[T] | None = None
    duplicate_of: str | None = None


class SliceAssembler(Generic[T]):
    """Groups slices into volumes by index, each position once.

    Parameters
    ----------
    complete_timeout : float
        Seconds after its last slice arrived at which a volume still lacking
        slices is given up by :meth:`expire`.

    Examples
    --------
    >>> asm = SliceAssembler(complete_timeout=5.0)
    >>> asm.offer(0, 0.0, 2, b"a", "s1", "A", now=0.0).verdict.name
    'HELD'
    >>> asm.offer(0, 0.0, 2, b"x", "s1-again", "X", now=0.1).duplicate_of
    's1'
    >>> done = asm.offer(0, 4.0, 2, b"b", "s2", "B", now=0.2)
    >>> done.verdict.name, done.volume.items
    ('COMPLETE', ['A', 'B'])
    >>> asm.offer(0, 8.0, 2, b"c", "s3", "C", now=0.3).verdict.name  # volume 0 is complete
    'DUPLICATE'
    >>> asm.offer(1, 0.0, 2, b"d", "s4", "D", now=1.0).verdict.name
    'HELD'
    >>> [(v.index, v.keys) for v in asm.expire(now=6.0)]
    [(1, ['s4'])]

    Multi-echo: the echoes of an index are collected apart.

    >>> _ = asm.offer(2, 0.0, 1, b"e1", "v2-e1", "A1", now=7.0, echo=1)
    >>> asm.offer(2, 0.0, 1, b"e2", "v2-e2", "A2", now=7.1, echo=2).volume.echo
    2
    """

    def __init__(self, complete_timeout: float) -> None:
        self.complete_timeout = ensure_float(complete_timeout, "complete_timeout", minimum=0)
        self._partial: dict[tuple[int, int], PartialVolume[T]] = {}
        self._complete: dict[tuple[int, int], str] = {}  # (index, echo) -> key of the slice that completed it
        self._key_by_digest: dict[bytes, str] = {}

    @property
    def n_partial(self) -> int:
        """Number of volumes with some, but not all, of their slices."""
        return len(self._partial)

    def offer(
        self, index: int, position: float, expected: int, digest: bytes, key: str, item: T, now: float,
        echo: int = 0,
    ) -> SliceOffer[T]:
        """Offer one slice that is complete and read.

        Parameters
        ----------
        index : int
            0-based acquisition index of its volume.
        position : float
            Its position along the slice normal, mm.
        expected : int
            Slices in its volume (the first slice of a volume decides).
        digest : bytes
            Hash of the file's bytes.
        key : str
            Identity of the slice in messages (its file).
        item : object
            The slice.
        now : float
            Monotonic time, seconds.
        echo : int
            Its echo (0: a single-echo series).
        """
        original = self.duplicate_of(index, position, digest, echo)
        if original is not None:
            return SliceOffer(SliceVerdict.DUPLICATE, duplicate_of=original)
        volume = self._partial.get((index, echo))
        if volume is None:
            volume = self._partial[(index, echo)] = PartialVolume(index, max(1, int(expected)), now, echo=echo)
        volume.slices[round(position / POSITION_RESOLUTION_MM)] = (key, item)
        volume.digests.append(digest)
        volume.updated_at = now
        volume.last_key = key
        self._key_by_digest[digest] = key
        if len(volume.slices) < volume.expected:
            return SliceOffer(SliceVerdict.HELD)
        del self._partial[(index, echo)]
        self._complete[(index, echo)] = key
        return SliceOffer(SliceVerdict.COMPLETE, volume=volume)

    def duplicate_of(self, index: int, position: float, digest: bytes, echo: int = 0) -> str | None:
        """The key of the slice (or volume) an offer would duplicate, else None.

        A duplicate has the bytes of a slice taken before, or the position of
        a slice held for its volume (and echo), or belongs to a volume (echo)
        already complete.
        """
        original = self._key_by_digest.get(digest)
        if original is None:
            original = self._complete.get((index, echo))
        if original is None and (index, echo) in self._partial:
            held = self._partial[(index, echo)].slices.get(round(position / POSITION_RESOLUTION_MM))
            original = None if held is None else held[0]
        return original

    def touch(self, index: int, now: float) -> None:
        """Count ``now`` as the last arrival of every volume (echo) of ``index`` held (its timeout restarts)."""
        for (i, _), volume in self._partial.items():
            if i == index:
                volume.updated_at = max(volume.updated_at, now)

    def holds(self, index: int) -> list[PartialVolume[T]]:
        """The volumes (one per echo) of ``index`` held, by echo."""
        return [self._partial[key] for key in sorted(self._partial) if key[0] == index]

    def expire(self, now: float) -> list[PartialVolume[T]]:
        """Give up the volumes whose last slice came ``complete_timeout`` seconds ago or more."""
        return self._drop(
            [key for key, v in self._partial.items() if now - v.updated_at >= self.complete_timeout]
        )

    def drop_before(self, index: int) -> list[PartialVolume[T]]:
        """Give up the volumes with an index below ``index`` (passed by the sequencer)."""
        return self._drop([key for key in self._partial if key[0] < index])

    def discard_index(self, index: int) -> list[PartialVolume[T]]:
        """Give up every volume (each echo) of ``index`` held, by echo."""
        return self._drop([key for key in self._partial if key[0] == index])

    def discard(self, index: int) -> PartialVolume[T] | None:
        """Give up the volume of ``index`` (e.g. one of its parts was refused), if it is held.

        Examples
        --------
        >>> asm = SliceAssembler(complete_timeout=5.0)
        >>> _ = asm.offer(3, 1.0, 2, b"a", "e1", "A", now=0.0)
        >>> asm.discard(3).keys, asm.discard(3), asm.n_partial
        (['e1'], None, 0)
        """
        return self._partial.pop((index, 0), None)

    def drop_all(self) -> list[PartialVolume[T]]:
        """Give up every volume still lacking slices."""
        return self._drop(list(self._partial))

    def deadline(self) -> float | None:
        """Monotonic time at which :meth:`expire` gives up the next volume (None: none held)."""
        if not self._partial:
            return None
        return min(v.updated_at for v in self._partial.values()) + self.complete_timeout

    def _drop(self, keys: list[tuple[int, int]]) -> list[PartialVolume[T]]:
        return [self._partial.pop(key) for key in sorted(keys)]
