"""nfd.feedback's errors share one base (tests/test_docs.py runs the examples)."""

import nfd.design
import nfd.feedback
from nfd import NfdError


def test_errors_share_a_base() -> None:
    assert issubclass(nfd.feedback.DecoderError, nfd.feedback.FeedbackError)
    assert issubclass(nfd.feedback.FeedbackError, NfdError) and issubclass(nfd.feedback.FeedbackError, ValueError)


def test_design_errors_are_re_exported() -> None:
    # the design's errors moved to nfd.design (issue 12); nfd.feedback re-exports the same classes
    for error in ("DesignError", "ProtocolError", "VolumeIndexError"):
        assert getattr(nfd.feedback, error) is getattr(nfd.design, error)
