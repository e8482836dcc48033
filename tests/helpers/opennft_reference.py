"""OpenNFT's MATLAB signal chain transcribed from its code (issue 13's spec), as references for nfd's ports.

Written from the behaviour of OpenNFT's ``opennft/matlab`` files, independent of
``nfd.timeseries``'s code (only numpy/scipy): ``utils/arRegr.m`` (:func:`ar_regr`),
``nfbPreprSig/preprSig.m``'s cumulative GLM (:func:`cglm_series`), ``nfbPreprSig/modifKalman.m``
(:func:`modif_kalman`) and preprSig's use of it (:func:`opennft_chain`),
``nfbPreprSig/scaleTimeSeries.m`` without a sliding window (:func:`matlab_limits`), SPM12's block
regressor as ``setupSPM.m`` asks for it (:func:`spm_design`), and the whole chain over a run
(:func:`preprsig_run`). Series are 0-based arrays; ``t`` in comments is MATLAB's 1-based
``indVolNorm``.

Whole run, e.g. for an end-to-end comparison with the feedback rules::

    task = spm_design(onoffsets, n, tr, t0=1)           # (n, q), the protocol's 1-based OnOffsets
    out = preprsig_run(raw, motion, task, version="current")   # raw (n,), motion (n, 6), OpenNFT's frame
    out["glm"], out["kalman"], out["scaled"], out["pos_min"], out["pos_max"], out["spikes"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
from scipy.stats import gamma

#: OpenNFT's AR(1) coefficient (setupProcParams.m, P.aAR1).
A_AR1 = 0.2
#: Kalman constants (Q, R as multiples of sd^2) by OpenNFT version: 1.0 and since 2020.
KALMAN_CONSTANTS = {"1.0": (1.0, 1.95), "current": (0.25, 1.0)}


def modif_kalman(th: float, y: float, s: SimpleNamespace, fpos: int, fneg: int) -> tuple[float, int, int]:
    """OpenNFT's modifKalman.m, line by line (A = H = I = 1); `s` holds x, P, Q, R."""
    s.x = s.x
    s.P = s.P + s.Q
    k = s.P / (s.P + s.R) if (s.P + s.R) != 0 else 0.0  # P * pinv(P + R)
    tmp_x, tmp_p = s.x, s.P
    diff = k * (y - s.x)
    s.x = s.x + diff
    s.P = (1 - k) * s.P
    if abs(diff) < th:
        return s.x, 0, 0
    if diff > 0:
        if fpos < 1:
            s.x, s.P = tmp_x, tmp_p
            return tmp_x, fpos + 1, fneg
        return s.x, 0, fneg
    if fneg < 1:
        s.x, s.P = tmp_x, tmp_p
        return tmp_x, fpos, fneg + 1
    return s.x, fpos, 0


def opennft_chain(
    y: np.ndarray, q: float = 0.25, r: float = 1.0, *, zero_sd: str = "opennft"
) -> tuple[np.ndarray, np.ndarray]:
    """preprSig.m's use: Q = q sd^2, R = r sd^2, threshold 0.9 sd, sd = std of the input so far (n - 1).

    ``zero_sd="opennft"``: sd = 0 (the first volume) runs modifKalman.m as any volume, so its
    d = 0 is not ``|d| < 0`` and takes the negative branch (held, fNeg = 1, spike -1).
    ``zero_sd="pass"``: nfd's default rule for sd = 0 (a plain update, no spike, counters 0).
    Spikes: +1 / -1 where fPos / fNeg went up (a spike held back), else 0.
    """
    s = SimpleNamespace(x=0.0, P=0.0, Q=0.0, R=0.0)
    fpos = fneg = 0
    out, spikes = [], []
    for t in range(y.size):
        sd = float(np.std(y[: t + 1], ddof=1)) if t else 0.0
        s.Q, s.R = q * sd**2, r * sd**2
        before = (fpos, fneg)
        if sd == 0.0 and zero_sd == "pass":
            value, _, _ = modif_kalman(math.inf, float(y[t]), s, fpos, fneg)
            fpos = fneg = 0
        else:
            value, fpos, fneg = modif_kalman(0.9 * sd, float(y[t]), s, fpos, fneg)
        out.append(value)
        spikes.append(1 if fpos > before[0] else -1 if fneg > before[1] else 0)
    return np.array(out), np.array(spikes)


