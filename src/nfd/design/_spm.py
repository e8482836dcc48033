"""Block task regressors built the way SPM12 builds them for OpenNFT (onsets in scans, microtime sampling)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nfd._checks import ensure_float, ensure_int
from nfd.design._design import Design
from nfd.design._errors import DesignError
from nfd.design._hrf import SPM_HRF_PARAMETERS, spm_hrf

__all__ = ["opennft_onoffsets", "spm_block_regressors"]

#: SPM's offset of the stimulus function, microtime bins (``spm_get_ons.m``: "32 bin offset").
_SPM_OFFSET_BINS = 32


def opennft_onoffsets(design: Design) -> list[list[tuple[int, int]]]:
    """The design's blocks as OpenNFT protocol ``OnOffsets``: 1-based ``[on, off]`` after the skipped volumes.

    The inverse of reading an OpenNFT protocol JSON
    (:func:`nfd.design.load_protocol`): a block of acquisition indices
    ``first .. last`` (0-based, skipped volumes included) is
    ``(first - skip + 1, last - skip + 1)``, both ends included.

    Parameters
    ----------
    design : Design
        The run's design.

    Returns
    -------
    list of list of (int, int)
        One list per non-baseline condition, in the order of
        :attr:`Design.conditions` (empty for a condition without blocks).

    Examples
    --------
    >>> from nfd.design import Design, opennft_onoffsets
    >>> opennft_onoffsets(Design.from_blocks(40, [("UP", 15, 24), ("UP", 30, 34)], skip_volumes=5))
    [[(11, 20), (26, 30)]]
    """
    skip = design.skip_volumes
    out: list[list[tuple[int, int]]] = [[] for _ in design.conditions]
    column = {name: k for k, name in enumerate(design.conditions)}
    for name, first, last in design.blocks:
        if name in column:
            out[column[name]].append((first - skip + 1, last - skip + 1))
    return out


def _stimulus_bins(blocks: Sequence[tuple[int, int]], n_bins: int, microtime: int) -> np.ndarray:
    """SPM's ``spm_get_ons`` stimulus function (0-based bins) for blocks of scans, on as a 0-based scan."""
    edges = np.zeros(n_bins + 96, dtype=np.float64)  # SPM: k T + 128 bins before the cut to k T + 32
    for on, off in blocks:
        start = round(on * microtime) + _SPM_OFFSET_BINS  # SPM 1-based ton = round(ons TR/dt) + 33
        stop = round((off - on + 1) * microtime) + start + 1  # tof = round(dur TR/dt) + ton + 1
        edges[max(start, 0)] += 1.0
        if stop < edges.size:
            edges[max(stop, 0)] -= 1.0
    return np.cumsum(edges)[:n_bins]


def spm_block_regressors(
    onoffsets: Sequence[Sequence[tuple[int, int]]],
    n_scans: int,
    tr: float,
    *,
    t0: int = 1,
    microtime: int = 16,
    p: Sequence[float] = SPM_HRF_PARAMETERS,
) -> np.ndarray:
    """Block regressors as SPM12 builds them from OpenNFT's protocol (one scan late, as OpenNFT's).

    OpenNFT (``opennft/matlab/setupSPM.m``) hands its protocol's 1-based
    ``OnOffsets`` to SPM12 with ``UNITS = 'scans'``, ``ons = on`` and
    ``dur = off - on + 1``; SPM reads onsets in scans as 0-based scan times,
    so a block labelled from volume ``on`` starts at ``on * tr`` seconds
    after the first processed volume: one scan after that volume's start
    (a quirk kept here). Then, as SPM12's ``spm_get_ons.m``,
    ``spm_Volterra.m`` and ``spm_fMRI_design.m``: on a grid of
    ``dt = tr / microtime`` seconds, the stimulus is 1 from bin
    ``round(on microtime) + 32`` (0-based; SPM's 1-based ``+ 33``) for
    ``round(dur microtime) + 1`` bins (SPM's extra bin), convolved with
    ``spm_hrf(dt)`` (the canonical HRF sampled every ``dt``, divided by its
    sum) and sampled at bin ``j microtime + t0 + 31`` (0-based; SPM's
    ``(0:N-1) T + T0 + 32``) for scan ``j``: ``t0 = 1`` samples the scan's
    start (OpenNFT since 2019, "We assume T0=1 does not introduce shift"),
    ``t0 = 8`` 7/16 of a scan later (SPM's default, OpenNFT's 2019 inline
    design ``matlab/setupProcParams.m``). A sustained block converges to 1.

    Parameters
    ----------
    onoffsets : sequence of sequences of (int, int)
        Per regressor (condition), its blocks ``(on, off)``: OpenNFT's
        1-based protocol volume numbers after the skipped volumes, both ends
        included (see :func:`opennft_onoffsets`).
    n_scans : int
        Number of scans to sample (OpenNFT's ``NrOfVolumes - nrSkipVol``), >= 1.
    tr : float
        Repetition time, seconds, > 0.
    t0 : int
        SPM's ``fMRI_T0``, the sampled microtime bin, 1 to `microtime`.
    microtime : int
        SPM's ``fMRI_T``, bins per scan, >= 1 (16).
    p : sequence of 7 floats
        HRF parameters (see :func:`nfd.design.spm_hrf`).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_scans, len(onoffsets))``, row ``j`` for the
        0-based scan ``j`` after the skipped volumes (unitless).

    Raises
    ------
    DesignError
        If a block is not a pair of integers with ``on <= off``, or
        `n_scans`, `tr`, `t0`, `microtime` or `p` is invalid.

    Examples
    --------
    >>> from nfd.design import spm_block_regressors
    >>> x = spm_block_regressors([[(11, 60)]], 60, 2.0)
    >>> x.shape, float(x[11, 0]), round(float(x[59, 0]), 4)
    ((60, 1), 0.0, 1.0)
    """
    n = ensure_int(n_scans, "spm_block_regressors: n_scans", minimum=1, error=DesignError)
    bins = ensure_int(microtime, "spm_block_regressors: microtime (bins per scan)", minimum=1, error=DesignError)
    first = ensure_int(t0, "spm_block_regressors: t0 (microtime bin)", minimum=1, error=DesignError)
    if first > bins:
        raise DesignError(f"spm_block_regressors: t0 must be 1 to microtime ({bins}), got {first}")
    seconds = ensure_float(tr, "spm_block_regressors: tr (seconds)", positive=True, error=DesignError)
    kernel = spm_hrf(seconds / bins, p)
    n_bins = n * bins + _SPM_OFFSET_BINS
    picks = np.arange(n) * bins + first + _SPM_OFFSET_BINS - 1
    out = np.zeros((n, len(onoffsets)), dtype=np.float64)
    for column, blocks in enumerate(onoffsets):
        pairs = [_checked_block(column, block) for block in blocks]
        stimulus = _stimulus_bins(pairs, n_bins, bins)
        out[:, column] = np.convolve(stimulus, kernel)[:n_bins][picks]
    return out


def _checked_block(column: int, block: object) -> tuple[int, int]:
    """`block` as ``(on, off)`` integers with ``on <= off``, else :class:`DesignError`."""
    if isinstance(block, Sequence) and len(block) == 2:
        on, off = block
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (on, off)) and on <= off:
            return int(on), int(off)
    raise DesignError(
        f"spm_block_regressors: regressor {column}: a block must be (on, off) integers with on <= off, got {block!r}"
    )
