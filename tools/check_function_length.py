"""Fail when a function in ``src/nfd`` is longer than the developers' guide allows.

A function's length is its lines from ``def`` to its last line, less its
docstring (numpydoc with units is required and is not code). Literal tables
(the OpenAPI document) are exempt by name, each with its reason. Cyclomatic
complexity is ruff's C901 (``[tool.ruff.lint.mccabe]`` in ``pyproject.toml``).

Usage: ``python tools/check_function_length.py [ROOT] [--max N]``; prints one
line per offender (``path:line name length``) and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

MAX_LINES = 60
#: "module path relative to ROOT::function" -> why it is exempt.
EXEMPT = {
    "outputs/web/_openapi.py::openapi_document": "a literal table: the OpenAPI document",
}


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def offenders(root: Path, max_lines: int = MAX_LINES) -> list[str]:
    """``path:line name length`` for every function longer than ``max_lines`` under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1 - _docstring_lines(node)
            if length > max_lines and f"{rel}::{node.name}" not in EXEMPT:
                found.append(f"{path}:{node.lineno} {node.name} {length} lines")
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "nfd")
    p.add_argument("--max", type=int, default=MAX_LINES, help=f"longest function allowed (default {MAX_LINES})")
    args = p.parse_args(argv)
    found = offenders(args.root, args.max)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} function(s) longer than {args.max} lines (docstrings excluded)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
