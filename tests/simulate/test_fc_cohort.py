"""nfd.simulate.make_fc_cohort / write_fc_cohort: multi-site FC cohorts with planted deviant edges.

Every check is against the planted truth with numpy alone (never nfd.connectivity or nfd.normative).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.simulate import FcCohort, SimulationError, make_fc_cohort, write_fc_cohort
from nfd.simulate._fc_cohort import SPACE, _nearest_correlation

SMALL = {"controls": 4, "patients": 2, "sites": 3, "networks": 6, "deviant_edges": 3, "volumes": 120,
         "voxel_size_mm": 8.0, "seed": 3}  # fmt: skip
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
PROGRESS: list[tuple[int, int]] = []


@pytest.fixture(scope="module")
def cohort() -> FcCohort:
    return make_fc_cohort(**SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dataset(cohort: FcCohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fc_cohort(cohort, tmp_path_factory.mktemp("fc") / "derivatives",
                           progress=lambda done, total: PROGRESS.append((done, total)))  # fmt: skip


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _matrix(path: Path) -> np.ndarray:
    return np.array([[float(v) for k, v in row.items() if k != "name"] for row in _tsv(path)])


def _func(dataset: Path, label: str, suffix: str) -> Path:
    return dataset / f"sub-{label}" / "func" / f"sub-{label}_task-rest_{suffix}"


def _confounds(dataset: Path, label: str) -> dict[str, np.ndarray]:
    rows = _tsv(_func(dataset, label, "desc-confounds_timeseries.tsv"))
    return {k: np.array([np.nan if r[k] == "n/a" else float(r[k]) for r in rows]) for k in rows[0]}


def _offdiag(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(matrix[np.tril_indices(matrix.shape[0], k=-1)])


def test_progress_is_told_once_per_subject(dataset: Path) -> None:
    assert [(k, 6) for k in range(1, 7)] == PROGRESS


def test_pybids_finds_every_preproc_bold_mask_and_confounds(dataset: Path, cohort: FcCohort) -> None:
    bids = pytest.importorskip("bids")
    layout = bids.BIDSLayout(dataset, validate=False)
    labels = [s.label for s in cohort.subjects]
    assert layout.get_subjects() == labels
    for label in labels:
        bold = layout.get(subject=label, desc="preproc", suffix="bold", space=SPACE, extension=".nii.gz")
        mask = layout.get(subject=label, desc="brain", suffix="mask", space=SPACE, extension=".nii.gz")
        confounds = layout.get(subject=label, desc="confounds", suffix="timeseries", extension=".tsv")
        assert [len(bold), len(mask), len(confounds)] == [1, 1, 1]
        assert bold[0].get_metadata()["RepetitionTime"] == 2.0
        assert all(f"sub-{label}/func" in f for f in layout.get(subject=label, return_type="filename"))
    description = json.loads((dataset / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "nfd"


def test_images_atlas_and_mask_on_the_mni_grid(dataset: Path, cohort: FcCohort) -> None:
    bold = nib.load(_func(dataset, "001", f"space-{SPACE}_desc-preproc_bold.nii.gz"))
    mask = nib.load(_func(dataset, "001", f"space-{SPACE}_desc-brain_mask.nii.gz"))
    atlas = nib.load(dataset / "atlas" / f"atlas-nfdsim_space-{SPACE}_dseg.nii.gz")
    assert bold.shape == (25, 29, 25, 120) and bold.get_data_dtype() == np.int16
    assert float(bold.header["pixdim"][4]) == 2.0
    expected = np.diag([8.0, 8.0, 8.0, 1.0])
    expected[:3, 3] = (-96.0, -132.0, -78.0)
    for image in (bold, mask, atlas):
        np.testing.assert_array_equal(image.affine, expected)
    data = np.asarray(bold.dataobj)
    brain = np.asarray(mask.dataobj) > 0
    assert np.all(data[~brain] == 0) and 900 < data[brain].mean() < 1100
    labels = np.asarray(atlas.dataobj)
    rows = _tsv(dataset / "atlas" / "atlas-nfdsim_dseg.tsv")
    assert [int(r["index"]) for r in rows] == list(range(1, 13)) == sorted(set(np.unique(labels)) - {0})
    assert [r["network"] for r in rows] == [cohort.names[k % 6] for k in range(12)]
    assert np.all(brain[labels > 0])


def test_confounds_are_fmriprep_columns_and_values(dataset: Path, cohort: FcCohort) -> None:
    columns = _confounds(dataset, "002")
    expected = ["global_signal", "csf", "white_matter"]
    for name in MOTION:
        expected += [name, f"{name}_derivative1", f"{name}_power2", f"{name}_derivative1_power2"]
    expected += ["framewise_displacement", *(f"a_comp_cor_{k:02d}" for k in range(5))]
    assert list(columns)[: len(expected)] == expected
    assert all(k.startswith("motion_outlier_") for k in list(columns)[len(expected) :])
    for name in (*(f"{m}_derivative1" for m in MOTION), *(f"{m}_derivative1_power2" for m in MOTION)):
        assert np.isnan(columns[name][0]) and not np.isnan(columns[name][1:]).any()
    motion = np.column_stack([columns[m] for m in MOTION])
    np.testing.assert_allclose(motion, cohort.subjects[1].motion, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(columns["trans_y_power2"], columns["trans_y"] ** 2, rtol=1e-4, atol=1e-12)
    fd = np.abs(np.diff(motion[:, :3], axis=0)).sum(axis=1) + 50.0 * np.abs(np.diff(motion[:, 3:], axis=0)).sum(axis=1)
    np.testing.assert_allclose(columns["framewise_displacement"][1:], fd, rtol=1e-4, atol=1e-8)
    assert np.isnan(columns["framewise_displacement"][0])
    outliers = [int(np.argmax(v)) for k, v in columns.items() if k.startswith("motion_outlier_")]
    assert outliers == [t + 1 for t in np.flatnonzero(fd > 0.5)]
    assert set(outliers) >= set(cohort.subjects[1].spikes)  # every spike is scrubbed with FD > 0.5 mm
    data = np.asarray(nib.load(_func(dataset, "002", f"space-{SPACE}_desc-preproc_bold.nii.gz")).dataobj, float)
    tissue = np.asarray(nib.load(dataset / "truth" / f"space-{SPACE}_desc-tissue_dseg.nii.gz").dataobj)
    for name, selected in (("global_signal", tissue > 0), ("white_matter", tissue == 2), ("csf", tissue == 3)):
        np.testing.assert_allclose(columns[name], data[selected].mean(axis=0), rtol=1e-5)
    compcor = np.column_stack([columns[f"a_comp_cor_{k:02d}"] for k in range(5)])
    np.testing.assert_allclose(compcor.T @ compcor, np.eye(5), atol=1e-4)


def test_participants_count_groups_and_sites(dataset: Path, cohort: FcCohort) -> None:
    rows = _tsv(dataset / "participants.tsv")
    assert [{**r, "age": float(r["age"])} for r in rows] == cohort.participants
    assert list(rows[0]) == ["participant_id", "age", "sex", "site", "group"]
    assert [r["group"] for r in rows].count("control") == 4 and [r["group"] for r in rows].count("patient") == 2
    assert sorted(r["site"] for r in rows) == ["site1", "site1", "site2", "site2", "site3", "site3"]
    assert all(20.0 <= float(r["age"]) <= 70.0 and r["sex"] in ("F", "M") for r in rows)


def test_truth_files_hold_the_cohort(dataset: Path, cohort: FcCohort) -> None:
    truth = dataset / "truth"
    np.testing.assert_allclose(_matrix(truth / "sigma.tsv"), cohort.sigma, atol=1e-6)
    for subject in cohort.subjects:
        np.testing.assert_allclose(_matrix(truth / "subjects" / f"{subject.label}_correlation.tsv"),
                                   subject.correlation, atol=1e-6)  # fmt: skip
        series = np.array(
            [[float(v) for v in r.values()] for r in _tsv(truth / "subjects" / f"{subject.label}_networks.tsv")]
        )
        np.testing.assert_allclose(series, subject.series, atol=1e-5)
    rows, cols = np.tril_indices(6, k=-1)
    deviant = _tsv(truth / "deviant_edges.tsv")
    assert len(deviant) == 3 and {abs(float(r["delta"])) for r in deviant} == {0.25}
    covariates = _tsv(truth / "covariate_edges.tsv")
    assert sorted(r["covariate"] for r in covariates) == ["age"] * 3 + ["sex"] * 3
    for r in deviant + covariates:
        i, j, index = int(r["row"]), int(r["column"]), int(r["index"])
        assert (rows[index], cols[index]) == (i, j) and i > j
        assert r["edge"] == f"{cohort.names[i]}--{cohort.names[j]}" == cohort.edge_labels[index]
    assert len({r["edge"] for r in deviant + covariates}) == 9  # the three sets are disjoint
    sites = _tsv(truth / "sites.tsv")
    for r in sites:
        a, f, s = float(r["signal_scale"]), float(r["shared_fraction"]), float(r["noise_sd"])
        assert float(r["correlation_gain"]) == pytest.approx(a * a / (a * a + f + s * s / 2), rel=1e-5)
        assert float(r["correlation_offset"]) == pytest.approx(f / (a * a + f + s * s / 2), rel=1e-5, abs=1e-9)


def test_normative_sigma_is_a_realistic_correlation_matrix() -> None:
    c = make_fc_cohort(1, 0, sites=1, voxel_size_mm=8.0, volumes=10, seed=7)
    sigma = c.sigma
    assert c.names[0] == "VisCent" and c.names[-1] == "TempPar" and sigma.shape == (17, 17)
    np.testing.assert_allclose(np.diag(sigma), 1.0)
    assert np.linalg.eigvalsh(sigma)[0] > 0.0
    systems = np.asarray(c.systems)
    same = (systems[:, None] == systems[None, :]) & ~np.eye(17, dtype=bool)
    assert sigma[same].min() > 0.25 and sigma[same].max() < 0.65
    between = systems[:, None] != systems[None, :]
    assert (sigma[between] < -0.1).sum() >= 2 and np.abs(sigma[between]).max() < 0.35


def test_true_series_correlate_as_the_true_matrix() -> None:
    c = make_fc_cohort(3, 1, sites=1, networks=6, deviant_edges=2, volumes=4000, voxel_size_mm=8.0, seed=11)
    for subject in c.subjects:
        np.testing.assert_allclose(subject.series.std(axis=0), 1.0, rtol=1e-9)
        sample = np.corrcoef(subject.series, rowvar=False)
        assert np.abs(sample - subject.correlation).max() < 0.12
        assert np.linalg.eigvalsh(subject.correlation)[0] > 0.0


def test_patients_differ_from_controls_by_delta_on_deviant_edges() -> None:
    c = make_fc_cohort(40, 40, sites=2, networks=6, deviant_edges=4, volumes=1500, voxel_size_mm=8.0, seed=5)
    sample = np.array([_offdiag(np.corrcoef(s.series, rowvar=False)) for s in c.subjects])
    patients = np.array([s.group == "patient" for s in c.subjects])
    difference = sample[patients].mean(axis=0) - sample[~patients].mean(axis=0)
    planted = {e.index: e for e in c.edges}
    for edge in c.deviant_edges:
        assert difference[edge.index] == pytest.approx(edge.effect, abs=0.05)
    others = [k for k in range(difference.size) if k not in planted]
    assert np.abs(difference[others]).max() < 0.05
    true = np.array([_offdiag(s.correlation) for s in c.subjects])
    decades = np.array([(s.age - 45.0) / 10.0 for s in c.subjects])
    women = np.array([s.sex == "F" for s in c.subjects])
    design = np.column_stack([np.ones(len(decades)), decades, women, patients])
    beta = np.linalg.lstsq(design, true, rcond=None)[0]
    for edge in c.covariate_edges:
        assert beta[1 if edge.kind == "age" else 2, edge.index] == pytest.approx(edge.effect, abs=0.015)


def test_site_effects_shift_and_scale_each_edge_as_recorded() -> None:
    c = make_fc_cohort(60, 0, sites=3, networks=6, deviant_edges=0, volumes=1200, voxel_size_mm=8.0, seed=9)
    observed, predicted, site_of = [], [], []
    for k, subject in enumerate(c.subjects):
        regions = c.region_signals(k)
        networks = np.column_stack([regions[:, c.region_network == i].mean(axis=1) for i in range(6)])
        site = c.sites[subject.site]
        a, f, s = site.signal_scale, site.shared_fraction, site.noise_sd
        total = a * a + f + s * s / 2  # 2 regions per network; the formula from first principles
        observed.append(_offdiag(np.corrcoef(networks, rowvar=False)))
        predicted.append(a * a / total * _offdiag(subject.correlation) + f / total)
        site_of.append(subject.site)
    obs, pred, where = np.array(observed), np.array(predicted), np.array(site_of)
    means = np.array([obs[where == k].mean(axis=0) for k in range(3)])
    expected = np.array([pred[where == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(means, expected, atol=0.04)
    np.testing.assert_allclose(means - means[0], expected - expected[0], atol=0.04)
    assert np.abs(expected - expected[0]).max() > 0.08  # the site effect is there to remove


def test_bold_region_means_cleaned_by_least_squares_recover_the_network_series(dataset: Path, cohort: FcCohort) -> None:
    atlas = np.asarray(nib.load(dataset / "atlas" / f"atlas-nfdsim_space-{SPACE}_dseg.nii.gz").dataobj)
    names = [*MOTION, "white_matter", "csf", *(f"a_comp_cor_{k:02d}" for k in range(5))]
    gains = []
    for subject in cohort.subjects:
        data = np.asarray(nib.load(_func(dataset, subject.label, f"space-{SPACE}_desc-preproc_bold.nii.gz")).dataobj)
        means = np.column_stack([data[atlas == r + 1].mean(axis=0) for r in range(12)])
        columns = _confounds(dataset, subject.label)
        n = means.shape[0]
        tau = np.linspace(-1.0, 1.0, n)
        design = np.column_stack([np.ones(n), tau, tau**2, *(columns[k] for k in names)])
        truth = subject.series[:, cohort.region_network]
        r = {}
        for scrub in (True, False):
            keep = np.nan_to_num(columns["framewise_displacement"]) <= 0.5 if scrub else np.ones(n, dtype=bool)
            x = design[keep]
            residual = means[keep] - x @ np.linalg.lstsq(x, means[keep], rcond=None)[0]
            clean_truth = truth[keep] - x @ np.linalg.lstsq(x, truth[keep], rcond=None)[0]
            r[scrub] = np.array([np.corrcoef(residual[:, j], clean_truth[:, j])[0, 1] for j in range(12)])
            if scrub:
                raw = np.array([np.corrcoef(residual[:, j], truth[keep, j])[0, 1] for j in range(12)])
                assert raw.mean() > 0.8
        assert r[True].min() > 0.8
        gains.append((r[True] - r[False]).mean())
    assert np.mean(gains) > 0.0  # FD scrubbing matters: the spin-history volumes are not linear in the motion


def test_same_seed_same_bytes_and_subjects_independent_of_the_cohort_size(
    dataset: Path, cohort: FcCohort, tmp_path: Path
) -> None:
    again = write_fc_cohort(make_fc_cohort(**SMALL), tmp_path / "again")  # type: ignore[arg-type]
    name = f"space-{SPACE}_desc-preproc_bold.nii.gz"
    assert _func(again, "003", name).read_bytes() == _func(dataset, "003", name).read_bytes()
    options = {k: v for k, v in SMALL.items() if k not in ("controls", "patients")}
    three, five = make_fc_cohort(3, 0, **options), make_fc_cohort(5, 0, **options)  # type: ignore[arg-type]
    for k in range(3):
        a, b = three.subjects[k], five.subjects[k]
        assert (a.label, a.age, a.sex, a.site, a.spikes) == (b.label, b.age, b.sex, b.site, b.spikes)
        np.testing.assert_array_equal(a.series, b.series)
        np.testing.assert_array_equal(three.bold(k)[0], five.bold(k)[0])
    other = make_fc_cohort(**{**SMALL, "seed": 4})  # type: ignore[arg-type]
    assert not np.array_equal(other.subjects[0].series, cohort.subjects[0].series)


def test_nearest_correlation_matches_higham_2002() -> None:
    # Higham (2002), section 4: the nearest correlation matrix to [[1, 1, 0], [1, 1, 1], [0, 1, 1]].
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    x = _nearest_correlation(a, floor=0.0)
    expected = np.array([[1.0, 0.7607, 0.1573], [0.7607, 1.0, 0.7607], [0.1573, 0.7607, 1.0]])
    np.testing.assert_allclose(x, expected, atol=2e-4)
    good = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert _nearest_correlation(good) is good


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"networks": 1}, "networks must be an int >= 2"),
        ({"controls": 0, "patients": 0}, "controls + patients must be >= 1"),
        ({"deviant_edges": 20, "networks": 6}, "deviant_edges + age_edges + sex_edges must be at most 15"),
        ({"voxel_size_mm": 20.0}, "voxel_size_mm must be a number in [1, 12]"),
        ({"colour": 1}, "unknown option(s) colour"),
        ({"spikes": -1}, "spikes must be an int >= 0"),
        ({"deviant_delta": -0.1}, "deviant_delta must be"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SimulationError) as info:
        make_fc_cohort(**{"volumes": 10, "voxel_size_mm": 8.0, **kwargs})  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)
