"""The run design: which condition every acquired volume belongs to, and the files that say so.

This subpackage owns:

- :class:`Design`: the condition of every acquired volume (0-based
  acquisition indices, skipped volumes included and always baseline), its
  blocks, boxcars, timed :class:`Event` s (seconds), HRF-convolved task
  regressors and contrast vectors;
- :func:`load_protocol`: an OpenNFT protocol JSON, a BIDS ``events.tsv`` or
  a PyHRF paradigm CSV read into a :class:`Design`
  (:data:`BASELINE_TRIAL_TYPES`, :data:`PYHRF_COLUMNS`);
- :func:`spm_hrf` and :func:`hrf_regressor`: SPM's canonical double-gamma
  haemodynamic response (:data:`SPM_HRF_PARAMETERS`, seconds) and timed
  events convolved with it, the model of the BOLD response to the design;
- :func:`spm_block_regressors` and :func:`opennft_onoffsets`: block
  regressors built as SPM12 builds them from an OpenNFT protocol (onsets in
  scans, microtime sampling), for reproducing OpenNFT;
- :func:`read_hrf_tsv` and :func:`write_hrf_tsv`: a subject's HRF sampled
  on a regular grid (seconds), one per column of a TSV file, read into a
  :class:`SampledHrf` whose kernel can replace SPM's canonical one
  (:class:`HrfFileError`, :class:`HrfColumnError`, :data:`HRF_TIME_COLUMN`).

It is a leaf: it imports nothing from nfd but the error root and the
argument validators. Errors are :class:`DesignError` (a
:class:`ValueError`): :class:`ProtocolError` for protocol files,
:class:`VolumeIndexError` (also an :class:`IndexError`) for a volume index
outside the run.

>>> from nfd.design import Design
>>> Design.from_blocks(6, [("UP", 2, 3)]).labels.tolist()
['BAS', 'BAS', 'UP', 'UP', 'BAS', 'BAS']
"""

from __future__ import annotations

from nfd.design._design import Design, Event
from nfd.design._errors import DesignError, ProtocolError, VolumeIndexError
from nfd.design._hrf import SPM_HRF_PARAMETERS, hrf_regressor, spm_hrf
from nfd.design._hrf_file import HRF_TIME_COLUMN, HrfColumnError, HrfFileError, SampledHrf, read_hrf_tsv, write_hrf_tsv
from nfd.design._protocol import BASELINE_TRIAL_TYPES, PYHRF_COLUMNS, load_protocol
from nfd.design._spm import opennft_onoffsets, spm_block_regressors

__all__ = [
    "BASELINE_TRIAL_TYPES",
    "HRF_TIME_COLUMN",
    "PYHRF_COLUMNS",
    "SPM_HRF_PARAMETERS",
    "Design",
    "DesignError",
    "Event",
    "HrfColumnError",
    "HrfFileError",
    "ProtocolError",
    "SampledHrf",
    "VolumeIndexError",
    "hrf_regressor",
    "load_protocol",
    "opennft_onoffsets",
    "read_hrf_tsv",
    "spm_block_regressors",
    "spm_hrf",
    "write_hrf_tsv",
]
