"""Request bodies: parsed and validated before anything reaches the controller.

Every ``POST`` body is a JSON object (``Content-Type: application/json``;
an empty body counts as ``{}``) no larger than the server's limit.  Each
route states its keys; an unknown key, a missing required key, a value of
the wrong type or out of range is a :class:`BodyError` whose message names
the key and what was expected -- the server answers 400 with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from nfd._checks import ensure_float
from nfd.outputs.web._errors import WebError

__all__ = ["BodyError", "Field", "parse_body", "SOURCE_PATTERN", "EVENT_FIELDS", "VALUE_FIELDS", "EMPTY_FIELDS"]

#: A feedback source's name (the ``{source}`` of ``POST /api/v1/feedback/sources/{source}``).
SOURCE_PATTERN: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME_PATTERN: Final[re.Pattern[str]] = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


class BodyError(WebError, ValueError):
    """A request body is malformed; ``status`` is the HTTP status to answer (400, 413 or 415)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Field:
    """One key of a JSON body.

    Attributes
    ----------
    kind : {"number", "time", "name"}
        ``number``: a finite JSON number; ``time``: a finite number > 0
        (seconds since the epoch); ``name``: a string of 1 to 128
        characters without control characters.
    required : bool
        Whether the key must be present.
    doc : str
        One line for the OpenAPI document.
    """

    kind: Literal["number", "time", "name"]
    required: bool
    doc: str

    def check(self, key: str, value: Any) -> Any:
        """``value`` if it fits, else raise :class:`BodyError` naming ``key``."""
        if self.kind in ("number", "time"):
            try:
                number = ensure_float(value, f"'{key}'")
            except ValueError:  # re-raised with the value shortened: the message goes back to the client
                raise BodyError(f"'{key}' must be a finite number, got {_show(value)}") from None
            if self.kind == "time" and number <= 0:
                raise BodyError(f"'{key}' must be seconds since the Unix epoch (> 0), got {_show(value)}")
            return number
        if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value):
            raise BodyError(
                f"'{key}' must be a string of 1 to 128 characters without control characters, got {_show(value)}"
            )
        return value

    def schema(self) -> dict[str, Any]:
        """This key's JSON Schema (for the OpenAPI document)."""
        if self.kind == "name":
            return {"type": "string", "minLength": 1, "maxLength": 128, "description": self.doc}
        out: dict[str, Any] = {"type": "number", "description": self.doc}
        if self.kind == "time":
            out["exclusiveMinimum"] = 0
        return out


EMPTY_FIELDS: Final[Mapping[str, Field]] = {}
EVENT_FIELDS: Final[Mapping[str, Field]] = {
    "name": Field("name", True, "the event's name, e.g. 'button_press'"),
    "time": Field("time", False, "when it happened, seconds since the Unix epoch (default: when received)"),
}
VALUE_FIELDS: Final[Mapping[str, Field]] = {
    "value": Field("number", True, "the source's value, in the source's own units"),
    "time": Field("time", False, "when it was measured, seconds since the Unix epoch (default: when received)"),
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_body(raw: bytes, content_type: str, fields: Mapping[str, Field]) -> dict[str, Any]:
    """Parse and validate one request body.

    Parameters
    ----------
    raw : bytes
        The body (already size-limited by the server).
    content_type : str
        The request's media type (without parameters).
    fields : mapping
        The keys the route accepts.

    Returns
    -------
    dict
        The validated values (numbers as floats).

    Raises
    ------
    BodyError
        415 when the media type is not ``application/json``; 400 when the
        body is not a JSON object or a key is unknown, missing or invalid.

    Examples
    --------
    >>> parse_body(b'{"value": 2}', "application/json", VALUE_FIELDS)
    {'value': 2.0}
    >>> parse_body(b'{"value": "x"}', "application/json", VALUE_FIELDS)
    Traceback (most recent call last):
    ...
    nfd.outputs.web._bodies.BodyError: 'value' must be a finite number, got 'x'
    """
    if content_type != "application/json":
        raise BodyError(
            f"the body must be JSON sent with Content-Type: application/json, got {content_type or 'none'!r}", 415
        )
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BodyError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BodyError(f"the body must be a JSON object, got {type(data).__name__ if data is not None else 'null'}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(fields) or "none"
        raise BodyError(f"unknown key(s) {', '.join(map(repr, unknown))}: expected {allowed}")
    out: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in data:
            if spec.required:
                raise BodyError(f"'{key}' is required ({spec.doc})")
            continue
        out[key] = spec.check(key, data[key])
    return out
