"""Known-answer and edge-case tests of MotionCorrector (the daemon's API)."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.volume import (
    GridMismatchError,
    InvalidAffineError,
    InvalidOptionError,
    InvalidVolumeError,
    MotionCorrector,
    OutputBufferError,
    VolumeError,
    smooth,
    spm_matrix,
)
from tests.helpers.phantom import brain_mask, centred_affine, render

SHAPE = (64, 64, 30)
VOXEL = (3.0, 3.0, 3.5)
MM, DEG = 1.0, np.pi / 180.0


@pytest.fixture(scope="module")
def affine() -> np.ndarray:
    return centred_affine(SHAPE, VOXEL)


@pytest.fixture(scope="module")
def reference(affine: np.ndarray) -> np.ndarray:
    return render(SHAPE, affine)


@pytest.fixture(scope="module")
def engine(reference: np.ndarray, affine: np.ndarray) -> MotionCorrector:
    return MotionCorrector(reference, affine)


def _errors(estimated: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Largest translation error (mm) and rotation error (degrees)."""
    e = np.asarray(estimated) - np.asarray(truth)
    return float(np.abs(e[:3]).max()), float(np.degrees(np.abs(e[3:]).max()))


MOTIONS = [
    [0.5, -0.3, 0.2, 0.6 * DEG, -0.3 * DEG, 0.45 * DEG],
    [1.5, 1.0, -1.2, 1.1 * DEG, 0.9 * DEG, -1.2 * DEG],
    [-0.2, 0.1, 0.8, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.5 * DEG, 0.0],
]


@pytest.mark.parametrize("params", MOTIONS)
def test_recovers_known_rigid_motion(engine: MotionCorrector, affine: np.ndarray, params: list[float]) -> None:
    engine.reset()
    res = engine.process(render(SHAPE, affine, params))
    mm, deg = _errors(res.params, params)
    assert mm <= 0.01 and deg <= 0.01, (mm, deg)
    assert res.converged
    assert 1 <= res.iterations <= 64
    assert res.params.dtype == np.float64 and res.params.shape == (6,)


def test_recovers_motion_on_an_oblique_grid() -> None:
    affine = centred_affine(SHAPE, VOXEL, rotation=(0.3, -0.1, 0.2))
    params = [0.7, -0.4, 0.3, 0.5 * DEG, -0.4 * DEG, 0.8 * DEG]
    mc = MotionCorrector(render(SHAPE, affine), affine)
    mm, deg = _errors(mc.process(render(SHAPE, affine, params)).params, params)
    assert mm <= 0.01 and deg <= 0.01, (mm, deg)


def test_reference_itself_gives_zero_motion_and_itself(engine: MotionCorrector, reference: np.ndarray) -> None:
    engine.reset()
    res = engine.process(reference)
    assert np.abs(res.params).max() < 1e-5  # float32 coefficients
    assert res.converged
    # a B-spline interpolates its samples: resliced at no motion is the volume
    np.testing.assert_allclose(res.resliced, reference, rtol=0, atol=1e-3)


def test_resliced_volume_is_the_reference(engine: MotionCorrector, reference: np.ndarray, affine: np.ndarray) -> None:
    engine.reset()
    res = engine.process(render(SHAPE, affine, MOTIONS[1]))
    inside = brain_mask(SHAPE, affine)
    err = res.resliced[inside] - reference[inside]
    assert np.sqrt(np.mean(err**2)) < 0.005 * np.sqrt(np.mean(reference[inside] ** 2))
    expected = smooth(res.resliced, affine, engine.smooth_fwhm)
    np.testing.assert_allclose(res.smoothed, expected, rtol=0, atol=1e-3)


def test_warm_start_and_reset(engine: MotionCorrector, affine: np.ndarray) -> None:
    engine.reset()
    moved = render(SHAPE, affine, MOTIONS[0])
    first = engine.process(moved)
    again = engine.process(moved)
    assert again.iterations <= first.iterations
    np.testing.assert_allclose(again.params, first.params, atol=1e-5)
    np.testing.assert_allclose(engine.params, again.params)
    engine.reset()
    assert np.all(engine.params == 0)


