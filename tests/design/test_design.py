"""Design: labels, blocks and boxcars of a block design."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.design import Design, DesignError, VolumeIndexError


def test_from_blocks_labels_blocks_and_queries() -> None:
    d = Design.from_blocks(20, [("UP", 4, 7), ("DOWN", 12, 15)], skip_volumes=2)
    assert d.n_volumes == 20
    assert d.baseline == "BAS"
    assert d.conditions == ("UP", "DOWN")
    assert d.skip_volumes == 2
    assert d.blocks == [("BAS", 0, 3), ("UP", 4, 7), ("BAS", 8, 11), ("DOWN", 12, 15), ("BAS", 16, 19)]
    assert d.condition(4) == "UP" and d.condition(7) == "UP" and d.condition(8) == "BAS"
    assert d.is_baseline(0) and not d.is_baseline(12)
    assert d.block_of(13) == ("DOWN", 12, 15)
    assert d.block_number(19) == 4
    assert d.labels.shape == (20,)
    assert d.labels.tolist().count("UP") == 4


def test_boxcars() -> None:
    d = Design.from_blocks(10, [("UP", 2, 3), ("DOWN", 6, 8)])
    np.testing.assert_array_equal(d.boxcar(), [0, 0, 1, 1, 0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(d.boxcar("UP"), [0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(d.boxcar("BAS"), [1, 1, 0, 0, 1, 1, 0, 0, 0, 1])
    assert d.boxcar().dtype == np.float64
    with pytest.raises(DesignError, match="unknown condition 'LEFT'"):
        d.boxcar("LEFT")


def test_touching_blocks_of_one_condition_merge_and_baseline_blocks_are_allowed() -> None:
    d = Design.from_blocks(8, [("UP", 1, 2), ("UP", 3, 4), ("BAS", 5, 7)])
    assert d.blocks == [("BAS", 0, 0), ("UP", 1, 4), ("BAS", 5, 7)]


def test_labels_are_read_only_and_designs_compare_by_value() -> None:
    d = Design.from_blocks(6, [("UP", 2, 3)])
    with pytest.raises(ValueError):
        d.labels[0] = "UP"
    assert d == Design(["BAS", "BAS", "UP", "UP", "BAS", "BAS"])
    assert d != Design.from_blocks(6, [("UP", 2, 4)])
    assert hash(d) == hash(Design(["BAS", "BAS", "UP", "UP", "BAS", "BAS"]))


def test_declared_conditions_may_have_no_volume() -> None:
    d = Design(["BAS", "UP"], conditions=["UP", "DOWN"])
    assert d.conditions == ("UP", "DOWN")
    assert d.boxcar("DOWN").sum() == 0.0


@pytest.mark.parametrize(
    ("blocks", "kwargs", "match"),
    [
        ([("UP", 4, 3)], {}, r"0 <= first_index <= last_index <= 9"),
        ([("UP", 5, 10)], {}, r"0 <= first_index <= last_index <= 9"),
        ([("UP", -1, 3)], {}, "first_index must be an int >= 0"),
        ([("UP", 1.5, 3)], {}, "first_index must be an int >= 0, got 1.5"),
        ([("UP", 2, 5), ("DOWN", 5, 6)], {}, r"block 1 \(DOWN, 5, 6\) overlaps block 0 \(UP\) at volume 5"),
        ([("BAS", 2, 5), ("UP", 4, 6)], {}, r"overlaps block 0 \(BAS\) at volume 4"),
        ([("UP", 1, 3)], {"skip_volumes": 2}, "covers skipped volumes 0..1"),
        ([("UP", 1)], {}, "must be \\(condition, first_index, last_index\\)"),
        ([("", 1, 2)], {}, "non-empty string"),
    ],
)
def test_bad_blocks_are_refused(blocks: list, kwargs: dict, match: str) -> None:
    with pytest.raises(DesignError, match=match):
        Design.from_blocks(10, blocks, **kwargs)


def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(DesignError, match="at least one volume"):
        Design([])
    with pytest.raises(DesignError, match="n_volumes must be an int >= 1"):
        Design.from_blocks(0, [])
    with pytest.raises(DesignError, match="skipped volume 0 is labelled 'UP'"):
        Design(["UP", "BAS"], skip_volumes=1)
    with pytest.raises(DesignError, match=r"labels \['UP'\] are not among"):
        Design(["UP", "BAS"], conditions=["DOWN"])
    with pytest.raises(DesignError, match="must not include the baseline"):
        Design(["UP", "BAS"], conditions=["UP", "BAS"])


@pytest.mark.parametrize("index", [-1, 10, 2.0, True, "3"])
def test_indices_outside_the_design_are_refused(index: object) -> None:
    d = Design.from_blocks(10, [("UP", 2, 3)])
    with pytest.raises(VolumeIndexError):
        d.condition(index)  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        d.is_baseline(index)  # type: ignore[arg-type]


def test_numpy_integer_indices_are_accepted() -> None:
    d = Design.from_blocks(10, [("UP", 2, 3)])
    assert d.condition(np.int64(2)) == "UP"


# -- task regressors, contrasts, timed events --------------------------------------


def test_task_regressors_of_labels_are_boxcars_convolved_at_the_tr() -> None:
    from nfd.design import spm_hrf

    d = Design.from_blocks(50, [("A", 10, 19), ("B", 30, 34), ("A", 40, 44)], skip_volumes=2)
    x = d.task_regressors(2.0)
    assert x.shape == (50, 2)
    for column, condition in enumerate(("A", "B")):
        expected = np.convolve(d.boxcar(condition), spm_hrf(2.0))[:50]
        np.testing.assert_allclose(x[:, column], expected, atol=1e-15)
    assert x[:11].max() == 0.0


def test_task_regressors_of_events_use_their_times() -> None:
    from nfd.design import Event, hrf_regressor

    labels = ["BAS"] * 30
    labels[5] = "A"
    events = [Event("A", 10.5, 0.0, 2.0), Event("A", 31.0, 4.0, 1.0), Event("B", 40.0, 0.0, 1.0)]
    d = Design(labels, conditions=["A", "B"], events=events)
    assert d.events == tuple(events)
    x = d.task_regressors(2.0)
    np.testing.assert_allclose(x[:, 0], hrf_regressor([10.5, 31.0], [0.0, 4.0], [2.0, 1.0], 30, 2.0), atol=1e-15)
    np.testing.assert_allclose(x[:, 1], hrf_regressor([40.0], [0.0], None, 30, 2.0), atol=1e-15)
    # equality compares what each volume is, not the event times
    assert d == Design(labels, conditions=["A", "B"])
    assert "events=3" in repr(d)


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ([("C", 1.0, 0.0, 1.0)], "names condition 'C'"),
        ([("A", 1.0, -2.0, 1.0)], "duration >= 0"),
        ([("A", float("nan"), 0.0, 1.0)], "finite"),
        ([("A", 1.0)], "must be \\(condition"),
    ],
)
def test_bad_events_are_refused(events: list, match: str) -> None:
    with pytest.raises(DesignError, match=match):
        Design(["BAS", "A"], events=events)


def test_contrast_vector() -> None:
    d = Design.from_blocks(20, [("A", 2, 5), ("B", 8, 11)])
    assert d.contrast_vector().tolist() == [1.0, 1.0]
    assert d.contrast_vector({"B": 1, "A": -1}).tolist() == [-1.0, 1.0]
    with pytest.raises(DesignError, match="names condition 'C'"):
        d.contrast_vector({"C": 1.0})
    with pytest.raises(DesignError, match="all zeros"):
        d.contrast_vector({"A": 0.0})
    with pytest.raises(DesignError, match="must be finite"):
        d.contrast_vector({"A": float("inf")})


def test_task_regressors_reject_a_bad_tr() -> None:
    with pytest.raises(DesignError, match="task_regressors"):
        Design.from_blocks(10, [("A", 2, 5)]).task_regressors(0.0)


# -- regressors from the exact times of events shorter than a TR (issue 11) ------------------


def _independent_regressor(
    onsets: np.ndarray, durations: np.ndarray, n_volumes: int, tr: float, oversampling: int
) -> np.ndarray:
    """The formula, written again: fraction of each microtime bin covered, convolved with SPM's HRF."""
    from scipy.stats import gamma

    dt = tr / oversampling
    lags = np.arange(int(np.floor(32.0 / dt)) + 1) * dt
    kernel = gamma.pdf(lags, 6.0) - gamma.pdf(lags, 16.0) / 6.0
    kernel /= kernel.sum()
    bins = np.arange(n_volumes * oversampling) * dt
    u = np.zeros(bins.size)
    for onset, duration in zip(onsets, durations, strict=True):
        u += np.clip(np.minimum(onset + duration, bins + dt) - np.maximum(onset, bins), 0.0, None) / dt
    return np.convolve(u, kernel)[: bins.size][::oversampling]


