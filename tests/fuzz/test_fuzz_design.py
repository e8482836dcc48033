"""Fuzzing the protocol readers: random or mutated protocol files give a Design or a design error.

:func:`nfd.design.load_protocol` reads OpenNFT JSON, BIDS ``events.tsv`` and
PyHRF paradigm CSV files. Each example writes one file, either built from
the format's own structure with random values (names, nan, infinities, huge
or negative numbers, wrong types, extra columns) or a real file mutated at
the byte level, and reads it with random run arguments. The property: a
:class:`nfd.design.Design` over exactly ``n_volumes`` volumes whose skipped
volumes are baseline, or a :class:`nfd.design.DesignError` whose message is
one line (a :class:`nfd.design.ProtocolError` naming the file). Anything
else is a bug.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nfd.design import Design, DesignError, ProtocolError, load_protocol

FUZZ = settings.get_profile("nfd-fuzz")


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """One folder for the module's examples (each example overwrites its file)."""
    with tempfile.TemporaryDirectory(prefix="nfd-fuzz-design-") as name:
        yield Path(name)


# ---------------------------------------------------------------- the property

_RUN = st.tuples(
    st.integers(1, 300),
    st.integers(0, 400),
    st.one_of(st.none(), st.sampled_from([2.0, 1.97, 0.5, 1e-9, 1e300, 0.0, -1.0]), st.floats(0.01, 10)),
    st.sampled_from(["BAS", "rest", "NFBREG", "calculaudio"]),
    st.one_of(st.none(), st.integers(-1, 2)),
)


def check_load(path: Path, content: bytes, run: tuple[int, int, float | None, str, int | None]) -> None:
    """Write ``content`` to ``path`` and read it: a Design, or a one-line design error."""
    n_volumes, skip, tr, baseline, session = run
    skip = min(skip, n_volumes - 1) if skip < 300 else skip  # mostly valid, sometimes not
    path.write_bytes(content)
    try:
        design = load_protocol(path, n_volumes, skip, tr, baseline=baseline, session=session)
    except DesignError as err:
        text = str(err)
        assert "\n" not in text and "\r" not in text, f"multi-line message: {text!r}"
        assert text.strip()
        if isinstance(err, ProtocolError):
            assert text.startswith(f"{path}: "), f"message does not name the file: {text!r}"
        return
    assert isinstance(design, Design)
    assert design.n_volumes == n_volumes and len(design.labels) == n_volumes
    assert all(design.is_baseline(i) for i in range(skip))
    assert design.baseline == baseline and baseline not in design.conditions
    for event in design.events or ():
        assert all(math.isfinite(float(x)) for x in event[1:] if isinstance(x, (int, float)))


# ---------------------------------------------------------------- OpenNFT JSON

_NUMBERS = st.one_of(
    st.integers(-5, 200),
    st.sampled_from([0, -1, 2**31, 2**63, 10**400, 1.5, 3.0, float("nan"), float("inf"), -float("inf"), True]),
)
_JSON_LEAVES = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=8))
_ANY_JSON = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_PAIR = st.one_of(st.lists(_NUMBERS, min_size=2, max_size=2), st.lists(_NUMBERS, max_size=3), _ANY_JSON)
_CONDITION = st.one_of(
    st.fixed_dictionaries(
        {"ConditionName": st.one_of(st.sampled_from(["NFBREG", "BAS", "UP", "", " "]), st.text(max_size=6), _ANY_JSON),
         "OnOffsets": st.one_of(st.lists(_PAIR, max_size=5), _ANY_JSON)}
    ),
    _ANY_JSON,
)
_OPENNFT = st.one_of(
    st.fixed_dictionaries({"ConditionIndex": st.one_of(st.lists(_CONDITION, max_size=4), _ANY_JSON)},
                          optional={"ContrastActivation": _ANY_JSON}),
    _ANY_JSON,
)


