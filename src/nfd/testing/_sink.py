"""An in-memory feedback sink: every message sent, kept in order."""

from __future__ import annotations

from nfd.outputs import FeedbackMessage, Sink

__all__ = ["MemorySink"]


class MemorySink:
    """A feedback sink that records the messages it is sent (an :class:`nfd.outputs.Sink`).

    Parameters
    ----------
    name : str
        The label logs and status pages show.

    Attributes
    ----------
    name : str
        As given.
    config_key : str
        ``"feedback"``: the configuration table the daemon would name for an
        error from :meth:`open` (this sink's :meth:`open` never fails).
    messages : list of FeedbackMessage
        Every message sent, in order.
    opened, closed : bool
        Whether :meth:`open` and :meth:`close` were called.

    Examples
    --------
    >>> import asyncio
    >>> from nfd.outputs import FeedbackMessage
    >>> sink = MemorySink()
    >>> async def one_run():
    ...     await sink.open()
    ...     sink.send(FeedbackMessage(index=0, condition="BAS", feedback=0.5, time=0.0, latency_ms=1.0))
    ...     await sink.close()
    >>> asyncio.run(one_run())
    >>> [m.feedback for m in sink.messages], sink.opened, sink.closed
    ([0.5], True, True)
    """

    config_key: str = "feedback"

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.messages: list[FeedbackMessage] = []
        self.opened = False
        self.closed = False

    async def open(self) -> None:
        """Mark the sink open."""
        self.opened = True

    def send(self, msg: FeedbackMessage) -> None:
        """Keep ``msg``."""
        self.messages.append(msg)

    async def close(self) -> None:
        """Mark the sink closed (idempotent)."""
        self.closed = True


_memory_sink_is_a_sink: type[Sink] = MemorySink
