"""Argument validators shared by every subpackage (in the manner of mne-lsl's ``_checks``).

Each validator returns the value in its canonical Python type or raises the
caller's error class (``error=``, default :class:`ValueError`) with one line
that names the argument, says what was expected and shows what was given.
A bool is never taken for a number: ``True`` is refused where an int or a
float is expected, as a TOML ``true`` in a number's place would be.

>>> ensure_int(3, "delay", minimum=0)
3
>>> ensure_int(True, "delay")
Traceback (most recent call last):
...
ValueError: delay must be an int, got True
>>> ensure_float(0.5, "tr", positive=True)
0.5
>>> ensure_float(float("nan"), "tr")
Traceback (most recent call last):
...
ValueError: tr must be a finite number, got nan
>>> check_option("kind", "psc", ("psc", "proxy"))
'psc'
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Collection
from typing import Any, SupportsIndex, TypeVar

__all__ = ["check_bool", "check_option", "check_str", "ensure_float", "ensure_int"]

T = TypeVar("T")


def ensure_int(
    value: object,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[Exception] = ValueError,
) -> int:
    """``value`` as an ``int`` (any integral type but bool), within ``[minimum, maximum]``.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name in the message (``"delay"``, ``"feedback.udp.port"``).
    minimum, maximum : int, optional
        Inclusive bounds.
    error : type of Exception
        The class raised (the caller's package error).
    """
    if type(value) is int:  # the common case, without the protocol check (hot in per-volume code)
        number = value
    elif isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise error(f"{name} must be an int{_bounds(minimum, maximum)}, got {value!r}")
    else:
        number = operator.index(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise error(f"{name} must be an int{_bounds(minimum, maximum)}, got {value!r}")
    return number


def ensure_float(
    value: object,
    name: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a ``float`` (any real number but bool), finite unless ``finite=False``.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name in the message.
    positive : bool
        Require ``value > 0``.
    minimum, maximum : float, optional
        Inclusive bounds.
    below : float, optional
        Exclusive upper bound (``value < below``), as for an AR(1)
        coefficient in ``[0, 1)``.
    finite : bool
        Refuse NaN and infinities.
    error : type of Exception
        The class raised.
    """
    bounds = _bounds(minimum, maximum, positive, below)
    expected = f"{name} must be a number{bounds}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(expected)
    number = float(value)
    if finite and not math.isfinite(number):
        raise error(expected if bounds else f"{name} must be a finite number, got {value!r}")
    if (
        (positive and not number > 0)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (below is not None and not number < below)
    ):
        raise error(expected)
    return number


def check_bool(value: object, name: str, *, error: type[Exception] = ValueError) -> bool:
    """``value`` if it is a bool (not 0 or 1, not a string)."""
    if not isinstance(value, bool):
        raise error(f"{name} must be true or false, got {value!r}")
    return value


def check_str(value: object, name: str, *, empty: bool = False, error: type[Exception] = ValueError) -> str:
    """``value`` if it is a string, non-blank unless ``empty=True``."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise error(f"{name} must be a {'' if empty else 'non-empty '}string, got {value!r}")
    return value


def check_option(name: str, value: T, allowed: Collection[Any], *, error: type[Exception] = ValueError) -> T:
    """``value`` if it is one of ``allowed``; the message lists them."""
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value looked up in a set
        ok = False
    if not ok:
        raise error(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def _bounds(
    minimum: float | None, maximum: float | None, positive: bool = False, below: float | None = None
) -> str:
    if below is not None:
        low = "(0" if positive else "[" + ("-inf" if minimum is None else f"{minimum:g}")
        return f" in {low}, {below:g})"
    if positive and maximum is None:
        return " > 0"
    if minimum is not None and maximum is not None:
        return f" in [{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f" >= {minimum:g}"
    if maximum is not None:
        return f" <= {maximum:g}"
    return ""
