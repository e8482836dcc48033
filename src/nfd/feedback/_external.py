"""External feedback: a value pushed in from outside (an EEG prediction, a REST client)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nfd.design import Design
from nfd.feedback._computer import FeedbackComputer, check_number
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep

__all__ = ["ExternalFeedback"]


class ExternalFeedback(FeedbackComputer):
    """Feedback from an external source: the value pushed most recently, or the one for this volume.

    A source (the EEG model's prediction of the fMRI signal, a REST
    client...) calls :meth:`push`, from any thread. At each volume,
    :meth:`update` returns the value pushed for that volume index when
    there is one, else the latest value pushed without an index, when it
    is not older than `max_age_s`; else None. The ROI steps are not used
    (the ROI list may be empty).

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names (unused; kept for the common interface).
    max_age_s : float or None
        Oldest an unindexed value may be to be used, seconds (None: no limit).
    clock : callable
        Monotonic clock in seconds (:func:`time.monotonic`).

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import ExternalFeedback
    >>> fb = ExternalFeedback(Design.from_blocks(4, [("UP", 2, 3)]), [])
    >>> fb.update(0, {}) is None
    True
    >>> fb.push(0.7)
    >>> fb.push(-1.0, index=2)
    >>> fb.update(1, {}), fb.update(2, {}), fb.update(3, {})
    (0.7, -1.0, 0.7)
    """

    kind = "external"
    min_rois = 0
    accepts_push = True

    def __init__(
        self,
        design: Design,
        rois: Sequence[str] = (),
        *,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(design, rois)
        self._max_age = None if max_age_s is None else check_number("max_age_s", max_age_s, 0.0)
        if not callable(clock):
            raise FeedbackError(f"clock must be a callable returning seconds, got {clock!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: tuple[float, float] | None = None  # (value, time pushed)
        self._by_index: dict[int, float] = {}
        self._pushed = 0
        self._stale = 0

    def push(self, value: float, *, index: int | None = None) -> None:
        """Give the feedback value (thread-safe).

        Parameters
        ----------
        value : float
            The measure (the source's unit; scaled like any other measure).
        index : int, optional
            The volume (0-based acquisition index) the value belongs to;
            None for "the current value", used by the next volumes while
            fresh.

        Raises
        ------
        FeedbackError
            If `value` is not a finite number or `index` is outside the run.
        """
        number = check_number("external feedback value", value)
        if index is not None:
            self._design.block_number(index)  # VolumeIndexError outside the run
        with self._lock:
            self._pushed += 1
            if index is None:
                self._latest = (number, self._clock())
            else:
                self._by_index[int(index)] = number

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        with self._lock:
            if index in self._by_index:
                value = self._by_index.pop(index)
                for old in [i for i in self._by_index if i < index]:
                    del self._by_index[old]
                self._detail = {"source": "indexed"}
                return value
            if self._latest is None:
                return None
            value, pushed_at = self._latest
            age = self._clock() - pushed_at
        if self._max_age is not None and age > self._max_age:
            self._stale += 1
            self._detail = {"source": "latest", "stale": True, "age_s": age}
            return None
        self._detail = {"source": "latest", "age_s": age}
        return value if math.isfinite(value) else None

    def summary(self) -> dict[str, Any]:
        """Adds the number of values pushed and of volumes whose latest value was too old."""
        out = super().summary()
        out.update(pushed=self._pushed, stale_volumes=self._stale, max_age_s=self._max_age)
        return out
