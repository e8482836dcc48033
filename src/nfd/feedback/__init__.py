"""From ROI signals to feedback values: every feedback type.

This subpackage owns:

- the feedback types, one per run, behind :class:`FeedbackComputer`
  (``update(index, steps, voxels) -> float | None``, ``summary()``), built
  by :func:`make_feedback`: activity (:class:`ContinuousActivity`,
  :class:`IntermittentActivity` with a :class:`ShapingRule`), connectivity
  (:class:`SlidingCorrelation`, :class:`IntermittentCorrelation`), the
  two-point proxy (:class:`TwoPointProxy`, with the pure
  :func:`proxy_direction`, :func:`proxy_events` and
  :func:`composite_measure`), multivariate decoding
  (:class:`DecoderFeedback`, :func:`load_decoder` refusing a model whose
  sha256 differs; or a weight map, :func:`load_weight_map`, projected on
  the ROI voxels by :func:`project_voxels`, OpenNFT's SVM feedback) and an
  external source (:class:`ExternalFeedback`); normative connectivity
  (:class:`NormativeFeedback`: the reconstruction error of sliding-window
  network FC by a model of :mod:`nfd.normative`);
  :func:`feedback_options` lists each kind's options;
- :class:`ContinuousPSC` and the pure :func:`percent_signal_change`
  (OpenNFT's continuous PSC on one signal);
- OpenNFT's feedback rules: ``reference="opennft"`` of the activity kinds
  (:class:`OpenNFTBlocks`: the volumes they read), the weight-map decoder;
- :func:`scale_feedback`: gain, MATLAB rounding (:func:`matlab_round`)
  and clipping to the display range;
  :func:`combine`: several ROIs' measures into one; :func:`pearson`.

Every kind reads the run's :class:`nfd.design.Design`. Errors are
:class:`FeedbackError` (a :class:`ValueError`), :class:`DecoderError` for
decoder model files; a volume index outside the run raises
:class:`nfd.design.VolumeIndexError` and a bad design argument
:class:`nfd.design.DesignError`.
"""

from __future__ import annotations

from nfd.feedback._activity import REFERENCES, ContinuousActivity, IntermittentActivity, ShapingRule
from nfd.feedback._combine import COMBINE_OPERATIONS, combine
from nfd.feedback._computer import CHAIN_SIGNALS, FeedbackComputer
from nfd.feedback._connectivity import IntermittentCorrelation, SlidingCorrelation, pearson
from nfd.feedback._decoder import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    DecoderError,
    DecoderFeedback,
    file_sha256,
    load_decoder,
    load_weight_map,
    project_voxels,
)
from nfd.feedback._errors import FeedbackError
from nfd.feedback._external import ExternalFeedback
from nfd.feedback._factory import FEEDBACK_KINDS, feedback_options, make_feedback
from nfd.feedback._normative import NORMATIVE_ERRORS, NormativeFeedback
from nfd.feedback._opennft import OpenNFTBlocks, matlab_round
from nfd.feedback._proxy import ProxyRule, TwoPointProxy, composite_measure, proxy_direction, proxy_events
from nfd.feedback._psc import ContinuousPSC, percent_signal_change
from nfd.feedback._scaling import scale_feedback

__all__ = [
    "CHAIN_SIGNALS",
    "COMBINE_OPERATIONS",
    "DECODER_INPUTS",
    "DECODER_OUTPUTS",
    "FEEDBACK_KINDS",
    "NORMATIVE_ERRORS",
    "REFERENCES",
    "ContinuousActivity",
    "ContinuousPSC",
    "DecoderError",
    "DecoderFeedback",
    "ExternalFeedback",
    "FeedbackComputer",
    "FeedbackError",
    "IntermittentActivity",
    "IntermittentCorrelation",
    "NormativeFeedback",
    "OpenNFTBlocks",
    "ProxyRule",
    "ShapingRule",
    "SlidingCorrelation",
    "TwoPointProxy",
    "combine",
    "composite_measure",
    "feedback_options",
    "file_sha256",
    "load_decoder",
    "load_weight_map",
    "matlab_round",
    "make_feedback",
    "pearson",
    "percent_signal_change",
    "proxy_direction",
    "project_voxels",
    "proxy_events",
    "scale_feedback",
]
