"""SignalChain with OpenNFT's options against a transcription of preprSig.m's whole chain (issue 13).

The reference (``tests/helpers/opennft_reference.py``) is written from OpenNFT's MATLAB
behaviour with numpy's ``pinv`` and loops, independent of nfd's chain: arRegr.m, the staged
cGLM, the 1e-5 first motion row, the kept task, modifKalman.m with both versions' constants
and its sd = 0 first volume, scaleTimeSeries.m, and SPM12's block regressor.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nfd.design import Design, opennft_onoffsets
from nfd.timeseries import (
    ChainOptions,
    KalmanSettings,
    KalmanState,
    SignalChain,
    TimeseriesError,
    ar1_filter,
    ar1_filter_columns,
    kalman_despike,
    kalman_step,
)
from tests.helpers.opennft_reference import (
    KALMAN_CONSTANTS,
    ar_regr,
    modif_kalman,
    opennft_chain,
    preprsig_run,
    spm_design,
)
from tests.helpers.opennft_run import SKIP, TR, OpenNFTRun, opennft_run

#: Relative tolerance of the comparisons (of each series' largest magnitude).
RTOL = 1e-9


def opennft_options(version: str, **extra: object) -> ChainOptions:
    """The chain options that reproduce OpenNFT `version` ("current" or "1.0"), as a [signal] table."""
    q, r = KALMAN_CONSTANTS[version]
    return ChainOptions.from_table({
        "ar1_placement": "prewhiten", "first_motion_epsilon": True, "kalman_zero_sd": "opennft",
        "task_kept": "last" if version == "1.0" else "all", "task_regressor": "spm", "spm_t0": 1,
        "high_pass_s": 0, "kalman_q": q, "kalman_r": r, **extra,
    })


def synthetic_run(seed: int, n: int = 130, skip: int = 4, conditions: int = 2) -> tuple[Design, np.ndarray, np.ndarray]:
    """Blocks of one or two conditions; a raw ROI series with drift, motion leakage, task effect and spikes."""
    names = ["UP", "DOWN"][:conditions]
    blocks = [(names[k % conditions], first, first + 11) for k, first in enumerate(range(15, n - 12, 24))]
    design = Design.from_blocks(n, blocks, skip_volumes=skip)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    motion = np.cumsum(rng.normal(0, 0.02, (n, 6)), axis=0) + rng.normal(0, 0.3, 6)  # not 0 at the first
    motion[:, 5] = motion[0, 5]  # one still parameter: a zero column but for OpenNFT's 1e-5 row
    task = spm_design(opennft_onoffsets(design), n - skip, TR, t0=1)
    raw = 900.0 + 0.04 * t + 3.0 * np.sin(2 * np.pi * t / 70) + 12.0 * motion[:, 0] + rng.normal(0, 1.0, n)
    raw[skip:] += task @ np.array([8.0, -5.0][:conditions])
    raw[[30, 61, 62, 95]] += [15.0, -12.0, -12.0, 20.0]  # single spikes and a double one
    return design, raw, motion


def run_chain(design: Design, options: ChainOptions, raw: np.ndarray, motion: np.ndarray) -> dict[str, np.ndarray]:
    chain = SignalChain(design, TR, options)
    for i in range(design.skip_volumes, design.n_volumes):
        chain.update(i, raw[i], motion[i])
    return chain.table()


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * float(np.abs(expected).max()))


def assert_same_chain(table: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name in ("glm", "kalman", "scaled"):
        assert_close(table[name], expected[name])
    assert_close(table["scale_lo"], expected["pos_min"])
    assert_close(table["scale_hi"], expected["pos_max"])
    np.testing.assert_array_equal(table["spike"], expected["spikes"])


@pytest.mark.parametrize("version", ["current", "1.0"])
@pytest.mark.parametrize(("seed", "conditions"), [(0, 1), (1, 2), (2, 2)])
def test_synthetic_runs_match_preprsig(version: str, seed: int, conditions: int) -> None:
    design, raw, motion = synthetic_run(seed, conditions=conditions)
    skip = design.skip_volumes
    task = spm_design(opennft_onoffsets(design), design.n_volumes - skip, TR, t0=1)
    # OpenNFT's frame: motion relative to the first processed volume (nfd's chain gets it unshifted)
    expected = preprsig_run(raw[skip:], motion[skip:] - motion[skip], task, version=version)
    table = run_chain(design, opennft_options(version), raw, motion)
    assert_same_chain(table, expected)
    assert expected["spikes"][0] == -1  # modifKalman.m's first volume
    assert np.count_nonzero(expected["spikes"]) >= 3


def test_the_kept_task_columns_differ_between_versions() -> None:
    design, raw, motion = synthetic_run(3, conditions=2)
    last = run_chain(design, opennft_options("current", task_kept="last"), raw, motion)["glm"]
    every = run_chain(design, opennft_options("current"), raw, motion)["glm"]
    late = slice(3 * 10 - 1, None)  # stage 4 from volume 3 * (2 + 8)
    assert np.abs(last[late] - every[late]).max() > 1.0  # the first condition's response is removed
    np.testing.assert_array_equal(last[:29], every[:29])


def test_t0_8_matches_its_reference() -> None:
    design, raw, motion = synthetic_run(4, conditions=1)
    skip = design.skip_volumes
    task = spm_design(opennft_onoffsets(design), design.n_volumes - skip, TR, t0=8)
    expected = preprsig_run(raw[skip:], motion[skip:] - motion[skip], task, version="current")
    assert_same_chain(run_chain(design, opennft_options("current", spm_t0=8), raw, motion), expected)


def test_without_the_first_motion_row_a_still_parameter_is_left_out() -> None:
    design, raw, motion = synthetic_run(5, conditions=1)
    skip = design.skip_volumes
    task = spm_design(opennft_onoffsets(design), design.n_volumes - skip, TR)
    options = opennft_options("current", first_motion_epsilon=False)
    assert options.first_motion_epsilon is None
    expected = preprsig_run(raw[skip:], motion[skip:] - motion[skip], task, first_motion=None)
    assert_same_chain(run_chain(design, options, raw, motion), expected)
    with_row = run_chain(design, opennft_options("current"), raw, motion)["glm"]
    assert np.abs(with_row - expected["glm"]).max() > 1e-3  # the 1e-5 row makes volume 1 a regressor


def test_the_ar1_column_is_the_prewhitened_raw_series() -> None:
    design, raw, motion = synthetic_run(6, conditions=1)
    table = run_chain(design, opennft_options("current"), raw, motion)
    np.testing.assert_allclose(table["ar1"], ar1_filter(raw[design.skip_volumes :], 0.2), rtol=1e-12)


@pytest.fixture(scope="module")
def real_run(shared_data: Path) -> OpenNFTRun:
    return opennft_run(shared_data)


@pytest.mark.shared
@pytest.mark.parametrize("version", ["current", "1.0"])
def test_the_shared_runs_roi_means_match_preprsig(real_run: OpenNFTRun, version: str) -> None:
    design = real_run.design
    n = design.n_volumes - SKIP
    task = spm_design(opennft_onoffsets(design), n, TR, t0=1)
    assert opennft_onoffsets(design) == [[(11, 20), (31, 40), (51, 60), (71, 80), (91, 100), (111, 120), (131, 140)]]
    motion = real_run.params
    for k in range(len(real_run.rois)):
        raw = real_run.means[:, k]
        expected = preprsig_run(raw[SKIP:], motion[SKIP:] - motion[SKIP], task, version=version)
        table = run_chain(design, opennft_options(version), raw, motion)
        assert_same_chain(table, expected)


# -- modifKalman.m's first volume (sd = 0) ------------------------------------------------------

OPENNFT_KALMAN = KalmanSettings(zero_sd="opennft")


def test_first_volume_is_a_held_negative_spike() -> None:
    out, state, spike = kalman_step(KalmanState(), 5.0, 0.0, OPENNFT_KALMAN)
    assert (out, spike, state) == (0.0, -1, KalmanState(0.0, 0.0, 0, 1))
    # nfd's rule: a plain update, no spike
    assert kalman_step(KalmanState(), 5.0, 0.0) == (0.0, KalmanState(0.0, 0.0, 0, 0), 0)


@pytest.mark.parametrize(("second", "accepted"), [(-10.0, True), (10.0, False)])
def test_second_volume_large_step_negative_accepted_positive_held(second: float, accepted: bool) -> None:
    # t = 1 (sd = 0): OpenNFT holds a "negative spike" and sets fNeg; nfd's rule sets nothing
    _, opennft_state, _ = kalman_step(KalmanState(), 3.0, 0.0, OPENNFT_KALMAN)
    _, nfd_state, _ = kalman_step(KalmanState(), 3.0, 0.0)
    # t = 2 with sd = 1: K = 0.2, d = 0.2 * second = +-2 >= 0.9, a spike
    out, state, spike = kalman_step(opennft_state, second, 1.0, OPENNFT_KALMAN)
    nfd_out, _, nfd_spike = kalman_step(nfd_state, second, 1.0)
    reference = SimpleNamespace(x=0.0, P=0.0, Q=0.0, R=0.0)
    _, fpos, fneg = modif_kalman(0.0, 3.0, reference, 0, 0)
    reference.Q, reference.R = 0.25, 1.0
    expected, fpos, fneg = modif_kalman(0.9, second, reference, fpos, fneg)
    assert (out, state.positive_held, state.negative_held) == (pytest.approx(expected), fpos, fneg)
    if accepted:  # fNeg is already 1: the negative step is taken and fNeg resets
        assert spike == 0 and out == pytest.approx(-2.0) and state.negative_held == 0
        assert nfd_spike == -1 and nfd_out == 0.0  # nfd's rule: held back
    else:  # a first positive spike: held back at the prediction in both
        assert spike == 1 and out == 0.0 and state.negative_held == 1
        assert nfd_spike == 1


def test_with_the_series_own_sd_the_first_volume_changes_only_its_flag() -> None:
    # at t = 2 the sd of two values makes |d| / threshold = 0.2 sqrt(2) / 0.9 < 1: never a spike,
    # so the flag set at t = 1 is reset at t = 2 and the filtered series are identical
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 60)
    y[[1, 20]] += [-40.0, 30.0]
    opennft, opennft_spikes = kalman_despike(y, OPENNFT_KALMAN)
    nfd, nfd_spikes = kalman_despike(y)
    np.testing.assert_array_equal(opennft, nfd)
    assert opennft_spikes[0] == -1 and nfd_spikes[0] == 0
    np.testing.assert_array_equal(opennft_spikes[1:], nfd_spikes[1:])
    expected, expected_spikes = opennft_chain(y, zero_sd="opennft")
    np.testing.assert_allclose(opennft, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(opennft_spikes, expected_spikes)


@pytest.mark.parametrize(("q", "r"), list(KALMAN_CONSTANTS.values()))
@pytest.mark.parametrize("seed", [0, 1])
def test_kalman_matches_modifkalman_with_both_constant_sets(q: float, r: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.cos(np.arange(120) / 7.0) + rng.normal(0, 0.3, 120)
    y[[1, 40, 41, 80]] += [-4.0, 5.0, 5.0, -6.0]
    expected, expected_spikes = opennft_chain(y, q, r, zero_sd="opennft")
    filtered, spikes = kalman_despike(y, KalmanSettings(q=q, r=r, zero_sd="opennft"))
    np.testing.assert_allclose(filtered, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(spikes, expected_spikes)


# -- the pieces and the options -------------------------------------------------------------------


def test_ar1_filter_columns_is_arregr() -> None:
    x = np.random.default_rng(0).normal(size=(40, 5))
    np.testing.assert_allclose(ar1_filter_columns(x, 0.2), ar_regr(0.2, x), rtol=1e-13, atol=1e-14)
    assert ar1_filter_columns(np.zeros((0, 3)), 0.2).shape == (0, 3)
    with pytest.raises(TimeseriesError, match="2-D"):
        ar1_filter_columns(np.zeros(4), 0.2)


def test_new_options_from_a_table_and_their_defaults() -> None:
    defaults = ChainOptions()
    assert (defaults.ar1_placement, defaults.first_motion_epsilon, defaults.kalman.zero_sd) == ("after_glm", None, "pass")
    assert (defaults.task_kept, defaults.task_regressor, defaults.spm_t0) == ("all", "nfd", 1)
    options = opennft_options("1.0", spm_t0=8)
    assert options.ar1_placement == "prewhiten" and options.first_motion_epsilon == 1e-5
    assert options.kalman == KalmanSettings(1.0, 1.95, 0.9, "opennft")
    assert (options.task_kept, options.task_regressor, options.spm_t0, options.high_pass_s) == ("last", "spm", 8, None)
    assert ChainOptions.from_table({"first_motion_epsilon": 2e-5}).first_motion_epsilon == 2e-5
    assert ChainOptions.from_table({"first_motion_epsilon": 0}).first_motion_epsilon is None


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"ar1_placement": "before"}, "ar1_placement"),
        ({"first_motion_epsilon": -1.0}, "first_motion_epsilon"),
        ({"first_motion_epsilon": "yes"}, "first_motion_epsilon"),
        ({"kalman_zero_sd": "skip"}, "zero_sd"),
        ({"task_kept": "first"}, "task_kept"),
        ({"task_regressor": "fsl"}, "task_regressor"),
        ({"spm_t0": 0}, "spm_t0"),
        ({"spm_t0": 17}, "spm_t0"),
    ],
)
def test_bad_new_options_are_refused(table: dict[str, object], match: str) -> None:
    with pytest.raises(TimeseriesError, match=match):
        ChainOptions.from_table(table)


def test_the_default_chain_is_unchanged_by_the_spm_regressor_option_unless_asked() -> None:
    design, raw, motion = synthetic_run(7, conditions=1)
    default = run_chain(design, ChainOptions(), raw, motion)
    spm = run_chain(design, ChainOptions(task_regressor="spm"), raw, motion)
    np.testing.assert_array_equal(default["glm"][:26], spm["glm"][:26])  # before the task enters (volume 27)
    assert np.abs(default["glm"][26:] - spm["glm"][26:]).max() > 1e-6
