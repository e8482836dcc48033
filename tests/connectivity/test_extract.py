"""Atlas series from a tiny fMRIPrep-like derivatives folder with planted region signals and motion artefacts."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nilearn.signal import clean
from structlog.testing import capture_logs

from nfd.connectivity import (
    CleaningOptions,
    confound_columns,
    extract_dataset,
    find_runs,
    load_atlas,
    read_confounds,
)
from tests.connectivity.synthetic import (
    AFFINE,
    BOXES,
    N_VOLUMES,
    NAMES,
    SPIKES,
    TR,
    Derivatives,
    write_derivatives,
    write_subject,
)


@pytest.fixture(scope="module")
def derivatives(tmp_path_factory: pytest.TempPathFactory) -> Derivatives:
    return write_derivatives(tmp_path_factory.mktemp("conn") / "fmriprep")


def _reference(bold: Path, mask: Path, confounds: np.ndarray, kept: np.ndarray | None, **filters: float) -> np.ndarray:
    """Label means in float64 within the brain mask, cleaned by nilearn's signal.clean directly."""
    data = np.asarray(nib.load(bold).dataobj, dtype=np.float64)
    inside = np.asarray(nib.load(mask).dataobj) > 0
    means = []
    for box in BOXES.values():
        region = np.zeros(inside.shape, dtype=bool)
        region[box] = True
        means.append(data[region & inside].mean(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(clean(np.column_stack(means), detrend=True, standardize=False, confounds=confounds,
                                sample_mask=kept, t_r=TR, filter="butterworth" if filters else False, **filters))


def test_finds_the_runs(derivatives: Derivatives) -> None:
    runs = find_runs(derivatives.root)
    assert [r.subject for r in runs] == ["01", "02"]
    assert all(r.mask is not None and r.confounds is not None for r in runs)
    assert find_runs(derivatives.root, space="MNI152NLin2009cAsym") == []


def test_cleaned_series_recover_the_planted_signals(derivatives: Derivatives) -> None:
    runs = find_runs(derivatives.root)
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    raw, _ = extract_dataset(runs, atlas, CleaningOptions(()))
    cleaned, problems = extract_dataset(runs, atlas, CleaningOptions(("24P", "aCompCor"), scrub_fd_mm=0.5))
    assert problems == []
    for before, after in zip(raw, cleaned, strict=True):
        truth = derivatives.signals[after.subject]
        assert after.labels == NAMES
        r_after = [np.corrcoef(after.values[:, k], truth[after.volumes, k])[0, 1] for k in range(4)]
        r_before = [np.corrcoef(before.values[:, k], truth[:, k])[0, 1] for k in range(4)]
        assert min(r_after) > 0.9, r_after
        assert max(r_before) < 0.9, r_before  # the planted motion artefacts do hide the signals


@pytest.mark.parametrize("subject", ["01", "02"])  # 02 is int16: nilearn's masker alone would truncate its means
def test_series_equal_nilearn_clean_of_float_means(derivatives: Derivatives, subject: str) -> None:
    run = next(r for r in find_runs(derivatives.root) if r.subject == subject)
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    options = CleaningOptions(("24P",), scrub_fd_mm=0.5, high_pass_hz=0.01, low_pass_hz=0.15)
    (series,), _ = extract_dataset([run], atlas, options)
    assert run.mask is not None and run.confounds is not None
    kept = np.flatnonzero(np.nan_to_num(read_confounds(run.confounds, ["framewise_displacement"])[:, 0]) <= 0.5)
    expected = _reference(run.bold, run.mask, read_confounds(run.confounds, confound_columns("24P")), kept,
                          high_pass=0.01, low_pass=0.15)  # fmt: skip
    np.testing.assert_allclose(series.values, expected, atol=2e-3)
    assert nib.load(run.bold).get_data_dtype() == (np.int16 if subject == "02" else np.float32)


def test_int16_means_are_not_truncated(derivatives: Derivatives) -> None:
    run = next(r for r in find_runs(derivatives.root) if r.subject == "02")
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    (series,), _ = extract_dataset([run], atlas, CleaningOptions((), detrend=False))
    data = np.asarray(nib.load(run.bold).dataobj, dtype=np.float64)
    inside = np.asarray(nib.load(run.mask).dataobj) > 0 if run.mask else None
    region = np.zeros(data.shape[:3], dtype=bool)
    region[BOXES[1]] = True
    means = data[region & inside].mean(axis=0)
    assert not np.allclose(means, np.trunc(means))  # the float means are not integers ...
    np.testing.assert_allclose(series.values[:, 0], means, atol=1e-3)  # ... and the series keep their fractions


def test_fd_scrubbing_drops_the_volumes_above_threshold(derivatives: Derivatives) -> None:
    runs = find_runs(derivatives.root)
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    series, _ = extract_dataset(runs, atlas, CleaningOptions(("6P",), scrub_fd_mm=0.5))
    for s in series:
        assert s.n_volumes == N_VOLUMES
        assert s.values.shape == (N_VOLUMES - len(SPIKES), 4)
        np.testing.assert_array_equal(s.volumes, np.delete(np.arange(N_VOLUMES), list(SPIKES)))


def test_networks_average_the_cleaned_regions(derivatives: Derivatives) -> None:
    runs = find_runs(derivatives.root)
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    regions, _ = extract_dataset(runs, atlas, CleaningOptions(("6P",)))
    networks, _ = extract_dataset(runs, atlas, CleaningOptions(("6P",), networks=True))
    assert networks[0].labels == ("sensory", "dmn")
    np.testing.assert_allclose(networks[0].values[:, 0], regions[0].values[:, :2].mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(networks[0].values[:, 1], regions[0].values[:, 2:].mean(axis=1), atol=1e-12)


def test_joblib_and_dask_equal_one_process(derivatives: Derivatives) -> None:
    """The runs through nfd evaluate's executors: 2 joblib processes and a 2-worker Dask LocalCluster on
    loopback give the series of one process, bit for bit and in the runs' order."""
    runs = find_runs(derivatives.root)
    atlas = load_atlas(derivatives.dseg, labels=derivatives.labels_tsv)
    options = CleaningOptions(("24P",), scrub_fd_mm=0.5, high_pass_hz=0.01)
    serial, _ = extract_dataset(runs, atlas, options, jobs=1)
    for other in (extract_dataset(runs, atlas, options, jobs=2)[0],
                  extract_dataset(runs, atlas, options, jobs=2, scheduler="local")[0]):  # fmt: skip
        assert len(other) == len(serial) == len(runs)
        for a, b in zip(serial, other, strict=True):
            assert (a.subject, a.labels) == (b.subject, b.labels)
            np.testing.assert_array_equal(a.values, b.values)


def test_spheres_at_the_region_centres_recover_the_signals(derivatives: Derivatives, tmp_path: Path) -> None:
    centres = []
    for box in BOXES.values():
        voxel = np.array([(s.start + s.stop - 1) / 2 for s in box] + [1.0])
        centres.append((AFFINE @ voxel)[:3])
    table = tmp_path / "centres.tsv"
    table.write_text("name\tx\ty\tz\n" + "".join(f"{n}\t{c[0]}\t{c[1]}\t{c[2]}\n" for n, c in zip(NAMES, centres,
                                                                                                 strict=True)))
    atlas = load_atlas(table, radius_mm=3.0)
    series, problems = extract_dataset(find_runs(derivatives.root), atlas, CleaningOptions(("6P",)))
    assert problems == [] and series[0].labels == NAMES
    for s in series:
        r = [np.corrcoef(s.values[:, k], derivatives.signals[s.subject][:, k])[0, 1] for k in range(4)]
        assert min(r) > 0.9, r


def test_bad_inputs_give_one_line_each_and_the_rest_goes_on(tmp_path: Path) -> None:
    d = write_derivatives(tmp_path / "fmriprep", subjects=("01", "02"))
    write_subject(d.root, "03", 7, confounds=False)
    write_subject(d.root, "04", 8, drop_column="rot_y")
    write_subject(d.root, "05", 9, session="b")
    atlas = load_atlas(d.dseg, labels=d.labels_tsv)
    with capture_logs() as logs:
        series, problems = extract_dataset(find_runs(d.root), atlas, CleaningOptions(("24P",)))
    assert [s.subject for s in series] == ["01", "02", "05"]
    assert series[2].session == "b"
    assert len(problems) == 2
    assert problems[0].startswith("sub-03_task-rest: no desc-confounds_timeseries.tsv")
    assert problems[1].startswith("sub-04_task-rest: confound column(s) rot_y missing")
    assert [e["problem"] for e in logs if e["event"] == "connectivity_problem"] == problems


def test_an_atlas_off_the_field_of_view_is_one_line(derivatives: Derivatives, tmp_path: Path) -> None:
    table = tmp_path / "far.csv"
    table.write_text("x,y,z\n0,0,0\n300,0,0\n0,300,0\n0,0,300\n")
    series, problems = extract_dataset(find_runs(derivatives.root), load_atlas(table), CleaningOptions(("6P",)))
    assert series == []
    assert problems == [f"sub-{s}_task-rest: 3 of 4 atlas regions have no voxel in the data's brain mask: expected "
                        "an atlas in the data's space and field of view" for s in ("01", "02")]
    table.write_text("x,y,z\n0,0,0\n-9,-12,-9\n9,9,9\n300,0,0\n")
    series, problems = extract_dataset(find_runs(derivatives.root), load_atlas(table), CleaningOptions(("6P",)))
    assert len(series) == 2 and np.isnan(series[0].values[:, 3]).all() and np.isfinite(series[0].values[:, :3]).all()
    assert problems[0] == "sub-01_task-rest: atlas region(s) roi004 have no voxel in the data: NaN"


def test_spheres_equal_nilearn_s_spheres_masker(derivatives: Derivatives, tmp_path: Path) -> None:
    from nilearn.maskers import NiftiSpheresMasker

    seeds = [(-9.0, -12.0, -9.0), (4.5, -10.0, -6.0), (-7.0, 8.0, 7.5), (9.0, 9.0, 9.0), (0.0, 0.0, 0.0)]
    table = tmp_path / "seeds.csv"
    table.write_text("x,y,z\n" + "".join(f"{x},{y},{z}\n" for x, y, z in seeds))
    run = next(r for r in find_runs(derivatives.root) if r.subject == "01")
    assert run.mask is not None and run.confounds is not None
    options = CleaningOptions(("24P",), scrub_fd_mm=0.5, high_pass_hz=0.01, low_pass_hz=0.15)
    (series,), _ = extract_dataset([run], load_atlas(table, radius_mm=4.0), options)
    kept = np.flatnonzero(np.nan_to_num(read_confounds(run.confounds, ["framewise_displacement"])[:, 0]) <= 0.5)
    masker = NiftiSpheresMasker(seeds, radius=4.0, mask_img=str(run.mask), allow_overlap=True, detrend=True,
                                standardize=None, t_r=TR, high_pass=0.01, low_pass=0.15)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = masker.fit_transform(str(run.bold), confounds=read_confounds(run.confounds,
                                        confound_columns("24P")), sample_mask=kept)  # fmt: skip
    np.testing.assert_allclose(series.values, expected, atol=1e-3)
