"""Which files the code under test opens, seen by a real audit hook (PEP 578), not by patching ``open``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_watching: list[tuple[str, list[str]]] = []


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _watching or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    opened = os.fsdecode(args[0])
    for path, seen in _watching:
        if opened == path:
            seen.append(opened)


sys.addaudithook(_hook)  # audit hooks cannot be removed; it does nothing outside opens_of()


@contextmanager
def opens_of(path: str | os.PathLike[str]) -> Iterator[list[str]]:
    """Collect every ``open()`` of ``path`` (by any code in this process) while the block runs."""
    seen: list[str] = []
    entry = (str(Path(path)), seen)
    _watching.append(entry)
    try:
        yield seen
    finally:
        _watching.remove(entry)
