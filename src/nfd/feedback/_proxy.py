"""The two-point connectivity proxy (Ramot & Gonzalez-Castillo, 2019) and the composite measure."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nfd.design import Design
from nfd.feedback._computer import FeedbackComputer, check_count, check_number, check_signal
from nfd.feedback._connectivity import pearson
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep, RunningMoments

__all__ = ["PROXY_DIRECTIONS", "ProxyRule", "TwoPointProxy", "composite_measure", "proxy_direction", "proxy_events"]


#: How the direction of the co-fluctuation is treated across the intervals of one event.
PROXY_DIRECTIONS: tuple[str, ...] = ("any", "same")


@dataclass(frozen=True)
class ProxyRule:
    """When a volume's changes count towards a two-point proxy event.

    An *interval* is the change from one volume to the next; it satisfies
    the condition of :func:`proxy_direction` with a direction ``s`` (+1:
    targets up and control down, -1: the reverse). Two rules count
    intervals: the paper's n-point rule (`points`, overlapping events)
    and nfd's `consecutive` rule (non-overlapping runs). At most one of
    them may ask for more than one interval.

    Attributes
    ----------
    min_agree : int or None
        Targets that must change in the same direction (k of m); None for
        all of them. Applied to each interval on its own (for 4 targets
        and k = 3: any of the 4 triples of targets, per interval).
    consecutive : int
        Consecutive intervals that must each satisfy the condition for one
        event (n >= 1); events do not overlap (the count restarts after one).
    min_change_sd : float
        Smallest change that counts, in standard deviations of that ROI's
        volume-to-volume changes so far (0: any non-zero change). With a
        positive value, no event is possible before each ROI has two changes.
    points : int
        The n-point rule of Ramot & Gonzalez-Castillo (2019): an event at
        volume t when each of the last ``points - 1`` intervals ending at t
        satisfies the condition; the windows overlap, so events can occur
        at consecutive volumes. 2 (the default) is the two-point proxy.
    direction : {"any", "same"}
        "any" (default): each interval may have its own direction ``s``
        (a co-fluctuation of the targets against the control, whichever
        way). "same": every interval counted for one event must have the
        same ``s`` (a sustained joint rise or fall). Applies to `points`
        and to `consecutive`.
    """

    min_agree: int | None = None
    consecutive: int = 1
    min_change_sd: float = 0.0
    points: int = 2
    direction: str = "any"

    def __post_init__(self) -> None:
        if self.min_agree is not None:
            check_count("min_agree", self.min_agree, 1)
        check_count("consecutive", self.consecutive, 1)
        check_number("min_change_sd", self.min_change_sd, 0.0)
        check_count("points", self.points, 2)
        if self.direction not in PROXY_DIRECTIONS:
            raise FeedbackError(f"direction must be one of {list(PROXY_DIRECTIONS)}, got {self.direction!r}")
        if self.points > 2 and self.consecutive > 1:
            raise FeedbackError(
                f"consecutive={self.consecutive} (non-overlapping runs) and points={self.points} (overlapping "
                "windows) are two rules: use one of them (the other at its default)"
            )

    @property
    def intervals(self) -> int:
        """Intervals one event needs: ``points - 1``, or `consecutive`."""
        return self.points - 1 if self.points > 2 else self.consecutive

    @property
    def overlapping(self) -> bool:
        """True for the n-point rule (events may occur at consecutive volumes)."""
        return self.points > 2


def proxy_direction(
    target_changes: ArrayLike,
    control_change: float,
    *,
    target_thresholds: ArrayLike | float = 0.0,
    control_threshold: float = 0.0,
    min_agree: int | None = None,
) -> int:
    """Direction of a two-point co-fluctuation at one volume, or 0.

    The condition of Ramot & Gonzalez-Castillo (2019, NeuroImage
    188:322-334): since the previous volume, at least `min_agree` target
    ROIs changed in one direction ``s`` (each by at least its threshold)
    while the control ROI changed in the opposite direction (by at least
    its threshold). A change of exactly 0 has no direction.

    Parameters
    ----------
    target_changes : array_like, shape (m,)
        Change of each target ROI since the previous volume (signal units).
    control_change : float
        Change of the control ROI.
    target_thresholds : array_like or float
        Smallest absolute change that counts, per target (signal units).
    control_threshold : float
        Smallest absolute change of the control that counts.
    min_agree : int or None
        Targets that must agree (k); None for all m.

    Returns
    -------
    int
        ``s`` = +1 (targets up, control down), -1 (targets down, control
        up), or 0 when the condition does not hold.

    Examples
    --------
    >>> from nfd.feedback import proxy_direction
    >>> proxy_direction([0.5, 0.2], -0.3), proxy_direction([0.5, -0.2], -0.3), proxy_direction([-1, -1], 0.1)
    (1, 0, -1)
    >>> proxy_direction([0.5, -0.2, 0.4], -0.3, min_agree=2)
    1
    """
    changes = np.asarray(target_changes, dtype=np.float64).ravel()
    thresholds = np.broadcast_to(np.asarray(target_thresholds, dtype=np.float64), changes.shape)
    return _direction_of(changes.tolist(), float(control_change), thresholds.tolist(), float(control_threshold),
                         changes.size if min_agree is None else int(min_agree))


def _direction_of(changes: list[float], c: float, thresholds: list[float], control_threshold: float, k: int) -> int:
    """:func:`proxy_direction` on plain floats (the per-volume path: a handful of values, no array overhead)."""
    if not (math.isfinite(c) and abs(c) >= control_threshold and c != 0.0) or not all(map(math.isfinite, changes)):
        return 0
    s = -1.0 if c > 0 else 1.0
    agreeing = sum(1 for x, t in zip(changes, thresholds, strict=True) if x * s > 0.0 and abs(x) >= t)
    return int(s) if agreeing >= k else 0


class _ProxyState:
    """The causal state of the proxy: previous values, change SDs, run length and its direction."""

    def __init__(self, n_targets: int, rule: ProxyRule) -> None:
        if rule.min_agree is not None and rule.min_agree > n_targets:
            raise FeedbackError(f"min_agree={rule.min_agree} exceeds the number of targets {n_targets}")
        self.rule = rule
        self.previous: np.ndarray | None = None
        self.moments = RunningMoments((n_targets + 1,))
        self.run = 0
        self.last = 0

    def _direction(self, change: np.ndarray) -> int:
        """The interval's direction (0: the condition does not hold, or no SD yet)."""
        if self.rule.min_change_sd > 0:  # the change SDs are needed only for a minimum change
            self.moments.add(change)
            if self.moments.n < 2:
                return 0
            thresholds = (self.rule.min_change_sd * np.sqrt(self.moments.variance)).tolist()
        else:
            thresholds = [0.0] * change.size
        values = change.tolist()
        k = len(values) - 1 if self.rule.min_agree is None else self.rule.min_agree
        return _direction_of(values[:-1], values[-1], thresholds[:-1], thresholds[-1], k)

    def step(self, values: np.ndarray) -> tuple[bool | None, int, int]:
        """Feed one volume's values (targets then control): (event or None at the first, direction, run)."""
        if self.previous is None:
            self.previous = values
            return None, 0, 0
        change = values - self.previous
        self.previous = values
        direction = self._direction(change)
        if not direction:
            self.run = 0
        elif self.rule.direction == "same" and direction != self.last:
            self.run = 1
        else:
            self.run += 1
        self.last = direction
        if self.run < self.rule.intervals:
            return False, direction, self.run
        run = self.run
        if not self.rule.overlapping:
            self.run = 0
        return True, direction, run


