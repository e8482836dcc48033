"""SPM's canonical HRF as :mod:`nfd.timeseries` has exported it, raising :class:`TimeseriesError`.

The HRF belongs to the run design (:mod:`nfd.design` convolves its
conditions with it); these two functions keep ``nfd.timeseries.spm_hrf``
and ``nfd.timeseries.hrf_regressor`` working as before, their bad
arguments raising :class:`TimeseriesError` with the same messages. New
code imports them from :mod:`nfd.design`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from nfd import design as _design
from nfd.design import SPM_HRF_PARAMETERS, DesignError
from nfd.timeseries._errors import TimeseriesError

__all__ = ["SPM_HRF_PARAMETERS", "hrf_regressor", "spm_hrf"]


def spm_hrf(tr: float, p: Sequence[float] = SPM_HRF_PARAMETERS, oversampling: int = 16) -> np.ndarray:
    """:func:`nfd.design.spm_hrf`, raising :class:`TimeseriesError` for bad arguments.

    Examples
    --------
    >>> from nfd.timeseries import spm_hrf
    >>> spm_hrf(1.0).shape
    (33,)
    """
    try:
        return _design.spm_hrf(tr, p, oversampling)
    except DesignError as exc:
        raise TimeseriesError(str(exc)) from None


def hrf_regressor(
    onsets: ArrayLike,
    durations: ArrayLike,
    amplitudes: ArrayLike | None,
    n_volumes: int,
    tr: float,
    *,
    p: Sequence[float] = SPM_HRF_PARAMETERS,
    oversampling: int = 16,
) -> np.ndarray:
    """:func:`nfd.design.hrf_regressor`, raising :class:`TimeseriesError` for bad arguments."""
    try:
        return _design.hrf_regressor(onsets, durations, amplitudes, n_volumes, tr, p=p, oversampling=oversampling)
    except DesignError as exc:
        raise TimeseriesError(str(exc)) from None
