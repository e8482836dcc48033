"""Activity feedback: percent signal change, continuous or at the end of each regulation block."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nfd.design import Design
from nfd.feedback._blocks import BlockEnds, BlockValues
from nfd.feedback._combine import combine as combine_values
from nfd.feedback._computer import CHAIN_SIGNALS, FeedbackComputer, check_count, check_number, check_signal
from nfd.feedback._errors import FeedbackError
from nfd.feedback._psc import ContinuousPSC, _psc_from_mean
from nfd.timeseries import ChainStep

__all__ = ["ContinuousActivity", "IntermittentActivity", "ShapingRule"]


def _activity(value: float, reference: float, raw_reference: float, signal: str) -> float:
    """The activity measure of one ROI against its baseline reference.

    ``raw``: percent signal change ``100 (v - ref) / ref``. ``glm``,
    ``ar1``, ``kalman`` (nuisance-cleaned signals about 0, in raw units):
    ``100 (v - ref) / raw_ref``, percent of the raw baseline mean.
    ``scaled`` (unitless): ``v - ref``, as OpenNFT's continuous PSC of the
    scaled signal (``MaxFeedbackVal`` times it is displayed).
    """
    if math.isnan(value):
        return math.nan
    if math.isnan(reference):
        return 0.0
    if signal == "raw":
        return _psc_from_mean(value, reference)
    if signal == "scaled":
        return value - reference
    if raw_reference == 0.0 or not math.isfinite(raw_reference):
        return 0.0
    return 100.0 * (value - reference) / raw_reference


class ContinuousActivity(FeedbackComputer):
    """Continuous activity feedback: every volume, against the preceding baseline block.

    Per ROI, the chosen signal of the current volume is compared with its
    mean over the reference baseline block (the preceding baseline block
    in a regulation block, the current one so far in a baseline block),
    counted from the block's `delay`-th volume (OpenNFT's continuous PSC,
    Koush et al., 2017, NeuroImage 156:489; see
    :class:`nfd.feedback.ContinuousPSC`). The ROIs' values are combined by
    `combine`. Units: percent for ``raw`` (percent signal change) and for
    ``glm``/``ar1``/``kalman`` (percent of the raw baseline mean);
    fractions of the dynamic range for ``scaled``.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series compared ("raw", the ROI means, by default).
    delay : int
        Volumes dropped at the start of every baseline block.
    combine : {"mean", "median", "max", "min"}
        How the ROIs' values are combined.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import ContinuousActivity
    >>> from nfd.timeseries import ChainStep
    >>> fb = ContinuousActivity(Design.from_blocks(8, [("UP", 4, 7)]), ["v1"], delay=0)
    >>> def step(i, raw):
    ...     return {"v1": ChainStep(i, raw, 0.0, 0.0, 0.0, 0.5, 0, -1.0, 1.0, 1)}
    >>> [fb.update(i, step(i, 100.0)) for i in range(4)]
    [0.0, 0.0, 0.0, 0.0]
    >>> fb.update(4, step(4, 102.0)), fb.detail
    (2.0, {'roi': {'v1': 2.0}})
    """

    kind = "psc"

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        signal: str = "raw",
        delay: int = 2,
        combine: str = "mean",
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal)
        self._delay = check_count("delay", delay, 0)
        combine_values([0.0], combine)  # validates the operation name
        self._combine = combine
        self._raw = {n: ContinuousPSC(design, self._delay) for n in self._rois}
        self._series = (
            self._raw if self._signal == "raw" else {n: ContinuousPSC(design, self._delay) for n in self._rois}
        )
        self._values: list[float] = []
        self._conditions: list[bool] = []

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        raw = self._signal_values(steps, "raw")
        chosen = raw if self._signal == "raw" else self._signal_values(steps, self._signal)
        per_roi: dict[str, float] = {}
        for name in self._rois:
            self._raw[name].update(index, raw[name])
            if self._signal != "raw":
                self._series[name].update(index, chosen[name])
            if index < self._design.skip_volumes:
                per_roi[name] = 0.0
                continue
            per_roi[name] = _activity(
                chosen[name], self._series[name].reference(index), self._raw[name].reference(index), self._signal
            )
        value = combine_values(list(per_roi.values()), self._combine)
        self._detail = {"roi": per_roi}
        if math.isfinite(value):
            self._values.append(value)
            self._conditions.append(not self._design.is_baseline(index))
        return value

    def summary(self) -> dict[str, Any]:
        """Adds ``mean_regulation`` and ``mean_baseline``: the mean measure over each kind of volume."""
        out = super().summary()
        values = np.asarray(self._values)
        regulation = np.asarray(self._conditions, dtype=bool)
        out["signal"] = self._signal
        out["mean_regulation"] = float(values[regulation].mean()) if regulation.any() else None
        out["mean_baseline"] = float(values[~regulation].mean()) if (~regulation).any() else None
        return out


@dataclass(frozen=True)
class ShapingRule:
    """When an intermittent feedback value earns a reward (shaping, OpenNFT's ``regSuccess``).

    The first block's value earns it when above `first_threshold`; a later
    one when at least ``median(previous) + margin * |median(previous)|``,
    the median of the previous `history` blocks' values: OpenNFT asks for
    about 10 % more than the median of the last three (``0.9 * value >=
    median``; Koush et al., 2017, NeuroImage 156:489).

    Attributes
    ----------
    first_threshold : float
        Threshold of the first block (the measure's unit).
    margin : float
        Fraction of the previous median to exceed it by, >= 0.
    history : int
        Number of previous blocks whose median is the bar, >= 1.
    """

    first_threshold: float = 0.5
    margin: float = 0.1
    history: int = 3

    def __post_init__(self) -> None:
        check_number("shaping first_threshold", self.first_threshold)
        check_number("shaping margin", self.margin, 0.0)
        check_count("shaping history", self.history, 1)

    def bar(self, previous: Sequence[float]) -> float:
        """The value to reach after the blocks' values `previous` (finite ones)."""
        if not previous:
            return self.first_threshold
        median = float(np.median(np.asarray(previous[-self.history :], dtype=np.float64)))
        return median + self.margin * abs(median)

    def rewarded(self, value: float, previous: Sequence[float]) -> bool:
        """Whether `value` earns the reward after the blocks' values `previous`."""
        if not previous:
            return value > self.first_threshold
        return value >= self.bar(previous)


class IntermittentActivity(FeedbackComputer):
    """Intermittent activity feedback: one value at the end of each regulation block.

    At the last volume of a regulation block (or the first volume received
    after it, when that one is missing), per ROI: the mean of the chosen
    signal over the block is compared with its mean over the preceding
    baseline block, both counted from the block's `delay`-th volume (the
    haemodynamic delay; OpenNFT's intermittent PSC, Koush et al., 2017).
    ``raw``: ``100 (m_reg - m_bas) / m_bas`` percent signal change; other
    signals as :class:`ContinuousActivity`. The ROIs' values are combined
    by `combine`. None at every other volume.

    With a :class:`ShapingRule`, :attr:`detail` tells whether the block's
    value earned a reward (``reward``) and the bar it had to reach.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series compared.
    delay : int
        Volumes dropped at the start of every block.
    combine : {"mean", "median", "max", "min"}
        How the ROIs' values are combined.
    shaping : ShapingRule or None
        Reward rule; None for no reward.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import IntermittentActivity
    >>> from nfd.timeseries import ChainStep
    >>> fb = IntermittentActivity(Design.from_blocks(8, [("UP", 4, 7)]), ["v1"], delay=1)
    >>> values = [100.0, 100.0, 100.0, 100.0, 90.0, 103.0, 103.0, 103.0]
    >>> [fb.update(i, {"v1": ChainStep(i, v, 0, 0, 0, 0, 0, 0, 0, 1)}) for i, v in enumerate(values)]
    [None, None, None, None, None, None, None, 3.0]
    """

    kind = "psc_intermittent"

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        signal: str = "raw",
        delay: int = 2,
        combine: str = "mean",
        shaping: ShapingRule | None = None,
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal, CHAIN_SIGNALS)
        self._delay = check_count("delay", delay, 0)
        combine_values([0.0], combine)  # validates the operation name
        self._combine = combine
        if shaping is not None and not isinstance(shaping, ShapingRule):
            raise FeedbackError(f"shaping must be a ShapingRule or None, got {type(shaping).__name__}")
        self._shaping = shaping
        columns = [f"{n}:raw" for n in self._rois] + [f"{n}:{self._signal}" for n in self._rois]
        self._store = BlockValues(design, columns, self._delay)
        self._ends = BlockEnds(design)
        self._blocks: list[dict[str, Any]] = []

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        raw = self._signal_values(steps, "raw")
        chosen = self._signal_values(steps, self._signal)
        if index >= self._design.skip_volumes:
            self._store.record(index, [raw[n] for n in self._rois] + [chosen[n] for n in self._rois])
        block = self._ends.ended(index)
        if block is None:
            return None
        n = len(self._rois)
        regulation = self._store.window(block)
        reference_block = self._store.previous_baseline(block)
        baseline = self._store.window(reference_block) if reference_block >= 0 else np.empty((0, 2 * n))
        condition, first, last = self._design.blocks[block]
        record: dict[str, Any] = {"block": block, "condition": condition, "first": first, "last": last}
        if regulation.shape[0] == 0 or baseline.shape[0] == 0:
            record.update(value=None, reason="no values in the regulation block or its baseline")
            self._blocks.append(record)
            self._detail = record
            return None
        reg_means = regulation.mean(axis=0)
        bas_means = baseline.mean(axis=0)
        per_roi = {
            name: _activity(float(reg_means[n + k]), float(bas_means[n + k]), float(bas_means[k]), self._signal)
            for k, name in enumerate(self._rois)
        }
        value = combine_values(list(per_roi.values()), self._combine)
        record.update(value=value, roi=per_roi)
        if self._shaping is not None and math.isfinite(value):
            previous = [b["value"] for b in self._blocks if b.get("value") is not None and math.isfinite(b["value"])]
            record["bar"] = self._shaping.bar(previous)
            record["reward"] = self._shaping.rewarded(value, previous)
        self._blocks.append(record)
        self._detail = record
        return value

    def summary(self) -> dict[str, Any]:
        """Adds ``blocks`` (each block's value, per-ROI values and reward) and ``rewards`` (count)."""
        out = super().summary()
        out["signal"] = self._signal
        out["blocks"] = [dict(b) for b in self._blocks]
        if self._shaping is not None:
            out["rewards"] = sum(1 for b in self._blocks if b.get("reward"))
        return out
