"""A stimulus program's side of the feedback: a real UDP socket on loopback and the datagrams it got."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def udp_receiver() -> Iterator[socket.socket]:
    """A UDP socket bound to a free loopback port (``sock.getsockname()[1]``), closed afterwards."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def received(sock: socket.socket) -> list[dict[str, Any]]:
    """Every JSON datagram waiting on ``sock``, in arrival order (does not wait for more)."""
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(json.loads(sock.recv(65536)))
        except BlockingIOError:
            return out