def matlab_limits(x: np.ndarray, init_lim: float) -> tuple[float, float]:
    """scaleTimeSeries.m without a sliding window, written from the MATLAB (1-based) source."""
    n = x.size
    if n < 21:
        tmp_max, tmp_min = x.max(), x.min()
    else:
        s = np.sort(x)
        nr = math.floor(0.05 * n + 0.5)
        tmp_max = np.median(s[n - nr - 1 : n])  # s(end-nrElem:end)
        tmp_min = np.median(s[0 : nr + 1])  # s(1:nrElem+1)
    return min(tmp_min, -init_lim), max(tmp_max, init_lim)


def ar_regr(a: float, x: np.ndarray) -> np.ndarray:
    """arRegr.m: per column, out(1) = (1 - a) in(1), out(t) = in(t) - a out(t-1)."""
    x = np.asarray(x, dtype=np.float64)
    column = x.ndim == 1
    x2 = x[:, None] if column else x
    out = np.zeros_like(x2)
    for j in range(x2.shape[1]):
        out[0, j] = (1 - a) * x2[0, j]
        for t in range(1, x2.shape[0]):
            out[t, j] = x2[t, j] - a * out[t - 1, j]
    return out[:, 0] if column else out


def matlab_zscore(x: np.ndarray) -> np.ndarray:
    """MATLAB's zscore over rows: (x - mean) / std (n - 1); a column with std 0 is divided by 1."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
    sd = np.where(sd == 0, 1.0, sd)
    return (x - mu) / sd


def cglm_series(
    raw: np.ndarray,
    motion: np.ndarray,
    design: np.ndarray,
    *,
    a: float = A_AR1,
    keep: str = "all",
    first_motion: float | None = 1e-5,
) -> np.ndarray:
    """preprSig.m's cumulative GLM (PSC, cglmAR1 on), every volume of a run: glmProcTimeSeries.

    `raw` (n,) the ROI means; `motion` (n, 6) in OpenNFT's frame (relative to the first
    processed volume); `design` (n, q) the task columns *before* AR (setupProcParams.m filters
    them once over the run: ``P.spmDesign = arRegr(aAR1, ...)``); `keep` "all" (current: the
    signal-basis columns' fit kept) or "last" (1.0: ``[betaReg(1:end-1); 0]``).
    """
    n = raw.size
    q = design.shape[1]
    mot = np.array(motion, dtype=np.float64)
    if first_motion is not None:
        mot[0, :] = first_motion  # P.motCorrParam(1,:) = 0.00001
    spm_design = ar_regr(a, design) if q else design
    lin = matlab_zscore(np.arange(1, n + 1, dtype=np.float64)[:, None])[:, 0]  # P.linRegr over all N
    y_ar = ar_regr(a, raw)  # mainLoopData.tmp_rawTimeSeriesAR1, one sample added per volume
    step = q + 8  # regrStep = nrRegrDesign + nrRegrToCorrect
    out = np.zeros(n)
    for t in range(1, n + 1):
        y = y_ar[:t]
        columns = [np.ones(t)]
        if t >= step:
            columns.append(lin[:t])
        if t >= 2 * step:
            columns.extend(matlab_zscore(mot[:t]).T)
        x = ar_regr(a, np.column_stack(columns))
        if t >= 3 * step and q:
            x = np.hstack([x, spm_design[:t]])
            beta = np.linalg.pinv(x) @ y
            zeroed = beta.copy()
            if keep == "last":
                zeroed[-1] = 0.0
            else:
                zeroed[-q:] = 0.0
            out[t - 1] = (y - x @ zeroed)[-1]
        else:
            beta = np.linalg.pinv(x) @ y
            out[t - 1] = (y - x @ beta)[-1]
    return out


def scale_series(kalman: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scaleTimeSeries.m every volume (no sliding window): scaled, posMin, posMax; initLim = 0.005 mean(raw)."""
    n = kalman.size
    scaled, lo, hi = np.zeros(n), np.zeros(n), np.zeros(n)
    for t in range(1, n + 1):
        init_lim = 0.005 * raw[:t].mean()
        lo[t - 1], hi[t - 1] = matlab_limits(kalman[:t], init_lim)
        scaled[t - 1] = (kalman[t - 1] - lo[t - 1]) / (hi[t - 1] - lo[t - 1])
    return scaled, lo, hi


def preprsig_run(
    raw: np.ndarray,
    motion: np.ndarray,
    design: np.ndarray,
    *,
    version: str = "current",
    first_motion: float | None = 1e-5,
) -> dict[str, np.ndarray]:
    """preprSig.m over a whole run (one ROI, PSC): AR(1) prewhitening, cGLM, modifKalman, scaling.

    `version` "current" (Q = 0.25 sd^2, R = sd^2, every task column kept) or "1.0" (Q = sd^2,
    R = 1.95 sd^2, only the last task column kept). Returns glm, kalman, spikes, scaled, pos_min,
    pos_max (one entry per volume after the skipped ones).
    """
    q, r = KALMAN_CONSTANTS[version]
    glm = cglm_series(raw, motion, design, keep="last" if version == "1.0" else "all", first_motion=first_motion)
    kalman, spikes = opennft_chain(glm, q, r, zero_sd="opennft")
    scaled, lo, hi = scale_series(kalman, raw)
    return {"glm": glm, "kalman": kalman, "spikes": spikes, "scaled": scaled, "pos_min": lo, "pos_max": hi}


def spm_canonical_hrf(dt: float, microtime: int = 16) -> np.ndarray:
    """spm_hrf(dt, [6 16 1 1 6 0 32], T): double gamma on a dt/T grid, taken every dt, divided by its sum."""
    p = [6.0, 16.0, 1.0, 1.0, 6.0, 0.0, 32.0]
    ddt = dt / microtime
    u = np.arange(0, int(np.ceil(p[6] / ddt)) + 1) - p[5] / ddt
    hrf = gamma.pdf(u, p[0] / p[2], scale=p[2] / ddt) - gamma.pdf(u, p[1] / p[3], scale=p[3] / ddt) / p[4]
    hrf = hrf[np.arange(0, int(np.floor(p[6] / dt)) + 1) * microtime]
    return hrf / hrf.sum()


def spm_design(
    onoffsets: Sequence[Sequence[tuple[int, int]]], n_scans: int, tr: float, *, t0: int = 1, microtime: int = 16
) -> np.ndarray:
    """SPM12's regressors for setupSPM.m's call: UNITS 'scans', ons = on, dur = off - on + 1.

    spm_get_ons.m: ton = round(ons TR/dt) + 33, tof = round(dur TR/dt) + ton + 1 (1-based bins),
    sf(ton) += 1, sf(tof) -= 1 in k T + 128 bins, cumsum, cut to k T + 32; spm_Volterra.m:
    conv(sf, bf) cut to length(sf); spm_fMRI_design.m: X((0:k-1) T + T0 + 32) (1-based).
    """
    dt = tr / microtime
    bf = spm_canonical_hrf(dt, microtime)
    out = np.zeros((n_scans, len(onoffsets)))
    for column, blocks in enumerate(onoffsets):
        sf = np.zeros(n_scans * microtime + 128)
        for on, off in blocks:
            ton = round(on * tr / dt) + 33
            tof = round((off - on + 1) * tr / dt) + ton + 1
            if sf.size > ton:
                sf[ton - 1] += 1.0
            if sf.size > tof:
                sf[tof - 1] -= 1.0
        sf = np.cumsum(sf)[: n_scans * microtime + 32]
        x = np.convolve(sf, bf)[: sf.size]
        out[:, column] = x[np.arange(n_scans) * microtime + t0 + 32 - 1]
    return out
