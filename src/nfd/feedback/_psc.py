"""Percent signal change of an ROI signal against its baseline (OpenNFT's continuous PSC)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_int
from nfd.design import Design, DesignError

__all__ = ["ContinuousPSC", "percent_signal_change"]


def _psc_from_mean(value: float, mean: float) -> float:
    if mean == 0.0 or not math.isfinite(mean):
        return 0.0
    return 100.0 * (value - mean) / mean


def percent_signal_change(value: float, baseline_values: ArrayLike) -> float:
    """Percent signal change of `value` relative to the mean of `baseline_values`.

    ``100 * (value - mean(b)) / mean(b)``, the usual definition (e.g. Weiskopf
    et al., 2004, J Physiol Paris 98:357; OpenNFT, Koush et al., 2017,
    NeuroImage 156:489).

    Parameters
    ----------
    value : float
        The current signal (any unit, e.g. scanner units).
    baseline_values : array_like
        Signal values of the reference baseline, same unit.

    Returns
    -------
    float
        Percent (100 = doubling). 0.0 when the baseline is empty or its mean
        is zero or not finite; NaN when `value` is NaN. A negative baseline
        mean flips the sign, as the formula says.

    Examples
    --------
    >>> from nfd.feedback import percent_signal_change
    >>> percent_signal_change(102.0, [99.0, 100.0, 101.0])
    2.0
    >>> percent_signal_change(5.0, [])
    0.0
    """
    b = np.asarray(baseline_values, dtype=np.float64).ravel()
    if b.size == 0:
        return 0.0
    return _psc_from_mean(float(value), float(b.sum() / b.size))


def _check_delay(delay: object) -> int:
    try:
        return ensure_int(delay, "delay", minimum=0, error=DesignError)
    except DesignError:
        raise DesignError(f"delay must be a number of volumes >= 0, got {delay!r}") from None


class ContinuousPSC:
    """Continuous percent-signal-change feedback of one ROI signal, volume by volume.

    The reference of a volume is the mean of the signal over a baseline
    block, counted from its `delay`-th volume (0-based) so that the
    haemodynamic response to the preceding regulation block has decayed
    (OpenNFT's continuous PSC, Koush et al., 2017, NeuroImage 156:489, which
    drops the first two volumes of each baseline block):

    - in a regulation (non-baseline) block, the preceding baseline block;
    - in a baseline block, that block so far (up to the current volume).

    Skipped initial volumes never count; in the first baseline block the
    delay counts from the first volume after them. Volumes never passed to
    :meth:`update` (dropped, or not finite) are missing: the reference uses
    the ones seen; when a block has none, the nearest earlier baseline block
    with values serves instead. While no baseline value has been seen at
    all, the feedback is 0.0.

    Only :meth:`update` changes state; one instance follows one ROI and is
    not meant to be shared between threads without a lock.

    Parameters
    ----------
    design : Design
        The run's design.
    delay : int
        Volumes dropped at the start of every baseline block (>= 0).

    Raises
    ------
    DesignError
        If `delay` is not a non-negative integer.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import ContinuousPSC
    >>> design = Design.from_blocks(8, [("UP", 4, 7)])
    >>> psc = ContinuousPSC(design, delay=2)
    >>> [psc.update(i, v) for i, v in enumerate([500.0, 300.0, 100.0, 100.0])]
    [0.0, 0.0, 0.0, 0.0]
    >>> psc.update(4, 102.0)
    2.0
    """

    __slots__ = ("_baseline_blocks", "_delay", "_design", "_first_eligible", "_previous_baseline", "_values")

    def __init__(self, design: Design, delay: int = 2) -> None:
        if not isinstance(design, Design):
            raise DesignError(f"design must be an nfd.design.Design, got {type(design).__name__}")
        self._design = design
        self._delay = _check_delay(delay)
        self._values = np.full(design.n_volumes, np.nan)
        blocks = design.blocks
        # per block: first index whose value may enter the baseline reference
        self._first_eligible = [
            max(first, design.skip_volumes) + self._delay if condition == design.baseline else -1
            for condition, first, _last in blocks
        ]
        self._baseline_blocks = [
            number for number, (condition, _first, _last) in enumerate(blocks) if condition == design.baseline
        ]
        # per block: the baseline block a volume of it refers to (itself when baseline), or -1
        previous: list[int] = []
        last_baseline = -1
        for number, (condition, _first, _last) in enumerate(blocks):
            if condition == design.baseline:
                last_baseline = number
            previous.append(last_baseline)
        self._previous_baseline = previous

    @property
    def design(self) -> Design:
        """The run's design."""
        return self._design

    @property
    def delay(self) -> int:
        """Volumes dropped at the start of every baseline block."""
        return self._delay

    @property
    def values(self) -> np.ndarray:
        """Copy of the values seen so far, NaN where missing, shape (n_volumes,)."""
        return self._values.copy()

    def _block_mean(self, block: int, up_to: int) -> float:
        _condition, _first, last = self._design.blocks[block]
        start = self._first_eligible[block]
        stop = min(last, up_to) + 1
        if start >= stop:
            return math.nan
        window = self._values[start:stop]
        seen = window[~np.isnan(window)]
        return float(seen.sum() / seen.size) if seen.size else math.nan

    def reference(self, index: int) -> float:
        """Mean of the baseline values that volume `index` is compared with.

        Parameters
        ----------
        index : int
            0-based acquisition index.

        Returns
        -------
        float
            The reference mean (signal units), NaN while there is none.

        Raises
        ------
        VolumeIndexError
            If `index` is outside the design.
        """
        block = self._design.block_number(index)
        candidate = self._previous_baseline[block]
        up_to = index
        while candidate >= 0:
            mean = self._block_mean(candidate, up_to)
            if not math.isnan(mean):
                return mean
            position = self._baseline_blocks.index(candidate)
            candidate = self._baseline_blocks[position - 1] if position > 0 else -1
            up_to = self._design.n_volumes
        return math.nan

    def update(self, index: int, roi_value: float) -> float:
        """Record the ROI value of volume `index` and return its percent signal change.

        Parameters
        ----------
        index : int
            0-based acquisition index (skipped volumes included). Passing an
            index again replaces its value.
        roi_value : float
            The ROI signal of the volume (e.g. its mean, scanner units).

        Returns
        -------
        float
            Percent signal change against the reference (see the class).
            0.0 for a skipped volume; else NaN when `roi_value` is not finite
            (it is then recorded as missing); else 0.0 while there is no
            reference.

        Raises
        ------
        VolumeIndexError
            If `index` is outside the design.
        """
        self._design.block_number(index)  # raises VolumeIndexError outside the design
        value = float(roi_value)
        self._values[index] = value if math.isfinite(value) else math.nan
        if index < self._design.skip_volumes:
            return 0.0
        if not math.isfinite(value):
            return math.nan
        mean = self.reference(index)
        return 0.0 if math.isnan(mean) else _psc_from_mean(value, mean)
