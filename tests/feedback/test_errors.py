"""nfd.feedback's errors share one base (tests/test_docs.py runs the examples)."""

import nfd.feedback


def test_errors_share_a_base() -> None:
    for error in ("DesignError", "ProtocolError", "VolumeIndexError", "DecoderError"):
        assert issubclass(getattr(nfd.feedback, error), nfd.feedback.FeedbackError)
