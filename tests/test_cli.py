"""The ``nfd`` command line: help for every command, log options before or after the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.cli import _parser, main


def test_eeg_help_lists_the_eeg_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eeg", "--help"]) == 0
    assert "nfd eeg fit" in capsys.readouterr().out


def test_eeg_without_a_tool_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eeg"]) == 2
    assert "fit" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--log-format", "console", "--log-level", "debug", "check-config", "x.toml"],
    ["check-config", "x.toml", "--log-format", "console", "--log-level", "debug"],
    ["check-config", "--log-format", "console", "--log-level", "debug", "x.toml"],
])
def test_log_options_before_or_after_the_command(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert (args.log_format, args.log_level) == ("console", "debug")


def test_log_options_default_to_the_config() -> None:
    args = _parser().parse_args(["run", "-c", "x.toml"])
    assert (args.log_format, args.log_level) == (None, None)


@pytest.mark.parametrize("command", ["run", "check-config", "replay", "demo"])
def test_every_command_has_a_description_or_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: nfd {command}" in out and len(out.splitlines()) > 4


@pytest.mark.parametrize("tool", ["connectivity", "normative"])
def test_the_fc_tools_answer_help_and_refuse_a_missing_subcommand(
    tool: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([tool, "--help"]) == 0
    assert f"nfd {tool}" in capsys.readouterr().out
    assert main([tool]) == 2
    assert f"nfd {tool}" in capsys.readouterr().err


def test_simulate_fc_cohort_refuses_a_bad_argument_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "fc-cohort", "--networks", "6", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nfd: simulate fc-cohort: ") and "6 networks" in err[0], err
    assert not (tmp_path / "c").exists()


def test_simulate_fc_cohort_writes_fmriprep_like_derivatives(tmp_path: Path) -> None:
    out = tmp_path / "c"
    argv = ["simulate", "fc-cohort", "--controls", "2", "--patients", "1", "--sites", "1", "--networks", "6",
            "--deviant-edges", "2", "--volumes", "30", "--voxel-size", "8", "--out", str(out)]
    assert main(argv) == 0
    bold = sorted(out.glob("sub-*/func/*_desc-preproc_bold.nii.gz"))
    assert len(bold) == 3 and (out / "participants.tsv").is_file() and (out / "truth" / "deviant_edges.tsv").is_file()
