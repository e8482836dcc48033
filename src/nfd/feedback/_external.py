"""External feedback: a value pushed in from outside (an EEG prediction, a REST client).

An EEG model may predict several targets (ROIs, parcels); its predictions
are pushed as a mapping of target name to value, and the feedback uses one
target (``target``) or a weighted sum of several (``weights``), the
configuration's ``[feedback.external] eeg_target`` and ``eeg_weights``.
"""

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
    target : str
        With values pushed per target (a mapping): the target used; ""
        (the default) for the only one (several are refused).
    weights : mapping of str to float, optional
        With values pushed per target: the feedback is
        ``sum(weight * value)`` over these targets (exclusive with
        ``target``).
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
    >>> both = ExternalFeedback(Design.from_blocks(4, [("UP", 2, 3)]), [], weights={"left": 1.0, "right": -1.0})
    >>> both.push({"left": 101.5, "right": 100.25})
    >>> both.update(0, {})
    1.25
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
        target: str = "",
        weights: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(design, rois)
        self._max_age = None if max_age_s is None else check_number("max_age_s", max_age_s, 0.0)
        if not isinstance(target, str):
            raise FeedbackError(f"eeg_target must be a target's name (a string), got {target!r}")
        self.target = target
        self.weights = {str(k): check_number(f"eeg_weights.{k}", w) for k, w in (weights or {}).items()}
        if target and self.weights:
            raise FeedbackError(
                f"eeg_target ({target!r}) and eeg_weights ({sorted(self.weights)}) exclude each other: give one"
            )
        if not callable(clock):
            raise FeedbackError(f"clock must be a callable returning seconds, got {clock!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: tuple[float, float] | None = None  # (value, time pushed)
        self._by_index: dict[int, float] = {}
        self._pushed = 0
        self._stale = 0

    def check_targets(self, names: Sequence[str]) -> None:
        """Check ``target`` and ``weights`` against the targets a source predicts (e.g. an EEG model's).

        Raises
        ------
        FeedbackError
            ``target`` or a weight names no target, or neither is given and
            there are several targets; the message names the key.
        """
        names = [str(n) for n in names]
        if self.weights:
            unknown = sorted(set(self.weights) - set(names))
            if unknown:
                raise FeedbackError(f"eeg_weights names {unknown}: expected targets of the model, among {names}")
        elif self.target:
            if self.target not in names:
                raise FeedbackError(f"eeg_target {self.target!r} is not a target of the model: expected one of {names}")
        elif len(names) != 1:
            raise FeedbackError(
                f"the model predicts {len(names)} targets {names}: set eeg_target to one, or eeg_weights"
            )

    def combine(self, values: Mapping[str, float]) -> float:
        """One measure from values per target: ``target``'s, the weighted sum, or the only one.

        Parameters
        ----------
        values : mapping of str to float
            Target name -> value (the source's units).

        Returns
        -------
        float
            ``values[target]``; ``sum(weights[n] * values[n])``; or the only value.

        Raises
        ------
        FeedbackError
            A target named by ``target`` or ``weights`` is missing, or several
            values came without either (see :meth:`check_targets`).
        """
        self.check_targets(list(values))
        if self.weights:
            return math.fsum(w * check_number(f"value of {n}", values[n]) for n, w in self.weights.items())
        key = self.target or next(iter(values))
        return check_number(f"value of {key}", values[key])

    def push(self, value: float | Mapping[str, float], *, index: int | None = None) -> None:
        """Give the feedback value (thread-safe).

        Parameters
        ----------
        value : float or mapping of str to float
            The measure (the source's unit; scaled like any other measure),
            or one value per target, reduced by :meth:`combine`.  A plain
            number is refused once ``target`` or ``weights`` are set.
        index : int, optional
            The volume (0-based acquisition index) the value belongs to;
            None for "the current value", used by the next volumes while
            fresh.

        Raises
        ------
        FeedbackError
            If `value` is not a finite number (or a mapping :meth:`combine`
            takes), or `index` is outside the run.
        """
        if isinstance(value, Mapping):
            number = self.combine(value)
        elif self.target or self.weights:
            raise FeedbackError(
                "with eeg_target or eeg_weights the source must push one value per target (a mapping of target "
                f"name to value), got {value!r}"
            )
        else:
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
        if self.target or self.weights:
            out.update(target=self.target or None, weights=dict(self.weights) or None)
        return out
