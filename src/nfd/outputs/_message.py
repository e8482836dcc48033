"""The feedback message: what leaves the daemon for each processed volume."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from nfd.outputs._errors import MessageError

__all__ = ["FeedbackMessage", "BASELINE_CONDITION"]

#: The condition name OpenNFT's receivers expect during baseline blocks.
BASELINE_CONDITION = "BAS"


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
        index = self.index
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
            raise MessageError(f"FeedbackMessage.index must be a 0-based volume index (int >= 0), got {index!r}")
        if not isinstance(self.condition, str):
            raise MessageError(f"FeedbackMessage.condition must be a str (condition name), got {self.condition!r}")
        object.__setattr__(self, "index", int(index))
        for name in ("feedback", "time", "latency_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise MessageError(f"FeedbackMessage.{name} must be a real number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not math.isfinite(self.time):
            raise MessageError(f"FeedbackMessage.time must be finite seconds since the epoch, got {self.time!r}")
        object.__setattr__(self, "is_baseline", bool(self.is_baseline))

    @property
    def wire_condition(self) -> str:
        """The condition name as OpenNFT's receivers expect it: ``"BAS"`` in baseline."""
        return BASELINE_CONDITION if self.is_baseline else self.condition
