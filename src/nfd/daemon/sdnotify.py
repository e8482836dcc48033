"""systemd's notification protocol (``sd_notify``), for ``Type=notify`` units.

Owns one datagram socket to ``$NOTIFY_SOCKET``. Sends ``READY=1`` once the
daemon watches its folder, ``STATUS=...`` lines that ``systemctl status``
shows, ``WATCHDOG=1`` from the event loop itself (so a blocked loop is a
missed watchdog and systemd restarts the unit) and ``STOPPING=1``.

The protocol is a few lines (sd_notify(3)); a library would add a dependency
for nothing. Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SystemdNotifier:
    """Send state changes to systemd when run under it.

    Parameters
    ----------
    environ : mapping, optional
        Where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are
        read from; ``os.environ`` by default.

    Examples
    --------
    >>> n = SystemdNotifier({})   # not under systemd: does nothing
    >>> n.enabled, n.watchdog_interval
    (False, None)
    >>> n.notify(READY=1, STATUS="watching")
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        self._sock: socket.socket | None = None
        if address:
            # A leading '@' is Linux's abstract namespace.
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        #: Seconds between ``WATCHDOG=1`` pings (half of systemd's WatchdogSec), or None.
        self.watchdog_interval: float | None = int(usec) / 2e6 if usec.isdigit() and ours else None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notification socket."""
        return self._sock is not None

    def notify(self, **fields: object) -> None:
        """Send ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="...")``; never raises."""
        if self._sock is None or self._address is None:
            return
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("sd_notify_failed", socket=self._address, error=str(exc))

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
