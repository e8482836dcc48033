"""The exceptions raised by :mod:`nfd.acquire`.

Every failure to turn a file into a volume is a :class:`ScanFileError`; the
watch folder tells the two kinds apart because they call for different
actions: an :class:`IncompleteFileError` may still be growing (wait for it),
a :class:`NotAScanError` never becomes a volume (reject it). A
:class:`RecordingError` is about a whole recorded series (a folder or a 4-D
NIfTI to replay or to simulate a scanner from), not one file.
"""

from __future__ import annotations

from pathlib import Path

from nfd._errors import NfdError

__all__ = ["ScanFileError", "IncompleteFileError", "NotAScanError", "RecordingError"]


class ScanFileError(NfdError):
    """A file could not be read as one 3-D scan volume.

    Parameters
    ----------
    path : str or Path
        The file (or the name given to an in-memory buffer) the error is about.
    reason : str
        What is wrong and what was expected.

    Attributes
    ----------
    path : str
        The file the error is about, as given.
    reason : str
        The reason alone, without the file name (for structured log lines).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ScanFileError], tuple[str, str]]:
        # Rebuilt from (path, reason), so that it crosses process boundaries.
        return (type(self), (self.path, self.reason))


class IncompleteFileError(ScanFileError):
    """The file is a recognisable scan but shorter than its header implies.

    It may still be being written: reading it again later may succeed.
    """


class NotAScanError(ScanFileError):
    """The file is not a scan volume this package can read (and never will be).

    Random bytes, a text file, a DICOM without an image, a 4-D NIfTI, a
    single 2-D slice...
    """


class RecordingError(ScanFileError):
    """A recorded series cannot be used: no such folder or file, no volumes in it.

    ``path`` is the folder or 4-D NIfTI; ``reason`` says what was expected.
    """
