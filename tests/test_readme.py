"""The README opens with the two commands, and CI runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)[:2]


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, tests = _commands()
    assert demo.strip().endswith("nfd demo") and "pip install" in demo
    assert '".[test]"' in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _commands()
    assert tests.strip() in (ROOT / ".ci" / "run").read_text().splitlines()
