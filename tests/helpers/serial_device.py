"""A serial device for tests: a real pseudo-terminal pair whose slave is reached through a symlink.

The sink under test opens the slave by path, as it would ``/dev/ttyUSB0``
or a udev name under ``/dev/serial/by-id/``; the test reads what arrives on
the master.  :meth:`Pty.vanish` is a pulled USB adapter (the master closes,
so writes to the slave fail with EIO, and the path disappears); a new
:class:`Pty` on the same path is the adapter plugged in again.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Callable
from pathlib import Path

__all__ = ["Pty", "until"]


class Pty:
    """A pseudo-terminal pair whose slave is reachable at ``link`` (a symlink, like a udev name).

    Parameters
    ----------
    link : Path
        Where the symlink to the slave is made (replacing one already there).
    """

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, slave = os.openpty()
        self.slave_name = os.ttyname(slave)
        os.close(slave)  # the sink opens it by path
        link.unlink(missing_ok=True)
        link.symlink_to(self.slave_name)
        self.closed = False

    def read(self, n: int, timeout: float = 5.0) -> bytes:
        """Exactly ``n`` bytes from the master (the timeout, in s, guards against a hang; it is not a measurement)."""
        out = b""
        while len(out) < n:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                raise AssertionError(f"only {len(out)} of {n} bytes arrived: {out!r}")
            out += os.read(self.master, n - len(out))
        return out

    def pending(self) -> bytes:
        """Whatever is readable now, without waiting."""
        out = b""
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def vanish(self) -> None:
        """The device goes away: the master closes and the path disappears."""
        os.close(self.master)
        self.link.unlink()
        self.closed = True

    def close(self) -> None:
        """Close the master (idempotent); the symlink stays."""
        if not self.closed:
            os.close(self.master)
            self.closed = True


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait, yielding to the loop every 10 ms, until ``predicate()``; ``timeout`` (s) only guards against a hang.

    Raises
    ------
    AssertionError
        Naming ``what`` when ``predicate()`` is still false after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
