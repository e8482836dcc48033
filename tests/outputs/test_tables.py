"""Motion and time-series tables built from per-volume records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfd.outputs import RunFolderError
from nfd.outputs._tables import (
    MOTION_COLUMNS,
    format_tsv,
    motion_sidecar,
    motion_table,
    timeseries_sidecar,
    timeseries_table,
)


def test_motion_table_rows_follow_records() -> None:
    records = [
        {"index": 5, "motion": [0.0] * 6, "fd": 0.0},
        {"index": 6, "motion": [0.1, -0.2, 0.3, 0.001, -0.002, 0.003], "fd": 0.85},
        {"index": 8, "motion": None, "fd": None},  # a volume without realignment: n/a cells
        {"index": 9},
    ]
    columns, rows = motion_table(records)
    assert columns == list(MOTION_COLUMNS) == [
        "index", "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement",
    ]
    assert rows[1] == [6, 0.1, -0.2, 0.3, 0.001, -0.002, 0.003, 0.85]
    assert rows[2] == [8] + [None] * 7 and rows[3] == [9] + [None] * 7


def test_motion_table_nan_is_missing() -> None:
    _, rows = motion_table([{"index": 0, "motion": [math.nan, 0, 0, 0, 0, 0], "fd": math.nan}])
    assert rows == [[0, None, 0.0, 0.0, 0.0, 0.0, 0.0, None]]


@pytest.mark.parametrize("motion", [[0.0] * 5, "000000", [0, 0, 0, 0, 0, "x"]])
def test_motion_table_rejects_bad_motion_naming_the_volume(motion: object) -> None:
    with pytest.raises(RunFolderError, match="volume record 7"):
        motion_table([{"index": 7, "motion": motion, "fd": 0.0}])


def test_timeseries_table_union_of_rois_in_first_seen_order() -> None:
    records = [
        {"index": 5, "condition": "BAS", "roi": {"v1": 800.0, "m1": 600.0}, "feedback": 0.0},
        {"index": 6, "condition": "NFBREG", "roi": {"m1": 610.0, "sma": 700.0, "v1": 810.0}, "feedback": 1.5},
        {"index": 7, "condition": "NFBREG", "roi": {"v1": math.nan}, "feedback": None},
    ]
    columns, rows = timeseries_table(records)
    assert columns == ["index", "condition", "roi_v1", "roi_m1", "roi_sma", "feedback"]
    assert rows == [
        [5, "BAS", 800.0, 600.0, None, 0.0],
        [6, "NFBREG", 810.0, 610.0, 700.0, 1.5],
        [7, "NFBREG", None, None, None, None],
    ]


def test_timeseries_table_rejects_roi_that_is_not_a_mapping() -> None:
    with pytest.raises(RunFolderError, match="'roi'"):
        timeseries_table([{"index": 1, "roi": [1.0, 2.0]}])


def test_format_tsv_known_text() -> None:
    text = format_tsv(["index", "condition", "x"], [[0, "BAS", 0.1], [1, "a\tb", None], [2, None, math.nan]])
    assert text == "index\tcondition\tx\n0\tBAS\t0.1\n1\ta b\tn/a\n2\tn/a\tn/a\n"


def test_format_tsv_floats_round_trip() -> None:
    value = 0.1 + 0.2
    text = format_tsv(["v"], [[value]])
    assert float(text.splitlines()[1]) == value


def test_motion_sidecar_units_and_convention() -> None:
    sidecar = motion_sidecar()
    assert {c: sidecar[c]["Units"] for c in MOTION_COLUMNS[1:]} == {
        "trans_x": "mm", "trans_y": "mm", "trans_z": "mm",
        "rot_x": "rad", "rot_y": "rad", "rot_z": "rad",
        "framewise_displacement": "mm",
    }
    assert "index" in sidecar
    assert sidecar["MotionConvention"]["Software"] == "SPM"
    assert "reference" in sidecar["MotionConvention"]["Description"]


def test_timeseries_sidecar_units() -> None:
    sidecar = timeseries_sidecar(["index", "condition", "roi_v1", "feedback"], "percent signal change x 1")
    assert set(sidecar) == {"index", "condition", "roi_v1", "feedback"}
    assert sidecar["roi_v1"]["Units"].startswith("scanner intensity units")
    assert sidecar["feedback"]["Units"] == "percent signal change x 1"


@given(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=1, max_size=20))
def test_format_tsv_cells_read_back_exactly(values: list[float]) -> None:
    text = format_tsv(["v"], [[v] for v in values])
    cells = text.splitlines()[1:]
    assert len(cells) == len(values)
    for cell, value in zip(cells, values, strict=True):
        if math.isnan(value):
            assert cell == "n/a"
        else:
            assert float(cell) == value
