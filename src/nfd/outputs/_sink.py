"""The sink interface: one small protocol that every feedback transport implements.

Like httpx's transports, the daemon talks to every output the same way and
does not care what carries the bytes (UDP today; a serial port, a WebSocket
or a REST endpoint later).  A sink is used from the daemon's asyncio loop:

1. ``await sink.open()`` once before the run (may raise
   :class:`~nfd.outputs.OutputError` for configuration trouble: an
   unresolvable host, a missing device);
2. ``sink.send(msg)`` once per processed volume: non-blocking (it returns at
   once, never awaits I/O) and it **never raises for transport trouble** -- a
   receiver that is absent or went away, a full buffer: each kind of trouble
   is logged once (``log.warning(<kind>, ...)``) and counted, and sending
   goes on;
3. ``await sink.close()`` once after the run (idempotent; never raises for
   transport trouble either).

A sink also says which configuration key its trouble at ``open`` belongs
to (:attr:`Sink.config_key`), so that the daemon reports a sink that cannot
open as a configuration error on that key without knowing the sink's class:

>>> from nfd.outputs import SerialSink, Sink, UdpSink
>>> UdpSink.config_key, SerialSink.config_key
('feedback.udp.host', 'feedback.serial.port')
>>> isinstance(UdpSink("127.0.0.1", 1234), Sink)
True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from nfd.outputs._message import FeedbackMessage

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """What the daemon needs from a feedback output (a :class:`typing.Protocol`).

    Any class with these members is a sink; it need not inherit from this one.

    Attributes
    ----------
    name : str
        A short label for logs and status pages, e.g. ``"udp-json:127.0.0.1:1234"``.
    """

    name: str

    @property
    def config_key(self) -> str:
        """The dotted configuration key an error from :meth:`open` is about, e.g. ``"feedback.udp.host"``.

        The daemon raises a sink's :class:`~nfd.outputs.OutputError` from
        :meth:`open` as a :class:`~nfd.config.ConfigError` on this key.
        """
        ...

    async def open(self) -> None:
        """Acquire the transport; raise :class:`~nfd.outputs.OutputError` if it cannot be set up."""
        ...

    def send(self, msg: FeedbackMessage) -> None:
        """Hand one message to the transport without blocking; never raise for transport trouble."""
        ...

    async def close(self) -> None:
        """Flush what can be flushed and release the transport; idempotent."""
        ...
