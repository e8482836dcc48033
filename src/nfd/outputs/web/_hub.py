"""Fan-out of WebSocket messages: one bounded queue per client, slow clients dropped.

:meth:`Broadcaster.publish` is synchronous and O(clients): it puts the
already-encoded text into every client's queue with ``put_nowait`` and
never waits, so the pipeline that publishes is never delayed by a client.
A client whose queue is full has fallen ``queue_size`` messages behind: it
is dropped (its :attr:`Subscription.dropped` event is set and
``ws_client_dropped`` logged) and the others carry on.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Final

import structlog

from nfd._checks import ensure_int
from nfd.outputs.web._errors import WebConfigError

__all__ = ["Broadcaster", "Subscription"]

log = structlog.get_logger(__name__)

_ids = itertools.count(1)
_DEFAULT_QUEUE: Final[int] = 256


class Subscription:
    """One client's place in the :class:`Broadcaster`: its queue and whether it was dropped.

    Attributes
    ----------
    id : int
        A number unique in the process, for logs.
    peer : str
        The client's address, for logs.
    queue : asyncio.Queue of str
        Encoded messages waiting to be sent, at most the broadcaster's ``queue_size``.
    dropped : asyncio.Event
        Set when the client fell behind and was dropped.
    """

    def __init__(self, peer: str, queue_size: int) -> None:
        self.id = next(_ids)
        self.peer = peer
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.dropped = asyncio.Event()
        self.published = 0

    def __repr__(self) -> str:
        state = "dropped" if self.dropped.is_set() else f"{self.queue.qsize()} queued"
        return f"<Subscription {self.id} {self.peer} {state}>"


class Broadcaster:
    """Fan-out of text messages to subscribed clients, each with a bounded queue.

    Parameters
    ----------
    queue_size : int
        Messages a client may fall behind before it is dropped.

    Examples
    --------
    >>> import asyncio
    >>> async def demo() -> tuple[int, bool, int]:
    ...     hub = Broadcaster(queue_size=2)
    ...     fast, slow = hub.subscribe("fast"), hub.subscribe("slow")
    ...     for i in range(3):
    ...         hub.publish(f'{{"n": {i}}}')
    ...         fast.queue.get_nowait()          # the fast client keeps up
    ...     return hub.clients, slow.dropped.is_set(), hub.dropped
    >>> asyncio.run(demo())
    (1, True, 1)
    """

    def __init__(self, queue_size: int = _DEFAULT_QUEUE) -> None:
        self.queue_size = ensure_int(queue_size, "client queue size (messages)", minimum=1, error=WebConfigError)
        self._subs: dict[int, Subscription] = {}
        self._dropped = 0
        self._published = 0

    @property
    def clients(self) -> int:
        """Clients subscribed now."""
        return len(self._subs)

    @property
    def dropped(self) -> int:
        """Clients dropped for falling behind, since the broadcaster was made."""
        return self._dropped

    @property
    def published(self) -> int:
        """Messages published."""
        return self._published

    def subscribe(self, peer: str, first: str | None = None) -> Subscription:
        """Add a client; ``first`` (e.g. the hello snapshot) is queued before anything published later."""
        sub = Subscription(peer, self.queue_size)
        if first is not None:
            sub.queue.put_nowait(first)
        self._subs[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a client (idempotent)."""
        self._subs.pop(sub.id, None)

    def publish(self, text: str) -> None:
        """Queue ``text`` for every client; drop each client whose queue is full. Never waits."""
        self._published += 1
        for sub in list(self._subs.values()):
            try:
                sub.queue.put_nowait(text)
            except asyncio.QueueFull:
                self._drop(sub)
            else:
                sub.published += 1

    def drop_all(self, reason: str) -> None:
        """Mark every client dropped (the server is stopping)."""
        for sub in list(self._subs.values()):
            self._subs.pop(sub.id, None)
            sub.dropped.set()
        if reason:
            log.debug("ws_clients_released", reason=reason)

    def _drop(self, sub: Subscription) -> None:
        self._subs.pop(sub.id, None)
        self._dropped += 1
        sub.dropped.set()
        log.warning(
            "ws_client_dropped", client=sub.id, peer=sub.peer, queue_size=self.queue_size,
            dequeued=sub.published - sub.queue.qsize(), reason="fell behind by a full queue",
        )