def _continuous_regressor(onsets: np.ndarray, durations: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each event's boxcar convolved with SPM's continuous HRF over 0..32 s: gamma CDF differences."""
    from scipy.special import gammainc

    def integral(t: np.ndarray) -> np.ndarray:
        t = np.clip(t, 0.0, 32.0)
        return (gammainc(6.0, t) - gammainc(16.0, t) / 6.0) / (gammainc(6.0, 32.0) - gammainc(16.0, 32.0) / 6.0)

    total = np.zeros(times.size)
    for onset, duration in zip(onsets, durations, strict=True):
        total += integral(times - onset) - integral(times - onset - duration)
    return total


def _short_events(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """0.9 s events at onsets in ms, off any grid, as the issue's BIDS file had."""
    rng = np.random.default_rng(seed)
    return np.round(np.sort(rng.uniform(5.0, 290.0, n)), 3), np.full(n, 0.9)


@pytest.mark.parametrize("oversampling", [16, 50])
def test_event_regressors_keep_the_exact_onsets_and_durations(oversampling: int) -> None:
    from nfd.design import hrf_regressor

    tr, n = 2.0, 156
    onsets, durations = _short_events(11)
    x = hrf_regressor(onsets, durations, None, n, tr, oversampling=oversampling)
    np.testing.assert_allclose(x, _independent_regressor(onsets, durations, n, tr, oversampling), rtol=0, atol=1e-12)
    # SPM's microtime convention (a bin's content at the bin's start, the kernel sampled at bin starts) makes
    # the sampled regressor the exact continuous convolution half a bin later
    dt = tr / oversampling
    exact = _continuous_regressor(onsets, durations, np.arange(n) * tr + dt / 2)
    np.testing.assert_allclose(x, exact, rtol=0, atol=3e-4 * 16 / oversampling)
    assert exact.max() > 0.3


def test_event_regressors_shorter_than_a_bin_keep_their_area() -> None:
    from nfd.design import hrf_regressor

    # 0.05 s inside one 0.125 s bin, wherever it starts: the same area, so (almost) the same response
    late = [hrf_regressor([10.0 + offset], [0.05], None, 30, 2.0) for offset in (0.0, 0.03, 0.07)]
    for x in late[1:]:
        np.testing.assert_allclose(x, late[0], rtol=0, atol=1e-15)
    # the previous rule (bins whose start lies in the event) dropped an event off the grid entirely
    assert late[1].max() > 0.005


def test_event_regressors_equal_nilearns_compute_regressor_within_its_grid() -> None:
    first_level = pytest.importorskip("nilearn.glm.first_level")
    from nfd.design import hrf_regressor

    tr, n = 2.0, 156
    onsets, durations = _short_events(12)
    frame_times = tr * np.arange(n)  # nilearn's frame times with slice_time_ref = 0: volume starts
    theirs, _ = first_level.compute_regressor(
        np.vstack([onsets, durations, np.ones(onsets.size)]), "spm", frame_times, oversampling=50
    )
    ours = hrf_regressor(onsets, durations, None, n, tr, oversampling=50)
    # nilearn rounds onsets up to its 0.04 s grid and starts its HRF one grid step late: about 2.5 % of the peak
    np.testing.assert_allclose(ours, theirs[:, 0], rtol=0, atol=0.03 * ours.max())


def _previous_hrf_stimulus(onsets: list[float], durations: list[float], n_bins: int, dt: float) -> np.ndarray:
    """The microtime stimulus before issue 11: amplitude 1 on every bin whose start lies in the event."""
    u = np.zeros(n_bins)
    for onset, duration in zip(onsets, durations, strict=True):
        first = max(0, int(np.ceil(onset / dt - 1e-6)))
        u[first : min(n_bins, int(np.ceil((onset + duration) / dt - 1e-6)))] += 1.0
    return u


def test_event_regressors_on_the_grid_are_what_they_were() -> None:
    from nfd.design import hrf_regressor, spm_hrf

    tr, n, oversampling = 1.97, 120, 16
    dt = tr / oversampling
    onsets = [10 * tr, 40 * tr + 3 * dt, 81 * tr]
    durations = [10 * tr, 7 * dt, 20 * tr]
    previous = np.convolve(_previous_hrf_stimulus(onsets, durations, n * oversampling, dt), spm_hrf(dt, oversampling=1))
    np.testing.assert_array_equal(
        hrf_regressor(onsets, durations, None, n, tr), previous[: n * oversampling][::oversampling]
    )
