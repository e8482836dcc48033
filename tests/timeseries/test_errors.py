"""nfd.timeseries's errors share one base (tests/test_docs.py runs the examples)."""

import nfd.timeseries


def test_errors_share_a_base() -> None:
    assert issubclass(nfd.timeseries.RoiError, nfd.timeseries.TimeseriesError)
    assert issubclass(nfd.timeseries.TimeseriesError, ValueError)
