"""The block design of a run: which condition every acquired volume belongs to."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from nfd._checks import ensure_int
from nfd.design._errors import DesignError, VolumeIndexError
from nfd.design._hrf import SPM_HRF_PARAMETERS, hrf_regressor, spm_hrf
from nfd.design._hrf_file import SampledHrf

__all__ = ["Design", "Event"]


class Event(NamedTuple):
    """One timed event of a condition, as protocol files with times give them.

    Attributes
    ----------
    condition : str
        Non-baseline condition name.
    onset : float
        Seconds from the start of acquisition index 0 (skipped volumes
        included).
    duration : float
        Seconds, >= 0 (0: an impulse).
    amplitude : float
        Height (unitless; 1 for a plain event, else a parametric value).
    """

    condition: str
    onset: float
    duration: float
    amplitude: float = 1.0


def _as_count(name: str, value: object, minimum: int) -> int:
    return ensure_int(value, name, minimum=minimum, error=DesignError)


def _check_baseline(baseline: object) -> str:
    if not isinstance(baseline, str) or not baseline:
        raise DesignError(f"baseline must be a non-empty condition name, got {baseline!r}")
    return baseline


def _checked_labels(labels: Sequence[str], baseline: str, skip_volumes: object) -> tuple[list[str], int]:
    """The labels as a list of non-empty strings, and the number of skipped volumes, all baseline."""
    label_list = list(labels)
    if not label_list:
        raise DesignError("a design needs at least one volume; got no labels")
    for index, label in enumerate(label_list):
        if not isinstance(label, str) or not label:
            raise DesignError(f"label of volume {index} must be a non-empty string, got {label!r}")
    skip = _as_count("skip_volumes", skip_volumes, 0)
    if skip > len(label_list):
        raise DesignError(f"skip_volumes={skip} exceeds the number of volumes {len(label_list)}")
    for index in range(skip):
        if label_list[index] != baseline:
            raise DesignError(
                f"skipped volume {index} is labelled {label_list[index]!r}; skipped volumes must be "
                f"baseline {baseline!r}"
            )
    return label_list, skip


def _declared_conditions(labels: list[str], baseline: str, conditions: Sequence[str] | None) -> tuple[str, ...]:
    """The non-baseline conditions: `conditions` checked against the labels, else the labels' order."""
    seen = list(dict.fromkeys(label for label in labels if label != baseline))
    if conditions is None:
        return tuple(seen)
    names = tuple(conditions)
    for name in names:
        if not isinstance(name, str) or not name:
            raise DesignError(f"condition names must be non-empty strings, got {name!r}")
    if baseline in names:
        raise DesignError(f"conditions {list(names)} must not include the baseline {baseline!r}")
    if len(set(names)) != len(names):
        raise DesignError(f"conditions {list(names)} name a condition twice")
    missing = [label for label in seen if label not in names]
    if missing:
        raise DesignError(f"labels {missing} are not among the declared conditions {list(names)}")
    return names


def _runs_of(labels: list[str]) -> tuple[tuple[tuple[str, int, int], ...], np.ndarray]:
    """Runs of equal labels ``(label, first, last)`` and, per volume, the number of its run (read-only).

    >>> blocks, block_of = _runs_of(["A", "A", "B", "A"])
    >>> blocks, block_of.tolist()
    ((('A', 0, 1), ('B', 2, 2), ('A', 3, 3)), [0, 0, 1, 2])
    """
    blocks: list[tuple[str, int, int]] = []
    block_of = np.empty(len(labels), dtype=np.intp)
    start = 0
    for index in range(1, len(labels) + 1):
        if index == len(labels) or labels[index] != labels[start]:
            block_of[start:index] = len(blocks)
            blocks.append((labels[start], start, index - 1))
            start = index
    block_of.setflags(write=False)
    return tuple(blocks), block_of


