"""``nfd check-config`` refuses what ``nfd run`` refuses before the first volume, with the same one line.

Each case is a configuration that loads (its keys and types are right) but that
``nfd run`` cannot start with; both commands must stop with exit code 2 and one
line naming the key, and neither may create the run folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pytest

from nfd.cli import main
from nfd.simulate import write_nifti_volume
from tests.helpers.study import preflight_study

GOOD_SHA = "0" * 64


def _study(tmp_path: Path, extra: str = "") -> Path:
    """A study folder whose configuration both commands accept; ``extra`` is appended to it."""
    return preflight_study(tmp_path, extra)


def _off_grid_roi(tmp_path: Path) -> str:
    mask = np.zeros((16, 16, 10), np.float32)
    mask[4:8, 4:8, 3:6] = 1
    write_nifti_volume(tmp_path / "other_grid.nii", mask, np.diag([3.0, 3.0, 3.0, 1.0]))
    return ""


def _uncreatable_runs(tmp_path: Path) -> str:
    (tmp_path / "a_file").write_text("")
    return ""  # with output_dir replaced below


def _decoder(tmp_path: Path) -> str:
    from sklearn.linear_model import Ridge

    joblib.dump(Ridge().fit(np.arange(6.0).reshape(3, 2), [0.0, 1.0, 2.0]), tmp_path / "model.joblib")
    return f'[feedback.decoder]\nmodel = "model.joblib"\nsha256 = "{GOOD_SHA}"'


def _token(tmp_path: Path) -> str:
    token = tmp_path / "token"
    token.write_text("a-secret-token-0123456789\n")
    token.chmod(0o644)
    return ""


# (name, the setup writing files and returning lines to append, text replacements, key, words of the message)
Case = tuple[str, Callable[[Path], str], dict[str, str], str, str]
CASES: list[Case] = [
    ("roi off the template's grid", _off_grid_roi, {"[roi]\n": '[roi]\nroi_c = "other_grid.nii"\n'}, "roi", "grid"),
    ("prefix with a path", lambda _: "", {'output_dir = "runs"': 'output_dir = "runs"\nprefix = "../x"'},
     "run.prefix", "plain file name"),
    ("runs folder under a file", _uncreatable_runs, {'output_dir = "runs"': 'output_dir = "a_file/runs"'},
     "run.output_dir", "is not a folder"),
    ("decoder hash", _decoder, {'protocol = "p.json"': 'protocol = "p.json"\ntype = "decoder"'},
     "feedback", "sha256"),
    ("serial port absent", lambda _: "", {"[feedback.udp]": '[feedback.serial]\nenabled = true\nport = '
                                          '"/dev/ttyNFD-absent"\n[feedback.udp]'},
     "feedback.serial.port", "does not exist"),
    ("token file others read", _token, {"[web]\nenabled = false": '[web]\nenabled = true\ntoken_file = "token"'},
     "web.token_file", "mode 0644"),
]


def _configure(tmp_path: Path, case: Case) -> Path:
    _, setup, edits, _, _ = case
    config = _study(tmp_path, setup(tmp_path))
    text = config.read_text()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    config.write_text(text)
    return config


def test_the_study_without_faults_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _study(tmp_path)
    assert main(["check-config", str(config)]) == 0, capsys.readouterr().err
    assert "configuration is valid" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # checked, not created


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_check_config_refuses_what_run_refuses(
    tmp_path: Path, case: Case, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _configure(tmp_path, case)
    argv = ["check-config", str(config)] if command == "check-config" else ["run", "-c", str(config)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    _, _, _, key, words = case
    assert err[0].startswith("nfd: config error: ") and f"{key}" in err[0] and words in err[0], err[0]
    assert "a-secret-token" not in err[0]
    assert not list(tmp_path.glob("runs/*")), "no run folder before the checks pass"


def test_run_stops_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    config = _configure(tmp_path, CASES[1])  # prefix = "../x": was a traceback with the config's locals
    proc = subprocess.run(
        [sys.executable, "-m", "nfd", "run", "-c", str(config)], capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path.parent / "x").exists()
