"""``nfd evaluate`` over a synthetic cohort: the same tables from one process, joblib and a Dask cluster; bad
input reported and skipped; a study stopped with Ctrl-C resumes."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nfd.evaluate import evaluate_study
from nfd.simulate import make_cohort, write_cohort

SUBJECTS, RUNS, VOLUMES = 4, 2, 48

STUDY = """
[dataset]
bids = "cohort"
min_volumes = 20
{runs}
[rois]
centres = "{centres}"
radius_mm = [4, 8]

[[variants]]
targets = "pairs"
points = [2, 3]
echo = ["2", "optcom"]

[[variants]]
targets = "triples"
points = [2]
radius_mm = [8]
level = ["full"]

[statistics]
iterations = 500
"""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    write_cohort(make_cohort(SUBJECTS, RUNS, VOLUMES, n_targets=4, shape=(40, 48, 34), seed=3), root / "cohort")
    return root


def _study(
    root: Path,
    name: str,
    centres: str = "cohort/derivatives/truth/sub-{subject}/sub-{subject}_rois.tsv",
    runs: str = "",
) -> Path:
    path = root / f"{name}.toml"
    path.write_text(STUDY.format(centres=centres, runs=runs))
    return path


def _tables(out: Path) -> dict[str, bytes]:
    return {
        name: (out / f"{name}.tsv").read_bytes() for name in ("cells", "performance", "comparisons", "correlations")
    }


def test_one_process_joblib_and_dask_give_the_same_tables(cohort: Path) -> None:
    study = _study(cohort, "same")
    one = evaluate_study(study, cohort / "one")
    assert one.problems == [] and one.computed == SUBJECTS * RUNS
    variants, pairs = 2 * 2 * 2 * 2, 6  # points x radius x echo x level, 6 pairs of 4 targets; + 4 triples
    assert len(one.cells) == SUBJECTS * RUNS * (variants * pairs + 4)
    evaluate_study(study, cohort / "joblib", jobs=2)
    evaluate_study(study, cohort / "dask", jobs=2, scheduler="local")
    reference = _tables(cohort / "one")
    assert _tables(cohort / "joblib") == reference
    assert _tables(cohort / "dask") == reference
    assert "<img" in one.report.read_text() and (cohort / "one" / "figures" / "output_vs_gold.png").is_file()


def test_bad_input_is_one_line_each_and_the_rest_goes_on(cohort: Path) -> None:
    root = cohort / "bad"
    root.mkdir()
    (root / "cohort").symlink_to(cohort / "cohort")
    rows = ["subject\tname\tx\ty\tz"]
    for subject in ("01", "02", "03"):  # sub-04: no coordinates
        table = cohort / f"cohort/derivatives/truth/sub-{subject}/sub-{subject}_rois.tsv"
        with table.open() as f:
            for r in csv.DictReader(f, delimiter="\t"):
                x, y, z = float(r["x"]), float(r["y"]), float(r["z"])
                if subject == "02" and r["name"] == "target01":
                    x = 500.0  # outside the field of view
                if subject == "03" and r["name"] == "target02":
                    x, y, z = 64.0, 78.0, 54.0  # a corner of the field of view, outside the head
                rows.append(f"{subject}\t{r['name']}\t{x}\t{y}\t{z}")
    (root / "centres.tsv").write_text("\n".join(rows) + "\n")
    for echo in (1, 2, 3):  # a run of 12 volumes, given as a multi-echo recording: its echo-1 file
        image = nib.load(cohort / f"cohort/sub-01/func/sub-01_task-rest_run-1_echo-{echo}_bold.nii.gz")
        short = nib.Nifti1Image(np.asarray(image.dataobj)[..., :12], image.affine, image.header)
        nib.save(short, root / f"short_echo-{echo}_bold.nii.gz")
    runs = ('[[dataset.runs]]\nsubject = "01"\nrun = "short"\npath = "short_echo-1_bold.nii.gz"\n'
            '[[dataset.runs]]\nsubject = "01"\nrun = "gone"\npath = "gone.nii.gz"\n')  # fmt: skip
    study = _study(root, "study", centres="centres.tsv", runs=runs).read_text()
    (root / "study.toml").write_text(study.replace('echo = ["2", "optcom"]', 'echo = ["2"]'))
    result = evaluate_study(root / "study.toml", root / "out")
    problems = (root / "out" / "problems.txt").read_text().splitlines()
    assert problems == result.problems and len(problems) == 7, problems  # the ROIs: a line per run
    expected = [
        "subject 01 run gone: missing run:",
        "subject 04: no ROI coordinates",
        "subject 01 run short: too short: 12 volumes after the skipped ones, at least 20 expected",
        "subject 02 run 1: ROI target01 centre (500.0,",
        "subject 02 run 2: ROI target01 centre (500.0,",
        "subject 03 run 1: ROI target02 is outside the brain (0% at 4 mm, 0% at 8 mm of its voxels",
        "subject 03 run 2: ROI target02 is outside the brain (0% at 4 mm, 0% at 8 mm of its voxels",
    ]
    for words in expected:
        assert sum(line.startswith(words) for line in problems) == 1, (words, problems)
    report = result.report.read_text()
    assert all(line.split(":")[0] in report for line in problems)
    cells = result.cells
    assert set(cells.subject) == {"01", "02", "03"} and "short" not in set(cells.run)
    assert not cells[(cells.subject == "02")].target_set.str.contains("target01").any()
    assert cells[(cells.subject == "02")].target_set.str.contains("target02").any()


def test_ctrl_c_stops_a_study_and_it_resumes(cohort: Path) -> None:
    root = cohort / "interrupted"
    root.mkdir()
    (root / "cohort").symlink_to(cohort / "cohort")
    study = _study(root, "study")
    command = [sys.executable, "-m", "nfd", "evaluate", str(study), "--out", str(root / "out")]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = root / "out" / "cells.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.is_file() and log.read_bytes().count(b"\n") >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "run the same command again to resume" in stderr
    finished = log.read_bytes().count(b"\n")
    assert 2 <= finished < SUBJECTS * RUNS
    shutil.rmtree(root / "out" / "cache")  # what was finished is in cells.jsonl, not only in the engine's cache
    resumed = evaluate_study(study, root / "out")
    assert resumed.computed == SUBJECTS * RUNS - finished
    if (cohort / "one" / "cells.tsv").is_file():
        assert _tables(root / "out") == _tables(cohort / "one")


def test_a_sliding_correlation_against_a_per_run_score(cohort: Path) -> None:
    """kind "correlation": the mean over the run of the windowed target-target r, as numpy computes it; gold
    "score": each run's score from a TSV, a run without one reported and n/a."""
    from nfd.evaluate import minimal_roi_series, sphere_masks

    root = cohort / "score"
    root.mkdir()
    (root / "cohort").symlink_to(cohort / "cohort")
    scores = ["subject\trun\tscore"] + [f"sub-{s:02d}\t{r}\t{s * 10 + r}" for s in range(1, SUBJECTS + 1)
                                        for r in range(1, RUNS + 1) if (s, r) != (2, 2)]  # fmt: skip
    (root / "scores.tsv").write_text("\n".join(scores) + "\n")
    study = root / "study.toml"
    study.write_text("""
[dataset]
bids = "cohort"
subjects = ["01", "02"]
[rois]
centres = "cohort/derivatives/truth/sub-{subject}/sub-{subject}_rois.tsv"
radius_mm = [6]
[gold]
measure = "score"
scores = "scores.tsv"
[[variants]]
kind = "correlation"
window = [10, 30]
echo = ["2"]
level = ["minimal"]
""")
    result = evaluate_study(study, root / "out")
    assert result.problems == ["subject 02 run 2: no score in gold.scores; its gold standard is n/a"]
    cells = result.cells
    assert sorted(cells.window.unique()) == [10, 30] and cells.points.isna().all()
    assert set(zip(cells.subject, cells.run, cells.gold.fillna(-1), strict=True)) == {("01", "1", 11), ("01", "2", 12),
                                                                         ("02", "1", 21), ("02", "2", -1)}
    row = cells[(cells.subject == "01") & (cells.run == "2") & (cells.window == 10)].iloc[0]
    a, b = row.target_set.split("+")
    image = cohort / "cohort/sub-01/func/sub-01_task-rest_run-2_echo-2_bold.nii.gz"
    import nibabel as nib

    header = nib.load(image)
    centres = {}
    with (cohort / "cohort/derivatives/truth/sub-01/sub-01_rois.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            centres[r["name"]] = (float(r["x"]), float(r["y"]), float(r["z"]))
    masks = {f"{n}@6": m for n, m in sphere_masks(centres, 6.0, header.shape[:3], header.affine).items()}
    series = minimal_roi_series(image, masks, cache_dir=root / "out" / "cache")  # the grid's own cached pass
    x, y = series.column(f"{a}@6"), series.column(f"{b}@6")
    windows = [np.corrcoef(x[i - 10:i], y[i - 10:i])[0, 1] for i in range(10, x.size + 1)]
    assert row.output == pytest.approx(np.mean(windows), abs=1e-9)


def _fmriprep(cohort: Path, root: Path) -> None:
    """An fMRIPrep-like derivatives folder: each run's echo 2 as desc-preproc_bold, its confounds TSV from the
    cohort's true motion (fMRIPrep's column names, n/a in the first derivative row) and global signal."""
    import json

    (root / "dataset_description.json").parent.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "fmriprep-like", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
         "GeneratedBy": [{"Name": "fMRIPrep"}]}))  # fmt: skip
    motion = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
    for s in range(1, SUBJECTS + 1):
        func = root / f"sub-{s:02d}" / "func"
        func.mkdir(parents=True)
        for r in range(1, RUNS + 1):
            stem = f"sub-{s:02d}_task-rest_run-{r}"
            shutil.copy(cohort / f"cohort/sub-{s:02d}/func/{stem}_echo-2_bold.nii.gz", func / f"{stem}_desc-preproc_bold.nii.gz")
            table = pd.read_csv(cohort / f"cohort/derivatives/truth/sub-{s:02d}/{stem}_nuisance.tsv", sep="\t")
            out = table[[*motion, "global_signal"]].copy()
            for m in motion:
                out[f"{m}_derivative1"] = out[m].diff()
                out[f"{m}_power2"] = out[m] ** 2
                out[f"{m}_derivative1_power2"] = out[f"{m}_derivative1"] ** 2
            out.to_csv(func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")


def test_the_fully_processed_level_from_fmriprep_derivatives(cohort: Path) -> None:
    """[full] derivatives: the gold standard on desc-preproc_bold cleaned with the confounds TSV's 24P columns
    and global_signal, equal to the composite of nilearn's NiftiSpheresMasker on the same file and columns."""
    from nilearn.maskers import NiftiSpheresMasker

    from nfd.evaluate._derivatives import fmriprep_confounds
    from nfd.feedback import composite_measure

    root = cohort / "derived"
    root.mkdir()
    (root / "cohort").symlink_to(cohort / "cohort")
    _fmriprep(cohort, root / "fmriprep")
    study = root / "study.toml"
    study.write_text("""
[dataset]
bids = "cohort"
subjects = ["01", "03"]
[rois]
centres = "cohort/derivatives/truth/sub-{subject}/sub-{subject}_rois.tsv"
radius_mm = [6]
[full]
derivatives = "fmriprep"
confound_columns = ["global_signal"]
[[variants]]
echo = ["2"]
level = ["full"]
""")
    result = evaluate_study(study, root / "out")
    assert result.problems == [] and len(result.cells) == 2 * RUNS * 6
    row = result.cells[(result.cells.subject == "03") & (result.cells.run == "2")].iloc[0]
    preproc = root / "fmriprep/sub-03/func/sub-03_task-rest_run-2_desc-preproc_bold.nii.gz"
    confounds = fmriprep_confounds(preproc.with_name("sub-03_task-rest_run-2_desc-confounds_timeseries.tsv"), "24P",
                                   ["global_signal"])  # fmt: skip
    assert confounds.shape == (VOLUMES, 25) and confounds[0, 6] == 0.0  # the first derivative row: n/a as 0
    image = nib.load(preproc)
    floats = nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine)  # the masker keeps int16
    with (cohort / "cohort/derivatives/truth/sub-03/sub-03_rois.tsv").open() as f:
        centres = {r["name"]: (float(r["x"]), float(r["y"]), float(r["z"])) for r in csv.DictReader(f, delimiter="\t")}
    masker = NiftiSpheresMasker(list(centres.values()), radius=6.0, allow_overlap=True, detrend=True,
                                standardize=None, t_r=2.0, high_pass=0.01, low_pass=0.1)  # fmt: skip
    cleaned = masker.fit_transform(floats, confounds=confounds)
    a, b = (list(centres).index(n) for n in row.target_set.split("+"))
    expected = composite_measure(cleaned[:, [a, b]], cleaned[:, list(centres).index("control")])
    assert row.gold == pytest.approx(expected, abs=1e-5)
    missing = root / "study-missing.toml"
    missing.write_text(study.read_text().replace('subjects = ["01", "03"]', 'subjects = ["02"]'))
    (root / "fmriprep/sub-02/func/sub-02_task-rest_run-1_desc-confounds_timeseries.tsv").unlink()
    lacking = evaluate_study(missing, root / "out-missing")
    assert len(lacking.problems) == 1 and "subject 02 run 1: left out: 1 desc-preproc_bold" in lacking.problems[0]


