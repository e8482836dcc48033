"""``nfd normative`` through ``main``: fit, score, stats, select on files, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nfd.normative import main, write_features

from .conftest import Synthetic


@pytest.fixture(scope="module")
def files(cohort: Synthetic, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("normative")
    meta = {"metric": "pearson", "atlas": "synthetic17", "strategy": "24P", "fisher_z": True, "version": "test"}
    write_features(folder / "features.npz", cohort.features, [s.removeprefix("sub-") for s in cohort.subjects],
                   cohort.edges, meta)  # fmt: skip
    noisy = cohort.features + np.random.default_rng(9).normal(0.0, 0.4, cohort.features.shape)
    write_features(folder / "noisy.npz", noisy, cohort.subjects, cohort.edges, dict(meta, strategy="none"))
    (folder / "participants.tsv").write_text(cohort.participants_tsv())
    return folder


@pytest.fixture(scope="module")
def model_dir(files: Path) -> Path:
    model = files / "model"
    args = ["fit", str(files / "features.npz"), "--participants", str(files / "participants.tsv"), "--out", str(model),
            "--harmonise", "--covariates", "age,sex", "--holdout", "0.34", "--seed", "0"]  # fmt: skip
    assert main(args) == 0
    return model


def test_fit_score_stats(files: Path, model_dir: Path, cohort: Synthetic, capsys: pytest.CaptureFixture[str]) -> None:
    model, out = model_dir, files / "scores"
    meta = json.loads((model / "model.json").read_text())
    assert meta["meta"]["atlas"] == "synthetic17" and meta["meta"]["combat"] is True
    assert len(meta["training_subjects"]) == 198
    assert (model / "combat.npz").is_file()
    assert main(["score", str(model), str(files / "features.npz"), "--participants", str(files / "participants.tsv"),
                 "--out", str(out)]) == 0  # fmt: skip
    deviations = pd.read_csv(out / "deviations.tsv", sep="\t")
    assert list(deviations.columns[:5]) == ["participant_id", "group", "site", "training", "total"]
    assert list(deviations.columns[5:]) == list(cohort.edges)
    assert int(deviations["training"].sum()) == 198
    assert (out / "deviation_z.tsv").is_file() and (out / "deviation_heatmap.png").stat().st_size > 1000
    assert main(["stats", str(out), "--groups", "control,patient"]) == 0
    table = pd.read_csv(out / "mannwhitney.tsv", sep="\t")
    assert list(table.columns) == ["edge", "statistic", "p", "q", "significant"]
    found = set(table["edge"][table["significant"]])
    planted = {cohort.edges[k] for k in cohort.planted}
    assert len(found & planted) >= 7 and len(found - planted) <= 6
    assert (out / "significant_edges.png").is_file()
    patient = deviations["participant_id"][deviations["group"] == "patient"].iloc[0]
    assert main(["stats", str(out), "--single", patient]) == 0
    single = pd.read_csv(out / "crawford_howell.tsv", sep="\t")
    assert len(single) == len(cohort.edges)
    capsys.readouterr()


def test_select_ranks_the_clean_candidate_first(files: Path, cohort: Synthetic) -> None:
    out = files / "select"
    assert main(["select", str(files / "noisy.npz"), str(files / "features.npz"), "--participants",
                 str(files / "participants.tsv"), "--bootstrap", "3", "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out / "selection.tsv", sep="\t")
    print(table.to_string())
    assert table["candidate"].iloc[0].endswith("features.npz")
    assert table["stability"].iloc[0] > table["stability"].iloc[1]
    frequency = pd.read_csv(out / "stability_features.tsv", sep="\t")
    assert set(frequency["edge"][frequency["frequency"] == 1.0]) >= {cohort.edges[k] for k in cohort.planted[:6]}


def _one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        status = main(args)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nfd normative: ")
    return err


def test_bad_input_is_one_line(
    files: Path, model_dir: Path, cohort: Synthetic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = cohort.participants_tsv().splitlines()
    (tmp_path / "p.tsv").write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    err = _one_line_error(["fit", str(tmp_path / "none.npz"), "--participants", str(tmp_path / "p.tsv"),
                           "--out", str(tmp_path / "m")], capsys)  # fmt: skip
    assert "none.npz" in err
    edges = list(cohort.edges)
    edges[0], edges[1] = edges[1], edges[0]
    np.savez(tmp_path / "other.npz", features=cohort.features, subjects=np.array(cohort.subjects),
             edges=np.array(edges))  # fmt: skip
    err = _one_line_error(["score", str(model_dir), str(tmp_path / "other.npz"), "--participants",
                           str(files / "participants.tsv"), "--out", str(tmp_path / "s")], capsys)  # fmt: skip
    assert f"edge 0 is '{edges[0]}'" in err
    err = _one_line_error(["stats", str(tmp_path), "--groups", "control"], capsys)
    assert "--groups" in err
    err = _one_line_error(["fit", "--bogus"], capsys)
    assert "expected" in err


def test_fit_init_fine_tunes(files: Path, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tuned"
    args = ["fit", str(files / "features.npz"), "--participants", str(files / "participants.tsv"), "--out", str(out),
            "--init", str(model_dir), "--seed", "1"]  # fmt: skip
    assert main(args) == 0
    tuned, base = (json.loads((folder / "model.json").read_text()) for folder in (out, model_dir))
    assert tuned["meta"]["fine_tuned"] is True and tuned["meta"]["combat"] is False
    assert tuned["meta"]["loss_curve"][0] < base["meta"]["loss_curve"][0]
    capsys.readouterr()


def test_subjects_left_out_and_the_rest_goes_on(
    files: Path, model_dir: Path, cohort: Synthetic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sub-000 has no participants row; a new subject at a site the ComBat model has not seen
    lines = cohort.participants_tsv().splitlines()
    lines = lines[:1] + lines[2:] + ["sub-999\tpatient\ts9\t30.00\tF"]
    (tmp_path / "p.tsv").write_text("\n".join(lines) + "\n")
    write_features(tmp_path / "f.npz", np.vstack([cohort.features, cohort.features[:1]]), [*cohort.subjects, "sub-999"],
                   cohort.edges)  # fmt: skip
    status = main(["score", str(model_dir), str(tmp_path / "f.npz"), "--participants", str(tmp_path / "p.tsv"),
                   "--out", str(tmp_path / "s")])  # fmt: skip
    assert status == 0  # done, with the problems on stderr (as nfd evaluate and nfd connectivity)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "nfd normative: sub-000: no participants.tsv row, left out",
        "nfd normative: sub-999: site 's9' is not among the ComBat model's s0, s1, s2, left out",
    ]
    scored = pd.read_csv(tmp_path / "s" / "deviations.tsv", sep="\t")
    assert len(scored) == len(cohort.subjects) - 1
    assert "sub-000" not in set(scored["participant_id"]) and "sub-999" not in set(scored["participant_id"])
