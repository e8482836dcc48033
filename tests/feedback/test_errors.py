"""nfd.feedback's errors share one base (tests/test_docs.py runs the examples)."""

import nfd.design
import nfd.feedback
from nfd import NfdError


def test_errors_share_a_base() -> None:
    assert issubclass(nfd.feedback.DecoderError, nfd.feedback.FeedbackError)
    assert issubclass(nfd.feedback.FeedbackError, NfdError) and issubclass(nfd.feedback.FeedbackError, ValueError)


def test_the_design_is_nfd_designs_alone() -> None:
    # the design and its errors moved to nfd.design (issue 12); nfd.feedback no longer re-exports them
    for name in ("Design", "DesignError", "ProtocolError", "VolumeIndexError", "load_protocol", "Event"):
        assert hasattr(nfd.design, name) and not hasattr(nfd.feedback, name), name
