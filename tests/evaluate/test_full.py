"""The fully processed level: motion confounds as fMRIPrep defines them, and cleaning that recovers a known signal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from nfd.evaluate import MinimalSeries, full_roi_series, motion_confounds

TR = 2.0


def test_24p_is_parameters_derivatives_and_their_squares() -> None:
    rng = np.random.default_rng(0)
    motion = rng.normal(size=(30, 6))
    c = motion_confounds(motion, "24P")
    derivative = np.vstack([np.zeros(6), motion[1:] - motion[:-1]])
    np.testing.assert_array_equal(c, np.hstack([motion, derivative, motion**2, derivative**2]))
    assert motion_confounds(motion, "6P").shape == (30, 6) and motion_confounds(motion, "12P").shape == (30, 12)
    assert motion_confounds(motion, "none").shape == (30, 0)
    with pytest.raises(ValueError, match="strategy must be"):
        motion_confounds(motion, "36P")  # type: ignore[arg-type]


def _series(n: int = 270, seed: int = 1) -> tuple[MinimalSeries, np.ndarray, np.ndarray]:
    """Three ROIs: a band-limited signal each, plus motion artefacts (linear and squared), drift and noise."""
    rng = np.random.default_rng(seed)
    sos = butter(4, [0.01, 0.1], btype="band", fs=1 / TR, output="sos")
    truth = sosfiltfilt(sos, rng.normal(size=(n, 3)), axis=0)
    truth /= truth.std(axis=0)
    motion = np.cumsum(rng.normal(scale=0.03, size=(n, 6)), axis=0)
    artefact = motion @ rng.normal(size=(6, 3)) * 2.0 + (motion**2) @ rng.normal(size=(6, 3)) * 3.0
    drift = np.linspace(0, 5, n)[:, None] * rng.normal(size=3)
    values = 1000.0 + truth + artefact + drift + rng.normal(scale=0.2, size=(n, 3))
    return MinimalSeries(("a", "b", "c"), values, np.arange(n), motion, np.full(3, np.nan), np.ones(3)), truth, artefact


def test_cleaning_recovers_the_signal_under_motion_and_drift() -> None:
    series, truth, _ = _series()
    cleaned = full_roi_series(series, TR)
    before = [np.corrcoef(series.values[:, k], truth[:, k])[0, 1] for k in range(3)]
    after = [np.corrcoef(cleaned[:, k], truth[:, k])[0, 1] for k in range(3)]
    # measured: 0.41-0.55 before, 0.84-0.86 after (24 regressors of a random-walk motion take some signal too)
    assert min(after) > 0.8 and min(after) > max(before) + 0.25, (before, after)


def test_cleaning_a_mean_is_the_mean_of_cleaned_voxels() -> None:
    """The module's claim: every step is linear, so the ROI-level cleaning equals the voxel-level one."""
    from nilearn.signal import clean

    series, _, _ = _series(n=120, seed=3)
    rng = np.random.default_rng(4)
    voxels = series.values[:, :1] + rng.normal(scale=1.0, size=(120, 25))
    roi = MinimalSeries(
        ("a",), voxels.mean(axis=1, keepdims=True), series.indices, series.motion, np.ones(1), np.ones(1)
    )
    ours = full_roi_series(roi, TR, despike_first=False)[:, 0]  # despiking is the one step that is not linear
    each = clean(
        voxels,
        detrend=True,
        standardize=None,
        confounds=motion_confounds(series.motion),
        standardize_confounds=True,
        filter="butterworth",
        high_pass=0.01,
        low_pass=0.1,
        t_r=TR,
    )
    np.testing.assert_allclose(ours, each.mean(axis=1), rtol=1e-8, atol=1e-8)