@settings(FUZZ)
@given(document=_OPENNFT, run=_RUN)
@example(document={"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1, 10**400]]}]},
         run=(10, 0, None, "BAS", None))
@example(document={"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[float("nan"), 3]]}]},
         run=(10, 0, None, "BAS", None))
def test_opennft_json_structured(folder: Path, document: Any, run: Any) -> None:
    check_load(folder / "protocol.json", json.dumps(document).encode(), run)


_REAL_JSON = b"""{
\t"ContrastActivation": "+1*NFBREG",
\t"ConditionIndex": [
\t\t{"ConditionName": "NFBREG", "OnOffsets": [[11,20], [31,40], [51,60]]},
\t\t{"ConditionName": "REST", "OnOffsets": [[1,10]]}
\t]
}
"""
_REAL_TSV = b"onset\tduration\ttrial_type\tresponse_time\n0\t10\trest\tn/a\n10.5\t20\tUP\t1.2\n40\t19.7\tDOWN\tn/a\n"
_REAL_CSV = (
    b'session,condition,onset,duration,amplitude\n0,"calculaudio",35.4,0,1.\n'
    b'0 "clicDaudio" 44.7 0.0 1.\n0\tsentence\t48.0\t2.5\t0.5\n1,calculaudio,3,1\n'
)


def _mutated(content: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    out = bytearray(content)
    for where, cut, insert in edits:
        at = int(where * len(out))
        out[at : at + cut] = insert
    return bytes(out)


_EDITS = st.lists(
    st.tuples(
        st.floats(0, 1),
        st.integers(0, 6),
        st.one_of(st.binary(max_size=4), st.sampled_from([b"nan", b"-", b"1e400", b"\t", b",", b'"', b"\n", b"\xff",
                                                          b"\r", b"\x00", b"inf", b"99999999999999999999"])),
    ),
    min_size=1,
    max_size=5,
)


@settings(FUZZ)
@given(edits=_EDITS, run=_RUN, suffix=st.sampled_from([".json", ".tsv", ".csv"]))
def test_mutated_protocol_files(folder: Path, edits: list[tuple[float, int, bytes]], run: Any, suffix: str) -> None:
    seed = {".json": _REAL_JSON, ".tsv": _REAL_TSV, ".csv": _REAL_CSV}[suffix]
    check_load(folder / f"protocol{suffix}", _mutated(seed, edits), run)


@pytest.mark.parametrize("name", ["opennft_psc_run/protocol.json", "pyhrf_localizer/paradigm_loc.csv"])
@settings(FUZZ, max_examples=max(20, FUZZ.max_examples // 4))
@given(edits=_EDITS, run=_RUN)
def test_mutated_real_protocols(shared_data: Path, folder: Path, name: str, edits: Any, run: Any) -> None:
    check_load(folder / Path(name).name, _mutated((shared_data / name).read_bytes(), edits), run)


# ---------------------------------------------------------------- BIDS TSV and PyHRF CSV

_CELL = st.one_of(
    st.sampled_from(["0", "1", "2.5", "-1", "nan", "NaN", "inf", "-inf", "1e308", "1e400", "", "n/a", "UP", "BAS",
                     "rest", "99999999999999999999", "0x10", "1_000", " 3 ", "\u00a0"]),
    st.floats(-10, 1000).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), max_size=6),
)
_HEADER = st.one_of(
    st.permutations(["onset", "duration", "trial_type"]).map(list),
    st.lists(st.sampled_from(["onset", "duration", "trial_type", "extra", "", "ONSET", "onset"]), max_size=5),
)


@settings(FUZZ)
@given(header=_HEADER, rows=st.lists(st.lists(_CELL, max_size=5), max_size=8), run=_RUN,
       newline=st.sampled_from(["\n", "\r\n"]))
@example(header=["onset", "duration", "trial_type"], rows=[["1e308", "1e308", "UP"]], run=(10, 0, 2.0, "BAS", None),
         newline="\n")
def test_bids_events_structured(folder: Path, header: list[str], rows: list[list[str]], run: Any, newline: str) -> None:
    text = newline.join("\t".join(line) for line in [header, *rows]) + newline
    check_load(folder / "events.tsv", text.encode("utf-8", "surrogatepass"), run)


@settings(FUZZ)
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=6), max_size=8), run=_RUN,
       separator=st.sampled_from([",", " ", "\t", ", "]), header=st.booleans())
@example(rows=[["0", "UP", "1e308", "1e308"]], run=(10, 0, 2.0, "BAS", None), separator=",", header=False)
@example(rows=[["99999999999999999999", "UP", "1", "1"]], run=(10, 0, 2.0, "BAS", None), separator=",",
         header=False)
def test_pyhrf_paradigm_structured(folder: Path, rows: list[list[str]], run: Any, separator: str,
                                   header: bool) -> None:
    lines = [separator.join(row) for row in rows]
    if header:
        lines.insert(0, "session,condition,onset,duration,amplitude")
    check_load(folder / "paradigm.csv", ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), run)
