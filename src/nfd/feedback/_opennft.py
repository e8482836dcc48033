"""OpenNFT's feedback rules as pure functions: its block index sets, medians, rounding and SVM logistic.

Each rule is read from OpenNFT's MATLAB (``opennft/matlab/nfbCalc.m`` and
``opennft/matlab/nfbPreprSig/preprSig.m``, github.com/OpenNFT/OpenNFT;
Koush et al., 2017, NeuroImage 156:489) and written here from its
description, not copied. OpenNFT counts volumes after the skipped ones
from 1 (``indVolNorm``); nfd's are 0-based acquisition indices, skipped
volumes included: OpenNFT's volume t is nfd's ``skip + t - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nfd.design import Design
from nfd.feedback._errors import FeedbackError

__all__ = [
    "OpenNFTBlocks",
    "matlab_round",
    "median_at",
    "svm_logistic",
]

#: Volumes at the end of a block that OpenNFT's block rules read (``end-6:end``).
_TAIL = 7


def matlab_round(value: float, decimals: int = 0) -> float:
    """MATLAB's ``round(x, n)``: to `decimals` digits, halves away from zero.

    Python's :func:`round` rounds halves to even (``round(2.5) == 2``) and
    works on the binary value (``round(0.125, 2) == 0.12``); MATLAB (and
    OpenNFT's displayed feedback, ``round(MaxFeedbackVal*fb,
    FeedbackValDec)`` in ``opennft/matlab/nfbCalc.m``) gives 3 and 0.13.
    The value is multiplied by ``10**decimals``, rounded half away from
    zero, and divided back.

    Parameters
    ----------
    value : float
        Any number; NaN and infinities come back unchanged.
    decimals : int
        Digits after the point, 0 to 15.

    Returns
    -------
    float

    Examples
    --------
    >>> from nfd.feedback import matlab_round
    >>> matlab_round(0.125, 2), matlab_round(2.5), matlab_round(-0.5), matlab_round(-2.45, 1)
    (0.13, 3.0, -1.0, -2.5)
    """
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= 15:
        raise FeedbackError(f"decimals must be an integer from 0 to 15, got {decimals!r}")
    x = float(value)
    if not math.isfinite(x):
        return x
    scale = 10.0 ** int(decimals)
    y = abs(x) * scale
    whole = math.floor(y)
    if y - whole >= 0.5:  # exact: the fraction of a float is a float
        whole += 1
    return math.copysign(whole / scale, x) if whole else 0.0


def median_at(values: ArrayLike, indices: Sequence[int]) -> float:
    """Median of `values` at `indices`, missing (NaN) ones left out; NaN when none is left.

    Parameters
    ----------
    values : array_like
        One series over the run (any unit), NaN where a volume is missing.
    indices : sequence of int
        0-based volume indices.

    Examples
    --------
    >>> from nfd.feedback._opennft import median_at
    >>> median_at([1.0, float("nan"), 5.0, 2.0], [0, 1, 2, 3])
    2.0
    """
    arr = np.asarray(values, dtype=np.float64)[np.asarray(indices, dtype=np.intp)]
    seen = arr[~np.isnan(arr)]
    return float(np.median(seen)) if seen.size else math.nan


def _zscore_last(history: np.ndarray) -> float:
    """The last element of MATLAB's ``zscore`` of `history` (sd with n - 1; a zero sd divides by 1)."""
    n = history.size
    mean = float(history.sum() / n)
    sd = float(np.sqrt(((history - mean) ** 2).sum() / (n - 1))) if n > 1 else 0.0
    return (float(history[-1]) - mean) / (sd if sd != 0.0 else 1.0)


def svm_logistic(history: np.ndarray, value: float) -> tuple[np.ndarray, float]:
    """One volume of OpenNFT's SVM rule: z-score the stored series with `value`, logistic of the last.

    OpenNFT (``opennft/matlab/nfbPreprSig/preprSig.m``, SVM branch) z-scores
    the scaled series so far and *overwrites* the current entry with
    ``1 / (1 + exp(-z))``; the history a later volume z-scores holds those
    logistic outputs, only its own entry being the scaled value. Kept as is.

    Parameters
    ----------
    history : numpy.ndarray
        The stored series before this volume (logistic outputs, unitless).
    value : float
        This volume's scaled value (unitless), finite.

    Returns
    -------
    (numpy.ndarray, float)
        The new stored series (`history` with the logistic appended) and the
        logistic, in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.feedback._opennft import svm_logistic
    >>> h, first = svm_logistic(np.empty(0), 0.7)  # one value: z = 0
    >>> first, round(svm_logistic(h, 0.9)[1], 6)
    (0.5, 0.669762)
    """
    series = np.append(np.asarray(history, dtype=np.float64), float(value))
    out = 1.0 / (1.0 + math.exp(-_zscore_last(series)))
    series[-1] = out
    return series, out


@dataclass(frozen=True)
class _Block:
    first: int  # 0-based, the first volume after the skipped ones
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def tail(self, n: int) -> list[int]:
        return list(range(max(self.first, self.last - n + 1), self.last + 1))


