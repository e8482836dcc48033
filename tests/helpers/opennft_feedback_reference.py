"""OpenNFT's feedback rules (nfbCalc.m, and preprSig.m's SVM step) transcribed from the spec, over a whole run.

Written from the description of OpenNFT's MATLAB (``opennft/matlab/nfbCalc.m``, "Continuous PSC NF",
"Intermittent PSC NF", "continuous SVM NF"; ``nfbPreprSig/preprSig.m`` for the SVM logistic;
``utils/loadJsonProtocol.m`` for the block lists), in OpenNFT's own terms: volumes t = 1..N after the
skipped ones (MATLAB's ``indVolNorm``), ``ProtCond{1}`` the baseline blocks and ``ProtCond{2}`` the
regulation blocks as lists of t, series as arrays of shape (n_rois, N) indexed by t - 1. Independent of
nfd's code (nothing from ``nfd`` is imported), so nfd's kinds can be checked against it.

Call on a whole run: ``prot = prot_cond(protocol_json, n)``; then
``continuous_psc(scaled, prot, version)``, ``intermittent_psc(kalman, scaled, lo, hi, prot, version)``
(``lo``/``hi``: OpenNFT's ``mposMin``/``mposMax``, shape (N,)), ``svm_feedback(scaled, prot, version)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np


def mround(x: float, n: int = 0) -> float:
    """MATLAB ``round(x, n)``: x * 10^n (a double) rounded half away from zero, divided by 10^n."""
    scaled = Decimal(float(x) * 10.0**n)  # the double's exact value
    return float(scaled.to_integral_value(rounding=ROUND_HALF_UP)) / 10.0**n


@dataclass(frozen=True)
class ProtCond:
    """``P.ProtCond`` and ``P.vectEncCond`` (1 baseline, 2 regulation) of an implicit-baseline protocol."""

    baseline: list[list[int]]  # ProtCond{1}: each block's t values, 1-based
    regulation: list[list[int]]  # ProtCond{2}
    vect_enc_cond: list[int]  # index t - 1


def prot_cond(protocol: str | Path, n: int) -> ProtCond:
    """loadJsonProtocol.m for one condition with an implicit baseline: OnOffsets [on, off] in t (1-based)."""
    data = json.loads(Path(protocol).read_text())
    (condition,) = data["ConditionIndex"]
    vect = [1] * n
    regulation = []
    for on, off in condition["OnOffsets"]:
        regulation.append(list(range(on, off + 1)))
        for t in range(on, off + 1):
            vect[t - 1] = 2
    baseline: list[list[int]] = []
    for t in range(1, n + 1):
        if vect[t - 1] == 1:
            if t > 1 and vect[t - 2] == 1:
                baseline[-1].append(t)
            else:
                baseline.append([t])
    return ProtCond(baseline, regulation, vect)


def _display(fb: float, version: str, max_val: float, dec: int, neg: bool, min_val: float) -> float:
    """nfbCalc's display value of a PSC feedback value (current: round and clip; 1.0: round(10000 fb)/100, [1, 100])."""
    if version == "1.0":
        disp = mround(10000.0 * fb) / 100.0
        return min(max(disp, 1.0), 100.0)
    disp = mround(max_val * fb, dec)
    if not neg and disp < 0:
        disp = 0.0
    elif neg and disp < min_val:
        disp = min_val
    if disp > max_val:
        disp = max_val
    return disp


def _roi_operation(values: list[float], operation: str) -> float:
    return float(np.median(values)) if operation == "median" else float(np.mean(values))


