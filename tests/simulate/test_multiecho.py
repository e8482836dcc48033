"""make_multiecho_session: known S0, T2* and ΔR2*; the echo-combination theory against the simulated noise."""

from __future__ import annotations

import json
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from nfd.simulate import (
    MultiEchoSession,
    SimulationError,
    bold_cnr_gain,
    make_multiecho_session,
    make_session,
    optimal_tsnr_gain,
    write_multiecho_bids,
    write_multiecho_nifti,
)

SMALL: dict[str, Any] = {"shape": (32, 32, 16), "voxel_size": (3.0, 3.0, 3.5), "block_length": 5}
STILL: dict[str, Any] = {"drift_pct": 0.0, "max_motion_mm": 0.0, "max_motion_deg": 0.0}
QUIET: dict[str, Any] = {"s0_noise_pct": 0.0, "thermal_noise_pct": 0.0, **STILL}
TES = (14.0, 38.0, 62.0)


def _loglinear_fit(echoes: np.ndarray, echo_times_ms: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """S0 and T2* (ms) of ``(n_echoes, n_voxels)`` signals, by least squares on ``log S = log S0 - TE R2*``."""
    design = np.column_stack([np.ones(len(echo_times_ms)), -np.asarray(echo_times_ms)])
    coef, *_ = np.linalg.lstsq(design, np.log(echoes.astype(np.float64)), rcond=None)
    return np.exp(coef[0]), 1.0 / coef[1]


@pytest.fixture(scope="module")
def quiet() -> MultiEchoSession:
    """Noise-free, drift-free, motion-free: only the activation."""
    return make_multiecho_session(30, seed=3, activation_pct=3.0, **SMALL, **QUIET)


def test_shapes_dtypes_and_read_only_truth(quiet: MultiEchoSession) -> None:
    assert quiet.volumes.shape == (3, 30, 32, 32, 16) and quiet.volumes.dtype == np.float32
    assert quiet.n_echoes == 3 and quiet.n_volumes == 30 and quiet.shape == (32, 32, 16)
    assert quiet.echo_times_ms == TES and quiet.tr == 2.0 and quiet.seed == 3 and quiet.reference_te_ms == 45.0
    assert quiet.s0.dtype == np.float32 and quiet.t2star_ms.dtype == np.float32 and quiet.tissue.dtype == np.int8
    assert quiet.s0_fluctuation.shape == (30, 32, 32, 16) and not quiet.s0_fluctuation.any()
    for array in (quiet.volumes, quiet.s0, quiet.t2star_ms, quiet.tissue, quiet.activation, quiet.delta_r2star,
                  quiet.motion, quiet.s0_fluctuation, quiet.rois["roi_a"], quiet.brain):
        assert not array.flags.writeable


def test_tissue_t2star_values_and_empty_background() -> None:
    s = make_multiecho_session(1, seed=3, **QUIET)  # 64x64x30: the ventricles survive the phantom's blur
    expected = {0: 0.0, 1: 45.0, 2: 40.0, 3: 150.0, 4: 30.0}
    for label, t2star in expected.items():
        assert (s.tissue == label).any()
        np.testing.assert_array_equal(np.unique(s.t2star_ms[s.tissue == label]), [t2star])
    for mask in s.rois.values():
        assert mask.any() and np.all(s.tissue[mask] == 1)
    assert np.all(s.tissue[s.brain] != 4) and np.all(s.tissue[~s.brain] != 1)
    background = s.tissue == 0
    assert not s.s0[background].any() and not s.volumes[:, :, background].any()


def test_the_echo_at_30_ms_is_the_single_echo_phantom(quiet: MultiEchoSession) -> None:
    single = make_session(1, seed=3, **SMALL, noise_pct=0.0, **STILL)
    signal = quiet.tissue > 0
    echo30 = quiet.s0[signal] * np.exp(-30.0 / quiet.t2star_ms[signal])
    np.testing.assert_allclose(echo30, single.phantom[signal], rtol=1e-5)
    np.testing.assert_array_equal(quiet.brain, single.brain)
    for name in ("roi_a", "roi_b"):
        np.testing.assert_array_equal(quiet.rois[name], single.rois[name])


def test_noise_free_loglinear_fit_recovers_s0_and_t2star(quiet: MultiEchoSession) -> None:
    s0, t2star = _loglinear_fit(quiet.volumes[:, 0, quiet.brain], quiet.echo_times_ms)
    np.testing.assert_allclose(s0, quiet.s0[quiet.brain], rtol=1e-5)
    np.testing.assert_allclose(t2star, quiet.t2star_ms[quiet.brain], rtol=1e-5)
    expected = quiet.s0[quiet.brain] * np.exp(-np.asarray(TES)[:, None] / quiet.t2star_ms[quiet.brain])
    np.testing.assert_allclose(quiet.volumes[:, 0, quiet.brain], expected, rtol=1e-6)


def test_activation_is_the_documented_delta_r2star(quiet: MultiEchoSession) -> None:
    np.testing.assert_allclose(quiet.delta_r2star, -np.log1p(quiet.activation / 100.0) / 0.045, rtol=1e-12)
    peak = int(np.argmax(quiet.activation))
    assert quiet.activation[peak] > 2.5 and -0.8 < quiet.delta_r2star[peak] < -0.5  # s^-1
    roi = quiet.rois["roi_a"] | quiet.rois["roi_b"]
    _s0, t2star = _loglinear_fit(quiet.volumes[:, peak, roi], quiet.echo_times_ms)
    r2star_change = 1000.0 / t2star - 1000.0 / quiet.t2star_ms[roi]  # s^-1
    np.testing.assert_allclose(r2star_change, quiet.delta_r2star[peak], atol=2e-3)
    outside = quiet.brain & ~roi
    np.testing.assert_array_equal(quiet.volumes[:, peak, outside], quiet.volumes[:, 0, outside])
    # per echo: (1 + a)^(TE / 45 ms) - 1; the reference TE of 45 ms gives the activation itself
    change = 100.0 * (quiet.volumes[:, :, roi].mean(axis=2, dtype=np.float64) / quiet.volumes[:, :1, roi].mean(axis=2) - 1)
    np.testing.assert_allclose(change, quiet.activation_by_echo, atol=1e-4)
    expected = 100.0 * ((1.0 + quiet.activation / 100.0) ** (np.asarray(TES)[:, None] / 45.0) - 1.0)
    np.testing.assert_allclose(quiet.activation_by_echo, expected, rtol=1e-10, atol=1e-12)
    assert quiet.activation_by_echo[1, peak] < quiet.activation[peak] < quiet.activation_by_echo[2, peak]


def _gains(session: MultiEchoSession, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Empirical tSNR gains over the best single echo, per voxel of `mask`: t2s, paid, and t2s over echo 2."""
    data = session.volumes[:, :, mask].astype(np.float64)  # (echo, time, voxel)
    tsnr = data.mean(axis=1) / data.std(axis=1, ddof=1)
    te = np.asarray(session.echo_times_ms)[:, None]
    weights = {
        "t2s": te * np.exp(-te / session.t2star_ms[mask]),  # from the true T2*
        "paid": te * tsnr,  # from the empirical tSNR
    }
    out = {}
    for kind, w in weights.items():
        combined = np.einsum("ev,etv->tv", w / w.sum(axis=0), data)
        combined_tsnr = combined.mean(axis=0) / combined.std(axis=0, ddof=1)
        out[kind] = combined_tsnr / tsnr.max(axis=0)
        if kind == "t2s":
            out["t2s_over_echo_2"] = combined_tsnr / tsnr[1]
    return out


@pytest.fixture(scope="module")
def thermal() -> MultiEchoSession:
    return make_multiecho_session(
        150, seed=5, activation_pct=0.0, s0_noise_pct=0.0, thermal_noise_pct=1.0, **SMALL, **STILL
    )


@pytest.mark.parametrize(("label", "t2star"), [(1, 45.0), (2, 40.0)])
def test_thermal_noise_only_tsnr_gains_match_the_theory(thermal: MultiEchoSession, label: int, t2star: float) -> None:
    mask = thermal.tissue == label
    measured = {kind: float(np.mean(g)) for kind, g in _gains(thermal, mask).items()}
    expected = {
        "t2s": optimal_tsnr_gain(TES, t2star, "t2s"),
        "paid": optimal_tsnr_gain(TES, t2star, "paid"),
        "t2s_over_echo_2": optimal_tsnr_gain(TES, t2star, "t2s", reference_echo=2),
    }
    for kind, value in expected.items():
        assert measured[kind] == pytest.approx(value, rel=0.05), kind
    # the thermal noise has the same SD on every echo, in scanner units
    residual = thermal.volumes[:, :, mask] - thermal.volumes[:, :, mask].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(residual.std(axis=(1, 2)), thermal.thermal_noise_sd, rtol=0.02)


def test_s0_noise_is_common_to_echoes_and_bounds_the_gain() -> None:
    s = make_multiecho_session(
        200, seed=7, activation_pct=0.0, s0_noise_pct=1.0, s0_noise_fwhm_mm=6.0, thermal_noise_pct=1.0,
        **SMALL, **STILL,
    )  # fmt: skip
    grey = s.tissue == 1
    assert float(s.s0_fluctuation[:, grey].std(axis=0).mean()) == pytest.approx(0.01, rel=0.03)
    # without the thermal noise each echo is exactly S0 exp(-TE/T2*) (1 + dS0)
    base = s.s0[grey] * np.exp(-np.asarray(TES)[:, None, None] / s.t2star_ms[grey])
    thermal = s.volumes[:, :, grey] - base * (1.0 + s.s0_fluctuation[None, :, grey])
    assert float(thermal.std()) == pytest.approx(s.thermal_noise_sd, rel=0.02)
    thermal_pct = 100.0 * s.thermal_noise_sd / s.s0[grey]  # relative to the voxel's S0
    measured = _gains(s, grey)
    for kind in ("t2s", "paid"):
        expected = optimal_tsnr_gain(TES, 45.0, kind, s0_noise_pct=1.0, thermal_noise_pct=thermal_pct)
        assert float(np.mean(measured[kind])) == pytest.approx(float(np.mean(expected)), rel=0.05), kind
    assert optimal_tsnr_gain(TES, 45.0, s0_noise_pct=1.0, thermal_noise_pct=0.0) == pytest.approx(1.0)


def test_theory_known_values() -> None:
    s = np.exp(-np.asarray(TES) / 45.0)
    te = np.asarray(TES)
    assert optimal_tsnr_gain(TES, 45.0) == pytest.approx(np.sum(te * s**2) / (np.linalg.norm(te * s) * s[0]))
    assert bold_cnr_gain(TES, 45.0) == pytest.approx(np.linalg.norm(te * s) / np.max(te * s))
    assert bold_cnr_gain(TES, 45.0, "paid") == pytest.approx(bold_cnr_gain(TES, 45.0, "t2s"))
    assert optimal_tsnr_gain(TES, 45.0, "equal") == pytest.approx(s.sum() / (np.sqrt(3.0) * s[0]))
    assert optimal_tsnr_gain((30.0,), 45.0) == pytest.approx(1.0)
    gains = optimal_tsnr_gain(TES, [[30.0, 45.0], [60.0, 90.0]], "t2s", reference_echo=2)
    assert isinstance(gains, np.ndarray) and gains.shape == (2, 2)
    assert gains[0, 1] == pytest.approx(optimal_tsnr_gain(TES, 45.0, reference_echo=2))
    # S0 noise: PAID moves weight to the later echoes and beats t2s on CNR; both gains shrink
    assert bold_cnr_gain(TES, 45.0, "paid", s0_noise_pct=1.0) > bold_cnr_gain(TES, 45.0, "t2s", s0_noise_pct=1.0)
    assert bold_cnr_gain(TES, 45.0, s0_noise_pct=1.0) < bold_cnr_gain(TES, 45.0)


def test_motion_and_drift_affect_every_echo() -> None:
    moving = make_multiecho_session(6, seed=2, s0_noise_pct=0.0, thermal_noise_pct=0.0, drift_pct=2.0, **SMALL)
    assert np.any(moving.motion[1:] != 0.0) and np.all(moving.motion[0] == 0.0)
    still = make_multiecho_session(6, seed=2, **SMALL, **QUIET)
    np.testing.assert_allclose(moving.volumes[:, 0], still.volumes[:, 0], rtol=1e-6)  # no motion, no drift at t=0
    assert np.all(np.abs(moving.volumes[:, 5] - still.volumes[:, 5]).max(axis=(1, 2, 3)) > 1.0)


def test_equal_seeds_give_equal_sessions() -> None:
    kwargs: dict[str, Any] = {"shape": (24, 24, 16), "block_length": 2, "s0_noise_pct": 1.0}
    a, b = make_multiecho_session(4, seed=9, **kwargs), make_multiecho_session(4, seed=9, **kwargs)
    c = make_multiecho_session(4, seed=10, **kwargs)
    for name in ("volumes", "s0", "t2star_ms", "motion", "s0_fluctuation"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.volumes, c.volumes)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_volumes": 0}, "n_volumes"),
        ({"echo_times_ms": (14.0,)}, "echo_times_ms"),
        ({"echo_times_ms": (38.0, 14.0)}, "echo_times_ms"),
        ({"echo_times_ms": (14.0, -1.0)}, "echo_times_ms"),
        ({"echo_times_ms": "14,38"}, "echo_times_ms"),
        ({"tr": 0.0}, "tr"),
        ({"activation_pct": -200.0}, "activation_pct"),
        ({"activation_pct": float("nan")}, "activation_pct"),
        ({"s0_noise_pct": -1.0}, "s0_noise_pct"),
        ({"s0_noise_fwhm_mm": -1.0}, "s0_noise_fwhm_mm"),
        ({"thermal_noise_pct": -0.1}, "thermal_noise_pct"),
        ({"max_motion_mm": -1.0}, "max_motion_mm"),
        ({"shape": (8, 32, 16)}, "shape"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_session_arguments_name_themselves(kwargs: dict[str, Any], name: str) -> None:
    arguments = {"n_volumes": 20, **SMALL, **kwargs}
    with pytest.raises(SimulationError, match=name):
        make_multiecho_session(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"weights_kind": "optimal"}, "weights_kind"),
        ({"t2star_ms": 0.0}, "t2star_ms"),
        ({"t2star_ms": "45"}, "t2star_ms"),
        ({"echo_times_ms": ()}, "echo_times_ms"),
        ({"s0_noise_pct": -1.0}, "s0_noise_pct"),
        ({"thermal_noise_pct": 0.0}, "thermal_noise_pct"),
        ({"reference_echo": 4}, "reference_echo"),
        ({"reference_echo": 0}, "reference_echo"),
    ],
)
def test_bad_theory_arguments_name_themselves(kwargs: dict[str, Any], name: str) -> None:
    arguments: dict[str, Any] = {"echo_times_ms": TES, "t2star_ms": 45.0, **kwargs}
    for function in (optimal_tsnr_gain, bold_cnr_gain):
        with pytest.raises(SimulationError, match=name):
            function(**arguments)


@pytest.fixture(scope="module")
def tiny() -> MultiEchoSession:
    return make_multiecho_session(3, echo_times_ms=(12.0, 35.0), seed=1, tr=1.5, **SMALL)


def test_write_multiecho_nifti_reads_back(tiny: MultiEchoSession, tmp_path: Any) -> None:
    paths = write_multiecho_nifti(tiny, tmp_path)
    assert [[p.name for p in echo] for echo in paths] == [
        [f"sub-01_task-nf_echo-{e}_bold_{i:04d}.nii" for i in range(3)] for e in (1, 2)
    ]
    for e, echo in enumerate(paths):
        for i, path in enumerate(echo):
            image = nib.load(path)
            np.testing.assert_array_equal(np.asarray(image.dataobj), tiny.volumes[e, i])
            np.testing.assert_allclose(image.affine, tiny.affine)
            assert image.header["pixdim"][4] == pytest.approx(1.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for echo in paths for p in echo)  # no temp files
    with pytest.raises(SimulationError, match="pattern"):
        write_multiecho_nifti(tiny, tmp_path, pattern="vol_{index:04d}.nii")
    with pytest.raises(SimulationError, match="pattern"):
        write_multiecho_nifti(tiny, tmp_path, pattern="vol_{run}.nii")


def test_write_multiecho_bids_reads_back_with_sidecars(tiny: MultiEchoSession, tmp_path: Any) -> None:
    images = write_multiecho_bids(tiny, tmp_path / "func")
    assert [p.name for p in images] == ["sub-01_task-nf_echo-1_bold.nii.gz", "sub-01_task-nf_echo-2_bold.nii.gz"]
    for e, path in enumerate(images):
        image = nib.load(path)
        assert image.shape == (32, 32, 16, 3)
        np.testing.assert_array_equal(np.asarray(image.dataobj), np.moveaxis(tiny.volumes[e], 0, -1))
        np.testing.assert_allclose(image.affine, tiny.affine)
        sidecar = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
        assert sidecar == {"EchoTime": tiny.echo_times_ms[e] / 1000.0, "RepetitionTime": 1.5, "TaskName": "nf"}
    with pytest.raises(SimulationError, match="task"):
        write_multiecho_bids(tiny, tmp_path, prefix="sub-01_run-1")
