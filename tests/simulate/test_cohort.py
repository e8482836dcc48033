"""nfd.simulate.make_cohort / write_cohort: synthetic multi-echo resting-state cohorts with known connectivity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.cli import main
from nfd.simulate import Cohort, SimulationError, make_cohort, write_cohort

GRID = {"shape": (40, 48, 34), "voxel_size": (3.5, 3.5, 3.5)}
QUIET = {
    "voxel_noise_pct": 0.0, "global_pct": 0.0, "s0_noise_pct": 0.0, "physio_pct": 0.0, "thermal_noise_pct": 0.0,
    "drift_pct": 0.0, "max_motion_mm": 0.0, "max_motion_deg": 0.0, "spikes": 0, "dtype": "float32",
}  # fmt: skip


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return make_cohort(2, 2, 40, seed=5, **GRID)


#: The progress calls the module's dataset was written with.
PROGRESS: list[tuple[int, int]] = []


@pytest.fixture(scope="module")
def dataset(cohort: Cohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cohort(cohort, tmp_path_factory.mktemp("cohort") / "bids",
                        progress=lambda done, total: PROGRESS.append((done, total)))


def test_progress_is_told_once_per_run(dataset: Path) -> None:
    assert PROGRESS == [(1, 4), (2, 4), (3, 4), (4, 4)]


def _written(dataset: Path, subject: str, run: int) -> np.ndarray:
    """``(n_echoes, n_volumes, X, Y, Z)`` as read back from the dataset."""
    files = sorted(dataset.glob(f"sub-{subject}/func/sub-{subject}_task-rest_run-{run}_echo-*_bold.nii.gz"))
    return np.stack([np.moveaxis(np.asanyarray(nib.load(f).dataobj), -1, 0) for f in files])


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _sphere(cohort: Cohort, centre: np.ndarray, radius: float) -> np.ndarray:
    ijk = np.indices(cohort.settings.shape).reshape(3, -1).T
    world = ijk @ cohort.affine[:3, :3].T + cohort.affine[:3, 3]
    return (np.linalg.norm(world - centre, axis=1) <= radius).reshape(cohort.settings.shape)


def test_deterministic_from_the_seed_and_independent_streams(cohort: Cohort, dataset: Path) -> None:
    again = make_cohort(2, 2, 40, seed=5, **GRID)
    np.testing.assert_array_equal(again.run_volumes(1, 1), _written(dataset, "02", 2))
    for a, b in zip(again.subjects, cohort.subjects, strict=True):
        np.testing.assert_array_equal(a.centres_mm, b.centres_mm)
        np.testing.assert_array_equal(a.runs[0].roi_signals, b.runs[0].roi_signals)
    # subject 0 does not depend on the number of subjects or runs; another seed changes it
    alone = make_cohort(1, 1, 40, seed=5, **GRID)
    np.testing.assert_array_equal(alone.subjects[0].runs[0].motion, cohort.subjects[0].runs[0].motion)
    np.testing.assert_array_equal(alone.run_volumes(0, 0), _written(dataset, "01", 1))
    other = make_cohort(1, 1, 40, seed=6, **GRID)
    assert not np.array_equal(other.subjects[0].centres_mm, cohort.subjects[0].centres_mm)
    # runs and subjects differ
    assert not np.array_equal(cohort.subjects[0].runs[0].roi_signals, cohort.subjects[0].runs[1].roi_signals)
    assert not np.array_equal(cohort.subjects[0].s0, cohort.subjects[1].s0)


def test_bids_layout(cohort: Cohort, dataset: Path) -> None:
    bold = sorted(p.relative_to(dataset).as_posix() for p in dataset.glob("sub-*/func/*_bold.nii.gz"))
    expected = sorted(
        f"sub-{s}/func/sub-{s}_task-rest_run-{r}_echo-{e}_bold.nii.gz" for s in ("01", "02") for r in (1, 2)
        for e in (1, 2, 3)
    )  # fmt: skip
    assert bold == expected
    for name, te in zip(("echo-1", "echo-2", "echo-3"), (0.0145, 0.0353, 0.0561), strict=True):
        sidecar = json.loads((dataset / f"sub-02/func/sub-02_task-rest_run-2_{name}_bold.json").read_text())
        assert sidecar == {"EchoTime": pytest.approx(te), "RepetitionTime": 2.0, "TaskName": "rest"}
    description = json.loads((dataset / "dataset_description.json").read_text())
    assert description["BIDSVersion"] and description["DatasetType"] == "raw"
    assert [row["participant_id"] for row in _tsv(dataset / "participants.tsv")] == ["sub-01", "sub-02"]
    truth = dataset / "derivatives" / "truth"
    assert json.loads((truth / "dataset_description.json").read_text())["DatasetType"] == "derivative"
    for s in ("01", "02"):
        assert (truth / f"sub-{s}" / f"sub-{s}_rois.tsv").is_file()
        assert (truth / f"sub-{s}" / f"sub-{s}_coupling.tsv").is_file()
        for r in (1, 2):
            for kind in ("roisignals", "composite", "nuisance"):
                assert (truth / f"sub-{s}" / f"sub-{s}_task-rest_run-{r}_{kind}.tsv").is_file()


def test_files_read_back_equal_the_arrays(cohort: Cohort, dataset: Path) -> None:
    volumes = cohort.run_volumes(1, 0)
    for e in range(3):
        image = nib.load(dataset / f"sub-02/func/sub-02_task-rest_run-1_echo-{e + 1}_bold.nii.gz")
        data = np.asanyarray(image.dataobj)
        assert data.dtype == np.int16 and data.shape == (*cohort.settings.shape, 40)
        np.testing.assert_array_equal(np.moveaxis(data, -1, 0), volumes[e])
        np.testing.assert_allclose(image.affine, cohort.affine)
        assert image.header.get_zooms()[3] == pytest.approx(2.0)
    subject = cohort.subjects[1]
    rois = _tsv(dataset / "derivatives/truth/sub-02/sub-02_rois.tsv")
    assert [row["name"] for row in rois] == list(cohort.roi_names)
    assert [row["role"] for row in rois] == ["target"] * 11 + ["control"]
    centres = np.array([[float(row[k]) for k in "xyz"] for row in rois])
    np.testing.assert_allclose(centres, subject.centres_mm, atol=1e-4)
    signals = _tsv(dataset / "derivatives/truth/sub-02/sub-02_task-rest_run-1_roisignals.tsv")
    table = np.array([[float(row[n]) for n in cohort.roi_names] for row in signals])
    np.testing.assert_allclose(table, subject.runs[0].roi_signals, rtol=1e-5, atol=1e-7)
    t2star = nib.load(dataset / "derivatives/truth/sub-02/sub-02_T2starmap.nii.gz").get_fdata()
    np.testing.assert_array_equal(t2star, subject.t2star_ms)


def test_true_composite_matches_numpy(cohort: Cohort, dataset: Path) -> None:
    for s, subject in enumerate(cohort.subjects):
        for r, run in enumerate(subject.runs):
            corr = np.corrcoef(run.roi_signals.T)
            rows = _tsv(dataset / f"derivatives/truth/sub-{subject.label}/sub-{subject.label}_task-rest_run-{r + 1}"
                        "_composite.tsv")  # fmt: skip
            assert len(rows) == 55
            for (a, b), row, computed in zip(cohort.target_pairs, rows, cohort.true_composite(s, r), strict=True):
                expected = corr[a, b] - (corr[a, 11] + corr[b, 11]) / 2
                assert (row["target_a"], row["target_b"]) == (cohort.roi_names[a], cohort.roi_names[b])
                assert float(row["composite"]) == pytest.approx(expected, abs=1e-5)
                assert computed[2] == pytest.approx(expected, abs=1e-12)


def test_coupling_spread_and_decoupled_control(cohort: Cohort) -> None:
    model = cohort.coupling[np.triu_indices(11, 1)]
    assert model.min() < 0.15 and model.max() > 0.75
    for subject in cohort.subjects:
        for run in subject.runs:
            corr = np.corrcoef(run.roi_signals.T)
            pairs = corr[:11, :11][np.triu_indices(11, 1)]
            assert pairs.max() >= 0.6 and pairs.max() - pairs.min() >= 0.4  # a run's state may couple all more
            assert np.all(np.abs(corr[11, :11]) < 0.2)
    # over the paper's run length the sample correlations follow the run's model
    long = make_cohort(1, 1, 270, seed=2, **GRID)
    run = long.subjects[0].runs[0]
    sample = np.corrcoef(run.roi_signals.T)[:11, :11][np.triu_indices(11, 1)]
    assert np.corrcoef(sample, run.coupling[:11, :11][np.triu_indices(11, 1)])[0, 1] > 0.8


def _composite_spread(cohort: Cohort, across: str) -> float:
    """Mean over target pairs of the sd of the true composite across runs (one subject) or subjects (one run)."""
    if across == "runs":
        values = [cohort.true_composite(0, r)[:, 2] for r in range(cohort.settings.n_runs)]
    else:
        values = [cohort.true_composite(s, 0)[:, 2] for s in range(len(cohort.subjects))]
    return float(np.std(values, axis=0).mean())


def test_coupling_spreads_between_runs_and_subjects_with_the_options() -> None:
    grid = {"shape": (40, 48, 34), "voxel_size": (3.5, 3.5, 3.5), "n_targets": 6, "seed": 4}
    fixed = make_cohort(1, 6, 270, run_coupling_sd=0.0, state_sd=0.0, **grid)
    spreads = [_composite_spread(make_cohort(1, 6, 270, run_coupling_sd=sd, state_sd=0.0, **grid), "runs")
               for sd in (0.1, 0.25)]  # fmt: skip
    assert _composite_spread(fixed, "runs") < spreads[0] < spreads[1]
    subject = fixed.subjects[0]
    for run in subject.runs:  # no run jitter: every run follows the subject's coupling
        np.testing.assert_array_equal(run.coupling, subject.coupling)
    jittered = make_cohort(1, 6, 270, run_coupling_sd=0.25, state_sd=0.0, **grid).subjects[0]
    np.testing.assert_array_equal(jittered.coupling, subject.coupling)  # the subject's own draw does not move
    assert not np.allclose(jittered.runs[0].coupling, jittered.runs[1].coupling)
    for run in jittered.runs:  # a run's sample correlations follow its own model
        sample = np.corrcoef(run.roi_signals.T)[:6, :6][np.triu_indices(6, 1)]
        model = run.coupling[:6, :6][np.triu_indices(6, 1)]
        assert np.corrcoef(sample, model)[0, 1] > 0.8
    # the run's state: every pair's coupling scales with the run's factor gains
    states = [make_cohort(1, 6, 270, run_coupling_sd=0.0, state_sd=sd, **grid) for sd in (0.1, 0.3)]
    assert _composite_spread(fixed, "runs") < _composite_spread(states[0], "runs") < _composite_spread(states[1], "runs")
    small, large = (make_cohort(6, 1, 270, coupling_sd=sd, run_coupling_sd=0.0, state_sd=0.0, **grid)
                    for sd in (0.02, 0.25))  # fmt: skip
    assert _composite_spread(small, "subjects") < _composite_spread(large, "subjects")
    np.testing.assert_array_equal(small.subjects[3].centres_mm, large.subjects[3].centres_mm)


def test_coupling_options_keep_a_subject_independent_of_the_cohort_size() -> None:
    options = {"coupling_sd": 0.2, "run_coupling_sd": 0.2, "state_sd": 0.2, "n_targets": 4, **GRID}
    alone = make_cohort(1, 1, 30, seed=3, **options)
    more = make_cohort(2, 2, 30, seed=3, **options)
    np.testing.assert_array_equal(alone.subjects[0].coupling, more.subjects[0].coupling)
    np.testing.assert_array_equal(alone.subjects[0].runs[0].coupling, more.subjects[0].runs[0].coupling)
    np.testing.assert_array_equal(alone.subjects[0].runs[0].roi_signals, more.subjects[0].runs[0].roi_signals)
    # the other streams do not move with the coupling options
    plain = make_cohort(1, 1, 30, seed=3, n_targets=4, **GRID)
    np.testing.assert_array_equal(plain.subjects[0].runs[0].motion, alone.subjects[0].runs[0].motion)
    np.testing.assert_array_equal(plain.subjects[0].centres_mm, alone.subjects[0].centres_mm)


def test_rois_in_grey_matter_apart_and_their_signal(cohort: Cohort) -> None:
    quiet = make_cohort(1, 1, 40, seed=5, **GRID, **QUIET)
    subject = quiet.subjects[0]
    np.testing.assert_array_equal(subject.centres_mm, cohort.subjects[0].centres_mm)
    echo2 = quiet.run_volumes(0, 0)[1]
    signals = subject.runs[0].roi_signals
    distances = np.linalg.norm(subject.centres_mm[:, None] - subject.centres_mm[None], axis=-1)
    assert distances[np.triu_indices(12, 1)].min() >= 20.0
    for k, centre in enumerate(subject.centres_mm):
        assert subject.tissue[tuple(np.round(np.linalg.solve(quiet.affine, [*centre, 1.0])[:3]).astype(int))] == 1
        for radius in (4.0, 10.0):
            mean = echo2[:, _sphere(quiet, centre, radius)].mean(axis=1)
            # a BOLD increase is a negative ΔR2*
            assert np.corrcoef(mean, -signals[:, k])[0, 1] > 0.99, (k, radius)


def test_noise_gives_a_plausible_tsnr_varying_by_region(cohort: Cohort, dataset: Path) -> None:
    echo2 = _written(dataset, "01", 1)[1].astype(np.float64)
    tsnr = echo2.mean(axis=0) / echo2.std(axis=0)
    subject = cohort.subjects[0]
    grey = tsnr[subject.tissue == 1]
    assert 20.0 < np.median(grey) < 150.0
    assert np.percentile(grey, 90) / np.percentile(grey, 10) > 1.3
    motion = subject.runs[0].motion
    assert np.all(motion[0] == 0.0) and len(subject.runs[0].spikes) == 2
    assert np.abs(np.diff(motion[:, :3], axis=0)).max() > 0.5  # the spikes


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_subjects": 0}, "n_subjects"),
        ({"n_runs": 1.5}, "n_runs"),
        ({"n_volumes": 2}, "n_volumes"),
        ({"echoes": 0}, "echoes"),
        ({"echoes": 2, "echo_times_ms": (10.0, 20.0, 30.0)}, "echo_times_ms"),
        ({"echo_times_ms": (30.0, 20.0, 40.0)}, "echo_times_ms"),
        ({"tr": 0.0}, "tr"),
        ({"n_targets": 12}, "n_targets"),
        ({"seed": -1}, "seed"),
        ({"shape": (8, 48, 34)}, "shape"),
        ({"thermal_noise_pct": -1.0}, "thermal_noise_pct"),
        ({"voxel_noise_ar": 1.0}, "voxel_noise_ar"),
        ({"coupling_sd": -0.1}, "coupling_sd"),
        ({"run_coupling_sd": "0.1"}, "run_coupling_sd"),
        ({"state_sd": -1}, "state_sd"),
        ({"spikes": -1}, "spikes"),
        ({"dtype": "int8"}, "dtype"),
        ({"colour": 1}, "colour"),
        ({"signal_radius_mm": 30.0}, "signal_radius_mm"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    args = {"n_subjects": 1, "n_runs": 1, "n_volumes": 10, **GRID, **kwargs}
    with pytest.raises(SimulationError, match=name):
        make_cohort(**args)  # type: ignore[arg-type]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    code = main(["simulate", "cohort", "--subjects", "1", "--runs", "1", "--volumes", "6", "--echoes", "2",
                 "--shape", "40", "48", "34", "--seed", "3", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.glob("sub-01/func/*.nii.gz")) == [
        "sub-01_task-rest_run-1_echo-1_bold.nii.gz", "sub-01_task-rest_run-1_echo-2_bold.nii.gz"]  # fmt: skip
    err = capsys.readouterr().err
    assert "1 subjects" in err and "run 1 of 1 written" in err
    assert main(["simulate", "cohort", "--subjects", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "n_subjects" in capsys.readouterr().err