def continuous_psc(
    scaled: np.ndarray, prot: ProtCond, version: str = "current", max_val: float = 100.0, dec: int = 2,
    neg: bool = False, min_val: float = -100.0, roi_operation: str = "median",
) -> tuple[np.ndarray, np.ndarray]:
    """nfbCalc "Continuous PSC NF": (vectNFBs, dispValue) per t. 1.0 hard-codes median(norm_percValues)."""
    n = scaled.shape[1]
    fb_out, disp_out = np.zeros(n), np.zeros(n)
    block_nf = 0
    for t in range(1, n + 1):
        if prot.vect_enc_cond[t - 1] != 2:
            continue  # tmp_fbVal = 0, dispValue = 0
        for k, block in enumerate(prot.regulation, start=1):
            if block[0] == t:
                block_nf = k
        if block_nf < 2:
            bas = prot.baseline[block_nf - 1][-7:]
        else:
            bas = [v for i_bas in range(1, block_nf + 1) for v in prot.baseline[i_bas - 1][2:]]
        norm = [float(scaled[r, t - 1] - np.median(scaled[r, [v - 1 for v in bas]])) for r in range(scaled.shape[0])]
        fb = _roi_operation(norm, "median" if version == "1.0" else roi_operation)
        fb_out[t - 1] = fb
        disp_out[t - 1] = _display(fb, version, max_val, dec, neg, min_val)
    return fb_out, disp_out


def intermittent_psc(
    kalman: np.ndarray, scaled: np.ndarray, mpos_min: np.ndarray, mpos_max: np.ndarray, prot: ProtCond,
    version: str = "current", max_val: float = 100.0, dec: int = 2, neg: bool = False, min_val: float = -100.0,
    roi_operation: str = "median",
) -> dict[int, tuple[float, float]]:
    """nfbCalc "Intermittent PSC NF": t (the last volume of each regulation block) -> (tmp_fbVal, dispValue).

    1.0: medians of the Kalman series, each scaled by mposMin/mposMax at t, mean over ROIs,
    round(100 fb)/10 in [1, 10]. Current: medians of the scaled series scaled again, RoiAnatOperation,
    rounded and clipped as the continuous rule.
    """
    series = kalman if version == "1.0" else scaled
    out = {}
    for k, block in enumerate(prot.regulation, start=1):
        t = block[-1]
        i_nf = block[-7:]
        base = prot.baseline[k - 1]
        i_bas = base[-7:] if k < 2 else [*base[-6:], base[-1] + 1]
        lo, hi = float(mpos_min[t - 1]), float(mpos_max[t - 1])
        norm = []
        for r in range(series.shape[0]):
            m_bas = float(np.median(series[r, [v - 1 for v in i_bas]]))
            m_cond = float(np.median(series[r, [v - 1 for v in i_nf]]))
            norm.append((m_cond - lo) / (hi - lo) - (m_bas - lo) / (hi - lo))
        if version == "1.0":
            fb = float(np.mean(norm))
            disp = min(max(mround(100.0 * fb) / 10.0, 1.0), 10.0)
        else:
            fb = _roi_operation(norm, roi_operation)
            disp = _display(fb, version, max_val, dec, neg, min_val)
        out[t] = (fb, disp)
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    """MATLAB zscore: sd with n - 1; a zero sd is replaced by 1."""
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return (x - x.mean()) / (sd if sd != 0.0 else 1.0)


def svm_feedback(
    scaled: np.ndarray, prot: ProtCond, version: str = "current", max_val: float = 100.0, dec: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """preprSig's SVM step then nfbCalc "continuous SVM NF": (stored series, vectNFBs, dispValue).

    The stored series (``scalProcTimeSeries``) has each entry overwritten by the logistic of the z-score
    of the series so far, before the next volume comes. Feedback: the mean over ROIs in condition 2,
    1.0 round(10000 fb)/10000, current round(MaxFeedbackVal fb, FeedbackValDec); no clipping.
    """
    stored = np.array(scaled, dtype=np.float64)
    n = stored.shape[1]
    fb_out, disp_out = np.zeros(n), np.zeros(n)
    for t in range(1, n + 1):
        for r in range(stored.shape[0]):
            z = _zscore(stored[r, :t])
            stored[r, t - 1] = 1.0 / (1.0 + math.exp(-z[-1]))
        if prot.vect_enc_cond[t - 1] == 2:
            fb = float(np.mean(stored[:, t - 1]))
            fb_out[t - 1] = fb
            disp_out[t - 1] = mround(10000.0 * fb) / 10000.0 if version == "1.0" else mround(max_val * fb, dec)
    return stored, fb_out, disp_out