def test_a_sliding_window_composite_as_the_gold_standard(cohort: Path) -> None:
    """[gold] measure = "sliding": the mean over the run of the composite in each window, as numpy computes it."""
    from nfd.evaluate import full_roi_series, minimal_roi_series, sphere_masks

    root = cohort / "sliding"
    root.mkdir()
    (root / "cohort").symlink_to(cohort / "cohort")
    study = root / "study.toml"
    study.write_text(_study(root, "base").read_text().split("[[variants]]")[0].replace(
        "radius_mm = [4, 8]", "radius_mm = [8]") + '[gold]\nmeasure = "sliding"\nwindow = 16\n'
        '[[variants]]\necho = ["optcom"]\nlevel = ["minimal"]\n')  # fmt: skip
    result = evaluate_study(study, root / "out")
    row = result.cells[(result.cells.subject == "02") & (result.cells.run == "1")].iloc[2]
    image = cohort / "cohort/sub-02/func/sub-02_task-rest_run-1_echo-1_bold.nii.gz"
    header = nib.load(image)
    with (cohort / "cohort/derivatives/truth/sub-02/sub-02_rois.tsv").open() as f:
        centres = {r["name"]: (float(r["x"]), float(r["y"]), float(r["z"])) for r in csv.DictReader(f, delimiter="\t")}
    masks = {f"{n}@8": m for n, m in sphere_masks(centres, 8.0, header.shape[:3], header.affine).items()}
    minimal = minimal_roi_series(image, masks, multiecho={"combine": "t2s", "realign_echo": 1, "t2s_volumes": 10,
                                                          "t2s_update": "freeze"},
                                 echo_times_ms=(14.5, 35.3, 56.1), cache_dir=root / "out" / "cache")  # fmt: skip
    full = full_roi_series(minimal, 2.0)
    a, b = (minimal.names.index(f"{n}@8") for n in row.target_set.split("+"))
    c = minimal.names.index("control@8")
    values = []
    for i in range(16, VOLUMES + 1):
        r = np.corrcoef(full[i - 16:i, [a, b, c]].T)
        values.append(r[0, 1] - (r[0, 2] + r[1, 2]) / 2)
    assert row.gold == pytest.approx(np.mean(values), abs=1e-9)
