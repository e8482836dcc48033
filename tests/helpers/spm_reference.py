"""SPM's functions written from their definitions, as references for nfd's ports (no SPM code is copied)."""

from __future__ import annotations

import math

import numpy as np


def spm_dctmtx(n: int, k: int) -> np.ndarray:
    """SPM's spm_dctmtx(N, K), written from its definition (columns 0..K-1)."""
    out = np.zeros((n, k))
    t = np.arange(n)
    out[:, 0] = 1.0 / math.sqrt(n)
    for j in range(1, k):
        out[:, j] = math.sqrt(2.0 / n) * np.cos(math.pi * (2 * t + 1) * j / (2 * n))
    return out
