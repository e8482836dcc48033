"""Multi-echo maths: known answers (noise-free decays, tedana on real data) and the online combiner."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nfd.volume._errors import GridMismatchError, InvalidOptionError, InvalidVolumeError, OutputBufferError
from nfd.volume._multiecho import (
    EchoCombiner,
    RunningEchoStats,
    adaptive_mask,
    combine,
    echo_weights,
    fit_t2star,
    fixed_weights,
    paid_weights,
    t2s_weights,
)

TES = np.array([12.0, 28.0, 44.0, 60.0])
SHAPE = (6, 5, 4)


def _decay(s0: np.ndarray, t2s: np.ndarray, tes: np.ndarray = TES) -> np.ndarray:
    return (s0[np.newaxis] * np.exp(-tes.reshape(-1, 1, 1, 1) / t2s[np.newaxis])).astype(np.float64)


def _maps(rng: np.random.Generator, shape: tuple[int, ...] = SHAPE) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(800.0, 2000.0, shape), rng.uniform(15.0, 90.0, shape)


def _noisy_run(rng: np.random.Generator, n_vols: int, noise: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(T, E, X, Y, Z) float32 volumes around a decay, and its T2* map."""
    s0, t2s = _maps(rng)
    clean = _decay(s0, t2s)
    vols = clean[np.newaxis] + rng.normal(0.0, noise, (n_vols, *clean.shape))
    return vols.astype(np.float32), t2s


# ----------------------------------------------------------------------------- synthetic known answers


def test_noise_free_fit_is_exact() -> None:
    rng = np.random.default_rng(1)
    s0, t2s = _maps(rng)
    data = _decay(s0, t2s)
    fit = fit_t2star(data, TES, n_good=np.full(SHAPE, 4))
    np.testing.assert_allclose(fit.t2star_ms, t2s, rtol=1e-4)
    np.testing.assert_allclose(fit.s0, s0, rtol=1e-4)
    assert fit.mask.all() and fit.n_good.dtype == np.int8 and fit.t2star_ms.dtype == np.float32
    # several identical volumes: the same fit; on fewer echoes too
    fit5 = fit_t2star(np.repeat(data[..., np.newaxis], 5, axis=-1), TES, n_good=np.full(SHAPE, 2))
    np.testing.assert_allclose(fit5.t2star_ms, t2s, rtol=1e-4)
    np.testing.assert_allclose(fit5.s0, s0, rtol=1e-4)


def test_fit_clips_and_masks() -> None:
    rng = np.random.default_rng(2)
    s0, t2s = _maps(rng)
    t2s[0, 0, 0], t2s[1, 0, 0], s0[0, 0, 0] = 4.0, 5000.0, 1e6
    data = _decay(s0, t2s)
    data[:, 2, 0, 0] = [100.0, 200.0, 300.0, 400.0]  # growing with TE: tedana's T2* <= 0 -> 1 ms
    mask = np.ones(SHAPE, dtype=bool)
    mask[3, 0, 0] = False
    n_good = np.full(SHAPE, 4)
    n_good[0, 0, 0] = 2
    fit = fit_t2star(data, TES, mask, n_good=n_good, t2s_range_ms=(5.0, 500.0))
    assert fit.t2star_ms[0, 0, 0] == pytest.approx(5.0)
    assert fit.t2star_ms[1, 0, 0] == pytest.approx(500.0)
    assert fit.t2star_ms[2, 0, 0] == pytest.approx(5.0)
    assert fit.t2star_ms[3, 0, 0] == 0.0 and fit.s0[3, 0, 0] == 0.0 and not fit.mask[3, 0, 0]


def test_adaptive_mask_counts_good_echoes() -> None:
    rng = np.random.default_rng(3)
    s0, t2s = _maps(rng)
    t2s[:] = 200.0  # hardly any decay: every echo above a third of the exemplar's
    data = _decay(s0, t2s)
    data[2:, 0, 0, 0] = 1.0  # echoes 3, 4 lost in the noise floor
    data[1, 1, 0, 0] = -5.0  # echo 2 not positive: only echo 1 counts
    data[:, 2, 0, 0] = 0.0  # outside the head
    ng = adaptive_mask(data)
    assert ng[0, 0, 0] == 2 and ng[1, 0, 0] == 1 and ng[2, 0, 0] == 0
    assert (ng[3:] == 4).all()
    # a voxel with one good echo is fitted on the first two, as tedana's threshold=1
    fit = fit_t2star(data, TES)
    assert fit.n_good[1, 0, 0] == 1 and fit.mask[1, 0, 0] and fit.t2star_ms[1, 0, 0] > 0


