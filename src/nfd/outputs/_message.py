"""The feedback message: what leaves the daemon for each processed volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from nfd._checks import check_str, ensure_float, ensure_int
from nfd.outputs._errors import MessageError

__all__ = ["FeedbackMessage", "BASELINE_CONDITION"]

#: The condition name OpenNFT's receivers expect during baseline blocks.
BASELINE_CONDITION = "BAS"

#: The real-valued fields: (attribute, name in messages, must be finite). NaN feedback means "no value".
_REAL_FIELDS: Final = (
    ("feedback", "feedback", False),
    ("time", "time (s since the epoch)", True),
    ("latency_ms", "latency_ms", False),
)


@dataclass(frozen=True, slots=True)
class FeedbackMessage:
    """One feedback value, ready to be sent.

    Parameters
    ----------
    index : int
        0-based acquisition index of the volume the value was computed from
        (counting every file the scanner wrote, skipped volumes included).
    condition : str
        The protocol's condition name for this volume (``"BAS"`` for baseline).
    feedback : float
        The scaled, clipped value sent (the feedback configuration's units).
        NaN is allowed (no value available); the JSON format sends it as ``null``.
    time : float
        When the message was sent, in seconds since the Unix epoch.
    latency_ms : float
        Milliseconds from the scan file seen complete to this send.
    is_baseline : bool
        True during baseline blocks.

    Raises
    ------
    MessageError
        When a field holds a value of the wrong kind (e.g. a negative index,
        a condition that is not a string).

    Examples
    --------
    >>> msg = FeedbackMessage(index=12, condition="NFBREG", feedback=1.73,
    ...                       time=1763712000.123, latency_ms=8.4, is_baseline=False)
    >>> msg.index, msg.feedback
    (12, 1.73)
    """

    index: int
    condition: str
    feedback: float
    time: float
    latency_ms: float
    is_baseline: bool = False

    def __post_init__(self) -> None:
        index = ensure_int(self.index, "FeedbackMessage.index (0-based volume index)", minimum=0, error=MessageError)
        object.__setattr__(self, "index", index)
        check_str(self.condition, "FeedbackMessage.condition (condition name)", empty=True, error=MessageError)
        for name, label, finite in _REAL_FIELDS:
            value = ensure_float(getattr(self, name), f"FeedbackMessage.{label}", finite=finite, error=MessageError)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "is_baseline", bool(self.is_baseline))

    @property
    def wire_condition(self) -> str:
        """The condition name as OpenNFT's receivers expect it: ``"BAS"`` in baseline."""
        return BASELINE_CONDITION if self.is_baseline else self.condition
