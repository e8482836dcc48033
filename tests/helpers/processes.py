"""Kill a process's multiprocessing workers as they appear: a worker dying in its own restart, for real."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import TracebackType


def spawn_workers_of(pid: int) -> set[int]:
    """Child processes of ``pid`` started by multiprocessing's spawn (not its resource tracker)."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children |= {int(c) for c in (task / "children").read_text().split()}
        except (FileNotFoundError, ProcessLookupError):
            continue
    workers = set()
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            workers.add(child)
    return workers


class WorkerKiller:
    """SIGKILL every new spawn worker of ``parent`` as soon as it appears, ``kills`` times, in a thread.

    Parameters
    ----------
    parent : int
        The process whose workers die.
    kills : int
        How many new workers to kill before stopping.
    spare : set of int
        Workers alive before, left alone.
    """

    def __init__(self, parent: int, kills: int, spare: set[int] | frozenset[int] = frozenset()) -> None:
        self.parent, self.kills, self.spare = parent, kills, set(spare)
        self.killed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.killed) < self.kills:
            for pid in spawn_workers_of(self.parent) - self.spare - set(self.killed):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed.append(pid)
                if len(self.killed) >= self.kills:
                    return
            time.sleep(0.002)

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
