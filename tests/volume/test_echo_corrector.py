"""MultiEchoCorrector: one echo's motion applied to every echo, the echoes combined, against known truth.

The sessions come from nfd's own generator (:func:`nfd.simulate.make_multiecho_session`:
S = S0 exp(-TE (R2* + dR2*)) per voxel, BOLD as dR2*, thermal noise per echo,
rigid motion), which shares no code with the engine; the theory of the gains is
:func:`nfd.simulate.optimal_tsnr_gain`.
"""

from __future__ import annotations

import numpy as np
import pytest

from nfd.simulate import MultiEchoSession, make_multiecho_session, optimal_tsnr_gain
from nfd.volume import MotionCorrector, MultiEchoCorrector, parse_combine, reslice
from nfd.volume._echo_corrector import implicit_mask
from nfd.volume._errors import GridMismatchError, InvalidOptionError, InvalidVolumeError

SHAPE = (40, 40, 24)


@pytest.fixture(scope="module")
def moving() -> MultiEchoSession:
    return make_multiecho_session(40, shape=SHAPE, seed=3, thermal_noise_pct=2.0, s0_noise_pct=0.0,
                                  max_motion_mm=0.8, max_motion_deg=0.8)


@pytest.fixture(scope="module")
def steady() -> MultiEchoSession:
    """No activation, no drift, no S0 noise: the tSNR of each voxel is the thermal noise's (small motion)."""
    return make_multiecho_session(90, shape=SHAPE, seed=5, thermal_noise_pct=2.0, s0_noise_pct=0.0, drift_pct=0.0,
                                  activation_pct=0.0, max_motion_mm=0.3, max_motion_deg=0.3)


def test_every_echo_moves_with_the_realignment_echo(moving: MultiEchoSession) -> None:
    s = moving
    engine = MultiEchoCorrector(s.volumes[1, 0], s.affine, s.echo_times_ms, realign_echo=2, smooth_fwhm=0.0)
    alone = MotionCorrector(s.volumes[1, 0], s.affine, smooth_fwhm=0.0)
    for t in (5, 17, 39):
        result = engine.process(s.volumes[:, t])
        np.testing.assert_array_equal(result.params, alone.process(s.volumes[1, t]).params)
        for e in range(s.n_echoes):
            np.testing.assert_allclose(engine.resliced_echoes[e], reslice(s.volumes[e, t], s.affine, result.params),
                                       rtol=0, atol=1e-3)
    assert np.abs(result.params[:3] - s.motion[39, :3]).max() < 0.06


def test_the_combined_volume_is_the_combination_of_the_resliced_echoes(moving: MultiEchoSession) -> None:
    s = moving
    engine = MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms, combine="echo:3", smooth_fwhm=4.0)
    out = np.empty(SHAPE, np.float32)
    smoothed = np.empty(SHAPE, np.float32)
    result = engine.process(s.volumes[:, 7], resliced_out=out, smoothed_out=smoothed)
    assert result.resliced is out and result.smoothed is smoothed
    inside = implicit_mask(s.volumes[0, 0])  # the default mask: above 1/8 of the reference's mean
    assert 0.2 < inside.mean() < 0.9
    np.testing.assert_array_equal(out[inside], engine.resliced_echoes[2][inside])
    assert (out[~inside] == 0).all()
    assert set(result.timings) >= {"realign", "reslice", "reslice_echoes", "combine", "smooth"}
    assert np.abs(smoothed - out).max() > 0  # smoothed after the combination


def _tsnr(series: np.ndarray) -> np.ndarray:
    return series.mean(axis=0) / series.std(axis=0, ddof=1)


@pytest.mark.parametrize("method", ["t2s", "paid"])
def test_tsnr_gain_matches_the_theory(steady: MultiEchoSession, method: str) -> None:
    """Grey matter (T2* 45 ms): the combination's tSNR over the best echo's and over the 38 ms echo's."""
    s = steady
    engine = MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms, combine=method, smooth_fwhm=0.0,
                                t2s_volumes=10)
    combined, echoes = [], []
    for t in range(s.n_volumes):
        combined.append(engine.process(s.volumes[:, t]).resliced.copy())
        echoes.append(engine.resliced_echoes.copy())
    grey = (s.tissue == 1) & s.brain
    warm = slice(10, None)  # after the weights are frozen
    tsnr_c = _tsnr(np.array(combined)[warm][:, grey])
    tsnr_e = np.array([_tsnr(np.array(echoes)[warm][:, e][:, grey]) for e in range(s.n_echoes)])
    over_best = float(np.median(tsnr_c / tsnr_e.max(axis=0)))
    over_38 = float(np.median(tsnr_c / tsnr_e[1]))
    theory_best = float(optimal_tsnr_gain(s.echo_times_ms, 45.0, method, thermal_noise_pct=2.0))
    theory_38 = float(optimal_tsnr_gain(s.echo_times_ms, 45.0, method, thermal_noise_pct=2.0, reference_echo=2))
    assert over_best == pytest.approx(theory_best, rel=0.10)
    assert over_38 == pytest.approx(theory_38, rel=0.10)


def test_t2s_combination_follows_the_activation_better_than_any_echo(moving: MultiEchoSession) -> None:
    s = moving
    roi = s.rois["roi_a"]
    r = {}
    for combine in ("t2s", "echo:1", "echo:2", "echo:3"):
        engine = MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms, combine=combine, smooth_fwhm=0.0)
        series = np.array([engine.process(s.volumes[:, t]).resliced[roi].mean() for t in range(s.n_volumes)])
        r[combine] = float(np.corrcoef(series, s.activation)[0, 1])
    assert r["t2s"] > max(r["echo:1"], r["echo:2"], r["echo:3"]) + 0.03, r


def test_bad_input_is_refused(moving: MultiEchoSession) -> None:
    s = moving
    with pytest.raises(InvalidOptionError, match="realign_echo must be an echo from 1 to 3"):
        MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms, realign_echo=4)
    with pytest.raises(InvalidOptionError, match="combine must be"):
        MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms, combine="echo:4")
    engine = MultiEchoCorrector(s.volumes[0, 0], s.affine, s.echo_times_ms)
    with pytest.raises(InvalidVolumeError, match="expected the 3 echoes"):
        engine.process(s.volumes[:2, 0])
    with pytest.raises(GridMismatchError, match="reference grid"):
        engine.process(s.volumes[:, 0, :-1])
    assert parse_combine("paid", 3) == ("paid", None)
