"""Which files in a watch folder are volumes, and their numbers, from the file name."""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = ["FileNaming"]


class FileNaming:
    r"""A file-name pattern that gives the scanner's volume number.

    Parameters
    ----------
    pattern : str or re.Pattern, optional
        Regular expression matched against the whole file name (not the
        directory), with :func:`re.fullmatch`. It must have a named group
        ``volume`` matching the volume number in decimal digits; an optional
        group ``series`` gives the series. The default is
        :attr:`FileNaming.DEFAULT`, the Siemens real-time export name
        ``001_SSSSSS_VVVVVV.dcm``.

    Raises
    ------
    ValueError
        When the pattern does not compile or has no ``(?P<volume>...)`` group.

    Examples
    --------
    >>> naming = FileNaming()
    >>> naming.volume_number("001_000007_000012.dcm")
    12
    >>> naming.volume_number("001_000007_000012.dcm.part") is None
    True
    >>> FileNaming(r"vol(?P<volume>\d+)\.nii(\.gz)?").volume_number("vol0003.nii.gz")
    3
    """

    #: Siemens real-time export: ``001_<series, 6 digits>_<volume, 6 digits>.dcm``.
    DEFAULT: ClassVar[str] = r"^\d{3}_(?P<series>\d{6})_(?P<volume>\d{6})\.dcm$"

    def __init__(self, pattern: str | re.Pattern[str] = DEFAULT) -> None:
        if isinstance(pattern, re.Pattern):
            regex = pattern
        else:
            try:
                regex = re.compile(pattern)
            except re.error as err:
                raise ValueError(
                    f"file-name pattern {pattern!r} is not a valid regular expression: {err}"
                ) from err
        if "volume" not in regex.groupindex:
            raise ValueError(
                f"file-name pattern {regex.pattern!r} has no named group for the volume "
                r"number: expected a group (?P<volume>\d+) matching its digits"
            )
        self._regex = regex

    @property
    def pattern(self) -> str:
        """The regular expression, as a string."""
        return self._regex.pattern

    def volume_number(self, name: str) -> int | None:
        """The volume number in a file name, as the scanner wrote it.

        Parameters
        ----------
        name : str
            A file name without its directory.

        Returns
        -------
        int or None
            The number matched by the ``volume`` group (usually 1-based), or
            None when the name does not match the pattern (temporary names
            during a write, other files) or the group is not decimal digits.
        """
        match = self._regex.fullmatch(name)
        if match is None:
            return None
        digits = match.group("volume")
        if digits is None or not digits.isdecimal():
            return None
        return int(digits)

    def series(self, name: str) -> str | None:
        """The series part of a file name, or None (no match, or no ``series`` group)."""
        match = self._regex.fullmatch(name)
        if match is None or "series" not in self._regex.groupindex:
            return None
        return match.group("series")

    def __repr__(self) -> str:
        return f"FileNaming({self._regex.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileNaming) and other._regex == self._regex

    def __hash__(self) -> int:
        return hash(self._regex)
