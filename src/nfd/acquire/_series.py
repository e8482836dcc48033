"""Which series a scan file belongs to: from its name, its header, or both.

A series is known by the ``series`` part of the file names (a named group of
the :class:`~nfd.acquire.FileNaming` pattern, e.g. ``000007`` in the Siemens
real-time export ``001_000007_000012.dcm``) and by the header's
SeriesInstanceUID (else SeriesNumber). Either may be unknown (a NIfTI file
has no header series; a pattern may have no ``series`` group); two
identities differ only where both are known.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SeriesId"]


@dataclass(frozen=True)
class SeriesId:
    """The identity of a scanner series.

    Attributes
    ----------
    name : str or None
        The series part of the file names (the pattern's ``series`` group).
    uid : str or None
        The header's SeriesInstanceUID, else SeriesNumber.

    Examples
    --------
    >>> run = SeriesId(name="000007", uid=None)
    >>> run.differs(SeriesId("000008", None)), run.differs(SeriesId(None, "1.2.3"))
    (True, False)
    >>> run.merged(SeriesId(None, "1.2.3"))
    SeriesId(name='000007', uid='1.2.3')
    >>> str(run.merged(SeriesId(None, "1.2.3")))
    'series 000007 (1.2.3)'
    """

    name: str | None = None
    uid: str | None = None

    @property
    def known(self) -> bool:
        """Whether anything identifies the series."""
        return self.name is not None or self.uid is not None

    def differs(self, other: SeriesId) -> bool:
        """Whether ``other`` is another series (its name or uid known on both sides and different)."""
        if self.name is not None and other.name is not None and self.name != other.name:
            return True
        return self.uid is not None and other.uid is not None and self.uid != other.uid

    def merged(self, other: SeriesId) -> SeriesId:
        """This identity, with what it lacks taken from ``other`` (the same series)."""
        return SeriesId(
            name=self.name if self.name is not None else other.name,
            uid=self.uid if self.uid is not None else other.uid,
        )

    def __str__(self) -> str:
        if self.name is not None and self.uid is not None:
            return f"series {self.name} ({self.uid})"
        if self.known:
            return f"series {self.name if self.name is not None else self.uid}"
        return "unidentified series"
