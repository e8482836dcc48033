#!/usr/bin/env python3
"""Receive nfd's feedback over UDP: a small, stand-alone receiver for stimulus programs.

Standard library only (no nfd, no numpy): copy this file next to a PsychoPy
(or any Python) script.  It decodes the three formats ``nfd`` sends
(``[feedback.udp] format`` in nfd's configuration):

``json``
    one JSON object per volume: ``index``, ``condition``, ``feedback``
    (``null`` when no value), ``time`` (s since the epoch), ``latency_ms``;
``float32``
    pyOpenNFT's: one big-endian float32 per volume, the feedback value;
``opennft``
    OpenNFT's: ``#`` on open and close; per volume ``[timestamp, condition]``
    (optional) then ``[timestamp, value]``, one datagram each, timestamp and
    value little-endian float32, condition UTF-8.  A 4-byte datagram whose
    value is plausible epoch seconds (1e8 to 1e10) is taken for a timestamp,
    any other 4-byte datagram for a value, any longer one for a condition
    name; so a feedback value in [1e8, 1e10) would be misread (nfd clips
    feedback far below that).

Use in a PsychoPy frame loop
----------------------------
Create the receiver once, before the loop; call :meth:`FeedbackReceiver.poll`
once per frame: it never blocks, and returns the newest value that arrived
since the previous call, or ``None`` when nothing new came (keep showing the
last one)::

    from psychopy import visual, core
    from nfd_receiver import FeedbackReceiver

    win = visual.Window(fullscr=True, units="norm")
    bar = visual.Rect(win, width=0.2, height=0.01, fillColor="green", pos=(0, -0.5))
    rx = FeedbackReceiver(host="0.0.0.0", port=1234, fmt="json")  # 0.0.0.0: accept from the nfd machine
    value = 0.0
    try:
        while not done:                       # your experiment's condition
            new = rx.poll()                   # non-blocking
            if new is not None and new == new:  # new == new is False for NaN (no value)
                value = new
            bar.height = max(0.01, value / 100.0)     # feedback in [-100, 100] by default
            bar.pos = (0, -0.5 + bar.height / 2)
            bar.draw()
            win.flip()                        # paced by the screen refresh
    finally:
        rx.close()
        win.close()

``rx.latest`` holds the newest :class:`Feedback` (value, index, condition,
time, latency) for scripts that want more than the value; ``rx.condition``
the last condition name received.

From a shell, ``python nfd_receiver.py --port 1234 --format json`` prints
everything that arrives.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import struct
import sys
import time
from typing import NamedTuple

__all__ = ["FORMATS", "Feedback", "FeedbackReceiver", "main"]

#: Formats :class:`FeedbackReceiver` decodes.
FORMATS = ("json", "float32", "opennft")

_BE_F32 = struct.Struct(">f")
_LE_F32 = struct.Struct("<f")
_CONTROL = b"#"
#: float32 values in this range are taken for epoch-seconds timestamps (opennft format).
_EPOCH_RANGE = (1e8, 1e10)
#: At most this many datagrams are read per call, so a flood cannot stall a frame.
_MAX_PER_CALL = 1000


class Feedback(NamedTuple):
    """One feedback value as received; fields a format does not carry are ``None``."""

    feedback: float
    """The feedback value (NaN when the sender had none)."""
    index: int | None = None
    """0-based acquisition index of the volume (``json`` only)."""
    condition: str | None = None
    """Condition name (``json``; ``opennft`` when the sender sends conditions)."""
    time: float | None = None
    """Send time, s since the epoch (``json`` exact; ``opennft`` float32, i.e. to about a minute)."""
    latency_ms: float | None = None
    """Scan file complete to send, ms (``json`` only)."""
    received: float = 0.0
    """Receive time, s since the epoch (``time.time()``)."""


class FeedbackReceiver:
    """A non-blocking UDP receiver for nfd's feedback.

    Parameters
    ----------
    host : str
        Address to bind: ``"127.0.0.1"`` for a sender on this machine,
        ``"0.0.0.0"`` to accept from any machine.
    port : int
        UDP port to bind (0: any free port; see :attr:`port`).
    fmt : {"json", "float32", "opennft"}
        The format nfd sends.

    Attributes
    ----------
    latest : Feedback or None
        The newest feedback received so far.
    condition : str or None
        The newest condition name received.
    control_count : int
        ``#`` control datagrams received (``opennft``: one on open, one on close).
    sender_open : bool
        ``opennft``: True between the sender's opening and closing ``#``.
    bad_datagrams : int
        Datagrams that could not be decoded (ignored).

    Examples
    --------
    >>> import socket, struct
    >>> rx = FeedbackReceiver("127.0.0.1", 0, "float32")
    >>> tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> _ = tx.sendto(struct.pack(">f", 1.5), ("127.0.0.1", rx.port))
    >>> import time; time.sleep(0.05)
    >>> rx.poll()
    1.5
    >>> rx.poll() is None
    True
    >>> rx.close(); tx.close()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1234, fmt: str = "json") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r} is unknown: expected one of {', '.join(FORMATS)}")
        self.fmt = fmt
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        # IPv4 first, as nfd's sender prefers it ("localhost" may list ::1 first)
        family, kind, proto, _, address = next((i for i in infos if i[0] == socket.AF_INET), infos[0])
        self._sock = socket.socket(family, kind, proto)
        try:
            self._sock.bind(address)
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise
        self.latest: Feedback | None = None
        self.condition: str | None = None
        self.control_count = 0
        self.sender_open = False
        self.bad_datagrams = 0
        self._stamp: float | None = None

    @property
    def port(self) -> int:
        """The UDP port actually bound."""
        return int(self._sock.getsockname()[1])

    def poll(self) -> float | None:
        """The newest feedback value received since the last call, or ``None``; never blocks."""
        items = self.receive()
        return items[-1].feedback if items else None

    def receive(self) -> list[Feedback]:
        """Every feedback value received since the last call, oldest first; never blocks."""
        items: list[Feedback] = []
        for _ in range(_MAX_PER_CALL):
            try:
                datagram = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:  # Windows reports ICMP errors on receiving sockets too
                continue
            item = self._decode(datagram)
            if item is not None:
                items.append(item)
        if items:
            self.latest = items[-1]
        return items

    def close(self) -> None:
        """Release the socket."""
        self._sock.close()

    def __enter__(self) -> FeedbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _decode(self, datagram: bytes) -> Feedback | None:
        now = time.time()
        if self.fmt == "json":
            try:
                obj = json.loads(datagram)
                value = obj["feedback"]
                item = Feedback(
                    feedback=math.nan if value is None else float(value),
                    index=obj.get("index"),
                    condition=obj.get("condition"),
                    time=obj.get("time"),
                    latency_ms=obj.get("latency_ms"),
                    received=now,
                )
            except (ValueError, KeyError, TypeError):
                self.bad_datagrams += 1
                return None
            self.condition = item.condition
            return item
        if self.fmt == "float32":
            if len(datagram) != 4:
                self.bad_datagrams += 1
                return None
            return Feedback(feedback=_BE_F32.unpack(datagram)[0], received=now)
        # opennft
        if datagram == _CONTROL:
            self.control_count += 1
            self.sender_open = not self.sender_open
            self._stamp = None
            return None
        if len(datagram) == 4:
            value = _LE_F32.unpack(datagram)[0]
            if _EPOCH_RANGE[0] <= value < _EPOCH_RANGE[1]:
                self._stamp = value
                return None
            stamp, self._stamp = self._stamp, None
            return Feedback(feedback=value, condition=self.condition, time=stamp, received=now)
        self.condition = datagram.decode("utf-8", errors="replace")
        self._stamp = None
        return None


def main(argv: list[str] | None = None) -> int:
    """Print every feedback datagram that arrives until interrupted (Ctrl-C)."""
    parser = argparse.ArgumentParser(description="Print nfd's UDP feedback as it arrives.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: any) [%(default)s]")
    parser.add_argument("--port", type=int, default=1234, help="UDP port [%(default)s]")
    parser.add_argument("--format", choices=FORMATS, default="json", help="format nfd sends [%(default)s]")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between polls [%(default)s]")
    args = parser.parse_args(argv)
    with FeedbackReceiver(args.host, args.port, args.format) as rx:
        print(f"listening on {args.host}:{rx.port} ({args.format}); Ctrl-C to stop", flush=True)
        controls = 0
        try:
            while True:
                for item in rx.receive():
                    fields = [f"feedback={item.feedback:.4g}"]
                    fields += [
                        f"{name}={getattr(item, name)}"
                        for name in ("index", "condition", "time", "latency_ms")
                        if getattr(item, name) is not None
                    ]
                    print(" ".join(fields), flush=True)
                if rx.control_count != controls:
                    controls = rx.control_count
                    print(f"control '#' ({'sender open' if rx.sender_open else 'sender closed'})", flush=True)
                time.sleep(args.interval)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
