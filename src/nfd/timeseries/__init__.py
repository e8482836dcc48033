"""ROI signals, their real-time processing and quality: the volume -> number step of nfd.

This subpackage owns:

- :class:`RoiSet`: named binary masks on the EPI grid, read from NIfTI files
  (refused unless on the EPI grid) or built from arrays, and the mean signal
  in each ROI of a volume (:meth:`RoiSet.means`, microseconds per call);
- :class:`SignalChain`: per-ROI signal processing after OpenNFT's (its
  rules selectable with :class:`ChainOptions`), causal, one
  volume at a time, every intermediate kept (:class:`ChainStep`,
  :meth:`SignalChain.table`): the cumulative GLM (:func:`glm_stage`,
  :func:`nuisance_regressors`, :func:`dct_highpass`, :func:`glm_clean`),
  the AR(1) filter (:func:`ar1_filter`, :func:`ar1_filter_columns`), the modified Kalman despiker
  (:func:`kalman_step`, :func:`kalman_despike`) and dynamic scaling
  (:func:`scaling_limits`, :func:`scale_value`);
- :class:`IncrementalGLM` and :class:`WholeBrainDesign`: the whole-brain
  GLM updated every volume (Bagarinao et al., 2003), t-maps of a contrast;
- :class:`QualityMonitor`: real-time quality (framewise and
  micro-displacement, DVARS, tSNR, CNR, spikes, filter error) with
  :class:`QualityThresholds` and their crossings;
  :func:`framewise_displacement`, :func:`micro_displacement`,
  :func:`dvars`, :class:`RunningMoments` (Welford) as pure pieces;
- :func:`spm_hrf` and :func:`hrf_regressor`: SPM's canonical double-gamma
  haemodynamic response and events convolved with it.

Functions are pure and thread-safe; the classes hold one run's state and
are used from one thread at a time. Errors are :class:`TimeseriesError`
(a :class:`ValueError`), :class:`RoiError` for ROI masks.
"""

from __future__ import annotations

from nfd.timeseries._after_send import AfterSend, WholeBrainGLM
from nfd.timeseries._ar1 import ar1_filter, ar1_filter_columns, ar1_step
from nfd.timeseries._chain import CHAIN_COLUMNS, ChainOptions, ChainStep, SignalChain
from nfd.timeseries._displacement import framewise_displacement, framewise_displacement_series, micro_displacement
from nfd.timeseries._errors import RoiError, TimeseriesError
from nfd.timeseries._glm import GLM_STAGES, dct_highpass, glm_clean, glm_stage, nuisance_regressors
from nfd.timeseries._hrf import SPM_HRF_PARAMETERS, hrf_regressor, spm_hrf
from nfd.timeseries._iglm import IncrementalGLM, WholeBrainDesign
from nfd.timeseries._kalman import KalmanSettings, KalmanState, kalman_despike, kalman_step
from nfd.timeseries._moments import RunningMoments
from nfd.timeseries._quality import QualityMonitor, QualityThresholds, dvars, intensity_mask
from nfd.timeseries._roi import RoiSet
from nfd.timeseries._scaling import ScalingSettings, scale_value, scaling_limits

__all__ = [
    "AfterSend",
    "WholeBrainGLM",
    "CHAIN_COLUMNS",
    "GLM_STAGES",
    "SPM_HRF_PARAMETERS",
    "ChainOptions",
    "ChainStep",
    "IncrementalGLM",
    "KalmanSettings",
    "KalmanState",
    "QualityMonitor",
    "QualityThresholds",
    "RoiError",
    "RoiSet",
    "RunningMoments",
    "ScalingSettings",
    "SignalChain",
    "TimeseriesError",
    "WholeBrainDesign",
    "ar1_filter",
    "ar1_filter_columns",
    "ar1_step",
    "dct_highpass",
    "dvars",
    "framewise_displacement",
    "framewise_displacement_series",
    "glm_clean",
    "glm_stage",
    "hrf_regressor",
    "intensity_mask",
    "kalman_despike",
    "kalman_step",
    "micro_displacement",
    "nuisance_regressors",
    "scale_value",
    "scaling_limits",
    "spm_hrf",
]
