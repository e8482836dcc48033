"""The ``nfd`` command line: help for every command, log options before or after the command."""

from __future__ import annotations

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