def test_r2star_leaves_s0_changes_out() -> None:
    """Echoes S0(t) exp(-TE R2*(t)) with thermal noise: the fit follows R2*, whatever S0 does."""
    from nfd.evaluate import r2star_series

    rng = np.random.default_rng(4)
    n, te = 300, np.array([14.5, 35.3, 56.1])
    r2s = 25.0 + 0.3 * rng.standard_normal((n, 2))  # s^-1, two ROIs
    s0 = 1000.0 * (1.0 + 0.02 * rng.standard_normal((n, 1)))  # 2 % non-BOLD changes, common to the echoes
    echoes = s0[:, None, :] * np.exp(-te[None, :, None] / 1000.0 * r2s[:, None, :])
    exact = r2star_series(echoes, te)
    np.testing.assert_allclose(exact, r2s, atol=1e-9)
    noisy = echoes + 0.5 * rng.standard_normal(echoes.shape)
    fitted = r2star_series(noisy, te)
    combined = np.log(echoes.mean(axis=1))  # what the combined volume's log follows: S0 and R2* mixed
    assert np.corrcoef(fitted[:, 0], r2s[:, 0])[0, 1] > 0.95
    assert abs(np.corrcoef(-combined[:, 0], r2s[:, 0])[0, 1]) < 0.8
    series = MinimalSeries(("a", "b"), echoes.mean(axis=1), np.arange(n), np.zeros((n, 6)), np.ones(2), np.ones(2),
                           echoes, tuple(te))  # fmt: skip
    cleaned = full_roi_series(series, 2.0, multiecho="r2star", despike_first=False, confounds="none", detrend=False,
                              high_pass_hz=None, low_pass_hz=None)  # fmt: skip
    np.testing.assert_allclose(cleaned, -r2s, atol=1e-6)


