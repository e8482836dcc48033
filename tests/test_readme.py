"""The README opens with the two commands, and CI runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.DOTALL)[:2]


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, tests = _commands()
    assert demo.strip().endswith("nfd demo") and "pip install" in demo
    assert '".[test]"' in tests and "pytest" in tests


def _steps(text: str) -> list[str]:
    """The shell commands of ``text``, in order: lines split at ``&&``, comments and control lines left out."""
    steps = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "set ", "cd ", "if ", "fi", "apt-get")):
            continue
        steps += [part.strip() for part in line.split("&&")]
    return steps


def test_ci_runs_the_readme_test_command() -> None:
    """Every step of the README's test command runs in ``.ci/run``, in the README's order.

    CI may run more between them (the linters run after the install and before
    pytest), but not fewer and not others in their place.
    """
    _, tests = _commands()
    wanted = _steps(tests)
    ci = iter(_steps((ROOT / ".ci" / "run").read_text()))
    missing = [step for step in wanted if not any(step == seen for seen in ci)]
    assert not missing, f".ci/run does not run {missing} (in this order: {wanted})"
