"""The study file: validated like the daemon's config (errors name the key), its dataset read with pybids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.config import ConfigError
from nfd.evaluate import load_study, parse_study, plan_grid, study_runs

BASE = {"dataset": {"bids": "bids"}, "rois": {"centres": "c.tsv", "radius_mm": [4, 6]}}


def _study(**tables: object) -> dict[str, object]:
    return {**BASE, **tables}


@pytest.mark.parametrize(
    ("tables", "key", "words"),
    [
        ({"variants": [{"points": [2, "x"]}]}, "variants[0].points[1]", "expected an integer"),
        ({"variants": [{"radius_mm": [5]}]}, "variants[0].radius_mm", "not among rois.radius_mm"),
        ({"variants": [{"pionts": [2]}]}, "variants[0].pionts", "did you mean 'points'"),
        ({"variants": [{"targets": "fives"}]}, "variants[0].targets", "expected one of 'pairs', 'triples', 'quads'"),
        ({"variants": [{"echo": ["optimal"]}]}, "variants[0].echo", "expected 'optcom' or echo numbers"),
        ({"variants": [{"targets": "pairs", "min_agree": 3}]}, "variants[0].min_agree", "exceeds the 2 targets"),
        ({"volume": {"smooth_fwhm": -1}}, "volume.smooth_fwhm", "expected a number from 0.0 to 50.0"),
        ({"gold": {"echo": "best"}}, "gold.echo", "expected 'optcom' or an echo number"),
        ({"statistics": {"iterations": 5}}, "statistics.iterations", "expected an integer from 100"),
        ({"dataset": {}}, "dataset", "expected a BIDS dataset"),
    ],
)
def test_a_bad_key_is_named(tables: dict[str, object], key: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_study(_study(**tables), tmp_path)
    assert err.value.key == key and words in str(err.value)


def test_the_grid_expands_every_combination(tmp_path: Path) -> None:
    study = parse_study(_study(variants=[
        {"targets": "pairs", "points": [2, 3, 4], "echo": ["2", "optcom"]},
        {"targets": "quads", "min_agree": 3, "sets": 5, "radius_mm": [4], "level": ["full"]},
    ]), tmp_path)  # fmt: skip
    plan = plan_grid(study, [f"t{k}" for k in range(6)], multi_echo=True)
    pairs = [v for v in plan.variants if v.n_targets == 2]
    quads = [v for v in plan.variants if v.n_targets == 4]
    assert len(pairs) == 3 * 2 * 2 * 2 and all(len(v.sets) == 15 for v in pairs)
    assert len(quads) == 1 and quads[0].min_agree == 3 and quads[0].echo == "optcom" and len(quads[0].sets) == 5
    assert len({v.label for v in plan.variants}) == len(plan.variants)
    assert plan.echoes == ("2", "optcom") and plan.gold_echo == "optcom"
    again = plan_grid(study, [f"t{k}" for k in range(6)], multi_echo=True)
    assert again.variants[-1].sets == quads[0].sets  # the sample is seeded


def _bids(root: Path) -> None:
    """Two subjects: sub-01 with two sessions of 3 echoes, sub-02 whose run lacks echo 2."""
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    image = nib.Nifti1Image(np.zeros((4, 4, 3, 5), np.int16), np.eye(4))
    files = [("01", "ses-a", e) for e in (1, 2, 3)] + [("01", "ses-b", e) for e in (1, 2, 3)]
    files += [("02", None, e) for e in (1, 3)]
    for subject, session, echo in files:
        folder = root / f"sub-{subject}" / (session or "") / "func"
        folder.mkdir(parents=True, exist_ok=True)
        stem = "_".join(p for p in (f"sub-{subject}", session, "task-rest", f"echo-{echo}", "bold") if p)
        nib.save(image, folder / f"{stem}.nii.gz")
        (folder / f"{stem}.json").write_text(json.dumps({"EchoTime": 0.01 * echo, "RepetitionTime": 2.0}))


def test_runs_are_read_with_pybids(tmp_path: Path) -> None:
    _bids(tmp_path / "bids")
    runs, problems = study_runs(parse_study(_study(), tmp_path))
    assert [(r.subject, r.run, len(r.echoes)) for r in runs] == [("01", "a", 3), ("01", "b", 3)]
    assert runs[0].tr == 2.0 and runs[0].echo_times_ms == pytest.approx((10.0, 20.0, 30.0))
    assert [p.name for p in runs[1].echoes] == [f"sub-01_ses-b_task-rest_echo-{e}_bold.nii.gz" for e in (1, 2, 3)]
    assert problems == ["subject 02 run 1: missing run: echoes [1, 3], expected 1 to 3"]
    only, _ = study_runs(parse_study(_study(dataset={"bids": "bids", "subjects": ["02", "03"]}), tmp_path))
    assert only == []


def test_check_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('[dataset]\nbids = "bids"\n[rois]\ncentres = "c.tsv"\n[[variants]]\npoints = [1]\n')
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--check"], check=False,
                          capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "variants[0].points: expected points from 2 to 10, got [1]" in done.stderr and str(study) in done.stderr
    _bids(tmp_path / "bids")
    study.write_text('[dataset]\nbids = "bids"\n[rois]\ncentres = "c.tsv"\n')
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--check"], check=False,
                          capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 runs of 1 subjects" in done.stderr and "subject 02 run 1: missing run" in done.stderr
    assert load_study(study).rois.centres == "c.tsv"
    (tmp_path / "taken").write_text("")
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--out", str(tmp_path / "taken")],
                          check=False, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is a file: expected a folder" in done.stderr


def test_the_example_study_is_valid_and_shows_every_key() -> None:
    """etc/study.toml (the paper's grid) loads, and documents every key of the schema but the daemon's [volume]."""
    import dataclasses
    import typing

    from nfd.evaluate import Study
    from nfd.evaluate._study import RunEntry, VariantsTable

    path = Path(__file__).resolve().parents[2] / "etc" / "study.toml"
    study = load_study(path)
    assert [len(v.points) for v in study.variants] == [3, 1, 1, 1] and study.rois.radius_mm == [4, 6, 8, 10]
    text = path.read_text()
    assert "\n# [[dataset.runs]]" in text
    hints = typing.get_type_hints(Study)
    tables = [hints[name] for name in hints if dataclasses.is_dataclass(hints[name]) and name != "volume"]
    for cls in [*tables, VariantsTable, RunEntry]:
        for f in dataclasses.fields(cls):
            if not f.metadata.get("internal") and f.name != "runs":  # [[dataset.runs]], a table of its own
                assert f"\n{f.name} =" in text or f"\n# {f.name} =" in text, f"{cls.__name__}.{f.name} is missing"