def test_weights() -> None:
    rng = np.random.default_rng(4)
    _, t2s = _maps(rng)
    t2s[0, 0, 0] = 0.0
    w = t2s_weights(TES, t2s)
    assert w.shape == (4, *SHAPE) and w.dtype == np.float32
    t2s_ok = np.where(t2s > 0, t2s, 1.0)
    expected = TES.reshape(-1, 1, 1, 1) * np.exp(-TES.reshape(-1, 1, 1, 1) / t2s_ok)
    expected /= expected.sum(axis=0)
    expected[:, 0, 0, 0] = 0.0
    np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(w.sum(axis=0)[t2s > 0], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fixed_weights(TES, t2s), w)
    # fewer good echoes: later ones get 0, and one good echo means two
    n_good = np.full(SHAPE, 4)
    n_good[1, 0, 0], n_good[2, 0, 0], n_good[3, 0, 0] = 3, 1, 0
    wg = t2s_weights(TES, t2s, n_good=n_good)
    assert wg[3, 1, 0, 0] == 0 and wg[2, 1, 0, 0] > 0
    assert (wg[2:, 2, 0, 0] == 0).all() and wg[1, 2, 0, 0] > 0
    assert (wg[:, 3, 0, 0] == 0).all()
    np.testing.assert_allclose(wg.sum(axis=0)[n_good > 0][1:], 1.0, rtol=1e-6)


def test_echo_weights_pick_the_echo() -> None:
    rng = np.random.default_rng(5)
    echoes = rng.uniform(1, 100, (4, *SHAPE)).astype(np.float32)
    for e in (1, 2, 4):
        np.testing.assert_array_equal(combine(echoes, echo_weights(4, e, SHAPE)), echoes[e - 1])


def test_paid_equals_t2s_when_tsnr_follows_the_decay() -> None:
    rng = np.random.default_rng(6)
    s0, t2s = _maps(rng)
    tsnr = _decay(s0 / 10.0, t2s)  # constant noise: tSNR ∝ exp(-TE/T2*)
    np.testing.assert_allclose(paid_weights(TES, tsnr), t2s_weights(TES, t2s), rtol=1e-5, atol=1e-7)
    tsnr[:, 0, 0, 0] = 0.0
    assert (paid_weights(TES, tsnr)[:, 0, 0, 0] == 0).all()


def test_combine_time_axis_and_out() -> None:
    rng = np.random.default_rng(7)
    vols, t2s = _noisy_run(rng, 3)
    w = t2s_weights(TES, t2s)
    series = np.moveaxis(vols, 0, -1)  # (E, X, Y, Z, T)
    out = np.empty((*SHAPE, 3), dtype=np.float32)
    got = combine(series, w, out=out)
    assert got is out
    for t in range(3):
        np.testing.assert_allclose(got[..., t], (w * vols[t]).sum(axis=0), rtol=1e-5)


