"""ROI signals and head-motion summaries: the volume -> number step of nfd.

This subpackage owns:

- :class:`RoiSet`: named binary masks on the EPI grid, read from NIfTI files
  (refused unless on the EPI grid) or built from arrays, and the mean signal
  in each ROI of a volume (:meth:`RoiSet.means`, microseconds per call);
- :func:`framewise_displacement` and :func:`framewise_displacement_series`:
  Power et al.'s (2012) framewise displacement from SPM-convention motion
  parameters (mm, radians);
- :func:`spm_hrf`: SPM's canonical double-gamma haemodynamic response.

Every function is pure and thread-safe; errors are :class:`TimeseriesError`
(a :class:`ValueError`), :class:`RoiError` for ROI masks.
"""

from __future__ import annotations

from nfd.timeseries._displacement import framewise_displacement, framewise_displacement_series
from nfd.timeseries._errors import RoiError, TimeseriesError
from nfd.timeseries._hrf import SPM_HRF_PARAMETERS, spm_hrf
from nfd.timeseries._roi import RoiSet

__all__ = [
    "SPM_HRF_PARAMETERS",
    "RoiError",
    "RoiSet",
    "TimeseriesError",
    "framewise_displacement",
    "framewise_displacement_series",
    "spm_hrf",
]
