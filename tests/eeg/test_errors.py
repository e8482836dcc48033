"""nfd.eeg's errors share one base (tests/test_docs.py runs the examples)."""

import nfd.eeg


def test_errors_share_a_base() -> None:
    errors = [getattr(nfd.eeg, n) for n in nfd.eeg.__all__ if n.endswith("Error")]
    assert len(errors) == 10
    assert all(issubclass(e, nfd.eeg.EegError) for e in errors)
    for error in ("ModelHashError", "ModelFormatError", "ModelMismatchError"):
        assert issubclass(getattr(nfd.eeg, error), nfd.eeg.ModelError)