def test_cold_start_gives_the_same_answer(reference: np.ndarray, affine: np.ndarray) -> None:
    warm = MotionCorrector(reference, affine)
    cold = MotionCorrector(reference, affine, warm_start=False)
    for params in MOTIONS[:2]:
        moved = render(SHAPE, affine, params)
        np.testing.assert_allclose(warm.process(moved).params, cold.process(moved).params, atol=1e-4)


def test_preallocated_outputs_are_filled_and_returned(engine: MotionCorrector, affine: np.ndarray) -> None:
    moved = render(SHAPE, affine, MOTIONS[0])
    engine.reset()
    plain = engine.process(moved)
    shared = np.zeros((2, *SHAPE), dtype=np.float32)  # e.g. a slot array in shared memory
    a, b = shared[0], shared[1]
    engine.reset()
    res = engine.process(moved, resliced_out=a, smoothed_out=b)
    assert res.resliced is a and res.smoothed is b
    np.testing.assert_array_equal(shared[0], plain.resliced)
    np.testing.assert_array_equal(shared[1], plain.smoothed)


def test_outputs_need_only_a_contiguous_last_axis(engine: MotionCorrector, affine: np.ndarray) -> None:
    moved = render(SHAPE, affine, MOTIONS[0])
    engine.reset()
    plain = engine.process(moved)
    flipped = np.zeros(SHAPE, dtype=np.float32)[::-1, :, :]
    engine.reset()
    engine.process(moved, resliced_out=flipped)
    np.testing.assert_array_equal(flipped, plain.resliced)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(SHAPE, dtype=np.float64),
        np.zeros((64, 64, 29), dtype=np.float32),
        np.zeros((64, 64, 60), dtype=np.float32)[:, :, ::2],
        [[[0.0]]],
    ],
    ids=["float64", "wrong-shape", "strided-last-axis", "not-an-array"],
)
def test_bad_output_buffers_are_refused(engine: MotionCorrector, reference: np.ndarray, bad: object) -> None:
    with pytest.raises(OutputBufferError, match="smoothed_out"):
        engine.process(reference, smoothed_out=bad)  # type: ignore[arg-type]


def test_read_only_output_is_refused(engine: MotionCorrector, reference: np.ndarray) -> None:
    out = np.zeros(SHAPE, dtype=np.float32)
    out.flags.writeable = False
    with pytest.raises(OutputBufferError, match="read-only"):
        engine.process(reference, resliced_out=out)


def test_volume_on_another_grid_is_refused(engine: MotionCorrector) -> None:
    with pytest.raises(GridMismatchError) as info:
        engine.process(np.zeros((64, 64, 31)))
    assert "(64, 64, 31)" in str(info.value) and "(64, 64, 30)" in str(info.value)
    assert isinstance(info.value, VolumeError)


def test_integer_volumes_are_accepted(engine: MotionCorrector, affine: np.ndarray) -> None:
    engine.reset()
    moved = render(SHAPE, affine, MOTIONS[0])
    res = engine.process(np.round(moved * 10).astype(np.uint16))
    mm, deg = _errors(res.params, MOTIONS[0])
    assert mm <= 0.01 and deg <= 0.01


def test_nan_voxels_count_as_zero(engine: MotionCorrector, affine: np.ndarray) -> None:
    engine.reset()
    moved = render(SHAPE, affine, MOTIONS[0])
    holed = moved.copy()
    holed[:4, :, :] = np.nan  # a band outside the head
    holed[0, 0, 0] = np.inf
    res = engine.process(holed)
    assert np.all(np.isfinite(res.params)) and res.converged
    assert np.all(np.isfinite(res.resliced)) and np.all(np.isfinite(res.smoothed))
    mm, deg = _errors(res.params, MOTIONS[0])
    assert mm <= 0.01 and deg <= 0.01
    zeroed = moved.copy()
    zeroed[:4, :, :] = 0.0
    zeroed[0, 0, 0] = 0.0
    engine.reset()
    np.testing.assert_array_equal(engine.process(zeroed).resliced, res.resliced)