def proxy_events(targets: ArrayLike, control: ArrayLike, rule: ProxyRule = ProxyRule()) -> np.ndarray:
    """Two-point proxy events over whole series, causally (as :class:`TwoPointProxy` volume by volume).

    Parameters
    ----------
    targets : array_like, shape (n, m)
        The target ROIs' signals, 2 <= m <= 4 (signal units).
    control : array_like, shape (n,)
        The control ROI's signal.
    rule : ProxyRule
        k of m, consecutive intervals or n points, minimum change, direction.

    Returns
    -------
    numpy.ndarray
        int8, shape ``(n,)``: 1 at the volume completing an event, else 0
        (0 at the first volume, which has no change).

    Raises
    ------
    FeedbackError
        If the shapes disagree or m is not 2 to 4.

    Examples
    --------
    >>> from nfd.feedback import ProxyRule, proxy_events
    >>> targets = [[0, 0], [1, 1], [2, 2], [1, 3], [2, 4]]
    >>> control = [0, -1, -2, -3, -4]
    >>> proxy_events(targets, control).tolist(), proxy_events(targets, control, ProxyRule(consecutive=2)).tolist()
    ([0, 1, 1, 0, 1], [0, 0, 1, 0, 0])
    >>> proxy_events([[0, 0], [1, 1], [2, 2], [3, 3], [2, 2]], [0, -1, -2, -3, -2], ProxyRule(points=3)).tolist()
    [0, 0, 1, 1, 1]
    >>> proxy_events([[0, 0], [1, 1], [2, 2], [3, 3], [2, 2]], [0, -1, -2, -3, -2],
    ...              ProxyRule(points=3, direction="same")).tolist()
    [0, 0, 1, 1, 0]
    """
    t = np.asarray(targets, dtype=np.float64)
    c = np.asarray(control, dtype=np.float64).ravel()
    if t.ndim != 2 or t.shape[0] != c.size or not 2 <= t.shape[1] <= 4:
        raise FeedbackError(
            f"proxy_events: targets must have shape (n, 2..4) and control (n,), got {t.shape} and {c.shape}"
        )
    state = _ProxyState(t.shape[1], rule)
    out = np.zeros(c.size, dtype=np.int8)
    for i in range(c.size):
        event, _direction, _run = state.step(np.append(t[i], c[i]))
        out[i] = 1 if event else 0
    return out


