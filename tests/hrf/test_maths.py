"""Known answers of the HRF estimator's maths: FIR columns, drifts, basis, fits, activity test, shape."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nfd.design import spm_hrf
from nfd.hrf import hrf_shape
from nfd.hrf._design import canonical_basis, drift_basis, fir_design, hrf_knots, second_difference_penalty
from nfd.hrf._fit import fit_r1glm, fit_shared_hrf, parcel_activity


def _gamma_hrf(t: np.ndarray, peak_s: float) -> np.ndarray:
    """A test HRF written here: gamma of mode `peak_s` minus a late gamma, peak 1."""
    h = stats.gamma.pdf(t, peak_s + 1.0, scale=1.0) - stats.gamma.pdf(t, 16.0, scale=1.0) / 6.0
    return h / h.max()


def test_fir_columns_of_an_off_grid_impulse_interpolate_the_hrf_linearly() -> None:
    knots = hrf_knots(1.0, 20.0)
    h = np.random.default_rng(0).standard_normal(knots.size)
    X = fir_design([3.3], [0.0], [2.0], n_scans=30, tr=2.0, knots=knots)
    lag = np.arange(30) * 2.0 - 3.3
    # the hats: h_k at knot k, linear between knots, back to 0 one knot before the first and after the last
    expected = 2.0 * np.interp(lag, np.r_[-1.0, knots, 21.0], np.r_[0.0, h, 0.0])
    np.testing.assert_allclose(X @ h, expected, atol=1e-12)


def test_a_block_is_the_integral_of_impulses() -> None:
    knots = hrf_knots(1.2, 24.0)
    block = fir_design([10.0], [6.0], [1.0], n_scans=40, tr=2.4, knots=knots)
    step = 0.001
    impulses = fir_design(np.arange(10.0, 16.0, step) + step / 2, np.zeros(6000), np.full(6000, step),
                          n_scans=40, tr=2.4, knots=knots)  # fmt: skip
    np.testing.assert_allclose(block, impulses, atol=1e-6)


def test_drifts_are_orthonormal_and_span_what_they_say() -> None:
    P = drift_basis(100, 2.0, "poly")
    np.testing.assert_allclose(P.T @ P, np.eye(5), atol=1e-12)
    x = np.linspace(-1, 1, 100)
    cubic = 1 + x - 2 * x**3
    np.testing.assert_allclose(P @ (P.T @ cubic), cubic, atol=1e-10)
    C = drift_basis(100, 2.0, "cos")  # 128 s cut-off over 200 s: the constant and 3 cosines (spm_dctmtx)
    assert C.shape == (100, 4)
    slow = np.cos(np.pi * 2 * (2 * np.arange(100) + 1) / 200)
    np.testing.assert_allclose(C @ (C.T @ slow), slow, atol=1e-10)


def test_the_informed_basis_starts_with_spm_canonical() -> None:
    knots = hrf_knots(0.5, 32.0)
    basis = canonical_basis(knots)
    canonical = spm_hrf(0.5)
    assert np.corrcoef(basis[:, 0], canonical[: knots.size])[0, 1] > 0.99999
    norms = np.linalg.norm(basis, axis=0)
    cosines = (basis.T @ basis) / np.outer(norms, norms)
    # orthogonalised on SPM's fine grid (0.05 s here), so nearly orthogonal at the knots
    assert np.abs(cosines[np.triu_indices(3, 1)]).max() < 1e-3


def test_the_penalty_is_the_second_difference_energy() -> None:
    R = second_difference_penalty(6)
    h = np.array([0.0, 1.0, 3.0, 2.0, -1.0, 0.5])
    assert h @ R @ h == pytest.approx(float((np.diff(h, 2) ** 2).sum()))


def _parcel(peak_s: float, amplitudes: tuple[float, float], n_voxels: int, seed: int, snr: float = 1.0) -> dict:
    """A parcel simulated here with numpy: two conditions of impulses, per-voxel spread, white noise."""
    rng = np.random.default_rng(seed)
    tr, n = 2.0, 240
    onsets = [np.sort(rng.uniform(0, n * tr - 30, 30)) for _ in range(2)]
    fine = 0.01
    kernel = _gamma_hrf(np.arange(0, 25, fine), peak_s)
    grid = np.arange(0, n * tr, fine)
    signal = np.zeros((n, n_voxels))
    for c in range(2):
        u = np.zeros(grid.size)
        np.add.at(u, np.round(onsets[c] / fine).astype(int), 1.0)
        response = np.convolve(u, kernel)[: grid.size][:: round(tr / fine)]
        signal += np.outer(response, amplitudes[c] * (1 + 0.1 * rng.standard_normal(n_voxels)))
    noise = rng.standard_normal((n, n_voxels)) * signal.std(axis=0) / snr
    knots = hrf_knots(1.0, 25.0)
    P = drift_basis(n, tr, "poly")
    Y = signal + noise
    X = np.stack([fir_design(o, np.zeros(o.size), np.ones(o.size), n, tr, knots) for o in onsets])
    return {"Y": Y - P @ (P.T @ Y), "X": np.stack([x - P @ (P.T @ x) for x in X]), "knots": knots,
            "truth": _gamma_hrf(knots, peak_s), "dof": n - P.shape[1] - 2, "n_drifts": P.shape[1]}


def _fir_operators(n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    B = np.eye(n_knots)[:, 1:-1]
    return B, B.T @ second_difference_penalty(n_knots) @ B


@pytest.mark.parametrize("peak_s", [4.0, 5.5, 7.0])
def test_a_shared_fir_recovers_the_parcel_hrf_and_the_amplitudes(peak_s: float) -> None:
    p = _parcel(peak_s, (2.0, -1.0), n_voxels=40, seed=int(peak_s * 10))
    B, R = _fir_operators(p["knots"].size)
    fit = fit_shared_hrf(p["Y"], p["X"], B, R, canonical_basis(p["knots"])[:, 0], dof=p["dof"])
    assert np.corrcoef(fit.hrf, p["truth"])[0, 1] > 0.99
    truth_peak = hrf_shape(np.arange(0, 25, 0.01), _gamma_hrf(np.arange(0, 25, 0.01), peak_s)).time_to_peak_s
    assert abs(hrf_shape(p["knots"], fit.hrf).time_to_peak_s - truth_peak) < 0.3
    np.testing.assert_allclose(fit.amplitudes.mean(axis=1), [2.0, -1.0], atol=0.2)


def test_the_rank_one_glm_tells_two_hrfs_apart_inside_one_parcel() -> None:
    early = _parcel(4.0, (2.0, 1.0), n_voxels=30, seed=1, snr=3.0)
    late = _parcel(7.0, (2.0, 1.0), n_voxels=30, seed=1, snr=3.0)  # the same events (same seed)
    Y = np.hstack([early["Y"], late["Y"]])
    B, R = _fir_operators(early["knots"].size)
    fit = fit_r1glm(Y, early["X"], B, R, canonical_basis(early["knots"])[:, 0], dof=early["dof"])
    assert fit.voxel_hrfs is not None
    peaks = np.array([hrf_shape(early["knots"], fit.voxel_hrfs[:, j]).time_to_peak_s for j in range(60)])
    assert abs(np.median(peaks[:30]) - 4.0) < 0.5 and abs(np.median(peaks[30:]) - 7.0) < 0.5
    assert np.all(fit.amplitudes > 0)


def test_the_activity_test_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(3)
    p = _parcel(5.0, (1.0, 1.0), n_voxels=2, seed=3)
    design = np.column_stack([x @ canonical_basis(p["knots"]) for x in p["X"]])
    n = p["Y"].shape[0]
    P = drift_basis(n, 2.0, "poly")
    pvalues = []
    for _ in range(300):
        y = rng.standard_normal(n)
        pvalues.append(parcel_activity(y - P @ (P.T @ y), design, p["n_drifts"])[1])
    assert 0.02 <= np.mean(np.array(pvalues) < 0.05) <= 0.09  # 300 draws: 0.05 +- 2.5 SD
    assert stats.kstest(pvalues, "uniform").pvalue > 0.001


def test_hrf_shape_reads_the_peak_and_width_of_a_gaussian_and_the_undershoot() -> None:
    t = np.arange(0.0, 30.0, 1.0)
    shape = hrf_shape(t, np.exp(-0.5 * ((t - 6.3) / 2.0) ** 2) - 0.2 * np.exp(-0.5 * ((t - 16.0) / 3.0) ** 2))
    assert shape.time_to_peak_s == pytest.approx(6.3, abs=0.03)
    assert shape.fwhm_s == pytest.approx(2 * np.sqrt(2 * np.log(2)) * 2.0, abs=0.05)
    assert shape.undershoot == pytest.approx(-0.2, abs=0.01)
    assert shape.undershoot_time_s == pytest.approx(16.0, abs=0.1)