class Design:
    """Condition labels of every volume of a run, with baseline blocks marked.

    Volume indices are 0-based acquisition indices over every volume the
    scanner writes, the skipped initial volumes included (they are always
    baseline). Consecutive volumes with the same label form a block.
    Instances are immutable.

    Parameters
    ----------
    labels : sequence of str
        Condition name of each volume, ``len(labels)`` volumes.
    baseline : str
        Name of the baseline condition (``"BAS"``, OpenNFT's name).
    conditions : sequence of str, optional
        Non-baseline condition names, in the order to report them; every
        non-baseline label must be among them (a declared condition may have
        no volume). Default: the labels' order of first appearance.
    skip_volumes : int
        Number of initial volumes the pipeline discards (not yet at T1
        steady state); they must be labelled baseline.
    events : iterable of Event, optional
        The exact timing of the non-baseline conditions (seconds), when the
        protocol gives times (BIDS events, PyHRF paradigms); used by
        :meth:`task_regressors` instead of the labels. It does not take part
        in equality (which compares what each volume is).

    Raises
    ------
    DesignError
        If the labels are empty or not strings, a skipped volume is not
        baseline, `conditions` misses a label or includes the baseline, or
        an event names an unknown condition or has a non-finite time, a
        negative duration or a non-finite amplitude.

    Examples
    --------
    >>> from nfd.design import Design
    >>> d = Design.from_blocks(12, [("UP", 4, 7)], skip_volumes=2)
    >>> d.labels.tolist()
    ['BAS', 'BAS', 'BAS', 'BAS', 'UP', 'UP', 'UP', 'UP', 'BAS', 'BAS', 'BAS', 'BAS']
    >>> d.blocks
    [('BAS', 0, 3), ('UP', 4, 7), ('BAS', 8, 11)]
    >>> d.condition(5), d.is_baseline(9), d.conditions
    ('UP', True, ('UP',))
    """

    __slots__ = ("_baseline", "_block_of", "_blocks", "_conditions", "_events", "_labels", "_skip_volumes")

    def __init__(
        self,
        labels: Sequence[str],
        *,
        baseline: str = "BAS",
        conditions: Sequence[str] | None = None,
        skip_volumes: int = 0,
        events: Iterable[Event] | None = None,
    ) -> None:
        baseline = _check_baseline(baseline)
        label_list, skip = _checked_labels(labels, baseline, skip_volumes)
        self._conditions = _declared_conditions(label_list, baseline, conditions)
        self._labels = np.array(label_list, dtype=str)
        self._labels.setflags(write=False)
        self._baseline = baseline
        self._skip_volumes = skip
        self._blocks, self._block_of = _runs_of(label_list)
        self._events = None if events is None else self._check_events(events)

    def _check_events(self, events: Iterable[Event]) -> tuple[Event, ...]:
        checked: list[Event] = []
        for number, event in enumerate(events):
            try:
                condition, onset, duration, amplitude = event
            except (TypeError, ValueError):
                raise DesignError(
                    f"event {number} must be (condition, onset s, duration s, amplitude), got {event!r}"
                ) from None
            if condition not in self._conditions:
                raise DesignError(
                    f"event {number} names condition {condition!r}; expected one of {list(self._conditions)}"
                )
            try:
                values = [float(onset), float(duration), float(amplitude)]
            except (TypeError, ValueError):
                raise DesignError(
                    f"event {number} ({condition}): onset, duration and amplitude must be numbers"
                ) from None
            if not all(math.isfinite(v) for v in values) or values[1] < 0:
                raise DesignError(
                    f"event {number} ({condition}): expected finite onset (s), duration >= 0 (s) and amplitude, "
                    f"got {values}"
                )
            checked.append(Event(condition, *values))
        return tuple(checked)

    @classmethod
    def from_blocks(
        cls,
        n_volumes: int,
        blocks: Iterable[tuple[str, int, int]],
        *,
        baseline: str = "BAS",
        skip_volumes: int = 0,
    ) -> Design:
        """A design from condition blocks; volumes in no block are baseline.

        Parameters
        ----------
        n_volumes : int
            Number of volumes of the run, skipped ones included.
        blocks : iterable of (str, int, int)
            ``(condition, first_index, last_index)``, 0-based acquisition
            indices, both ends inclusive. Blocks of the same condition may
            touch or overlap; blocks of different conditions may not overlap.
        baseline : str
            Name of the baseline condition.
        skip_volumes : int
            Number of initial volumes discarded; no block may cover them.

        Returns
        -------
        Design

        Raises
        ------
        DesignError
            If a block is malformed, outside ``0 .. n_volumes - 1``, covers a
            skipped volume, or overlaps a block of another condition.

        Examples
        --------
        >>> from nfd.design import Design
        >>> Design.from_blocks(6, [("UP", 2, 3)]).boxcar().tolist()
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        """
        n = _as_count("n_volumes", n_volumes, 1)
        baseline = _check_baseline(baseline)
        skip = _as_count("skip_volumes", skip_volumes, 0)
        assigned: list[str | None] = [None] * n
        owner: list[int] = [-1] * n
        order: list[str] = []
        for number, block in enumerate(blocks):
            try:
                condition, first, last = block
            except (TypeError, ValueError):
                raise DesignError(
                    f"block {number} must be (condition, first_index, last_index), got {block!r}"
                ) from None
            if not isinstance(condition, str) or not condition:
                raise DesignError(f"block {number}: condition must be a non-empty string, got {condition!r}")
            first_i = _as_count(f"block {number} ({condition}) first_index", first, 0)
            last_i = _as_count(f"block {number} ({condition}) last_index", last, 0)
            if not first_i <= last_i < n:
                raise DesignError(
                    f"block {number} ({condition}, {first_i}, {last_i}) must satisfy "
                    f"0 <= first_index <= last_index <= {n - 1} (0-based, inclusive)"
                )
            if condition != baseline and first_i < skip:
                raise DesignError(
                    f"block {number} ({condition}, {first_i}, {last_i}) covers skipped volumes "
                    f"0..{skip - 1}, which are always baseline"
                )
            for index in range(first_i, last_i + 1):
                previous = assigned[index]
                if previous is not None and previous != condition:
                    raise DesignError(
                        f"block {number} ({condition}, {first_i}, {last_i}) overlaps block "
                        f"{owner[index]} ({previous}) at volume {index}"
                    )
                assigned[index] = condition
                owner[index] = number
            if condition != baseline and condition not in order:
                order.append(condition)
        labels = [baseline if label is None else label for label in assigned]
        return cls(labels, baseline=baseline, conditions=order, skip_volumes=skip)

    # -- description ---------------------------------------------------------

    @property
    def n_volumes(self) -> int:
        """Number of volumes, skipped ones included."""
        return int(self._labels.size)

    @property
    def baseline(self) -> str:
        """Name of the baseline condition."""
        return self._baseline

    @property
    def conditions(self) -> tuple[str, ...]:
        """Non-baseline condition names."""
        return self._conditions

    @property
    def skip_volumes(self) -> int:
        """Number of initial volumes discarded (always baseline)."""
        return self._skip_volumes

    @property
    def labels(self) -> np.ndarray:
        """Condition of every volume, read-only str array of shape (n_volumes,)."""
        return self._labels

    @property
    def blocks(self) -> list[tuple[str, int, int]]:
        """Runs of equal labels as ``(condition, first, last)``, 0-based inclusive, in order."""
        return list(self._blocks)

    @property
    def events(self) -> tuple[Event, ...] | None:
        """The timed events (seconds), or None when the design has only per-volume labels."""
        return self._events

    # -- queries -------------------------------------------------------------

    def _check_index(self, index: int) -> int:
        i = ensure_int(index, "volume index", error=VolumeIndexError)
        if not 0 <= i < self._labels.size:
            raise VolumeIndexError(
                f"volume index {i} is outside the design's volumes 0..{self._labels.size - 1} "
                "(0-based acquisition indices, skipped volumes included)"
            )
        return i

    def condition(self, index: int) -> str:
        """Condition of volume `index` (0-based acquisition index).

        Raises
        ------
        VolumeIndexError
            If `index` is not an integer in ``0 .. n_volumes - 1``.
        """
        return str(self._labels[self._check_index(index)])

    def is_baseline(self, index: int) -> bool:
        """Whether volume `index` (0-based acquisition index) is baseline."""
        return bool(self._labels[self._check_index(index)] == self._baseline)

    def block_of(self, index: int) -> tuple[str, int, int]:
        """The block ``(condition, first, last)`` holding volume `index` (0-based)."""
        return self._blocks[self._block_of[self._check_index(index)]]

    def block_number(self, index: int) -> int:
        """Position in :attr:`blocks` of the block holding volume `index` (0-based)."""
        return int(self._block_of[self._check_index(index)])

    def boxcar(self, condition: str | None = None) -> np.ndarray:
        """Indicator of a condition over the run.

        Parameters
        ----------
        condition : str, optional
            A condition name (the baseline's too); None for every
            non-baseline condition.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(n_volumes,)``: 1.0 for volumes of the
            condition, 0.0 elsewhere.

        Raises
        ------
        DesignError
            If `condition` is not a condition of the design.
        """
        if condition is None:
            return (self._labels != self._baseline).astype(np.float64)
        if condition != self._baseline and condition not in self._conditions:
            raise DesignError(
                f"unknown condition {condition!r}; the design has {[self._baseline, *self._conditions]}"
            )
        return (self._labels == condition).astype(np.float64)

    def task_regressors(
        self,
        tr: float,
        *,
        p: Sequence[float] = SPM_HRF_PARAMETERS,
        oversampling: int = 16,
        hrf: SampledHrf | None = None,
    ) -> np.ndarray:
        """Each non-baseline condition convolved with SPM's canonical HRF (or a given one).

        With :attr:`events`, each condition's events, at their exact onsets
        and durations (s), are convolved on SPM's microtime grid and sampled
        at the start of every volume (:func:`nfd.design.hrf_regressor`; the
        labels are not used, so an event shorter than a TR weighs its
        duration); without, the condition's
        boxcar (1 on its volumes) is convolved at the TR,
        ``np.convolve(boxcar, spm_hrf(tr))[:n_volumes]`` (Friston et al.,
        1998, NeuroImage 7:30). With `hrf`, its kernel
        (:meth:`nfd.design.SampledHrf.kernel`, at the microtime for events,
        at the TR for labels) replaces :func:`spm_hrf`'s. Either way a
        sustained condition converges to 1.

        Parameters
        ----------
        tr : float
            Repetition time, seconds, > 0.
        p : sequence of 7 floats
            HRF parameters (see :func:`nfd.timeseries.spm_hrf`); SPM's
            ``(6, 16, 1, 1, 6, 0, 32)`` by default.
        oversampling : int
            Microtime bins per TR (events only).
        hrf : SampledHrf or None
            A response read from an HRF TSV file (the subject's); None for
            SPM's canonical HRF with parameters `p`.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(n_volumes, len(conditions))``, rows indexed by
            0-based acquisition index, columns in the order of
            :attr:`conditions`.

        Raises
        ------
        DesignError
            If `tr`, `p` or `oversampling` is invalid.

        Examples
        --------
        >>> from nfd.design import Design
        >>> X = Design.from_blocks(40, [("UP", 10, 39)]).task_regressors(2.0)
        >>> X.shape, round(float(X[9, 0]), 3), round(float(X[30, 0]), 3)
        ((40, 1), 0.0, 1.0)
        """
        n = self.n_volumes
        out = np.zeros((n, len(self._conditions)), dtype=np.float64)
        try:
            if self._events is None:
                kernel = spm_hrf(tr, p) if hrf is None else hrf.kernel(tr)
                for column, condition in enumerate(self._conditions):
                    out[:, column] = np.convolve(self.boxcar(condition), kernel)[:n]
            else:
                for column, condition in enumerate(self._conditions):
                    mine = [e for e in self._events if e.condition == condition]
                    if mine:
                        out[:, column] = hrf_regressor(
                            [e.onset for e in mine], [e.duration for e in mine], [e.amplitude for e in mine],
                            n, tr, p=p, oversampling=oversampling, hrf=hrf,
                        )
        except DesignError as exc:  # the HRF refused tr, p or oversampling
            raise type(exc)(f"task_regressors: {exc}") from None
        return out

    def contrast_vector(self, weights: Mapping[str, float] | None = None) -> np.ndarray:
        """A contrast over the columns of :meth:`task_regressors`.

        Parameters
        ----------
        weights : mapping of str to float, optional
            Condition name -> weight (e.g. ``{"NFBREG": 1}``, OpenNFT's
            ``ContrastActivation = "+1*NFBREG"``); conditions not named weigh
            0. None: every condition weighs 1 (all conditions vs baseline).

        Returns
        -------
        numpy.ndarray
            float64, shape ``(len(conditions),)``.

        Raises
        ------
        DesignError
            If a name is not a condition of the design or a weight is not
            finite, or every weight is 0.
        """
        if weights is None:
            vector = np.ones(len(self._conditions), dtype=np.float64)
        else:
            vector = np.zeros(len(self._conditions), dtype=np.float64)
            for name, weight in weights.items():
                if name not in self._conditions:
                    raise DesignError(
                        f"contrast names condition {name!r}; the design's conditions are {list(self._conditions)}"
                    )
                try:
                    value = float(weight)
                except (TypeError, ValueError):
                    raise DesignError(f"contrast weight of {name!r} must be a number, got {weight!r}") from None
                if not math.isfinite(value):
                    raise DesignError(f"contrast weight of {name!r} must be finite, got {weight!r}")
                vector[self._conditions.index(name)] = value
        if not vector.any():
            raise DesignError(f"contrast {weights!r} is all zeros over the conditions {list(self._conditions)}")
        return vector

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Design):
            return NotImplemented
        return (
            self._baseline == other._baseline
            and self._conditions == other._conditions
            and self._skip_volumes == other._skip_volumes
            and np.array_equal(self._labels, other._labels)
        )

    def __hash__(self) -> int:
        return hash((self._baseline, self._conditions, self._skip_volumes, self._blocks))

    def __repr__(self) -> str:
        shown = ", ".join(f"{c}:{a}-{b}" for c, a, b in self._blocks[:6])
        more = ", ..." if len(self._blocks) > 6 else ""
        timed = "" if self._events is None else f", events={len(self._events)}"
        return (
            f"Design(n_volumes={self.n_volumes}, baseline={self._baseline!r}, "
            f"conditions={self._conditions}, skip_volumes={self._skip_volumes}, blocks=[{shown}{more}]{timed})"
        )
