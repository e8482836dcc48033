"""``nfd eeg fit`` from the command line: pairs of files, several columns, any estimator, the report files."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from nfd.eeg import EegPredictor, StreamSpec, fit_main, load_model, preprocess_recording
from tests.helpers.eeg_synthetic import synthetic_session, write_brainvision

pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory):
    """Two BrainVision sessions and their TSVs with two ROI columns (the second: a noisy negative copy)."""
    folder = tmp_path_factory.mktemp("fit_cli")
    out = []
    for k, seed in enumerate((3, 4)):
        recording, bold, _ = synthetic_session(duration=300.0, n_channels=3, driver=1, snr=3.0, seed=seed)
        vhdr = write_brainvision(folder / f"s{k}.vhdr", recording)
        other = 10.0 - 0.2 * bold + np.random.default_rng(seed).standard_normal(bold.size) * 0.3
        tsv = folder / f"s{k}.tsv"
        tsv.write_text("index\tcondition\troi_a\troi_b\n" + "".join(
            f"{i}\tBAS\t{float(v)!r}\t{float(w)!r}\n" for i, (v, w) in enumerate(zip(bold, other, strict=True))))
        out.append((vhdr, tsv, recording))
    return out


COMMON = ["--trigger", "R128", "--window", "8", "--delays", "0,2,4,6", "--null", "99"]


def _folds(path: Path) -> list[dict[str, str]]:
    with open(path.with_name(path.name + ".folds.tsv"), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_two_recordings_two_columns_leave_one_run_out(files, tmp_path: Path, capsys) -> None:
    (v0, t0, rec), (v1, t1, _) = files
    out = tmp_path / "m.joblib"
    code = fit_main([str(v0), str(t0), str(v1), str(t1), "-o", str(out), "--column", "roi_a", "--column", "roi_b",
                     *COMMON])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "leave-one-run-out" in printed and "SSIM" in printed and "run 1 held out" in printed
    meta = json.loads(out.with_name("m.joblib.json").read_text())
    model = load_model(out, meta["sha256"])
    assert model.target_names == ("roi_a", "roi_b") and meta["training"]["runs"] == 2
    rows = _folds(out)
    assert [(r["fold"], r["target"]) for r in rows] == [
        ("0", "roi_a"), ("0", "roi_b"), ("1", "roi_a"), ("1", "roi_b"), ("pooled", "roi_a"), ("pooled", "roi_b")]
    report = json.loads(out.with_name("m.joblib.report.json").read_text())
    assert float(rows[4]["r"]) == pytest.approx(report["test_per_target"]["roi_a"]["r"])
    assert report["test_per_target"]["roi_a"]["r"] > 0.5 and report["test_per_target"]["roi_b"]["r"] > 0.5
    assert float(rows[4]["p_phase"]) == pytest.approx(0.01)  # none of 99 surrogates reaches r
    # the file predicts both targets through the live predictor
    data, fs = preprocess_recording(rec.data, rec.fs, model.preprocess)
    predictor = EegPredictor(out, meta["sha256"], StreamSpec(rec.channel_names, fs, model.preprocess, rec.fs))
    window = data[1000 : 1000 + model.spec.n_samples].T
    assert model.predict(model.spec.features(window)).shape == (2,)
    assert predictor.model.n_targets == 2
    all_columns = tmp_path / "all.joblib"
    assert fit_main([str(v0), str(t0), "-o", str(all_columns), "--all-columns", "--runs", "3", *COMMON]) == 0
    assert json.loads(all_columns.with_name("all.joblib.json").read_text())["target"]["names"] == ["roi_a", "roi_b"]


def test_an_svr_from_the_command_line(files, tmp_path: Path, capsys) -> None:
    (v0, t0, rec), _ = files
    out = tmp_path / "svr.joblib"
    code = fit_main([str(v0), str(t0), "-o", str(out), "--column", "roi_a", "--runs", "3", *COMMON,
                     "--estimator", "sklearn.svm.SVR", "--param", "C=1", "--param", "kernel=linear"])
    assert code == 0, capsys.readouterr().err
    meta = json.loads(out.with_name("svr.joblib.json").read_text())
    model = load_model(out, meta["sha256"])
    assert type(model.estimator).__name__ == "SVR" and model.estimator.get_params()["kernel"] == "linear"
    assert meta["training"]["estimator"] == "sklearn.svm._classes.SVR" and meta["training"]["test"]["r"] > 0.5
    data, fs = preprocess_recording(rec.data, rec.fs, model.preprocess)
    predictor = EegPredictor(model, None, StreamSpec(rec.channel_names, fs, model.preprocess, rec.fs))
    window = data[2000 : 2000 + model.spec.n_samples].T
    assert predictor.predict_window(window) == pytest.approx(float(model.predict(model.spec.features(window))[0]))


def test_an_estimator_file_is_cloned_fitted_and_its_hash_kept(files, tmp_path: Path, capsys) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (v0, t0, _), _ = files
    est = tmp_path / "est.joblib"
    joblib.dump(make_pipeline(StandardScaler(), Ridge(alpha=100.0)), est)
    sha = hashlib.sha256(est.read_bytes()).hexdigest()
    out = tmp_path / "pipe.joblib"
    args = [str(v0), str(t0), "-o", str(out), "--column", "roi_a", *COMMON, "--estimator-file", str(est)]
    assert fit_main([*args, "--estimator-sha256", sha]) == 0, capsys.readouterr().err
    meta = json.loads(out.with_name("pipe.joblib.json").read_text())
    assert meta["training"]["sources_estimator_sha256"] == sha and meta["estimator"] == "Pipeline"
    assert fit_main([*args, "--estimator-sha256", "0" * 64]) == 2
    assert "not loaded" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--estimator", "os.system"], "expected a class under sklearn."),
    (["--estimator", "sklearn.svm.NoSuch"], "no such class"),
    (["--estimator", "sklearn.svm.SVR", "--param", "Q=1"], "expected a scikit-learn estimator"),
    (["--param", "C=1"], "--param without --estimator"),
    (["--runs", "200"], "too few (at least 3 per run)"),
    (["--runs", "0"], "runs per recording must be an integer >= 1"),
    (["--null", "-1"], "surrogates for the null of r"),
    (["--detrend", "linear", "--column", "roi_zz"], "no column 'roi_zz'"),
])
def test_bad_input_is_one_line(files, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    (v0, t0, _), _ = files
    column = [] if "--column" in extra else ["--column", "roi_a"]
    code = fit_main([str(v0), str(t0), "-o", str(tmp_path / "x.joblib"), *column, *COMMON, *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.joblib").exists()


def test_an_odd_number_of_files_is_refused(files, tmp_path: Path, capsys) -> None:
    (v0, t0, _), (v1, _, _) = files
    assert fit_main([str(v0), str(t0), str(v1), "-o", str(tmp_path / "x.joblib"), *COMMON]) == 2
    assert "expected pairs" in capsys.readouterr().err


def test_compare_fits_the_feature_options(files, tmp_path: Path, capsys) -> None:
    (v0, t0, _), _ = files
    out = tmp_path / "cmp.joblib"
    base = [str(v0), str(t0), "-o", str(out), "--column", "roi_a", "--trigger", "R128", "--window", "8"]
    assert fit_main([*base, "--compare"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]  # not the log lines
    rows = list(csv.DictReader(table, delimiter="\t"))
    assert not out.exists() and out.with_name("cmp.joblib.compare.tsv").is_file()
    labels = [r["option"] for r in rows]
    assert any("all delays" in x for x in labels) and any("canonical HRF" in x for x in labels)
    assert any("5 classic bands" in x for x in labels) and len(labels) % 2 == 0
    assert {r["note"] for r in rows} <= {"n/a", "at an edge of the grid"}
    assert all(r["held_out_r"] != "n/a" for r in rows), rows
    # the first row is the plain fit with the same settings
    assert fit_main([*base, "--null", "0"]) == 0
    capsys.readouterr()
    plain = json.loads(out.with_name("cmp.joblib.json").read_text())["training"]["test"]["r"]
    assert float(rows[0]["held_out_r"]) == pytest.approx(plain, rel=1e-9)
