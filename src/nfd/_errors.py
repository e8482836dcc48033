"""The root of every exception nfd raises on purpose.

One hierarchy, one root: ``except nfd.NfdError`` catches every error that nfd
raises about its input, and nothing else (a bug stays a bug). Each subpackage
has one base class deriving from :class:`NfdError`, and its own errors derive
from that base::

    NfdError
    ├── ConfigError            nfd.config     a configuration that cannot be used (ValueError)
    ├── ScanFileError          nfd.acquire    a scan file that is not (yet) a volume
    │   ├── IncompleteFileError, NotAScanError
    │   └── RecordingError                    a recorded series that cannot be used
    ├── VolumeError            nfd.volume     grids, affines, volume options
    ├── TimeseriesError        nfd.timeseries signal-chain options, ROI masks (ValueError)
    ├── DesignError            nfd.design     a run design or protocol file (ValueError)
    │   └── ProtocolError, VolumeIndexError
    ├── FeedbackError          nfd.feedback   feedback options and inputs (ValueError)
    ├── OutputError            nfd.outputs    sinks, run folder, web (WebError)
    ├── EegError               nfd.eeg        LSL streams, EEG models, training
    │   └── EegRecordingError                 an EEG recording that cannot be used
    └── SimulationError        nfd.simulate   synthetic-session options (ValueError)

A base that was a :class:`ValueError` stays one, so callers that caught
``ValueError`` keep working.

>>> from nfd import NfdError
>>> from nfd.config import ConfigError
>>> issubclass(ConfigError, NfdError) and issubclass(ConfigError, ValueError)
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "NfdError"]


class NfdError(Exception):
    """Base class of every exception nfd raises about its input or environment."""


class ConfigError(NfdError, ValueError):
    """A configuration that cannot be used; the message is one line for the operator.

    Attributes
    ----------
    key : str or None
        Dotted key path (``feedback.udp.port``), or None for file-level errors.
    """

    def __init__(self, message: str, key: str | None = None, file: Path | None = None) -> None:
        where = f"{file}: " if file is not None else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")
        self.reason = message
        self.key = key
        self.file = file
