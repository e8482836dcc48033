"""load_protocol: OpenNFT JSON and BIDS events.tsv into one Design."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from nfd.design import Design, DesignError, ProtocolError, load_protocol

# -- the real OpenNFT protocol --------------------------------------------------


@pytest.mark.shared
def test_real_opennft_protocol(shared_data: Path) -> None:
    design = load_protocol(shared_data / "opennft_psc_run" / "protocol.json", n_volumes=155, skip_volumes=5, tr=1.97)
    assert design.n_volumes == 155
    assert design.conditions == ("NFBREG",)
    assert design.baseline == "BAS"
    # protocol volume 11 (1-based, after 5 skipped) is acquisition index 5 + 11 - 1 = 15
    assert design.condition(14) == "BAS"
    assert design.condition(15) == "NFBREG"
    assert design.condition(24) == "NFBREG"
    assert design.condition(25) == "BAS"
    assert all(design.is_baseline(i) for i in range(5))
    assert design.blocks[:3] == [("BAS", 0, 14), ("NFBREG", 15, 24), ("BAS", 25, 34)]
    assert design.blocks[-2:] == [("NFBREG", 135, 144), ("BAS", 145, 154)]
    assert design.boxcar().sum() == 70.0


@pytest.mark.shared
def test_bids_events_equivalent_to_the_real_protocol_give_the_same_design(shared_data: Path, tmp_path: Path) -> None:
    tr = 1.97
    on_offs = [(11, 20), (31, 40), (51, 60), (71, 80), (91, 100), (111, 120), (131, 140)]
    rows = ["onset\tduration\ttrial_type"]
    for on, off in on_offs:  # OpenNFT volume v is acquired at (5 + v - 1) * TR
        rows.append(f"{(5 + on - 1) * tr:.2f}\t{(off - on + 1) * tr:.2f}\tNFBREG")
    events = tmp_path / "events.tsv"
    events.write_text("\n".join(rows) + "\n")
    from_json = load_protocol(shared_data / "opennft_psc_run" / "protocol.json", 155, 5, tr)
    assert load_protocol(events, 155, 5, tr) == from_json


# -- OpenNFT JSON written here --------------------------------------------------


def _write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_json_with_several_conditions(tmp_path: Path) -> None:
    path = _write_json(
        tmp_path / "p.json",
        {
            "ContrastActivation": "+1*UP",
            "ConditionIndex": [
                {"ConditionName": "BAS", "OnOffsets": [[1, 2], [5, 6]]},
                {"ConditionName": "UP", "OnOffsets": [[3, 4]]},
                {"ConditionName": "DOWN", "OnOffsets": [7.0, 8.0]},  # MATLAB writes one block flat
            ],
        },
    )
    design = load_protocol(path, n_volumes=10, skip_volumes=1)
    assert design.labels.tolist() == ["BAS", "BAS", "BAS", "UP", "UP", "BAS", "BAS", "DOWN", "DOWN", "BAS"]
    assert design.conditions == ("UP", "DOWN")
    assert design.skip_volumes == 1


def test_json_baseline_name_is_configurable(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "p.JSON", {"ConditionIndex": [{"ConditionName": "TASK", "OnOffsets": [[2, 2]]}]})
    design = load_protocol(path, n_volumes=3, baseline="REST")
    assert design.labels.tolist() == ["REST", "TASK", "REST"]


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ([1, 2], "expected a JSON object"),
        ({"Conditions": []}, "missing key 'ConditionIndex'"),
        ({"ConditionIndex": []}, "non-empty list of conditions"),
        ({"ConditionIndex": [{"OnOffsets": [[1, 2]]}]}, r"ConditionIndex\[0\] is missing key 'ConditionName'"),
        ({"ConditionIndex": [{"ConditionName": "UP"}]}, r"missing key 'OnOffsets'"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [["1", 2]]}]}, "onset must be an integer volume number, got '1'"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1.5, 2]]}]}, "onset must be an integer volume number"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1, 2, 3]]}]}, r"must be a pair \[on, off\]"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[0, 2]]}]}, r"is \[0, 2\]; expected 1 <= on <= off <= 8"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[5, 9]]}]}, r"expected 1 <= on <= off <= 8 \(1-based volumes counted after the 2 skipped"),
        ({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[4, 3]]}]}, r"is \[4, 3\]"),
        ({"ConditionIndex": [{"ConditionName": "", "OnOffsets": []}]}, "ConditionName must be a non-empty string"),
        (
            {"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1, 3]]}, {"ConditionName": "DOWN", "OnOffsets": [[3, 4]]}]},
            "of 'DOWN' overlaps condition 'UP' at protocol volume 3",
        ),
        (
            {"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1, 1]]}, {"ConditionName": "UP", "OnOffsets": [[3, 3]]}]},
            "condition 'UP' appears twice",
        ),
    ],
)
def test_malformed_json_is_refused_with_the_file_named(tmp_path: Path, document: object, match: str) -> None:
    path = _write_json(tmp_path / "bad_protocol.json", document)
    with pytest.raises(ProtocolError, match=match) as info:
        load_protocol(path, n_volumes=10, skip_volumes=2)
    assert str(path) in str(info.value)


def test_invalid_json_text_is_refused_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"ConditionIndex": [\n  {"ConditionName": "UP",, }]}')
    with pytest.raises(ProtocolError, match=r"broken\.json: not valid JSON .* line 2"):
        load_protocol(path, n_volumes=10)


# -- BIDS events.tsv --------------------------------------------------------------


def _write_tsv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_bids_events_onsets_in_seconds_from_the_first_acquired_volume(tmp_path: Path) -> None:
    path = _write_tsv(
        tmp_path / "events.tsv",
        "onset\tduration\ttrial_type\tresponse_time",
        "0\t8\trest\tn/a",
        "8\t6\tUP\t1.2",
        "14\t4\tBaseline\tn/a",
        "18.0\t3.5\tDOWN\tn/a",  # covers t = 18, 20 (22 >= 21.5)
    )
    design = load_protocol(path, n_volumes=12, skip_volumes=1, tr=2.0)
    assert design.labels.tolist() == [
        "BAS", "BAS", "BAS", "BAS", "UP", "UP", "UP", "BAS", "BAS", "DOWN", "DOWN", "BAS",
    ]
    assert design.conditions == ("UP", "DOWN")


def test_bids_event_boundaries_survive_decimal_rounding(tmp_path: Path) -> None:
    # 10 * 1.97 is 19.700000000000003 in binary; onset 19.7 must still select volume 10
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type", "19.7\t19.7\tUP")
    design = load_protocol(path, n_volumes=25, tr=1.97)
    assert design.blocks == [("BAS", 0, 9), ("UP", 10, 19), ("BAS", 20, 24)]


def test_bids_events_over_skipped_volumes_leave_them_baseline(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type", "0\t8\tUP")
    design = load_protocol(path, n_volumes=6, skip_volumes=2, tr=2.0)
    assert design.labels.tolist() == ["BAS", "BAS", "UP", "UP", "BAS", "BAS"]


def test_bids_events_shorter_than_a_tr_label_the_volumes_they_overlap(tmp_path: Path) -> None:
    # the run: 0.9 s stimuli between 2 s volume starts; each labels the volume acquired during it
    tr, n_volumes = 2.0, 156
    stimulated = [k for k in range(3, 150) if k % 4 == 1]
    rows = ["onset\tduration\ttrial_type"] + [f"{2 * k + 0.6:.1f}\t0.9\tSTIM" for k in stimulated]
    path = _write_tsv(tmp_path / "events.tsv", *rows)
    with capture_logs() as logs:
        design = load_protocol(path, n_volumes=n_volumes, skip_volumes=2, tr=tr)
    assert [entry for entry in logs if entry["log_level"] == "warning"] == []
    assert [i for i in range(n_volumes) if not design.is_baseline(i)] == stimulated
    assert design.events is not None and len(design.events) == len(stimulated)


def test_bids_events_label_every_window_they_touch_and_impulses_their_own(tmp_path: Path) -> None:
    path = _write_tsv(
        tmp_path / "events.tsv",
        "onset\tduration\ttrial_type",
        "1.5\t0.9\tUP",  # [1.5, 2.4): the end of volume 0 and the start of volume 1
        "7.0\t0\tPRESS",  # an impulse during volume 3, [6, 8)
        "13.0\t4.0\tDOWN",  # [13, 17): volumes 6, 7 and 8, in part
        "20.0\t1.999999\tUP",  # ends within 1 µs of volume 11's start: volume 10 only
    )
    design = load_protocol(path, n_volumes=12, tr=2.0)
    assert design.labels.tolist() == [
        "UP", "UP", "BAS", "PRESS", "BAS", "BAS", "DOWN", "DOWN", "DOWN", "BAS", "UP", "BAS",
    ]


def test_bids_header_only_is_all_baseline(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type")
    design = load_protocol(path, n_volumes=4, tr=2.0)
    assert design.conditions == ()
    assert design.boxcar().sum() == 0.0


def test_bids_overlap_of_the_same_condition_is_fine(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type", "2\t4\tUP", "4\t4\tUP")
    assert load_protocol(path, n_volumes=6, tr=2.0).blocks == [("BAS", 0, 0), ("UP", 1, 3), ("BAS", 4, 5)]


@pytest.mark.parametrize(
    ("rows", "labels"),
    [
        # volume 1, [2, 4): UP covers 0.5 s, DOWN 1.5 s
        (["1.0\t1.5\tUP", "2.5\t0.9\tDOWN", "3.4\t0.6\tDOWN"], ["UP", "DOWN", "BAS", "BAS"]),
        # volume 1: UP covers [2, 3.2) = 1.2 s, DOWN [3.2, 4) = 0.8 s
        (["0.0\t3.2\tUP", "3.2\t4.8\tDOWN"], ["UP", "UP", "DOWN", "DOWN"]),
        # a tie (1 s each) goes to the earliest event, whatever the file's order
        (["3.0\t5.0\tDOWN", "1.0\t2.0\tUP"], ["UP", "UP", "DOWN", "DOWN"]),
        # UP's two events overlap each other: their union (1 s), not their sum (1.6 s), ties with DOWN's 1 s
        (["2.0\t1.0\tDOWN", "3.0\t1.0\tUP", "3.2\t0.6\tUP"], ["BAS", "DOWN", "BAS", "BAS"]),
        # conditions that overlap in time: each volume takes the larger part, the earlier on a tie
        (["2\t6\tUP", "6\t4\tDOWN"], ["BAS", "UP", "UP", "UP"]),
        # baseline rows take part: rest covers 1.5 s of volume 2, UP 0.5 s; an impulse weighs 0 s
        (["4.0\t0.5\tUP", "4.5\t3.5\trest", "2.5\t0\tPRESS", "2.6\t0.1\tUP"], ["BAS", "UP", "BAS", "BAS"]),
    ],
)
def test_bids_volume_shared_by_conditions_takes_the_larger_part(
    tmp_path: Path, rows: list[str], labels: list[str]
) -> None:
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type", *rows)
    with capture_logs() as logs:
        design = load_protocol(path, n_volumes=4, tr=2.0)
    assert design.labels.tolist() == labels
    shared = [entry for entry in logs if entry["event"] == "protocol_volumes_shared"]
    assert len(shared) == 1 and shared[0]["log_level"] == "info" and shared[0]["path"] == str(path)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (["onset,duration,trial_type", "0,2,UP"], r"missing column\(s\) \['onset', 'duration', 'trial_type'\].*comma-separated"),
        (["onset\ttrial_type", "0\tUP"], r"missing column\(s\) \['duration'\]"),
        (["onset\tduration\ttrial_type", "n/a\t2\tUP"], "line 2: onset must be a number of seconds, got 'n/a'"),
        (["onset\tduration\ttrial_type", "0\t2\tUP", "4\t-2\tUP"], "line 3: duration must be a finite number of seconds >= 0"),
        (["onset\tduration\ttrial_type", "-1\t2\tUP"], "line 2: onset must be a finite number of seconds >= 0"),
        (["onset\tduration\ttrial_type", "0\tinf\tUP"], "duration must be a finite number"),
        (["onset\tduration\ttrial_type", "20\t2\tUP"], r"line 2: onset 20 s is beyond the run \(10 volumes x TR 2 s = 20 s\)"),
        (["onset\tduration\ttrial_type", "0\t2"], "line 2 has 2 tab-separated fields, the header has 3"),
        (["onset\tduration\ttrial_type", "0\t2\t"], "line 2: trial_type is empty"),
        (["onset\tduration\ttrial_type", "0\t2\tUP", "", "4\t2\tUP"], "line 3 is blank"),
    ],
)
def test_malformed_bids_events_are_refused_with_the_file_named(tmp_path: Path, rows: list[str], match: str) -> None:
    path = _write_tsv(tmp_path / "bad_events.tsv", *rows)
    with pytest.raises(ProtocolError, match=match) as info:
        load_protocol(path, n_volumes=10, tr=2.0)
    assert str(path) in str(info.value)


def test_empty_tsv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.tsv"
    path.write_text("")
    with pytest.raises(ProtocolError, match=r"empty\.tsv: empty file"):
        load_protocol(path, n_volumes=10, tr=2.0)


def test_tsv_needs_the_repetition_time(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "events.tsv", "onset\tduration\ttrial_type", "0\t2\tUP")
    with pytest.raises(DesignError, match=r"tr must be the repetition time in seconds \(> 0\) to read .*events\.tsv"):
        load_protocol(path, n_volumes=10)


# -- files and arguments ----------------------------------------------------------


def test_unsupported_missing_and_undecodable_files(tmp_path: Path) -> None:
    sheet = tmp_path / "paradigm.xlsx"
    sheet.write_text("session,condition,onset,duration\n")
    with pytest.raises(ProtocolError, match=r"paradigm\.xlsx: unsupported protocol extension '\.xlsx'; expected \.json"):
        load_protocol(sheet, n_volumes=10)
    with pytest.raises(ProtocolError, match=r"nowhere\.json: protocol file not found"):
        load_protocol(tmp_path / "nowhere.json", n_volumes=10)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"onset\tduration\ttrial_type\n0\t2\tr\xe9gulation\n")
    with pytest.raises(ProtocolError, match=r"latin\.tsv: cannot read the protocol as UTF-8"):
        load_protocol(latin, n_volumes=10, tr=2.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_volumes": 0}, "n_volumes must be an int >= 1"),
        ({"n_volumes": 10, "skip_volumes": -1}, "skip_volumes must be an int >= 0"),
        ({"n_volumes": 10, "skip_volumes": 10}, "skip_volumes=10 must be smaller than n_volumes=10"),
        ({"n_volumes": 10.0}, "n_volumes must be an int >= 1, got 10.0"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    path = _write_json(tmp_path / "p.json", {"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[1, 1]]}]})
    with pytest.raises(DesignError, match=match):
        load_protocol(path, **kwargs)


def test_returns_a_design(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "p.json", {"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[2, 3]]}]})
    assert load_protocol(path, 5) == Design.from_blocks(5, [("UP", 1, 2)])


# -- PyHRF paradigm CSV -------------------------------------------------------------


@pytest.mark.shared
def test_real_pyhrf_localizer_paradigm(shared_data: Path) -> None:
    path = shared_data / "pyhrf_localizer" / "paradigm_loc.csv"
    design = load_protocol(path, n_volumes=125, tr=2.4)
    assert len(design.conditions) == 10
    assert set(design.conditions) == {
        "calculaudio", "calculvideo", "clicDaudio", "clicDvideo", "clicGaudio", "clicGvideo",
        "damier_H", "damier_V", "phraseaudio", "phrasevideo",
    }
    assert design.events is not None and len(design.events) == 80
    # impulses label the volume they fall in: 35.4 s is in volume 14 ([33.6, 36.0) s)
    assert design.condition(14) == "calculaudio"
    assert design.condition(0) == "calculvideo" and design.condition(1) == "calculvideo"  # 0.0 s and 2.4 s
    assert design.condition(2) == "BAS"
    assert (design.labels != "BAS").sum() == 80  # no two events share a volume
    x = design.task_regressors(2.4)
    assert x.shape == (125, 10) and np.all(x.max(axis=0) > 0.1)
    grouped = load_protocol(shared_data / "pyhrf_localizer" / "paradigm_loc_av.csv", n_volumes=125, tr=2.4)
    assert set(grouped.conditions) == {"audio", "video"}


def test_pyhrf_csv_formats_sessions_and_amplitudes(tmp_path: Path) -> None:
    path = tmp_path / "paradigm.csv"
    path.write_text(
        "session,condition,onset,duration,amplitude\n"
        '0,"left",4.0,0.0,2.5\n'
        "0,right,10.0,6.0,1\n"
        "1,left,2.0,0.0,1\n"
    )
    with pytest.raises(ProtocolError, match=r"sessions \[0, 1\]; pass session="):
        load_protocol(path, 10, tr=2.0)
    design = load_protocol(path, 10, tr=2.0, session=0)
    assert design.conditions == ("left", "right")
    assert design.labels.tolist() == ["BAS", "BAS", "left", "BAS", "BAS", "right", "right", "right", "BAS", "BAS"]
    assert design.events is not None
    assert [tuple(e) for e in design.events] == [("left", 4.0, 0.0, 2.5), ("right", 10.0, 6.0, 1.0)]
    other = load_protocol(path, 10, tr=2.0, session=1)
    assert other.conditions == ("left",) and other.condition(1) == "left"
    spaces = tmp_path / "spaces.csv"
    spaces.write_text('0 "left" 4.0 0.0\n0 "rest" 0.0 4.0\n')
    d = load_protocol(spaces, 10, tr=2.0)
    assert d.conditions == ("left",) and d.events is not None and d.events[0].amplitude == 1.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0,a,1.0\n", "has 3 fields"),
        ("x,a,1.0,0.0\n", "session must be an integer"),
        ("0,a,abc,0.0\n", "onset must be a number"),
        ("0,a,1.0,-1\n", "duration must be a finite number"),
        ("0,a,1.0,0.0,big\n", "amplitude must be a number"),
        ("0,a,100.0,0.0\n", "beyond the run"),
        ("0,rest,2.0,0.0\n", "no non-baseline event"),
        ("\n", "no events"),
    ],
)
def test_bad_pyhrf_csv_is_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ProtocolError, match=match):
        load_protocol(path, 10, tr=2.0)


def test_pyhrf_events_sharing_a_volume_give_it_the_larger_part(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    # volume 1, [2, 4): two impulses (0 s each: the earlier wins); volume 3, [6, 8): b covers 1.5 s, a 0.5 s
    path.write_text("0,b,2.5,0.0\n0,a,2.0,0.0\n0,a,5.0,1.5\n0,b,6.5,2.0\n")
    design = load_protocol(path, 6, tr=2.0)
    assert design.labels.tolist() == ["BAS", "a", "a", "b", "b", "BAS"]
    assert design.events is not None and len(design.events) == 4


def test_pyhrf_csv_needs_the_tr_and_a_session_that_exists(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("0,a,1.0,0.0\n")
    with pytest.raises(DesignError, match="tr must be the repetition time"):
        load_protocol(path, 10)
    with pytest.raises(ProtocolError, match="no event of session 3"):
        load_protocol(path, 10, tr=2.0, session=3)
    with pytest.raises(DesignError, match="session must be an int, got '0'"):
        load_protocol(path, 10, tr=2.0, session="0")  # type: ignore[arg-type]


def test_bids_designs_keep_their_event_times(tmp_path: Path) -> None:
    events = tmp_path / "events.tsv"
    events.write_text("onset\tduration\ttrial_type\n3.0\t5.0\tUP\n9.0\t2.0\trest\n")
    design = load_protocol(events, 10, tr=2.0)
    assert design.events is not None and [tuple(e) for e in design.events] == [("UP", 3.0, 5.0, 1.0)]


def test_bids_events_on_volume_starts_label_as_before(tmp_path: Path) -> None:
    # before issue 11 a volume belonged to an event when its start i * tr lay in [onset, onset + duration);
    # for events from one volume start to another, the window rule gives the same labels
    tr, n_volumes = 1.97, 200
    rng = np.random.default_rng(5)
    rows, start = ["onset\tduration\ttrial_type"], 3
    while start < n_volumes - 1:
        length = int(rng.integers(1, 12))
        rows.append(f"{start * tr:.2f}\t{length * tr:.2f}\t{rng.choice(['UP', 'DOWN', 'rest'])}")
        start += length + int(rng.integers(0, 6))
    path = _write_tsv(tmp_path / "events.tsv", *rows)
    previous = ["BAS"] * n_volumes
    for row in rows[1:]:
        onset, duration, name = float(row.split("\t")[0]), float(row.split("\t")[1]), row.split("\t")[2]
        for i in range(n_volumes):
            if onset - 1e-6 <= i * tr < onset + duration - 1e-6:
                previous[i] = "BAS" if name == "rest" else name
    assert load_protocol(path, n_volumes=n_volumes, skip_volumes=2, tr=tr).labels.tolist() == previous
