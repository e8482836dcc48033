"""A real ``nfd`` subprocess for tests: started, its JSON log lines read, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from nfd._errors import NfdError

__all__ = ["DaemonError", "RunningDaemon", "running_daemon"]

#: Log lines shown with a failed wait.
TAIL_LINES = 60
#: Seconds between looks at the log while waiting.
POLL = 0.05


class DaemonError(NfdError, AssertionError):
    """The daemon exited, or did not log what was waited for in time (the message has the log's tail)."""


class RunningDaemon:
    """A started ``nfd`` subprocess and its captured log (made by :func:`running_daemon`).

    Attributes
    ----------
    process : subprocess.Popen
        The process.
    log_path : Path
        The file its standard output and standard error go to.
    """

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while the process runs."""
        return self.process.poll()

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    def _tail(self) -> str:
        return "\n".join(self.log_text().splitlines()[-TAIL_LINES:])

    def _lines(self) -> list[bytes]:
        raw = self.log_path.read_bytes()
        lines = raw.split(b"\n")
        if self.process.poll() is None:
            lines = lines[:-1]  # the last line may still be written
        return [line for line in lines if line.strip()]

    def events(self, event: str | None = None, **fields: object) -> list[dict[str, Any]]:
        """The JSON log records so far, optionally those of one ``event`` with the given field values.

        Lines that are not JSON objects are left out (see :meth:`other_lines`).
        """
        records = []
        for line in self._lines():
            if not line.startswith(b"{"):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if (event is None or record.get("event") == event) and all(
                record.get(k) == v for k, v in fields.items()
            ):
                records.append(record)
        return records

    def other_lines(self) -> list[str]:
        """The complete log lines that are not JSON objects."""
        out = []
        for line in self._lines():
            try:
                if isinstance(orjson.loads(line), dict):
                    continue
            except orjson.JSONDecodeError:
                pass
            out.append(line.decode(errors="replace"))
        return out

    def _found(self, event: str, count: int, fields: Mapping[str, object]) -> dict[str, Any] | None:
        matches = self.events(event, **fields)
        return matches[count - 1] if len(matches) >= count else None

    def _failure(self, event: str, count: int, fields: Mapping[str, object], timeout: float) -> DaemonError:
        what = f"{event!r} x{count}" + (f" with {dict(fields)}" if fields else "")
        code = self.process.poll()
        if code is not None:
            return DaemonError(f"the daemon exited ({code}) before logging {what}:\n{self._tail()}")
        return DaemonError(f"{what} not logged within {timeout} s:\n{self._tail()}")

    def wait_for(self, event: str, count: int = 1, timeout: float = 60, **fields: object) -> dict[str, Any]:
        """Wait for the ``count``-th JSON record of ``event`` whose fields match, and return it.

        Parameters
        ----------
        event : str
            The event name (``"run_started"``, ``"volume_processed"``, ...).
        count : int
            Which matching record (1: the first).
        timeout : float
            Seconds to wait.
        **fields
            Values the record's fields must equal.

        Raises
        ------
        DaemonError
            When the process exits first, or after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            found = self._found(event, count, fields)
            if found is not None:
                return found
            if exited or time.monotonic() > deadline:
                raise self._failure(event, count, fields, timeout)
            time.sleep(POLL)

    async def wait_for_async(
        self, event: str, count: int = 1, timeout: float = 60, **fields: object
    ) -> dict[str, Any]:
        """:meth:`wait_for` from an event loop (polls with ``asyncio.sleep``)."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            found = self._found(event, count, fields)
            if found is not None:
                return found
            if exited or time.monotonic() > deadline:
                raise self._failure(event, count, fields, timeout)
            await asyncio.sleep(POLL)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the process to end by itself; its exit status.

        Raises
        ------
        DaemonError
            When it still runs after ``timeout`` seconds.
        """
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError(f"the daemon did not end within {timeout} s:\n{self._tail()}") from None

    def terminate(self) -> None:
        """Send SIGTERM (the daemon's orderly stop) if the process runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait up to ``timeout`` seconds; the exit status (see :meth:`wait`)."""
        self.terminate()
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL and reap, if the process runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def running_daemon(
    config: Path,
    *,
    args: Sequence[str] = ("run",),
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[RunningDaemon]:
    """Run ``python -m nfd ARGS -c CONFIG`` for the duration of a ``with`` block.

    Parameters
    ----------
    config : Path
        The configuration file.
    args : sequence of str
        The subcommand and its options before ``-c`` (``("run",)``, or
        ``("replay", "--input", ..., "--out", ...)``).
    env : mapping of str to str, optional
        Variables added to this process's environment (``PYTHONUNBUFFERED=1``
        is always set, so log lines arrive as they are written).
    log_path : Path, optional
        Where standard output and standard error go (default: ``daemon.log``
        beside ``config``); read it with the handle's methods.

    Yields
    ------
    RunningDaemon
        The handle. Wait for ``"run_started"`` before writing scans.

    Notes
    -----
    On leaving the block a process still running gets SIGTERM and up to 30 s
    to stop (SIGKILL at once when the block raised), then SIGKILL: none is
    left behind.
    """
    config = Path(config)
    path = Path(log_path) if log_path is not None else config.parent / "daemon.log"
    with open(path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "nfd", *args, "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    daemon = RunningDaemon(process, path)
    try:
        yield daemon
    except BaseException:
        daemon.kill()
        raise
    else:
        with contextlib.suppress(DaemonError):
            daemon.stop(30)
    finally:
        daemon.kill()
