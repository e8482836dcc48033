"""LSL plumbing shared by the EEG and marker inlets: stream queries, descriptions, retry back-off."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pylsl

from nfd.eeg._errors import EegConfigError, StreamNotFoundError

__all__ = ["Backoff", "StreamDescription", "default_channel_names", "resolve_stream", "stream_query"]


def default_channel_names(n: int) -> list[str]:
    """Names given to channels a stream or file leaves unlabelled: ``ch1 .. chN``."""
    return [f"ch{i + 1}" for i in range(n)]


def stream_query(name: str | None = None, type: str | None = None, source_id: str | None = None) -> str:
    """The LSL XPath predicate matching all of the given properties.

    Raises
    ------
    EegConfigError
        None is given, or a value holds a quote.

    Examples
    --------
    >>> stream_query(name="BrainAmp", source_id="amp-1")
    "name='BrainAmp' and source_id='amp-1'"
    """
    parts = []
    for key, value in (("name", name), ("type", type), ("source_id", source_id)):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise EegConfigError(f"stream {key} must be a non-empty string, got {value!r}")
        if "'" in value or '"' in value:
            raise EegConfigError(f"stream {key} must not contain quotes, got {value!r}")
        parts.append(f"{key}='{value}'")
    if not parts:
        raise EegConfigError("an LSL stream is found by name, type or source_id: give at least one")
    return " and ".join(parts)


def resolve_stream(query: str, timeout: float) -> pylsl.StreamInfo:
    """The first LSL stream matching the predicate ``query`` within ``timeout`` seconds.

    Raises
    ------
    StreamNotFoundError
        Nothing matched in time.
    """
    found = pylsl.resolve_bypred(query, 1, timeout)
    if not found:
        raise StreamNotFoundError(f"no LSL stream matching {query} was found within {timeout:g} s")
    return found[0]


def _channel_labels(info: pylsl.StreamInfo) -> list[str]:
    labels: list[str] = []
    channel = info.desc().child("channels").child("channel")
    while not channel.empty():
        labels.append(channel.child_value("label"))
        channel = channel.next_sibling("channel")
    return labels


@dataclass(frozen=True)
class StreamDescription:
    """What nfd needs to know of an LSL stream (from its full ``StreamInfo``).

    Attributes
    ----------
    name, type, source_id, hostname, uid : str
        The stream's identification (``uid`` changes when the outlet is recreated).
    channel_names : tuple of str
        Channel labels from the stream's ``desc/channels/channel/label``;
        ``ch1 .. chN`` when absent or incomplete.
    nominal_rate : float
        Nominal sampling rate, Hz (0 for irregular streams).
    channel_format : str
        ``float32``, ``double64``, ``int16``, ``string``, ...
    """

    name: str
    type: str
    source_id: str
    hostname: str
    uid: str
    channel_names: tuple[str, ...]
    nominal_rate: float
    channel_format: str

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)

    @classmethod
    def from_info(cls, info: pylsl.StreamInfo) -> StreamDescription:
        """Describe a (full, with ``desc``) ``pylsl.StreamInfo``."""
        n = info.channel_count()
        labels = _channel_labels(info)
        if len(labels) != n or any(not label for label in labels):
            labels = default_channel_names(n)
        formats = {
            pylsl.cf_float32: "float32", pylsl.cf_double64: "double64", pylsl.cf_string: "string",
            pylsl.cf_int32: "int32", pylsl.cf_int16: "int16", pylsl.cf_int8: "int8", pylsl.cf_int64: "int64",
        }
        return cls(
            name=info.name(),
            type=info.type(),
            source_id=info.source_id(),
            hostname=info.hostname(),
            uid=info.uid(),
            channel_names=tuple(labels),
            nominal_rate=float(info.nominal_srate()),
            channel_format=formats.get(info.channel_format(), "undefined"),
        )

    def same_layout(self, other: StreamDescription) -> bool:
        """True when ``other`` has the same channels, rate and format (a stream that came back)."""
        return (
            self.channel_names == other.channel_names
            and math.isclose(self.nominal_rate, other.nominal_rate)
            and self.channel_format == other.channel_format
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "name": self.name, "type": self.type, "source_id": self.source_id, "hostname": self.hostname,
            "uid": self.uid, "channel_names": list(self.channel_names), "nominal_rate": self.nominal_rate,
            "channel_format": self.channel_format,
        }


class Backoff:
    """Retry delays: ``initial``, doubling up to ``maximum`` seconds; :meth:`reset` after a success.

    Examples
    --------
    >>> b = Backoff(0.5, 2.0)
    >>> [b.next() for _ in range(4)]
    [0.5, 1.0, 2.0, 2.0]
    """

    def __init__(self, initial: float = 0.25, maximum: float = 5.0) -> None:
        if not (initial > 0 and maximum >= initial):
            raise EegConfigError(f"need 0 < initial <= maximum retry delay, got {initial!r}, {maximum!r} s")
        self.initial = float(initial)
        self.maximum = float(maximum)
        self._next = self.initial

    def next(self) -> float:
        """The next delay, s."""
        delay = self._next
        self._next = min(self.maximum, self._next * 2.0)
        return delay

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._next = self.initial