@pytest.mark.parametrize("fill", [0.0, np.nan], ids=["zeros", "nans"])
def test_empty_volume_reuses_the_previous_estimate(engine: MotionCorrector, affine: np.ndarray, fill: float) -> None:
    engine.reset()
    before = engine.process(render(SHAPE, affine, MOTIONS[0]))
    res = engine.process(np.full(SHAPE, fill))
    assert not res.converged and res.iterations == 0
    np.testing.assert_array_equal(res.params, before.params)
    assert np.all(res.resliced == 0) and np.all(res.smoothed == 0)
    # the engine is still usable afterwards
    after = engine.process(render(SHAPE, affine, MOTIONS[1]))
    assert after.converged


def test_large_motion_converges_or_is_reported(engine: MotionCorrector, affine: np.ndarray) -> None:
    params = [10.0, -5.0, 5.0, 10 * DEG, 5 * DEG, -8 * DEG]
    engine.reset()
    res = engine.process(render(SHAPE, affine, params))
    assert np.all(np.isfinite(res.params))
    if res.converged:
        mm, deg = _errors(res.params, params)
        assert mm <= 0.05 and deg <= 0.05, (mm, deg)
    else:
        assert res.iterations == 64


def test_large_motion_beyond_the_iteration_limit_is_reported(reference: np.ndarray, affine: np.ndarray) -> None:
    mc = MotionCorrector(reference, affine, max_iterations=2)
    res = mc.process(render(SHAPE, affine, [10.0, 0.0, 0.0, 10 * DEG, 0.0, 0.0]))
    assert not res.converged and res.iterations == 2


def test_trilinear_reslicing(reference: np.ndarray, affine: np.ndarray) -> None:
    mc = MotionCorrector(reference, affine, reslice_degree=1)
    res = mc.process(reference)
    np.testing.assert_allclose(res.resliced, reference, atol=1e-3)


def test_motion_moves_content_out_of_view_to_zero(engine: MotionCorrector, affine: np.ndarray) -> None:
    engine.reset()
    res = engine.process(render(SHAPE, affine, [9.0, 0, 0, 0, 0, 0]))  # 3 voxels along x
    # reference voxel x reads the moved volume at x - 3 voxels along the first axis
    assert np.all(res.resliced[:3] == 0)
    assert np.abs(res.resliced[3]).max() > 0


def test_bad_constructor_arguments(reference: np.ndarray, affine: np.ndarray) -> None:
    with pytest.raises(InvalidVolumeError, match="3-D"):
        MotionCorrector(reference[..., 0], affine)
    with pytest.raises(InvalidVolumeError, match="at least 4"):
        MotionCorrector(reference[:, :, :3], affine)
    with pytest.raises(InvalidVolumeError, match="real"):
        MotionCorrector(reference.astype(complex), affine)
    with pytest.raises(InvalidVolumeError, match="all zero"):
        MotionCorrector(np.full(SHAPE, np.nan), affine)
    with pytest.raises(InvalidAffineError, match="4x4"):
        MotionCorrector(reference, affine[:3])
    with pytest.raises(InvalidAffineError, match="singular"):
        MotionCorrector(reference, np.diag([1.0, 1.0, 0.0, 1.0]))
    for kwargs, word in [
        ({"smooth_fwhm": -1.0}, "smooth_fwhm"),
        ({"realign_fwhm": float("nan")}, "realign_fwhm"),
        ({"sep": 0.0}, "sep"),
        ({"quality": 1.5}, "quality"),
        ({"realign_degree": 1}, "realign_degree"),
        ({"reslice_degree": 5}, "reslice_degree"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"pad_slices": -1}, "pad_slices"),
        ({"edge_margin": -0.5}, "edge_margin"),
        ({"edge_margin": float("inf")}, "edge_margin"),
        ({"smooth_kernel": "box"}, "kernel"),
    ]:
        with pytest.raises(InvalidOptionError, match=word):
            MotionCorrector(reference, affine, **kwargs)


def test_volume_that_is_not_3d_is_refused(engine: MotionCorrector, reference: np.ndarray) -> None:
    with pytest.raises(InvalidVolumeError, match="3-D"):
        engine.process(reference[None])


