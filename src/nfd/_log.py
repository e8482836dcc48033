"""Structured logging: JSON lines on standard output, or a console format.

Every module logs with ``structlog.get_logger(__name__)`` and one snake_case
event name per kind of event (``volume_processed``, ``file_rejected``, ...);
:func:`configure_logging`, called once by the command line, decides how they
are rendered. journald keeps standard output, so operators read the daemon
with ``journalctl -u nfd -o cat``.

What the libraries log through :mod:`logging` (aiohttp, asyncio) comes out
the same way, as ``library_log`` lines with the library's ``logger`` and
``message``: their warnings and errors, and everything at ``debug``. Every
line passes :func:`redact_secrets`, so a bearer token (an ``Authorization``
header, a WebSocket subprotocol ``bearer.<token>``) never reaches the
journal, and tracebacks carry no frame locals (which would print
configuration reprs and secrets).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, BinaryIO, Literal, TextIO, cast

import structlog
from structlog.typing import Processor

from nfd._json import dumps as json_dumps

LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogStream = Literal["stdout", "stderr"]
#: ``(format, level, stream name)``: how a process logs, as a worker process is told.
LoggingSettings = tuple[LogFormat, LogLevel, LogStream]

#: The arguments of the last :func:`configure_logging` call, under ``"last"``,
#: so that worker processes can log the same way.
_settings: dict[str, LoggingSettings] = {}


def logging_settings() -> LoggingSettings | None:
    """``(format, level, stream name)`` of this process's logging, or None if unconfigured."""
    return _settings.get("last")


def configure_worker_logging(settings: LoggingSettings | None) -> None:
    """Initializer for worker processes: log as the parent does (see :func:`logging_settings`).

    Also pins BLAS to one thread: the worker's kernels are single-threaded
    and idle BLAS threads only spin against the daemon on a 2-core console.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    if settings is not None:
        fmt, level, stream = settings
        configure_logging(fmt, level, sys.stderr if stream == "stderr" else sys.stdout)


#: A bearer token as HTTP and nfd's WebSocket subprotocol carry it: ``Bearer <token>`` or ``bearer.<token>``.
_BEARER = re.compile(r"(?i)\b(bearer[.\s]+)[A-Za-z0-9._~+/=-]+")


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return _BEARER.sub(r"\1<redacted>", value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v) for v in value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def redact_secrets(logger: object, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: every bearer token in the event's values becomes ``<redacted>``.

    Examples
    --------
    >>> redact_secrets(None, "warning", {"event": "library_log",
    ...     "message": "Client protocols ['bearer.s3cret-token-0123456789'] don't overlap"})["message"]
    "Client protocols ['bearer.<redacted>'] don't overlap"
    >>> redact_secrets(None, "info", {"headers": {"Authorization": "Bearer abc.def"}})["headers"]
    {'Authorization': 'Bearer <redacted>'}
    """
    return {key: _redacted(value) for key, value in event_dict.items()}


class _LibraryBridge(logging.Handler):
    """Hands the records of :mod:`logging` (aiohttp, asyncio...) to structlog, as ``library_log`` events."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info and record.exc_info[1] is not None:
                fields["exc_info"] = record.exc_info
            structlog.get_logger("nfd.library").log(record.levelno, "library_log", **fields)
        except Exception:  # noqa: BLE001 - logging must never raise into the code that logs
            self.handleError(record)


def _bridge_libraries(level: int) -> None:
    """Route :mod:`logging` to structlog at ``level`` (once: a new call replaces the bridge)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LibraryBridge)]:
        root.removeHandler(handler)
    root.addHandler(_LibraryBridge(level))
    root.setLevel(level)


def _orjson_dumps(obj: object, default: Callable[[Any], Any] | None = None) -> bytes:
    """structlog's serializer: :func:`nfd._json.dumps`, structlog's ``repr`` fallback last."""
    return json_dumps(obj, fallback=default)


class _CurrentStderr:
    """Standard error as it is when a line is written, not when logging was configured.

    A command run in-process (a test, a notebook) may have ``sys.stderr`` swapped for a capture that is closed
    later; writing to the object captured at configuration would then fail in every later log line.
    """

    @property
    def buffer(self) -> _CurrentStderrBuffer:
        return _CurrentStderrBuffer()

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _CurrentStderrBuffer:
    """The binary side of :class:`_CurrentStderr` (``sys.stderr.buffer``, or the text stream without one)."""

    def write(self, data: bytes) -> int:
        target = getattr(sys.stderr, "buffer", None)
        if target is not None:
            return int(target.write(data))
        return sys.stderr.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        sys.stderr.flush()


def _logger_factory(fmt: LogFormat, out: TextIO) -> structlog.BytesLoggerFactory | structlog.PrintLoggerFactory:
    """Bytes to the stream's binary buffer for ``json`` (the stream itself if it has none), text for ``console``."""
    if fmt == "json":
        # A stream without ``.buffer`` (a binary stream handed in as text) is written to as it is.
        return structlog.BytesLoggerFactory(cast(BinaryIO, getattr(out, "buffer", out)))
    return structlog.PrintLoggerFactory(out)


def configure_logging(fmt: LogFormat = "json", level: LogLevel = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for the whole process.

    Parameters
    ----------
    fmt : {"json", "console"}
        ``json``: one JSON object per line (``timestamp`` in ISO 8601 UTC,
        ``level``, ``event`` and the event's fields), flushed per line.
        ``console``: aligned, coloured lines for a person at a terminal.
    level : {"debug", "info", "warning", "error"}
        Least severe level written.
    stream : text stream, optional
        Where to write; standard output by default.
    """
    out: Any = stream if stream is not None else sys.stdout
    _settings["last"] = (fmt, level, "stderr" if out is sys.stderr else "stdout")
    if out is sys.stderr:
        out = _CurrentStderr()
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        processors += [
            # the traceback as a dict, without frame locals (they hold configuration reprs and secrets)
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
    else:
        processors += [
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=_logger_factory(fmt, out),
        cache_logger_on_first_use=False,
    )
    # libraries chatter at info (watchfiles logs every batch of file events): their warnings and errors only,
    # unless debugging
    _bridge_libraries(logging.DEBUG if level == "debug" else max(logging.WARNING, getattr(logging, level.upper())))
