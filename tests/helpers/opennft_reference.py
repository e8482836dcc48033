"""OpenNFT's MATLAB routines transcribed line by line (modifKalman.m, preprSig.m's use of it,
scaleTimeSeries.m), as references for nfd's ports in ``nfd.timeseries``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np


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


def opennft_chain(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """preprSig.m's use: Q = 0.25 sd^2, R = sd^2, threshold 0.9 sd, sd = std of the input so far."""
    s = SimpleNamespace(x=0.0, P=0.0, Q=0.0, R=0.0)
    fpos = fneg = 0
    out, spikes = [], []
    for t in range(y.size):
        sd = float(np.std(y[: t + 1], ddof=1)) if t else 0.0
        s.Q, s.R = 0.25 * sd**2, sd**2
        before = (fpos, fneg)
        if sd == 0.0:  # nfd's rule for an undefined SD: a plain update, no spike
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