def test_params_follow_spm_convention(engine: MotionCorrector, affine: np.ndarray, reference: np.ndarray) -> None:
    """spm_matrix(params) maps the moved volume's mm onto the reference's mm."""
    params = np.array(MOTIONS[1])
    engine.reset()
    res = engine.process(render(SHAPE, affine, params))
    world_moved = affine @ np.array([20.0, 30.0, 12.0, 1.0])
    np.testing.assert_allclose(spm_matrix(res.params) @ world_moved, spm_matrix(params) @ world_moved, atol=0.01 * MM)


def test_pickling_rebuilds_the_engine_with_its_estimate(engine: MotionCorrector, affine: np.ndarray) -> None:
    import pickle

    engine.reset()
    engine.process(render(SHAPE, affine, MOTIONS[0]))
    clone = pickle.loads(pickle.dumps(engine))
    np.testing.assert_array_equal(clone.params, engine.params)
    moved = render(SHAPE, affine, MOTIONS[1])
    a, b = engine.process(moved), clone.process(moved)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.resliced, b.resliced)
    np.testing.assert_array_equal(a.smoothed, b.smoothed)


def test_spm_stopping_rule_alone_gives_the_same_estimate(reference: np.ndarray, affine: np.ndarray) -> None:
    spm_rule = MotionCorrector(reference, affine, step_tolerance=0.0)
    fast = MotionCorrector(reference, affine)
    moved = render(SHAPE, affine, MOTIONS[1])
    slow_res, fast_res = spm_rule.process(moved), fast.process(moved)
    assert slow_res.converged and fast_res.converged
    assert slow_res.iterations >= 4  # SPM's rule runs two iterations past its test
    assert fast_res.iterations < slow_res.iterations
    np.testing.assert_allclose(fast_res.params, slow_res.params, atol=1e-4)


@pytest.mark.parametrize(
    "options",
    [
        {"pad_slices": 3},
        {"pad_slices": 3, "edge_margin": 0.0},
        {"edge_margin": 0.0},
        {"realign_degree": 2},
        {"realign_degree": 3, "reslice_degree": 2},
        {"quality": 1.0, "sep": 6.0},
        {"smooth_kernel": "gaussian", "smooth_fwhm": 0.0},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_options_keep_the_known_answer(reference: np.ndarray, affine: np.ndarray, options: dict[str, object]) -> None:
    mc = MotionCorrector(reference, affine, **options)  # type: ignore[arg-type]
    res = mc.process(render(SHAPE, affine, MOTIONS[0]))
    mm, deg = _errors(res.params, MOTIONS[0])
    assert mm <= 0.01 and deg <= 0.01, (mm, deg)
    if options.get("smooth_fwhm") == 0.0:
        np.testing.assert_array_equal(res.smoothed, res.resliced)


def test_stage_timings_are_reported(engine: MotionCorrector, reference: np.ndarray) -> None:
    res = engine.process(reference)
    assert set(res.timings) == {"realign", "reslice", "smooth"}
    assert all(t >= 0.0 for t in res.timings.values())


def test_non_finite_values_are_logged(engine: MotionCorrector, reference: np.ndarray) -> None:
    from structlog.testing import capture_logs

    holed = reference.copy()
    holed[0, 0, 0] = np.nan
    with capture_logs() as logs:
        engine.process(holed)
        engine.process(np.zeros(SHAPE))
    events = [entry["event"] for entry in logs]
    assert "volume_non_finite_values" in events and "realign_no_estimate" in events


def test_memory_layout_and_byte_order_do_not_matter(engine: MotionCorrector, affine: np.ndarray) -> None:
    moved = render(SHAPE, affine, MOTIONS[0])
    engine.reset()
    plain = engine.process(moved)
    for variant in (np.asfortranarray(moved), moved.astype(">f8"), moved[::-1][::-1]):
        engine.reset()
        res = engine.process(variant)
        np.testing.assert_array_equal(res.params, plain.params)
        np.testing.assert_array_equal(res.resliced, plain.resliced)
