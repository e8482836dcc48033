"""sd_notify over a real AF_UNIX datagram socket, as systemd listens."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from nfd.daemon.sdnotify import SystemdNotifier


def _listen(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


def test_sends_state_lines_to_path_socket(tmp_path: Path) -> None:
    sock = _listen(str(tmp_path / "notify"))
    n = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "10000000"})
    assert n.enabled and n.watchdog_interval == pytest.approx(5.0)
    n.notify(READY=1, STATUS="waiting for volumes")
    n.notify(WATCHDOG=1)
    assert sock.recv(1024) == b"READY=1\nSTATUS=waiting for volumes"
    assert sock.recv(1024) == b"WATCHDOG=1"
    n.close()
    sock.close()


def test_abstract_namespace_socket() -> None:
    name = f"nfd-test-{os.getpid()}"
    sock = _listen("\0" + name)
    n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
    n.notify(STOPPING=1)
    assert sock.recv(1024) == b"STOPPING=1"
    n.close()
    sock.close()


def test_watchdog_for_another_pid_is_ignored(tmp_path: Path) -> None:
    n = SystemdNotifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval is None and not n.enabled


def test_vanished_socket_never_raises(tmp_path: Path) -> None:
    n = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    n.notify(READY=1)  # logged once, not raised
    n.notify(READY=1)
    n.close()
