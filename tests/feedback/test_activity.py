"""Activity feedback, continuous and intermittent, on signals with known baselines; shaping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.design import Design
from nfd.feedback import (
    ContinuousActivity,
    ContinuousPSC,
    FeedbackError,
    IntermittentActivity,
    ShapingRule,
    combine,
)
from nfd.timeseries import ChainStep


def steps_at(index: int, **rois: dict[str, float]) -> dict[str, ChainStep]:
    """Chain steps whose fields are given per ROI (missing fields 0)."""
    out = {}
    for name, fields in rois.items():
        values = {"raw": 0.0, "glm": 0.0, "ar1": 0.0, "kalman": 0.0, "scaled": 0.0} | fields
        out[name] = ChainStep(index, values["raw"], values["glm"], values["ar1"], values["kalman"], values["scaled"],
                              0, -1.0, 1.0, 4)
    return out


DESIGN = Design.from_blocks(24, [("UP", 8, 13), ("UP", 20, 23)], skip_volumes=2)


def test_continuous_raw_is_continuous_psc_per_roi_combined() -> None:
    rng = np.random.default_rng(0)
    a = 500 + rng.normal(0, 3, 24) + 5 * DESIGN.boxcar()
    b = 300 + rng.normal(0, 3, 24)
    for operation in ("mean", "median", "max"):
        fb = ContinuousActivity(DESIGN, ["a", "b"], delay=2, combine=operation)
        psc_a, psc_b = ContinuousPSC(DESIGN, 2), ContinuousPSC(DESIGN, 2)
        for i in range(24):
            value = fb.update(i, steps_at(i, a={"raw": a[i]}, b={"raw": b[i]}))
            expected = combine([psc_a.update(i, a[i]), psc_b.update(i, b[i])], operation)
            assert value == pytest.approx(expected, abs=1e-12)
            assert fb.detail["roi"]["a"] == pytest.approx(psc_a.update(i, a[i]))
    summary = fb.summary()
    assert summary["kind"] == "psc" and summary["volumes"] == 24 and summary["feedback_volumes"] == 24


def test_continuous_on_the_kalman_signal_is_percent_of_the_raw_baseline() -> None:
    fb = ContinuousActivity(DESIGN, ["v"], signal="kalman", delay=0)
    raw = [200.0] * 24
    kalman = [0.0] * 8 + [4.0] * 6 + [0.0] * 6 + [2.0] * 4
    values = [fb.update(i, steps_at(i, v={"raw": raw[i], "kalman": kalman[i]})) for i in range(24)]
    assert values[:8] == [0.0] * 8
    assert values[8:14] == pytest.approx([2.0] * 6)  # 100 * (4 - 0) / 200
    assert values[20:] == pytest.approx([1.0] * 4)
    summary = fb.summary()
    assert summary["mean_regulation"] > summary["mean_baseline"]


def test_continuous_on_the_scaled_signal_is_a_difference() -> None:
    fb = ContinuousActivity(DESIGN, ["v"], signal="scaled", delay=1)
    scaled = [0.5, 0.5, 0.2, 0.4, 0.3, 0.5, 0.4, 0.3, 0.9, 0.8, 0.7, 0.9, 0.9, 0.9] + [0.5] * 10
    values = [fb.update(i, steps_at(i, v={"raw": 100.0, "scaled": scaled[i]})) for i in range(24)]
    # reference of volume 8: the baseline block 2..7 from its second volume: mean(0.4, 0.3, 0.5, 0.4, 0.3) = 0.38
    assert values[8] == pytest.approx(0.9 - 0.38)
    assert values[2] == 0.0  # no reference yet (the delay drops the block's first volume)


def test_intermittent_gives_one_value_at_each_block_end() -> None:
    raw = np.full(24, 100.0)
    raw[8:14] = [90.0, 95.0, 104.0, 104.0, 104.0, 104.0]  # the delay (2) drops the first two
    raw[14:20] = [50.0, 50.0, 102.0, 102.0, 102.0, 102.0]
    raw[20:24] = [0.0, 0.0, 105.06, 105.06]
    fb = IntermittentActivity(DESIGN, ["v"], delay=2)
    values = [fb.update(i, steps_at(i, v={"raw": raw[i]})) for i in range(24)]
    assert [i for i, v in enumerate(values) if v is not None] == [13, 23]
    assert values[13] == pytest.approx(4.0)  # 100 * (104 - 100) / 100
    assert values[23] == pytest.approx(3.0)  # 100 * (105.06 - 102) / 102
    assert fb.detail["block"] == 3 and fb.detail["roi"]["v"] == pytest.approx(3.0)
    assert len(fb.summary()["blocks"]) == 2


def test_intermittent_block_end_missing_is_reported_at_the_next_volume() -> None:
    fb = IntermittentActivity(DESIGN, ["v"], delay=0)
    got = {}
    for i in range(24):
        if i == 13:
            continue  # the last volume of the first block is dropped
        value = fb.update(i, steps_at(i, v={"raw": 100.0 + (2.0 if DESIGN.condition(i) == "UP" else 0.0)}))
        if value is not None:
            got[i] = value
    assert got == {14: pytest.approx(2.0), 23: pytest.approx(2.0)}


def test_shaping_rewards_improvement_over_the_recent_median() -> None:
    rule = ShapingRule(first_threshold=0.5, margin=0.1, history=3)
    assert rule.rewarded(0.6, []) and not rule.rewarded(0.5, [])
    assert rule.bar([1.0, 2.0, 3.0, 10.0]) == pytest.approx(3.0 * 1.1)  # median of the last three
    assert rule.rewarded(3.3, [1.0, 2.0, 3.0, 10.0]) and not rule.rewarded(3.2, [1.0, 2.0, 3.0, 10.0])
    assert rule.bar([-2.0]) == pytest.approx(-1.8)  # 10 % better than a negative median
    design = Design.from_blocks(40, [("UP", 5, 9), ("UP", 15, 19), ("UP", 25, 29), ("UP", 35, 39)])
    fb = IntermittentActivity(design, ["v"], delay=0, shaping=rule)
    levels = {0: 1.0, 1: 1.05, 2: 2.0, 3: 0.5}  # PSC of the four blocks
    rewards = []
    for i in range(40):
        block = design.block_number(i)
        up = design.condition(i) == "UP"
        fb.update(i, steps_at(i, v={"raw": 100.0 + (levels[block // 2] if up else 0.0)}))
        if "reward" in fb.detail:
            rewards.append(fb.detail["reward"])
    assert rewards == [True, False, True, False]
    assert fb.summary()["rewards"] == 2


def test_missing_rois_and_bad_options_are_reported() -> None:
    fb = ContinuousActivity(DESIGN, ["a", "b"])
    with pytest.raises(FeedbackError, match="no chain step for ROI 'b'"):
        fb.update(0, steps_at(0, a={"raw": 1.0}))
    with pytest.raises(FeedbackError, match="signal must be one of"):
        ContinuousActivity(DESIGN, ["a"], signal="psc")
    with pytest.raises(FeedbackError, match="delay must be an integer >= 0"):
        IntermittentActivity(DESIGN, ["a"], delay=-1)
    with pytest.raises(FeedbackError, match="unknown combine operation"):
        IntermittentActivity(DESIGN, ["a"], combine="sum")
    with pytest.raises(FeedbackError, match="shaping must be a ShapingRule"):
        IntermittentActivity(DESIGN, ["a"], shaping=True)  # type: ignore[arg-type]
    with pytest.raises(FeedbackError, match="shaping margin"):
        ShapingRule(margin=-0.1)
    with pytest.raises(FeedbackError, match="distinct non-empty ROI names"):
        ContinuousActivity(DESIGN, ["a", "a"])


def test_nan_signal_gives_nan_feedback() -> None:
    fb = ContinuousActivity(DESIGN, ["a"])
    assert math.isnan(fb.update(5, steps_at(5, a={"raw": math.nan})))  # type: ignore[arg-type]
