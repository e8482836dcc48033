"""Fuzzing the TOML loader: random documents over the schema's keys give a Config or a ConfigError.

Each example starts from a valid minimal configuration and sets a few keys,
taken from the schema itself (every table and option of
:class:`nfd.config.Config`, plus unknown ones), to random values: strings,
nan and infinities, huge and negative integers, booleans, dates, arrays and
tables. The property, for :func:`nfd.config.parse_config` and
:func:`nfd.config.load_config`: a :class:`nfd.config.Config`, or a
:class:`nfd.config.ConfigError` whose message is one line (naming the key
when it is about one). Anything else is a bug.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import tempfile
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nfd.config import Config, ConfigError, check_files, load_config, parse_config

FUZZ = settings.get_profile("nfd-fuzz")

#: A valid configuration, as nested tables.
MINIMAL: dict[str, Any] = {
    "run": {"tr": 2.0, "n_volumes": 100},
    "acquire": {"watch_dir": "watch"},
    "feedback": {"protocol": "protocol.json"},
    "roi": {"left": "left.nii"},
}


def _schema_keys(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every table and option path of the schema (``("feedback", "udp", "port")``...)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        path = (*prefix, f.name)
        yield path
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            yield from _schema_keys(tp, path)


SCHEMA_KEYS = sorted(set(_schema_keys(Config)))


def test_the_schema_walk_finds_the_options() -> None:
    assert ("feedback", "udp", "port") in SCHEMA_KEYS and ("run", "tr") in SCHEMA_KEYS
    assert len(SCHEMA_KEYS) > 60


def test_the_minimal_document_is_valid(folder: Path) -> None:
    assert isinstance(parse_config(to_toml(MINIMAL), base_dir=folder), Config)


# ---------------------------------------------------------------- TOML text


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, datetime.date, datetime.time)):
        return value.isoformat() if not isinstance(value, int) else str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(document: dict[str, Any]) -> str:
    """TOML text for nested tables (top-level tables as [headers], the rest inline)."""
    lines: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        else:
            lines.insert(0, f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- documents

_SCALARS = st.one_of(
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 65536, 100001, 0.0, -0.0, 1e-300, 1e300, 0.5, 60.0, 60.000001,
                     float("nan"), float("inf"), -float("inf"), True, False, "", " ", "0", "1.5", "nan", "first",
                     "json", "psc", "~", "/", "..", "a\u0000b", "(?P<volume>", "(?P<volume>\\d+)", "[", "\u00e9",
                     "~nosuchuser/x", "~", "a\nb", "a\u0000b", "a.b", "a b"]),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.dates(),
    st.times(),
).filter(lambda v: not isinstance(v, int) or -(2**63) <= v < 2**63)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_KEY = st.one_of(
    st.sampled_from(SCHEMA_KEYS),
    st.sampled_from(SCHEMA_KEYS).flatmap(lambda p: st.text(max_size=6).map(lambda k: (*p[:-1], k))),
)


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    table = document
    for part in path[:-1]:
        nxt = table.get(part)
        if not isinstance(nxt, dict):
            nxt = table[part] = {}
        table = nxt
    table[path[-1]] = value


def _deep_copy(document: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in document.items()}


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nfd-fuzz-config-") as name:
        yield Path(name)


def check_parse(text: str, folder: Path) -> None:
    """``text`` parsed: a Config, or a one-line ConfigError."""
    try:
        cfg = parse_config(text, base_dir=folder)
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
        assert err.reason.strip()
        if err.key is not None:
            assert message.startswith(f"{err.key}: "), message
        return
    assert isinstance(cfg, Config)
    assert cfg.run.tr > 0 and math.isfinite(cfg.run.tr)
    try:
        check_files(cfg)  # nothing exists in the folder: refused, naming the key, in one line
    except ConfigError as err:
        assert "\n" not in str(err) and "\r" not in str(err), f"multi-line message: {str(err)!r}"
        assert err.key and str(err).startswith(f"{err.key}: ")


@settings(FUZZ)
@given(changes=st.lists(st.tuples(_KEY, _VALUES), min_size=1, max_size=4))
@example(changes=[(("feedback", "correlation", "pairs"), [["a", "b"], "c"])])
@example(changes=[(("roi",), {"left": {"x": 1}})])
@example(changes=[(("acquire", "pattern"), "(?P<volume>\\d+")])
# Regressions (bugs the fuzzing found): a path of no known user's home or with a
# NUL byte crashed the loader (RuntimeError, ValueError); a key or path with a
# newline gave a two-line message; an empty key was not named.
@example(changes=[(("acquire", "watch_dir"), "~nosuchuser/watch")])
@example(changes=[(("feedback", "protocol"), "a\u0000b.json")])
@example(changes=[(("web", "token_file"), "~nosuchuser")])
@example(changes=[(("run", "a\nb"), 1)])
@example(changes=[(("",), [])])
@example(changes=[(("roi", "a\nb"), "mask.nii")])
@example(changes=[(("acquire", "watch_dir"), "watch\nfolder")])
def test_random_values_at_schema_keys(folder: Path, changes: list[tuple[tuple[str, ...], Any]]) -> None:
    document = _deep_copy(MINIMAL)
    for path, value in changes:
        _set(document, path, value)
    check_parse(to_toml(document), folder)


@settings(FUZZ)
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 4), st.text(max_size=4)), min_size=1, max_size=4))
def test_mutated_toml_text(folder: Path, edits: list[tuple[float, int, str]]) -> None:
    text = (Path(__file__).resolve().parents[2] / "etc" / "nfd.toml").read_text(encoding="utf-8")
    for where, cut, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + cut :]
    check_parse(text, folder)


@settings(FUZZ, max_examples=max(20, FUZZ.max_examples // 4))
@given(content=st.binary(max_size=64))
def test_load_config_random_bytes(folder: Path, content: bytes) -> None:
    path = folder / "random.toml"
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as err:
        assert "\n" not in str(err) and str(err).startswith(f"{path}: ")