def composite_measure(targets: ArrayLike, control: ArrayLike) -> float:
    """The composite connectivity measure: target-target minus target-control correlation.

    The mean Pearson correlation over the pairs of target ROIs minus the
    mean correlation between each target and the control, over the whole
    series: the gold standard the two-point proxy approximates (Ramot &
    Gonzalez-Castillo, 2019, NeuroImage 188:322-334).

    Parameters
    ----------
    targets : array_like, shape (n, m)
        Target ROI signals, m >= 2.
    control : array_like, shape (n,)
        Control ROI signal.

    Returns
    -------
    float
        Unitless, in [-2, 2]; NaN when a correlation is undefined.

    Raises
    ------
    FeedbackError
        If the shapes disagree or m < 2.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.feedback import composite_measure
    >>> s = np.sin(np.arange(20.0))
    >>> round(composite_measure(np.column_stack([s, 2 * s]), -s), 6)
    2.0
    """
    t = np.asarray(targets, dtype=np.float64)
    c = np.asarray(control, dtype=np.float64).ravel()
    if t.ndim != 2 or t.shape[0] != c.size or t.shape[1] < 2:
        raise FeedbackError(
            f"composite_measure: targets must have shape (n, m >= 2) and control (n,), got {t.shape} and {c.shape}"
        )
    within = [pearson(t[:, a], t[:, b]) for a, b in itertools.combinations(range(t.shape[1]), 2)]
    between = [pearson(t[:, a], c) for a in range(t.shape[1])]
    return float(np.mean(within) - np.mean(between))