def test_welford_equals_numpy() -> None:
    rng = np.random.default_rng(8)
    seq = rng.normal(1000.0, 30.0, (25, 3, 4, 5)).astype(np.float32)
    stats = RunningEchoStats((3, 4, 5))
    np.testing.assert_array_equal(stats.variance, 0.0)
    for x in seq:
        stats.update(x)
    assert stats.n == 25
    np.testing.assert_allclose(stats.mean, seq.mean(axis=0, dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(stats.std, seq.std(axis=0, ddof=1, dtype=np.float64), rtol=1e-9)
    np.testing.assert_allclose(stats.tsnr, stats.mean / stats.std, rtol=1e-12)
    with pytest.raises(GridMismatchError, match="sample has shape"):
        stats.update(seq[0, 0])
    stats.reset()
    assert stats.n == 0 and not stats.mean.any()


# ----------------------------------------------------------------------------- the online combiner


@pytest.mark.parametrize("update", ["freeze", "running"])
def test_combiner_follows_the_batch_fit(update: str) -> None:
    rng = np.random.default_rng(9)
    vols, _ = _noisy_run(rng, 8)
    comb = EchoCombiner(TES, SHAPE, t2s_volumes=4, update=update, running_tsnr=True)  # type: ignore[arg-type]
    window_tsnr = EchoCombiner(TES, SHAPE, t2s_volumes=4, update=update)  # type: ignore[arg-type]
    outs = [comb.combine(v).copy() for v in vols]
    for v in vols:
        window_tsnr.combine(v)
    np.testing.assert_array_equal(window_tsnr.weights, comb.weights)
    assert comb.n_seen == 8
    n_window = 4 if update == "freeze" else 8
    series = np.moveaxis(vols[:n_window], 0, -1)
    ng = adaptive_mask(np.moveaxis(vols[:4], 0, -1))
    np.testing.assert_array_equal(comb.n_good, ng)
    fit = fit_t2star(series, TES, n_good=ng)
    np.testing.assert_allclose(comb.t2star_ms, fit.t2star_ms, rtol=1e-4)
    np.testing.assert_allclose(comb.s0, fit.s0, rtol=1e-4)
    w = t2s_weights(TES, fit.t2star_ms, n_good=ng)
    np.testing.assert_allclose(comb.weights, w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(outs[-1], combine(vols[-1], w), rtol=1e-4)
    std = np.moveaxis(vols[:n_window], 0, -1).std(axis=-1, ddof=1, dtype=np.float64)
    np.testing.assert_allclose(comb.tsnr, series.mean(axis=-1, dtype=np.float64) / std, rtol=1e-4)
    first4 = np.moveaxis(vols[:4], 0, -1)
    tsnr4 = first4.mean(axis=-1, dtype=np.float64) / first4.std(axis=-1, ddof=1, dtype=np.float64)
    np.testing.assert_allclose(window_tsnr.tsnr, tsnr4, rtol=1e-4)  # by default: the window's (t2s)
    # volume 1: the T2* of volume 1 alone
    first = EchoCombiner(TES, SHAPE, t2s_volumes=4)
    out1 = first.combine(vols[0])
    fit1 = fit_t2star(vols[0], TES)
    np.testing.assert_allclose(first.t2star_ms, fit1.t2star_ms, rtol=1e-4)
    np.testing.assert_allclose(out1, combine(vols[0], t2s_weights(TES, fit1.t2star_ms, n_good=fit1.n_good)), rtol=1e-4)


def test_combiner_freeze_keeps_weights() -> None:
    rng = np.random.default_rng(10)
    vols, _ = _noisy_run(rng, 6)
    frozen = EchoCombiner(TES, SHAPE, t2s_volumes=3, update="freeze")
    running = EchoCombiner(TES, SHAPE, t2s_volumes=3, update="running")
    for v in vols[:3]:
        frozen.combine(v)
        running.combine(v)
    w3 = frozen.weights
    np.testing.assert_array_equal(running.weights, w3)
    for v in vols[3:]:
        frozen.combine(v * np.float32(0.5) + np.float32(7.0))
        running.combine(v * np.float32(0.5) + np.float32(7.0))
    np.testing.assert_array_equal(frozen.weights, w3)
    assert not np.array_equal(running.weights, w3)


def test_combiner_mask_fixed_echo_and_paid() -> None:
    rng = np.random.default_rng(11)
    vols, t2s = _noisy_run(rng, 5)
    mask = np.ones(SHAPE, dtype=bool)
    mask[0] = False
    fixed = EchoCombiner(TES, SHAPE, method="fixed", t2star_ms=t2s, mask=mask, t2s_volumes=2)
    echo = EchoCombiner(TES, SHAPE, method="echo", echo=3, mask=mask, t2s_volumes=2)
    paid = EchoCombiner(TES, SHAPE, method="paid", mask=mask, t2s_volumes=5)
    t2s_comb = EchoCombiner(TES, SHAPE, method="t2s", mask=mask, t2s_volumes=5)
    out = np.empty(SHAPE, dtype=np.float32)
    for v in vols:
        np.testing.assert_allclose(fixed.combine(v), combine(v, t2s_weights(TES, t2s)) * mask, rtol=1e-5)
        assert echo.combine(v, out=out) is out
        np.testing.assert_array_equal(out, v[2] * mask)
    for v in vols[:-1]:  # the window but its last volume: the t2s weights of the running T2* fit
        np.testing.assert_array_equal(paid.combine(v), t2s_comb.combine(v))
        np.testing.assert_array_equal(paid.weights, t2s_comb.weights)
    got = paid.combine(vols[-1])  # the window's last volume: PAID, from the tSNR of the whole window
    series = np.moveaxis(vols, 0, -1)
    tsnr = series.mean(axis=-1) / series.std(axis=-1, ddof=1)
    w = paid_weights(TES, tsnr, n_good=paid.n_good) * mask
    np.testing.assert_allclose(paid.weights, w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got, combine(vols[-1], w), rtol=1e-4)
    assert (got[0] == 0).all() and (paid.t2star_ms[0] == 0).all()


def test_paid_window_adds_no_transient() -> None:
    """PAID's weights during the window are t2s's (a tSNR of a few volumes is noise): no jump in a ROI's series."""
    from nfd.simulate import make_multiecho_session

    s = make_multiecho_session(60, shape=(40, 40, 24), seed=3, thermal_noise_pct=2.0, s0_noise_pct=0.0,
                               max_motion_mm=0.0, max_motion_deg=0.0)
    roi, window = s.rois["roi_a"], 10
    design = np.column_stack([np.ones(s.n_volumes), s.activation, np.linspace(-1.0, 1.0, s.n_volumes)])
    r, jumps, noise, series = {}, {}, {}, {}
    for method in ("t2s", "paid"):
        comb = EchoCombiner(s.echo_times_ms, s.volumes.shape[2:], method=method, t2s_volumes=window)  # type: ignore[arg-type]
        series[method] = np.array([comb.combine(s.volumes[:, t])[roi].mean() for t in range(s.n_volumes)])
        r[method] = float(np.corrcoef(series[method], s.activation)[0, 1])
        # the series less its activation and drift (fitted after the window): what is left is noise, or transient
        beta = np.linalg.lstsq(design[window:], series[method][window:], rcond=None)[0]
        residual = series[method] - design @ beta
        noise[method] = float(np.std(np.diff(residual[window:]), ddof=1))
        jumps[method] = float(np.abs(np.diff(residual[:window])).max())  # volumes 1-10, the switch included
    assert r["paid"] >= r["t2s"] - 0.05, r  # was 0.23 against 0.89: PAID's volume 2 jumped by 10 %
    np.testing.assert_array_equal(series["paid"][: window - 1], series["t2s"][: window - 1])
    for method in ("t2s", "paid"):
        assert jumps[method] <= 3.0 * noise[method], (method, jumps[method], noise[method])
    step = abs((series["paid"] - series["t2s"])[window - 1])  # the switch to PAID's weights at volume 10
    assert step <= 3.0 * noise["paid"], (step, noise["paid"])


def _bad(**kwargs: Any) -> dict[str, Any]:
    return kwargs


@pytest.mark.parametrize(
    ("tes", "shape", "kwargs", "error", "message"),
    [
        ([12.0], SHAPE, _bad(), InvalidOptionError, "at least 2 echo times"),
        ([28.0, 12.0], SHAPE, _bad(), InvalidOptionError, "strictly increasing"),
        ([0.0, 12.0], SHAPE, _bad(), InvalidOptionError, "positive"),
        (TES, (4, 4), _bad(), InvalidOptionError, "shape must be 3 positive integers"),
        (TES, SHAPE, _bad(method="optimal"), InvalidOptionError, "method must be one of"),
        (TES, SHAPE, _bad(update="sometimes"), InvalidOptionError, "update must be one of"),
        (TES, SHAPE, _bad(t2s_volumes=0), InvalidOptionError, "t2s_volumes must be an integer >= 1"),
        (TES, SHAPE, _bad(method="echo"), InvalidOptionError, "echo must be an echo number from 1 to 4"),
        (TES, SHAPE, _bad(method="echo", echo=5), InvalidOptionError, "echo must be an echo number from 1 to 4"),
        (TES, SHAPE, _bad(echo=2), InvalidOptionError, "echo is only used with method='echo'"),
        (TES, SHAPE, _bad(method="fixed"), InvalidOptionError, "needs t2star_ms"),
        (TES, SHAPE, _bad(t2star_ms=np.ones(SHAPE)), InvalidOptionError, "only used with method='fixed'"),
        (TES, SHAPE, _bad(method="fixed", t2star_ms=np.ones((2, 2, 2))), GridMismatchError, "t2star_ms has shape"),
        (TES, SHAPE, _bad(mask=np.ones((2, 2, 2))), GridMismatchError, "mask has shape"),
        (TES, SHAPE, _bad(t2s_range_ms=(50.0, 10.0)), InvalidOptionError, "0 < low < high"),
    ],
)
def test_combiner_bad_arguments(
    tes: Any, shape: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        EchoCombiner(tes, shape, **kwargs)


def test_combiner_bad_volumes() -> None:
    comb = EchoCombiner(TES, SHAPE)
    with pytest.raises(GridMismatchError, match="echoes have shape"):
        comb.combine(np.ones((3, *SHAPE), dtype=np.float32))
    with pytest.raises(InvalidVolumeError, match="real-valued"):
        comb.combine(np.ones((4, *SHAPE), dtype=complex))
    with pytest.raises(OutputBufferError, match="float32"):
        comb.combine(np.ones((4, *SHAPE), dtype=np.float32), out=np.empty(SHAPE))
    assert comb.n_seen == 0
    with pytest.raises(InvalidOptionError, match="echo must be"):
        echo_weights(4, 0, SHAPE)
    with pytest.raises(GridMismatchError, match="tsnr must be"):
        paid_weights(TES, np.ones((3, *SHAPE)))
    with pytest.raises(GridMismatchError, match="echoes"):
        fit_t2star(np.ones((3, *SHAPE)), TES)


# ----------------------------------------------------------------------------- against tedana


@pytest.fixture(scope="module")
def tedana_run(shared_data: Path) -> dict[str, Any]:
    """The shared 3-echo run, and tedana's t2smap steps on it (loglin fit, dropout mask, t2s/PAID combination)."""
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("tedana")
    from tedana import combine as tcombine
    from tedana import decay, utils

    folder = shared_data / "multiecho_tedana"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    tes = [14.5, 38.5, 62.5]
    data = np.stack([np.asarray(nib.load(folder / f"echo{i}.nii.gz").dataobj, dtype=np.float64) for i in (1, 2, 3)])
    mask = np.asarray(nib.load(folder / "mask.nii.gz").dataobj) > 0
    logging.getLogger("GENERAL").setLevel(logging.ERROR)
    cat = np.moveaxis(data[:, mask], 0, 1)  # (M, E, T), as t2smap loads it
    good, n_good = utils.make_adaptive_mask(cat, threshold=1, methods=["dropout"])
    t2s, s0, *_ = decay.fit_decay(cat[good], tes, n_good[good], "loglin")
    t2s, s0, _, _ = decay.modify_t2s_s0_maps(t2s, s0, n_good[good], tes)
    t2s_full = utils.unmask(t2s, good)
    optcom = tcombine.make_optcom(cat, tes, n_good, t2s=t2s_full, combmode="t2s")
    paid = tcombine.make_optcom(cat, tes, n_good, combmode="paid")
    return {
        "tes": tes,
        "data": data,
        "mask": mask,
        "good": good,
        "n_good": n_good,
        "t2s": t2s,
        "s0": s0,
        "optcom": optcom,
        "paid": paid,
    }


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_fit_and_combination_match_tedana(tedana_run: dict[str, Any]) -> None:
    run = tedana_run
    mask, good = run["mask"], run["good"]
    fit = fit_t2star(run["data"], run["tes"], mask)
    np.testing.assert_array_equal(fit.n_good[mask], run["n_good"])
    # tedana keeps finite T2* above 500 ms (up to ~9e5 ms here) in the map it combines with; nfd caps them
    assert _r(fit.t2star_ms[mask][good], np.clip(run["t2s"], 1.0, 500.0)) >= 0.99
    assert _r(fit.s0[mask][good], run["s0"]) >= 0.999
    combined = combine(run["data"], t2s_weights(run["tes"], fit.t2star_ms, n_good=fit.n_good))
    assert _r(combined[mask], run["optcom"]) >= 0.999
    assert (combined[~mask] == 0).all()
    tsnr = RunningEchoStats(run["data"].shape[:4])
    for t in range(run["data"].shape[-1]):
        tsnr.update(run["data"][..., t])
    paid = combine(run["data"], paid_weights(run["tes"], tsnr.tsnr, n_good=fit.n_good) * mask)
    assert _r(paid[mask], run["paid"]) >= 0.999


def test_online_combiner_matches_tedana(tedana_run: dict[str, Any]) -> None:
    run = tedana_run
    mask = run["mask"]
    vols = np.ascontiguousarray(np.moveaxis(run["data"], -1, 0), dtype=np.float32)
    comb = EchoCombiner(run["tes"], mask.shape, mask=mask, t2s_volumes=vols.shape[0])
    outs = [comb.combine(v).copy() for v in vols]
    np.testing.assert_array_equal(comb.n_good[mask], run["n_good"])
    assert _r(comb.t2star_ms[mask][run["good"]], np.clip(run["t2s"], 1.0, 500.0)) >= 0.99
    # the last volume is combined with the T2* of all five, as tedana's; the first with volume 1's own
    assert _r(outs[-1][mask], run["optcom"][:, -1]) >= 0.999
    assert _r(outs[0][mask], run["optcom"][:, 0]) >= 0.99