def _spiky(n: int = 270, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A band-limited signal (SD 1) with noise (SD 0.3) and spikes of 8-20 SD at known volumes, in 2 series."""
    rng = np.random.default_rng(seed)
    sos = butter(4, [0.01, 0.1], btype="band", fs=1 / TR, output="sos")
    truth = sosfiltfilt(sos, rng.normal(size=(n, 2)), axis=0)
    truth /= truth.std(axis=0)
    clean_values = 500.0 + truth + rng.normal(scale=0.3, size=(n, 2))
    spikes = np.zeros((n, 2), dtype=bool)
    spikes[rng.choice(n, size=6, replace=False), 0] = True
    spikes[rng.choice(n, size=6, replace=False), 1] = True
    values = clean_values + spikes * rng.choice([-1.0, 1.0], size=(n, 2)) * rng.uniform(8, 20, size=(n, 2))
    return values, clean_values, spikes


def test_despike_squashes_planted_spikes_and_leaves_the_rest() -> None:
    from nfd.evaluate import despike

    values, clean_values, spikes = _spiky()
    out = despike(values)
    changed = out != values
    assert changed[spikes].all()  # every planted spike is moved
    # and few others: those beyond 2.5 sigma of the smooth curve (L = 9 Fourier pairs leave the 0.02-0.1 Hz signal
    # in the residuals); measured 3.0 %
    assert changed[~spikes].mean() < 0.05
    spread = np.std(clean_values - np.median(clean_values, axis=0), axis=0)
    # 3dDespike's bound: a squashed value stays within c2 = 4 sigma of the fit; the residual SD is ~1.05 here
    assert (np.abs(out[spikes] - clean_values[spikes]) < 4.0 * 1.6).all(), np.abs(out - clean_values)[spikes]
    error_before = np.abs(values - clean_values)[spikes].mean()
    error_after = np.abs(out - clean_values)[spikes].mean()
    # measured 12.0 -> 3.6: spikes end between c1 and c2 sigma of the fit, 2.6-4.2 here
    assert error_after < 0.4 * error_before, (error_before, error_after, spread)
    np.testing.assert_array_equal(despike(clean_values[:, :1] * 0 + 3.0), np.full((270, 1), 3.0))  # flat: as is


def test_despike_is_bounded_whatever_the_spike() -> None:
    """Spikes of 10 to 1000 SD at one volume all end within c2 = 4 sigma of the fit: close to one another."""
    from nfd.evaluate import despike

    base, _, _ = _spiky(seed=8)
    column = base[:, :1].copy()
    column[100] = np.median(column)
    outs = []
    for size in (10.0, 20.0, 40.0, 80.0, 1000.0):
        v = column.copy()
        v[100] += size
        outs.append(float(despike(v)[100, 0]))
    assert max(outs) - min(outs) < 0.2 and max(outs) - np.median(column) < 4.0 * 1.6, outs


def test_full_cleaning_with_despiking_recovers_the_signal_under_spikes() -> None:
    values, _, _ = _spiky(seed=9)
    n = values.shape[0]
    series = MinimalSeries(("a", "b"), values, np.arange(n), np.zeros((n, 6)), np.ones(2), np.ones(2))
    rng = np.random.default_rng(9)
    sos = butter(4, [0.01, 0.1], btype="band", fs=1 / TR, output="sos")
    truth = sosfiltfilt(sos, rng.normal(size=(n, 2)), axis=0)  # the same draws as _spiky's truth
    truth /= truth.std(axis=0)
    kept = [np.corrcoef(full_roi_series(series, TR, despike_first=d, confounds="none")[:, k], truth[:, k])[0, 1]
            for d in (False, True) for k in range(2)]  # fmt: skip
    assert min(kept[2:]) > 0.9 and min(kept[2:]) > max(kept[:2]) + 0.05, kept


def test_noise_components_are_regressed() -> None:
    """A series' CompCor columns (``MinimalSeries.noise``) come out of its cleaned ROI series."""
    series, truth, _ = _series(seed=11)
    rng = np.random.default_rng(12)
    n = series.values.shape[0]
    sos = butter(4, [0.01, 0.1], btype="band", fs=1 / TR, output="sos")
    physio = sosfiltfilt(sos, rng.normal(size=(n, 2)), axis=0) * 3.0
    values = series.values + physio @ rng.uniform(0.5, 1.0, size=(2, 3))
    noisy = MinimalSeries(series.names, values, series.indices, series.motion, series.tsnr, series.in_brain)
    with_noise = MinimalSeries(series.names, values, series.indices, series.motion, series.tsnr, series.in_brain,
                               noise=physio)  # fmt: skip
    r_without = [np.corrcoef(full_roi_series(noisy, TR)[:, k], truth[:, k])[0, 1] for k in range(3)]
    r_with = [np.corrcoef(full_roi_series(with_noise, TR)[:, k], truth[:, k])[0, 1] for k in range(3)]
    # measured: 0.20-0.40 without, 0.78-0.83 with (regressing 2 band-limited columns takes some signal too)
    assert min(r_with) > 0.7 and min(r_with) > max(r_without) + 0.3, (r_without, r_with)


def test_despike_curve_is_statsmodels_huber_fit() -> None:
    """The robust curve despike fits is Huber's M-estimate as statsmodels' RLM computes it (scale: the median
    absolute residual / 0.6745, re-estimated each iteration), on the same basis."""
    import statsmodels.api as sm

    from nfd.evaluate._full import _huber_curve

    values, _, _ = _spiky(seed=10)
    n = values.shape[0]
    t = np.arange(n) / n
    basis = np.column_stack([np.ones(n), t, t * t] + [f(2 * np.pi * k * t) for k in range(1, n // 30 + 1)
                                                      for f in (np.sin, np.cos)])  # fmt: skip
    fit, sigma = _huber_curve(basis, values, np.abs(values).mean(axis=0) + 1.0, 200)
    for k in range(values.shape[1]):
        reference = sm.RLM(values[:, k], basis, M=sm.robust.norms.HuberT()).fit(maxiter=1000, tol=1e-14, conv="coefs")
        np.testing.assert_allclose(fit[:, k], basis @ reference.params, atol=1e-6)
        assert abs(sigma[k] - reference.scale) < 1e-6 * reference.scale


def test_despike_is_stable_under_rounding() -> None:
    """A change of the data at rounding size moves the output by rounding size too (an L1 fit's vertex moved
    1e-6 for 1e-15, which made tables differ between processes)."""
    from nfd.evaluate import despike

    values, _, _ = _spiky(seed=11)
    nudged = values * (1.0 + 1e-15 * np.random.default_rng(12).normal(size=values.shape))
    assert np.abs(despike(values) - despike(nudged)).max() < 1e-7
