"""nfd._checks: the central argument validators, their messages and the caller's error class."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd._checks import check_bool, check_option, check_str, ensure_float, ensure_int


class _Mine(ValueError):
    pass


def test_ensure_int_takes_integral_types_but_not_bool() -> None:
    assert ensure_int(np.int16(4), "n", minimum=1) == 4
    assert type(ensure_int(np.int64(4), "n")) is int
    for bad in (True, 2.0, "2", None):
        with pytest.raises(_Mine, match=r"^n must be an int >= 1, got "):
            ensure_int(bad, "n", minimum=1, error=_Mine)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 3\], got 4"):
        ensure_int(4, "n", minimum=1, maximum=3)


@pytest.mark.parametrize("value", [0.0, 0.999, np.float32(0.5)])
def test_ensure_float_half_open_range_accepts(value: float) -> None:
    assert ensure_float(value, "a", minimum=0.0, below=1.0) == pytest.approx(float(value))


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan, math.inf, True, "0.2"])
def test_ensure_float_half_open_range_refuses(value: object) -> None:
    with pytest.raises(_Mine, match=r"^a must be a number in \[0, 1\), got "):
        ensure_float(value, "a", minimum=0.0, below=1.0, error=_Mine)


def test_ensure_float_positive_and_exclusive() -> None:
    with pytest.raises(ValueError, match=r"f must be a number in \(0, 0.5\), got 0.5"):
        ensure_float(0.5, "f", positive=True, below=0.5)
    with pytest.raises(ValueError, match=r"tr must be a number > 0, got 0"):
        ensure_float(0, "tr", positive=True)
    with pytest.raises(ValueError, match="tr must be a finite number, got inf"):
        ensure_float(math.inf, "tr")
    assert ensure_float(math.inf, "t", finite=False) == math.inf


def test_bool_str_option() -> None:
    assert check_bool(False, "b") is False
    with pytest.raises(_Mine, match="b must be true or false, got 1"):
        check_bool(1, "b", error=_Mine)
    with pytest.raises(ValueError, match="s must be a non-empty string, got '  '"):
        check_str("  ", "s")
    assert check_str("", "s", empty=True) == ""
    assert check_option("k", "psc", ("psc", "proxy")) == "psc"
    with pytest.raises(ValueError, match=r"k must be one of 'psc', 'proxy'; got \['x'\]"):
        check_option("k", ["x"], {"psc": 1, "proxy": 2})