class TwoPointProxy(FeedbackComputer):
    """Connectivity feedback by the two-point proxy: a reward event per co-fluctuation.

    Every volume: 1.0 when it completes an event (see :class:`ProxyRule`
    and :func:`proxy_direction`: the target ROIs change together, the
    control ROI the opposite way, over the last ``points - 1`` intervals
    (overlapping) or for `consecutive` intervals (non-overlapping)), else 0.0;
    None at the first volume (no change yet) and for skipped volumes
    (Ramot & Gonzalez-Castillo, 2019, NeuroImage 188:322-334). At the end,
    :meth:`summary` gives the event counts and rates in regulation and
    baseline volumes and the composite measure
    (:func:`composite_measure`) over the run and over each kind of volume,
    for comparison.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        The run's ROI names (targets and control are among them).
    targets : sequence of str, optional
        2 to 4 target ROIs; default all ROIs but the last.
    control : str, optional
        The control ROI; default the last ROI.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series whose changes count ("kalman" by default).
    min_agree, consecutive, min_change_sd, points, direction
        See :class:`ProxyRule`.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import TwoPointProxy
    >>> from nfd.timeseries import ChainStep
    >>> fb = TwoPointProxy(Design.from_blocks(5, [("UP", 2, 4)]), ["a", "b", "c"])
    >>> rows = [(0, 0, 0), (1, 1, -1), (2, 2, -2), (1, 3, -3), (2, 4, -4)]
    >>> [fb.update(i, {n: ChainStep(i, 0, 0, 0, v, 0, 0, 0, 0, 1) for n, v in zip("abc", r)})
    ...  for i, r in enumerate(rows)]
    [None, 1.0, 1.0, 0.0, 1.0]
    """

    kind = "proxy"
    min_rois = 3

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        targets: Sequence[str] | None = None,
        control: str | None = None,
        signal: str = "kalman",
        min_agree: int | None = None,
        consecutive: int = 1,
        min_change_sd: float = 0.0,
        points: int = 2,
        direction: str = "any",
    ) -> None:
        pool = [rois] if isinstance(rois, str) else list(rois)
        chosen_targets = (
            list(pool[:-1]) if targets is None else ([targets] if isinstance(targets, str) else list(targets))
        )
        chosen_control = pool[-1] if control is None and pool else control
        for name in [*chosen_targets, chosen_control]:
            if name not in pool:
                raise FeedbackError(f"proxy ROI {name!r} is not among the run's ROIs {pool}")
        if not 2 <= len(chosen_targets) <= 4:
            raise FeedbackError(f"the proxy needs 2, 3 or 4 target ROIs, got {chosen_targets}")
        if chosen_control in chosen_targets:
            raise FeedbackError(f"the control ROI {chosen_control!r} must not be a target")
        control_name = str(chosen_control)  # a ROI of the pool by now
        super().__init__(design, [*chosen_targets, control_name])
        self._targets = tuple(chosen_targets)
        self._control = control_name
        self._signal = check_signal(signal)
        self._rule = ProxyRule(min_agree, consecutive, min_change_sd, points, direction)
        self._state = _ProxyState(len(self._targets), self._rule)
        self._history: list[np.ndarray] = []
        self._regulation: list[bool] = []
        self._events: list[int] = []

    @property
    def rule(self) -> ProxyRule:
        """The event rule."""
        return self._rule

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        values = self._signal_values(steps, self._signal)
        row = np.array([values[n] for n in self._rois])
        if index < self._design.skip_volumes or np.isnan(row).any():
            return None
        event, direction, run = self._state.step(row)
        self._history.append(row)
        self._regulation.append(not self._design.is_baseline(index))
        if event is None:
            return None
        self._events.append(1 if event else 0)
        self._detail = {"event": bool(event), "direction": direction, "run": run}
        return 1.0 if event else 0.0

    def summary(self) -> dict[str, Any]:
        """Adds event counts and rates, and the composite measure over the run and per kind of volume."""
        out = super().summary()
        out.update(targets=list(self._targets), control=self._control, signal=self._signal)
        out["rule"] = {
            "min_agree": self._rule.min_agree,
            "consecutive": self._rule.consecutive,
            "min_change_sd": self._rule.min_change_sd,
            "points": self._rule.points,
            "direction": self._rule.direction,
        }
        events = np.asarray(self._events, dtype=np.int64)
        regulation = np.asarray(self._regulation[1:], dtype=bool)  # the first volume has no change
        out["events"] = int(events.sum())
        out["events_regulation"] = int(events[regulation].sum()) if events.size else 0
        out["events_baseline"] = int(events[~regulation].sum()) if events.size else 0
        out["event_rate_regulation"] = float(events[regulation].mean()) if regulation.any() else None
        out["event_rate_baseline"] = float(events[~regulation].mean()) if (~regulation).any() else None
        rows = np.asarray(self._history).reshape(-1, len(self._rois))
        kinds = np.asarray(self._regulation, dtype=bool)
        m = len(self._targets)

        def measure(selection: np.ndarray) -> float | None:
            part = rows[selection]
            if part.shape[0] < 3:
                return None
            value = composite_measure(part[:, :m], part[:, m])
            return None if math.isnan(value) else value

        everything = np.ones(rows.shape[0], dtype=bool)
        out["composite"] = measure(everything)
        out["composite_regulation"] = measure(kinds)
        out["composite_baseline"] = measure(~kinds)
        return out
