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
from nfd.feedback._opennft import OpenNFTBlocks, median_at
from nfd.feedback._psc import ContinuousPSC, _psc_from_mean
from nfd.timeseries import ChainStep

__all__ = ["REFERENCES", "ContinuousActivity", "IntermittentActivity", "ShapingRule"]

#: How an activity kind picks the baseline a volume or block is compared with.
REFERENCES: tuple[str, ...] = ("preceding", "opennft")


def _check_reference(reference: object) -> str:
    if not isinstance(reference, str) or reference not in REFERENCES:
        raise FeedbackError(f"reference must be one of {list(REFERENCES)}, got {reference!r}")
    return reference


class _RunSeries:
    """Every volume's raw and chosen-signal value per ROI (NaN where missing), for OpenNFT's index sets."""

    def __init__(self, n_volumes: int, rois: Sequence[str]) -> None:
        self.raw = {n: np.full(n_volumes, math.nan) for n in rois}
        self.chosen = {n: np.full(n_volumes, math.nan) for n in rois}

    def record(self, index: int, raw: Mapping[str, float], chosen: Mapping[str, float]) -> None:
        for name in self.raw:
            self.raw[name][index] = raw[name]
            self.chosen[name][index] = chosen[name]


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

    ``reference="opennft"`` is OpenNFT's rule instead
    (``opennft/matlab/nfbCalc.m``, "Continuous PSC NF"): the reference is
    the *median* over a cumulative baseline set, in regulation block k
    (1-based) the last 7 volumes of baseline block 1 when k = 1, else
    every baseline block 1..k from its 3rd volume on (OpenNFT numbers
    baseline and regulation blocks separately); every baseline volume
    gives 0.0; `delay` does not apply. OpenNFT reads ``signal="scaled"``
    (the measure is then ``scaled - median``), and combines the ROIs with
    its ``RoiAnatOperation`` (``median`` of two ROIs is their mean; 1.0
    hard-codes the median). A design without the blocks the rule reads
    (a first baseline block of 7 volumes, baseline block k before
    regulation block k) is refused at construction.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names.
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series compared ("raw", the ROI means, by default).
    delay : int
        Volumes dropped at the start of every baseline block
        (``reference="preceding"`` only).
    combine : {"mean", "median", "max", "min"}
        How the ROIs' values are combined.
    reference : {"preceding", "opennft"}
        The baseline rule: nfd's mean of the preceding baseline block from
        `delay` ("preceding", the default) or OpenNFT's median over the
        cumulative baseline ("opennft").

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
        reference: str = "preceding",
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal)
        self._delay = check_count("delay", delay, 0)
        combine_values([0.0], combine)  # validates the operation name
        self._combine = combine
        self._reference = _check_reference(reference)
        self._raw = {n: ContinuousPSC(design, self._delay) for n in self._rois}
        self._series = (
            self._raw if self._signal == "raw" else {n: ContinuousPSC(design, self._delay) for n in self._rois}
        )
        self._opennft: tuple[OpenNFTBlocks, list[list[int]], _RunSeries] | None = None
        if self._reference == "opennft":
            blocks = OpenNFTBlocks(design)
            sets = [blocks.continuous_baseline(k) for k in range(blocks.n_regulation)]
            self._opennft = (blocks, sets, _RunSeries(design.n_volumes, self._rois))
        self._values: list[float] = []
        self._conditions: list[bool] = []

    def _opennft_values(self, index: int, raw: Mapping[str, float], chosen: Mapping[str, float]) -> dict[str, float]:
        """OpenNFT's per-ROI measure at `index`: against the median over the cumulative baseline; 0 in baseline."""
        assert self._opennft is not None
        blocks, sets, store = self._opennft
        if index < self._design.skip_volumes:
            return dict.fromkeys(self._rois, 0.0)
        store.record(index, raw, chosen)
        k = blocks.ordinal(self._design.block_number(index))
        if k is None:
            return dict.fromkeys(self._rois, 0.0)
        return {
            n: _activity(chosen[n], median_at(store.chosen[n], sets[k]), median_at(store.raw[n], sets[k]), self._signal)
            for n in self._rois
        }

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        raw = self._signal_values(steps, "raw")
        chosen = raw if self._signal == "raw" else self._signal_values(steps, self._signal)
        if self._opennft is not None:
            return self._combined(index, self._opennft_values(index, raw, chosen))
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
        return self._combined(index, per_roi)

    def _combined(self, index: int, per_roi: dict[str, float]) -> float:
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
        out["reference"] = self._reference
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

    ``reference="opennft"`` is OpenNFT's rule instead
    (``opennft/matlab/nfbCalc.m``, "Intermittent PSC NF"): at the end of
    regulation block k (1-based), per ROI, the *medians* of the signal
    over the block's last 7 volumes (``m_reg``) and over the last 7
    volumes of baseline block 1 (k = 1) or the last 6 of baseline block k
    and the volume after it (k >= 2) (``m_bas``), each scaled by the
    limits averaged over the ROIs at this volume (``lo``, ``hi``: the mean
    of the steps' ``scale_lo``/``scale_hi``):
    ``(m_reg - lo) / (hi - lo) - (m_bas - lo) / (hi - lo)``. OpenNFT 1.0
    reads the Kalman series (``signal="kalman"``, signal units, so the
    measure is a fraction of the dynamic range); the current OpenNFT reads
    the already scaled series and scales it again by the Kalman limits
    (``signal="scaled"``, a quirk kept as is); no other signal is accepted.
    OpenNFT averages the limits over all its ROIs, the whole-brain rtQA ROI
    included when rtQA is on; here over `rois`. `delay` does not apply.
    1.0 combines the ROIs by their mean, the current version by its
    ``RoiAnatOperation`` (`combine`). A design without the blocks the rule
    reads (7 volumes per regulation block, baseline block k of 7 or 6
    volumes before regulation block k ends) is refused at construction.

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
        Volumes dropped at the start of every block (``reference="preceding"``).
    combine : {"mean", "median", "max", "min"}
        How the ROIs' values are combined.
    shaping : ShapingRule or None
        Reward rule; None for no reward.
    reference : {"preceding", "opennft"}
        nfd's means over the block and its preceding baseline from `delay`
        ("preceding", the default) or OpenNFT's rule ("opennft").

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
        reference: str = "preceding",
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal, CHAIN_SIGNALS)
        self._delay = check_count("delay", delay, 0)
        combine_values([0.0], combine)  # validates the operation name
        self._combine = combine
        if shaping is not None and not isinstance(shaping, ShapingRule):
            raise FeedbackError(f"shaping must be a ShapingRule or None, got {type(shaping).__name__}")
        self._shaping = shaping
        self._reference = _check_reference(reference)
        columns = [f"{n}:raw" for n in self._rois] + [f"{n}:{self._signal}" for n in self._rois]
        self._store = BlockValues(design, columns, self._delay)
        self._ends = BlockEnds(design)
        self._blocks: list[dict[str, Any]] = []
        self._opennft: tuple[OpenNFTBlocks, _RunSeries] | None = None
        if self._reference == "opennft":
            if self._signal not in ("kalman", "scaled"):
                raise FeedbackError(
                    "OpenNFT's intermittent rule reads signal 'kalman' (OpenNFT 1.0) or 'scaled' (current OpenNFT), "
                    f"got {self._signal!r}"
                )
            blocks = OpenNFTBlocks(design)
            blocks.validate("intermittent")
            self._opennft = (blocks, _RunSeries(design.n_volumes, self._rois))

    def _preceding_values(self, block: int) -> dict[str, float] | str:
        """nfd's per-ROI measure of `block`: means from `delay` against the preceding baseline; else the reason."""
        n = len(self._rois)
        regulation = self._store.window(block)
        reference_block = self._store.previous_baseline(block)
        baseline = self._store.window(reference_block) if reference_block >= 0 else np.empty((0, 2 * n))
        if regulation.shape[0] == 0 or baseline.shape[0] == 0:
            return "no values in the regulation block or its baseline"
        reg_means = regulation.mean(axis=0)
        bas_means = baseline.mean(axis=0)
        return {
            name: _activity(float(reg_means[n + k]), float(bas_means[n + k]), float(bas_means[k]), self._signal)
            for k, name in enumerate(self._rois)
        }

    def _opennft_block(
        self, block: int, steps: Mapping[str, ChainStep], record: dict[str, Any]
    ) -> dict[str, float] | str:
        """OpenNFT's per-ROI measure of `block` (medians scaled by the ROI-averaged limits); else the reason."""
        assert self._opennft is not None
        blocks, store = self._opennft
        k = blocks.ordinal(block)
        assert k is not None
        regulation, baseline = blocks.intermittent_sets(k)
        lo = float(np.mean(list(self._signal_values(steps, "scale_lo").values())))
        hi = float(np.mean(list(self._signal_values(steps, "scale_hi").values())))
        record.update(limits=[lo, hi], regulation_volumes=[regulation[0], regulation[-1]],
                      baseline_volumes=baseline)
        width = hi - lo
        if not (math.isfinite(width) and width > 0.0):
            return f"the ROI-averaged scaling limits [{lo}, {hi}] leave no range"
        per_roi = {}
        for name in self._rois:
            m_reg = median_at(store.chosen[name], regulation)
            m_bas = median_at(store.chosen[name], baseline)
            per_roi[name] = (m_reg - lo) / width - (m_bas - lo) / width
        return per_roi

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        raw = self._signal_values(steps, "raw")
        chosen = self._signal_values(steps, self._signal)
        if index >= self._design.skip_volumes:
            self._store.record(index, [raw[n] for n in self._rois] + [chosen[n] for n in self._rois])
            if self._opennft is not None:
                self._opennft[1].record(index, raw, chosen)
        block = self._ends.ended(index)
        if block is None:
            return None
        condition, first, last = self._design.blocks[block]
        record: dict[str, Any] = {"block": block, "condition": condition, "first": first, "last": last}
        per_roi = self._preceding_values(block) if self._opennft is None else self._opennft_block(block, steps, record)
        value = None if isinstance(per_roi, str) else combine_values(list(per_roi.values()), self._combine)
        if isinstance(per_roi, str) or (self._opennft is not None and value is not None and not math.isfinite(value)):
            record.update(value=None, reason=per_roi if isinstance(per_roi, str) else "no finite value in a median")
            self._blocks.append(record)
            self._detail = record
            return None
        assert value is not None
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
        out["reference"] = self._reference
        out["blocks"] = [dict(b) for b in self._blocks]
        if self._shaping is not None:
            out["rewards"] = sum(1 for b in self._blocks if b.get("reward"))
        return out
