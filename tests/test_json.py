"""nfd._json: the one JSON encoding."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import orjson
import pytest

from nfd._json import default, dumps


def test_numpy_values_nan_paths_sets_and_dataclasses() -> None:
    @dataclasses.dataclass
    class P:
        x: float

    obj = {
        "a": np.arange(3, dtype=np.int16),
        "strided": np.arange(6.0)[::2],
        "s": np.float32(0.5),
        "nan": float("nan"),
        "inf": np.inf,
        "path": Path("/tmp/x"),
        "set": frozenset({"b", "a"}),
        "p": P(1.0),
        2: "int key",
    }
    assert orjson.loads(dumps(obj)) == {
        "a": [0, 1, 2], "strided": [0.0, 2.0, 4.0], "s": 0.5, "nan": None, "inf": None, "path": "/tmp/x",
        "set": ["a", "b"], "p": {"x": 1.0}, "2": "int key",
    }


def test_indent_and_newline() -> None:
    assert dumps({"a": 1}, indent=True, newline=True) == b'{\n  "a": 1\n}\n'


def test_unknown_objects_raise_unless_a_fallback_is_given() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
    with pytest.raises(TypeError, match="cannot serialise"):
        default(object())
    assert dumps({"x": object()}, fallback=lambda o: "repr") == b'{"x":"repr"}'
    assert dumps({"x": np.int64(3)}, fallback=lambda o: "repr") == b'{"x":3}'
