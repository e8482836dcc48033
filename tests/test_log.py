"""The daemon's log lines: libraries' records as JSON lines, no bearer token, no frame locals in tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import structlog

from nfd._log import configure_logging
from nfd.outputs.web import LiveState, WebServer
from tests.helpers.web import IdleController

TOKEN = "a-secret-token-0123456789abcdef"


@pytest.fixture
def lines() -> Iterator[io.BytesIO]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, write_through=True)  # a text stream over bytes, as standard output is
    configure_logging("json", "info", stream=out)
    try:
        yield raw
    finally:
        out.detach()  # raw stays open
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def _records(raw: io.BytesIO) -> list[dict]:
    return [orjson.loads(line) for line in raw.getvalue().splitlines()]


async def test_a_token_offered_as_a_subprotocol_never_reaches_the_log(tmp_path: Path, lines: io.BytesIO) -> None:
    # aiohttp itself warns, through logging, with the client's protocols when none is the server's
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    async with (
        WebServer(LiveState(), IdleController(), "127.0.0.1", 0, token_file=token_file) as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(server.url + "ws", protocols=(f"bearer.{TOKEN}",)) as ws,
    ):
        await ws.receive_json(timeout=5)  # the hello: the token was accepted
    text = lines.getvalue().decode()
    assert TOKEN not in text
    warned = [r for r in _records(lines) if r["event"] == "library_log" and r["logger"] == "aiohttp.websocket"]
    assert warned and "bearer.<redacted>" in warned[0]["message"] and warned[0]["level"] == "warning"


def test_tracebacks_carry_no_frame_locals(lines: io.BytesIO) -> None:
    def fails(prefix: str) -> None:
        secret_config = f"Config(prefix={prefix!r}, token={TOKEN!r})"  # noqa: F841 - a local a traceback would show
        raise ValueError("a real bug")

    try:
        fails("../x")
    except ValueError:
        structlog.get_logger("test").exception("nfd_failed")
    (record,) = _records(lines)
    assert record["event"] == "nfd_failed"
    frames = record["exception"][0]["frames"]
    assert frames and all("locals" not in frame for frame in frames)
    assert TOKEN not in lines.getvalue().decode() and "../x" not in lines.getvalue().decode()
    assert record["exception"][0]["exc_value"] == "a real bug"


def test_library_chatter_is_dropped_and_an_error_keeps_its_traceback(lines: io.BytesIO) -> None:
    logging.getLogger("watchfiles.main").info("3 changes detected")  # every batch of file events: not at info
    logging.getLogger("asyncio").debug("not at info")
    logging.getLogger("aiohttp.server").warning("Error handling request")
    try:
        raise RuntimeError("in a callback")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Exception in callback")
    warning, error = _records(lines)
    assert (warning["event"], warning["logger"], warning["message"], warning["level"]) == (
        "library_log", "aiohttp.server", "Error handling request", "warning")
    assert error["logger"] == "asyncio" and error["level"] == "error"
    assert error["exception"][0]["exc_type"] == "RuntimeError"


def test_logging_to_stderr_follows_a_swapped_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configured for standard error while it was a capture that is closed later (a command run in-process),
    later lines go to the standard error of the moment, not to the closed capture."""
    import io
    import sys

    import structlog

    from nfd._log import configure_logging

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("console", "info", stream=sys.stderr)
    structlog.get_logger("t").info("one")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    structlog.get_logger("t").warning("two")  # raised "I/O operation on closed file" before
    assert "two" in second.getvalue()
    configure_logging("json", "info", stream=sys.stderr)
    structlog.get_logger("t").info("three")
    assert '"event":"three"' in second.getvalue()
