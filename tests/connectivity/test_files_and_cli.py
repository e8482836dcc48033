"""The series and features npz round trips (readable with allow_pickle=False) and ``main``'s exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from nfd.connectivity import (
    FeatureSet,
    edge_labels,
    fc_matrix,
    fisher_z,
    lower_triangle,
    main,
    read_features,
    read_series,
    write_features,
)
from tests.connectivity.synthetic import AFFINE, BOXES, N_VOLUMES, NAMES, Derivatives, write_derivatives, write_subject


@pytest.fixture(scope="module")
def derivatives(tmp_path_factory: pytest.TempPathFactory) -> Derivatives:
    return write_derivatives(tmp_path_factory.mktemp("cli") / "fmriprep")


@pytest.fixture(scope="module")
def extracted(derivatives: Derivatives, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("series")
    code = main(["extract", str(derivatives.root), "--atlas", str(derivatives.dseg), "--labels",
                 str(derivatives.labels_tsv), "--strategy", "24P", "--strategy", "aCompCor", "--scrub-fd", "0.5",
                 "--high-pass", "0.01", "--out", str(out), "-j", "1"])  # fmt: skip
    assert code == 0
    return out


def test_extract_writes_tsvs_and_one_npz(extracted: Path) -> None:
    tsv = (extracted / "sub-01_task-rest_timeseries.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == list(NAMES) and len(tsv) == 1 + N_VOLUMES - 4
    with np.load(extracted / "series.npz", allow_pickle=False) as z:
        assert z["values"].shape == (2 * (N_VOLUMES - 4), 4) and z["values"].dtype == np.float64
        assert list(z["subjects"]) == ["01", "02"] and list(z["labels"]) == list(NAMES)
        meta = json.loads(str(z["meta"]))
    assert meta["strategy"] == ["24P", "aCompCor"] and meta["scrub_fd_mm"] == 0.5
    data = read_series(extracted / "series.npz")
    first = np.loadtxt(extracted / "sub-01_task-rest_timeseries.tsv", skiprows=1)
    np.testing.assert_allclose(data.runs[0].values, first, rtol=1e-15)
    assert data.runs[1].t_r == 2.0 and data.networks == ("sensory", "sensory", "dmn", "dmn")


def test_compute_features_and_figures(extracted: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.npz"
    code = main(["compute", str(extracted / "series.npz"), "--metric", "pearson", "--fisher-z", "--out", str(out),
                 "--figures", str(tmp_path / "fig")])  # fmt: skip
    assert code == 0
    features = read_features(out)
    data = read_series(extracted / "series.npz")
    expected = lower_triangle(fisher_z(np.corrcoef(data.runs[1].values.T)))
    np.testing.assert_allclose(features.features[1], expected, atol=1e-12)
    assert features.edges == tuple(edge_labels(NAMES)) and features.subjects == ("01", "02")
    assert features.meta["metric"] == "pearson" and features.meta["fisher_z"] is True
    for name in ("fc_matrix.png", "fc_strongest_edges.png"):
        assert (tmp_path / "fig" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dmn = features.edges.index("dmn_b--dmn_a")  # the planted 0.7 coupling is the strongest edge
    assert np.all(np.argmax(np.abs(features.features), axis=1) == dmn)


def test_compute_split_is_the_change_of_fisher_z(extracted: Path, tmp_path: Path) -> None:
    out = tmp_path / "change.npz"
    assert main(["compute", str(extracted / "series.npz"), "--metric", "spearman", "--split", "150,250",
                 "--out", str(out)]) == 0  # fmt: skip
    run = read_series(extracted / "series.npz").runs[0]
    times = run.volumes * run.t_r
    pre, post = run.values[times < 150], run.values[times >= 250]
    expected = lower_triangle(fisher_z(fc_matrix(post, "spearman")) - fisher_z(fc_matrix(pre, "spearman")))
    np.testing.assert_allclose(read_features(out).features[0], expected, atol=1e-12)


def test_features_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = FeatureSet(rng.normal(size=(3, 6)), ("01", "02", "03"), ("", "a", ""), ("1", "1", "2"),
                      tuple(edge_labels(["w", "x", "y", "z"])), ("w", "x", "y", "z"), ("n1", "n1", "n2", "n2"),
                      {"metric": "kendall", "atlas": "a.nii.gz", "strategy": ["6P"], "fisher_z": False})  # fmt: skip
    write_features(tmp_path / "f.npz", data)
    back = read_features(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.features, data.features)
    assert (back.subjects, back.sessions, back.runs, back.edges, back.networks, back.meta) == (
        data.subjects, data.sessions, data.runs, data.edges, data.networks, data.meta)
    with np.load(tmp_path / "f.npz", allow_pickle=False) as z:
        assert {z[k].dtype.kind for k in z.files if k != "features"} == {"U"}
    with pytest.raises(ValueError, match="expected"):
        write_features(tmp_path / "g.npz", FeatureSet(data.features[:, :5], *list(vars(data).values())[1:]))


def test_extract_with_problems_names_them_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    d = write_derivatives(tmp_path / "fmriprep", subjects=("01",))
    write_subject(d.root, "02", 3, confounds=False)
    with capture_logs() as logs:
        code = main(["extract", str(d.root), "--atlas", str(d.dseg), "--strategy", "6P", "--out", str(tmp_path / "o")])
    assert code == 0  # done: the problem is one line, the rest of the cohort extracted
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("nfd connectivity: sub-02_task-rest: no desc-confounds_timeseries.tsv")
    assert sum("sub-02" in line for line in err) == 1 and logs == []  # printed once, not logged a second time
    assert read_series(tmp_path / "o" / "series.npz").labels == ("1", "2", "3", "4")  # no TSV: named by value


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "36P"], "confound strategy '36P': expected one of"),
    (["--atlas-missing"], "atlas"),
    (["--networks", "--no-labels"], "--networks with atlas atlas_dseg.nii.gz that gives no network column"),
    (["-j", "0"], "--jobs 0, expected at least 1"),
    (["--space", "MNI152NLin6Asym"], "no *_desc-preproc_bold.nii.gz in"),
])  # fmt: skip
def test_extract_bad_input_exits_2_with_one_line(
    derivatives: Derivatives, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    atlas = str(tmp_path / "absent.nii.gz") if "--atlas-missing" in args else str(derivatives.dseg)
    labels = [] if "--no-labels" in args else ["--labels", str(derivatives.labels_tsv)]
    extra = [a for a in args if a not in ("--atlas-missing", "--no-labels")]
    code = main(["extract", str(derivatives.root), "--atlas", atlas, *labels, *extra, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("nfd connectivity: ") and message in err[0], err


def test_compute_bad_input_exits_2_with_one_line(
    extracted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    series = str(extracted / "series.npz")
    out = str(tmp_path / "f.npz")
    cases = [(["compute", series, "--split", "1x", "--out", out], "--split '1x', expected times"),
             (["compute", series, "--metric", "covariance", "--fisher-z", "--out", out], "Fisher z of a covariance"),
             (["compute", str(tmp_path / "none.npz"), "--out", out], "does not exist, expected a series.npz"),
             (["compute", series, "--split", "396", "--out", out], "sub-01_task-rest: split [396.0]: PRE has 194 and POST 2 volumes")]  # fmt: skip
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with pytest.raises(SystemExit) as exit_info:
        main(["compute", series, "--metric", "mutual", "--out", out])
    assert exit_info.value.code == 2


def test_by_subject_averages_a_subject_s_runs(tmp_path: Path) -> None:
    d = write_derivatives(tmp_path / "fmriprep", subjects=("02",))
    write_subject(d.root, "01", 5, session="a")
    write_subject(d.root, "01", 6, session="b")
    assert main(["extract", str(d.root), "--atlas", str(d.dseg), "--labels", str(d.labels_tsv), "--strategy", "6P",
                 "--networks", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    series = str(tmp_path / "s" / "series.npz")
    assert main(["compute", series, "--fisher-z", "--out", str(tmp_path / "runs.npz")]) == 0
    assert main(["compute", series, "--fisher-z", "--by", "subject", "--out", str(tmp_path / "subj.npz")]) == 0
    runs, subjects = read_features(tmp_path / "runs.npz"), read_features(tmp_path / "subj.npz")
    assert runs.subjects == ("01", "01", "02") and runs.sessions == ("a", "b", "")
    assert subjects.subjects == ("01", "02") and subjects.edges == ("dmn--sensory",)
    np.testing.assert_allclose(subjects.features[0], runs.features[:2].mean(axis=0), atol=1e-12)
    np.testing.assert_array_equal(subjects.features[1], runs.features[2])


def test_label_centroids_and_the_connectome_figure(derivatives: Derivatives, tmp_path: Path) -> None:
    from nfd.connectivity import atlas_coordinates, load_atlas

    centres = atlas_coordinates(load_atlas(derivatives.dseg, labels=derivatives.labels_tsv))
    expected = [(AFFINE @ np.array([(s.start + s.stop - 1) / 2 for s in box] + [1.0]))[:3] for box in BOXES.values()]
    np.testing.assert_allclose(centres, expected, atol=1e-9)
    assert main(["extract", str(derivatives.root), "--atlas", str(derivatives.dseg), "--labels",
                 str(derivatives.labels_tsv), "--strategy", "6P", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    np.testing.assert_allclose(read_series(tmp_path / "s" / "series.npz").coords, expected, atol=1e-9)
    assert main(["compute", str(tmp_path / "s" / "series.npz"), "--metric", "kendall", "--out",
                 str(tmp_path / "f.npz"), "--figures", str(tmp_path / "fig")]) == 0  # fmt: skip
    assert (tmp_path / "fig" / "fc_strongest_edges.png").stat().st_size > 10_000  # nilearn's glass brain
