"""Exceptions raised by :mod:`nfd.eeg`.

Every one derives from :class:`EegError` (itself an :class:`nfd.NfdError`),
so the daemon can catch the whole subpackage's failures with one ``except``
clause::

    EegError
    ├── EegConfigError        an argument of the wrong type or value (ValueError)
    ├── EegDependencyError    an optional reader (mne, pyxdf) is missing (ImportError)
    ├── StreamNotFoundError   no LSL stream matched the query in time
    ├── EegRecordingError     an EEG recording that cannot be read or holds nothing usable
    ├── ModelError            an EEG-fingerprint model file
    │   └── ModelHashError, ModelFormatError, ModelMismatchError
    └── FitError              training cannot proceed

:class:`EegRecordingError` is not :class:`nfd.acquire.RecordingError` (a
recorded fMRI series): the two packages' recordings are different things.
Trouble with a live stream (lost, stalled, samples dropped) is *not* an
exception: the inlet logs it, counts it and retries (see
:class:`nfd.eeg.EegInlet`).

>>> from nfd.eeg import EegRecordingError, EegError
>>> from nfd.acquire import RecordingError
>>> issubclass(EegRecordingError, EegError), issubclass(EegRecordingError, RecordingError)
(True, False)
"""

from __future__ import annotations

from nfd._errors import NfdError

__all__ = [
    "EegConfigError",
    "EegDependencyError",
    "EegError",
    "EegRecordingError",
    "FitError",
    "ModelError",
    "ModelFormatError",
    "ModelHashError",
    "ModelMismatchError",
    "StreamNotFoundError",
]


class EegError(NfdError):
    """Base class of every error raised by :mod:`nfd.eeg`."""


class EegConfigError(EegError, ValueError):
    """An argument has the wrong type or value; the message names it and says what was expected."""


class EegDependencyError(EegError, ImportError):
    """An optional reader (``mne``, ``pyxdf``) is not installed: ``pip install 'nfd[eeg]'``."""


class StreamNotFoundError(EegError):
    """No LSL stream matched the query before the timeout (the message gives the query)."""


class EegRecordingError(EegError):
    """An EEG recording cannot be read, or holds nothing usable (no EEG stream, no channels)."""


class ModelError(EegError):
    """Base class of the errors about an EEG-fingerprint model file."""


class ModelHashError(ModelError):
    """The model file's SHA-256 is not the one the configuration pins: the file is not loaded."""


class ModelFormatError(ModelError):
    """The file is not an nfd EEG model (or one of an unknown format version)."""


class ModelMismatchError(ModelError):
    """The model's metadata does not match the live stream (channels, sampling rate, preprocessing)."""


class FitError(EegError):
    """Training cannot proceed: alignment, columns, too few volumes (the message says which)."""
