"""Driving a watch folder in tests: files written the way scanners write them, scans taken with a bound.

``take``, ``nothing_within`` and ``until`` wait at most :data:`HANG` seconds, so
that a broken watcher fails instead of hanging (never a speed assertion);
``events`` and ``warnings_of`` pick lines out of structlog's captured logs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nfd.acquire import Scan, ScanWatcher

#: Generous bound so that a broken watcher fails instead of hanging; never a speed assertion.
HANG = 20.0


async def take(watcher: ScanWatcher, n: int) -> list[Scan]:
    """The next ``n`` scans."""
    scans: list[Scan] = []

    async def collect() -> None:
        async for scan in watcher:
            scans.append(scan)
            if len(scans) == n:
                return

    await asyncio.wait_for(collect(), HANG)
    return scans


async def nothing_within(watcher: ScanWatcher, seconds: float) -> bool:
    """True when no scan comes out within ``seconds``."""
    try:
        await asyncio.wait_for(watcher.__anext__(), seconds)
    except TimeoutError:
        return True
    return False


async def until(condition: Any) -> None:
    """Wait until ``condition()`` holds (fails after HANG seconds)."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - an arbitrary condition (a count, a file): no event to wait on
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), HANG)


def events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """The captured log lines of event ``name``."""
    return [entry for entry in logs if entry["event"] == name]


def warnings_of(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The captured log lines at level warning."""
    return [entry for entry in logs if entry["log_level"] == "warning"]


async def write_in_chunks(path: Path, data: bytes, n_chunks: int = 2, pause: float = 0.05) -> None:
    """Write a file the way a slow scanner export does: chunks with pauses, then close."""
    bounds = np.linspace(0, len(data), n_chunks + 1).astype(int)
    # Blocking writes on purpose: each chunk lands at once, as a scanner's write does.
    with open(path, "wb") as handle:
        for i, (start, stop) in enumerate(itertools.pairwise(bounds)):
            handle.write(data[start:stop])
            handle.flush()
            os.fsync(handle.fileno())
            if i < n_chunks - 1:
                await asyncio.sleep(pause)


def write_via_rename(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename (atomic)."""
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    os.rename(temporary, path)
