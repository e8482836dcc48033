"""From ROI signals to feedback values: the run's design and percent signal change.

This subpackage owns:

- :class:`Design`: the condition of every acquired volume (0-based
  acquisition indices, skipped volumes included and always baseline), its
  blocks and boxcars; :func:`load_protocol` reads OpenNFT protocol JSON or
  BIDS ``events.tsv`` into one;
- :class:`ContinuousPSC`: OpenNFT's continuous percent signal change against
  the preceding baseline block, and the pure :func:`percent_signal_change`;
- :func:`scale_feedback`: gain and clipping to the display range, a separate
  step so that other measures (filtered signals, correlations, decoders)
  can feed it; :func:`combine`: several ROIs' measures into one.

Errors are :class:`FeedbackError` (a :class:`ValueError`):
:class:`ProtocolError` for protocol files, :class:`DesignError` for bad
arguments, :class:`VolumeIndexError` for an index outside the run.
"""

from __future__ import annotations

from nfd.feedback._combine import COMBINE_OPERATIONS, combine
from nfd.feedback._design import Design
from nfd.feedback._errors import DesignError, FeedbackError, ProtocolError, VolumeIndexError
from nfd.feedback._protocol import BASELINE_TRIAL_TYPES, load_protocol
from nfd.feedback._psc import ContinuousPSC, percent_signal_change
from nfd.feedback._scaling import scale_feedback

__all__ = [
    "BASELINE_TRIAL_TYPES",
    "COMBINE_OPERATIONS",
    "ContinuousPSC",
    "Design",
    "DesignError",
    "FeedbackError",
    "ProtocolError",
    "VolumeIndexError",
    "combine",
    "load_protocol",
    "percent_signal_change",
    "scale_feedback",
]
