"""Contrasts in PyHRF's JSON format: ``{"name": "linear expression of condition names"}``."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from nfd.hrf._errors import HrfError

__all__ = ["load_contrasts", "parse_contrast"]


def _linear(node: ast.AST, conditions: Sequence[str], name: str) -> dict[str, float] | float:
    """A node of the expression as weights per condition, or as a number."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in conditions:
            raise HrfError(
                f"contrast {name!r} names condition {node.id!r}, which the paradigm does not have; "
                f"expected one of {sorted(conditions)}"
            )
        return {node.id: 1.0}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _linear(node.operand, conditions, name)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return sign * inner if isinstance(inner, float) else {k: sign * v for k, v in inner.items()}
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _combine(node.op, _linear(node.left, conditions, name), _linear(node.right, conditions, name), name)
    raise HrfError(
        f"contrast {name!r}: expected a linear combination of condition names with numbers, + - * / and "
        f"parentheses, got {ast.unparse(node)!r}"
    )


def _combine(op: ast.operator, left: dict[str, float] | float, right: dict[str, float] | float,
             name: str) -> dict[str, float] | float:
    if isinstance(op, (ast.Add, ast.Sub)):
        if isinstance(left, float) or isinstance(right, float):
            raise HrfError(f"contrast {name!r}: a number added to a condition is not a linear contrast")
        sign = 1.0 if isinstance(op, ast.Add) else -1.0
        out = dict(left)
        for key, value in right.items():
            out[key] = out.get(key, 0.0) + sign * value
        return out
    if isinstance(op, ast.Mult):
        if isinstance(left, float):
            left, right = right, left
        if not isinstance(right, float):
            raise HrfError(f"contrast {name!r}: a product of two conditions is not a linear contrast")
        return left * right if isinstance(left, float) else {k: v * right for k, v in left.items()}
    if not isinstance(right, float) or right == 0.0:
        raise HrfError(f"contrast {name!r}: expected division by a nonzero number")
    return left / right if isinstance(left, float) else {k: v / right for k, v in left.items()}


def parse_contrast(name: str, expression: str, conditions: Sequence[str]) -> dict[str, float]:
    """A PyHRF contrast expression as weights per condition.

    Parameters
    ----------
    name : str
        The contrast's name (for messages).
    expression : str
        E.g. ``"audio - video"`` or ``"(clicDaudio + clicGaudio) / 2 - clicDvideo"``.
    conditions : sequence of str
        The paradigm's conditions.

    Returns
    -------
    dict
        Condition -> weight, conditions with weight 0 left out.

    Raises
    ------
    HrfError
        For a condition the paradigm lacks, or an expression that is not linear.

    Examples
    --------
    >>> parse_contrast("av", "2*audio - (video + audio)/2", ["audio", "video"])
    {'audio': 1.5, 'video': -0.5}
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise HrfError(f"contrast {name!r}: cannot parse {expression!r}; expected e.g. 'audio - video'") from None
    weights = _linear(tree.body, conditions, name)
    if isinstance(weights, float):
        raise HrfError(f"contrast {name!r}: {expression!r} names no condition")
    return {k: v for k, v in weights.items() if v != 0.0}


def load_contrasts(path: str | Path, conditions: Sequence[str]) -> dict[str, dict[str, float]]:
    """Read a PyHRF contrasts JSON file (name -> expression) and check its names against the paradigm.

    Raises
    ------
    HrfError
        One line naming the file: unreadable, not a JSON object of strings, or a contrast that names a
        condition the paradigm does not have.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HrfError(f"{file}: contrasts file not found") from None
    except (OSError, ValueError) as exc:
        raise HrfError(f"{file}: cannot read the contrasts as JSON ({exc})") from None
    if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
        raise HrfError(f"{file}: expected a JSON object of contrast name -> expression, e.g. "
                       '{"audio-video": "audio - video"}')
    out: dict[str, dict[str, float]] = {}
    for name, expression in data.items():
        try:
            out[str(name)] = parse_contrast(str(name), expression, conditions)
        except HrfError as exc:
            raise HrfError(f"{file}: {exc}") from None
    return out
