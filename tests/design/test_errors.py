"""nfd.design's errors share one base, a ValueError under nfd.NfdError."""

import nfd.design
from nfd import NfdError


def test_errors_share_a_base() -> None:
    for error in ("ProtocolError", "VolumeIndexError"):
        assert issubclass(getattr(nfd.design, error), nfd.design.DesignError)
    assert issubclass(nfd.design.DesignError, NfdError) and issubclass(nfd.design.DesignError, ValueError)
    assert issubclass(nfd.design.VolumeIndexError, IndexError)


def test_hrf_errors_are_design_errors() -> None:
    import pytest

    with pytest.raises(nfd.design.DesignError, match="tr must be a positive number"):
        nfd.design.spm_hrf(0.0)
