"""[signal] hrf and hrf_column: an HRF TSV file in place of SPM's canonical HRF; every bad one refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nfd.cli import main
from nfd.config import ConfigError, load_config
from nfd.daemon.build import build_after_send, build_chains, load_design, load_hrf
from nfd.design import write_hrf_tsv
from tests.helpers.study import preflight_study

TIMES = np.arange(0.0, 25.05, 0.1)
#: A gamma density of shape 5, scale 1 s: mode 4 s (numpy only).
EARLY = TIMES**4 * np.exp(-TIMES) / 24.0


def _study(tmp_path: Path, signal: str) -> Path:
    (tmp_path / "hrfs").mkdir()
    write_hrf_tsv(tmp_path / "hrfs" / "one.tsv", TIMES, {"value": EARLY})
    write_hrf_tsv(tmp_path / "hrfs" / "two.tsv", TIMES, {"1": EARLY, "2": 2 * EARLY})
    (tmp_path / "hrfs" / "bad.tsv").write_text("time_s\tvalue\n0\t0\n1\toops\n2\t0\n")
    (tmp_path / "hrfs" / "negative.tsv").write_text("time_s\tvalue\n0\t0\n1\t-1\n2\t0\n")
    return preflight_study(tmp_path, f"[signal]\n{signal}\n")


def test_a_relative_path_is_read_from_the_config_folder_into_the_chains_and_the_iglm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _study(tmp_path, 'hrf = "hrfs/two.tsv"\nhrf_column = "2"')
    cfg = load_config(config)
    assert cfg.signal.hrf == str((tmp_path / "hrfs" / "two.tsv").resolve())
    hrf = load_hrf(cfg)
    assert hrf is not None and hrf.column == "2" and hrf.time_to_peak_s == pytest.approx(4.0)
    design = load_design(cfg)
    chains = build_chains(cfg, design)
    assert all(chain.options.hrf is not None and chain.options.hrf.column == "2" for chain in chains.values())
    iglm = build_after_send(cfg, design).iglm
    assert iglm is not None
    q = len(design.conditions)
    task = np.array([iglm.design.row(i, np.zeros(6))[:q] for i in range(cfg.run.skip_volumes, 12)])
    np.testing.assert_allclose(task, design.task_regressors(2.0, hrf=hrf)[cfg.run.skip_volumes:])
    assert np.max(np.abs(task - design.task_regressors(2.0)[cfg.run.skip_volumes:])) > 0.05  # not SPM's
    assert main(["check-config", str(config)]) == 0, capsys.readouterr().err
    dumped = json.loads(capsys.readouterr().out)["signal"]
    assert (dumped["hrf"], dumped["hrf_column"]) == (cfg.signal.hrf, "2")


def test_without_a_file_the_canonical_hrf_is_kept(tmp_path: Path) -> None:
    cfg = load_config(_study(tmp_path, ""))
    assert (cfg.signal.hrf, cfg.signal.hrf_column) == ("", "")
    assert load_hrf(cfg) is None
    chain = next(iter(build_chains(cfg, load_design(cfg)).values()))
    assert chain.options.hrf is None


CASES = [
    ("missing file", 'hrf = "hrfs/absent.tsv"', "signal.hrf", "expected an existing HRF TSV file"),
    ("malformed file", 'hrf = "hrfs/bad.tsv"', "signal.hrf", "line 3: expected a number in 'value', got 'oops'"),
    ("sums to <= 0", 'hrf = "hrfs/negative.tsv"', "signal.hrf", "cannot scale a regressor"),
    ("absent column", 'hrf = "hrfs/two.tsv"\nhrf_column = "3"', "signal.hrf_column",
     "expected a column among 1, 2, got '3'"),
    ("ambiguous column", 'hrf = "hrfs/two.tsv"', "signal.hrf_column", "the file has 2: 1, 2"),
    ("column of a single-HRF file absent", 'hrf = "hrfs/one.tsv"\nhrf_column = "1"', "signal.hrf_column",
     "expected a column among value"),
    ("with task_regressor spm", 'hrf = "hrfs/one.tsv"\ntask_regressor = "spm"', "signal.hrf",
     "keeps SPM's canonical HRF"),
    ("with the opennft profile", 'profile = "opennft"\nhrf = "hrfs/one.tsv"', "signal.hrf",
     "task_regressor 'spm'"),
    ("a column without a file", 'hrf_column = "2"', "signal.hrf_column", "expected an HRF file"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_each_bad_hrf_setting_is_one_line_naming_the_key(
    tmp_path: Path, case: tuple[str, str, str, str], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, signal, key, words = case
    config = _study(tmp_path, signal)
    argv = ["check-config", str(config)] if command == "check-config" else ["run", "-c", str(config)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("nfd: config error: ") and key in err[0] and words in err[0], err[0]
    assert not list(tmp_path.glob("runs/*"))


def test_the_opennft_profile_takes_a_file_when_task_regressor_is_nfd(tmp_path: Path) -> None:
    cfg = load_config(_study(tmp_path, 'profile = "opennft"\ntask_regressor = "nfd"\nhrf = "hrfs/one.tsv"'))
    assert load_hrf(cfg) is not None


def test_config_error_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_study(tmp_path, 'hrf = "hrfs/one.tsv"\ntask_regressor = "spm"'))
    assert caught.value.key == "signal.hrf"