class OpenNFTBlocks:
    """OpenNFT's numbering of a design's blocks, and the volumes each feedback rule reads.

    OpenNFT numbers the baseline blocks (``ProtCond{1}``) and the
    regulation blocks (``ProtCond{2}``) separately, over the volumes after
    the skipped ones; regulation block k is compared with baseline blocks
    by their numbers, not by position (``opennft/matlab/nfbCalc.m``). Here
    every non-baseline block of the design is a regulation block (OpenNFT
    counts its first condition's only: the same with one regulation
    condition).

    Parameters
    ----------
    design : Design
        The run's design.

    Raises
    ------
    FeedbackError
        If the design leaves no baseline or no regulation block.
    """

    def __init__(self, design: Design) -> None:
        skip = design.skip_volumes
        baseline: list[_Block] = []
        regulation: dict[int, int] = {}  # design block number -> regulation ordinal
        self._regulation: list[_Block] = []
        for number, (condition, first, last) in enumerate(design.blocks):
            if last < skip:
                continue
            block = _Block(max(first, skip), last)
            if condition == design.baseline:
                baseline.append(block)
            else:
                regulation[number] = len(self._regulation)
                self._regulation.append(block)
        if not baseline or not self._regulation:
            raise FeedbackError(
                "OpenNFT's feedback rules need a baseline and a regulation block after the skipped volumes"
            )
        self._baseline = baseline
        self._ordinal = regulation
        self._n_volumes = design.n_volumes

    @property
    def n_regulation(self) -> int:
        """Number of regulation blocks."""
        return len(self._regulation)

    def ordinal(self, block_number: int) -> int | None:
        """The regulation ordinal (0-based) of design block `block_number`, None for a baseline block."""
        return self._ordinal.get(block_number)

    def _baseline_block(self, k: int, rule: str) -> _Block:
        if k >= len(self._baseline):
            raise FeedbackError(
                f"OpenNFT's {rule} rule compares regulation block {k + 1} with baseline block {k + 1}, "
                f"but the design has {len(self._baseline)} baseline block(s) after the skipped volumes"
            )
        return self._baseline[k]

    def continuous_baseline(self, k: int) -> list[int]:
        """The baseline volumes regulation block `k` (0-based) is compared with, continuous PSC.

        Block 0: the last 7 volumes of baseline block 0; block k >= 1:
        every baseline block 0..k from its 3rd volume on, a set that grows
        over the run (``opennft/matlab/nfbCalc.m``, "Continuous PSC NF").

        Raises
        ------
        FeedbackError
            If a baseline block it needs is missing, shorter than 7 volumes
            (block 0), or not before the regulation block.
        """
        if k == 0:
            block = self._baseline_block(0, "continuous")
            if block.size < _TAIL:
                raise FeedbackError(
                    f"OpenNFT's continuous rule reads the last {_TAIL} volumes of the first baseline block, "
                    f"which has {block.size} after the skipped volumes"
                )
            indices = block.tail(_TAIL)
        else:
            indices = [i for j in range(k + 1) for i in range(self._baseline_block(j, "continuous").first + 2,
                                                               self._baseline[j].last + 1)]
        self._check_before(indices, self._regulation[k].first, "continuous", k)
        return indices

    def intermittent_sets(self, k: int) -> tuple[list[int], list[int]]:
        """The (regulation, baseline) volumes of intermittent PSC at the end of regulation block `k`.

        Regulation: the block's last 7 volumes. Baseline: the last 7 of
        baseline block 0 (k = 0), else the last 6 of baseline block k and
        the volume after it (``opennft/matlab/nfbCalc.m``, "Intermittent PSC
        NF"); not cumulative.

        Raises
        ------
        FeedbackError
            If a block is too short, missing, or the baseline set reaches
            past the regulation block's end.
        """
        block = self._regulation[k]
        base = self._baseline_block(k, "intermittent")
        needed = _TAIL if k == 0 else _TAIL - 1
        if block.size < _TAIL or base.size < needed:
            raise FeedbackError(
                f"OpenNFT's intermittent rule reads the last {_TAIL} volumes of regulation block {k + 1} "
                f"({block.size}) and the last {needed} of baseline block {k + 1} ({base.size})"
            )
        baseline = base.tail(_TAIL) if k == 0 else [*base.tail(_TAIL - 1), base.last + 1]
        self._check_before(baseline, block.last + 1, "intermittent", k)
        return block.tail(_TAIL), baseline

    def _check_before(self, indices: Sequence[int], stop: int, rule: str, k: int) -> None:
        if max(indices) >= min(stop, self._n_volumes):
            raise FeedbackError(
                f"OpenNFT's {rule} rule would compare regulation block {k + 1} with later volumes "
                f"(up to {max(indices)}): its baseline block must come before it"
            )

    def validate(self, rule: str) -> None:
        """Every regulation block's sets of `rule` ("continuous" or "intermittent"), so errors come at once."""
        for k in range(self.n_regulation):
            if rule == "continuous":
                self.continuous_baseline(k)
            else:
                self.intermittent_sets(k)
