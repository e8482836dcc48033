"""The one JSON encoding nfd writes: orjson, numpy-aware, NaN as ``null``.

Every JSON that nfd writes (log lines, run-folder records and sidecars, web
messages) goes through :func:`dumps`, so that a numpy scalar, an array, a
path or a set comes out the same everywhere.  orjson writes NaN and the
infinities as ``null`` and takes numpy arrays and scalars natively
(``OPT_SERIALIZE_NUMPY``); :func:`default` handles what it cannot take
directly (non-contiguous arrays, paths, sets, dataclass instances).

>>> import numpy as np
>>> dumps({"fd": np.float32(0.25), "roi": {1: float("nan")}, "files": {"b", "a"}})
b'{"fd":0.25,"roi":{"1":null},"files":["a","b"]}'
>>> dumps([1, 2], newline=True)
b'[1,2]\\n'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import orjson

__all__ = ["OPTIONS", "default", "dumps"]

#: The orjson options of every dump: numpy values, non-string keys (``{1: ...}`` -> ``{"1": ...}``).
OPTIONS: Final[int] = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def default(obj: Any) -> Any:
    """orjson's fallback: what orjson cannot serialise directly, as something it can.

    Parameters
    ----------
    obj : object
        A value orjson refused.

    Returns
    -------
    object
        A list for an array (any layout or dtype), a Python number for a numpy
        scalar, a string for a path, a sorted list for a set, a dict for a
        dataclass instance.

    Raises
    ------
    TypeError
        For anything else (orjson turns it into ``orjson.JSONEncodeError``).

    Examples
    --------
    >>> import numpy as np
    >>> default(np.arange(6)[::2])
    [0, 2, 4]
    >>> default(object())
    Traceback (most recent call last):
    ...
    TypeError: cannot serialise object as JSON
    """
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} as JSON")


def dumps(
    obj: Any,
    *,
    indent: bool = False,
    newline: bool = False,
    fallback: Callable[[Any], Any] | None = None,
) -> bytes:
    """``obj`` as UTF-8 JSON bytes (compact unless ``indent``).

    Parameters
    ----------
    obj : object
        The value.
    indent : bool
        Indent by 2 spaces (files meant to be read by people).
    newline : bool
        Append ``\\n`` (one line of a JSON Lines file).
    fallback : callable, optional
        Called for a value that :func:`default` does not know, instead of
        raising (structlog passes its ``repr`` fallback this way).

    Raises
    ------
    orjson.JSONEncodeError
        A value that cannot be serialised (a subclass of :class:`TypeError`).
    """
    option = OPTIONS | (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    hook = default if fallback is None else _with_fallback(fallback)
    return orjson.dumps(obj, default=hook, option=option)


def _with_fallback(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def hook(obj: Any) -> Any:
        try:
            return default(obj)
        except TypeError:
            return fallback(obj)

    return hook
