"""The end of a worker thread, awaited from asyncio: what ended it, and the wake-up it sends as it ends.

Both LSL threads of nfd (the inlets' :class:`~nfd.eeg._lsl_thread.LslInletThread`
and the :class:`~nfd.eeg.EegPlayer`) run liblsl in a thread of their own and
are awaited by the event loop without polling: :meth:`ThreadEnd.run` arms an
:class:`asyncio.Event`, starts the thread (in the default executor, since a
start may block until the thread is ready), and waits; the thread calls
:meth:`ThreadEnd.notify` as its last act, which sets the event through
``call_soon_threadsafe``. Cancelling :meth:`~ThreadEnd.run` stops the thread
and waits for it; what ended the thread is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["ThreadEnd"]


class ThreadEnd:
    """What ended one worker thread, handed from the thread to whoever awaits it.

    Attributes
    ----------
    error : BaseException or None
        What ended the thread (None while it runs or if it ended normally).

    Examples
    --------
    >>> import asyncio, threading
    >>> end = ThreadEnd()
    >>> def work() -> None:
    ...     end.notify(ValueError("stream lost"))
    >>> try:
    ...     asyncio.run(end.run(lambda: threading.Thread(target=work).start(), lambda: None))
    ... except ValueError as exc:
    ...     print(exc)
    stream lost
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self._wake: Callable[[], object] | None = None

    def notify(self, error: BaseException | None = None) -> None:
        """Record what ended the thread (if anything) and wake :meth:`run`; called by the thread as it ends."""
        if error is not None:
            self.error = error
        if self._wake is not None:
            with contextlib.suppress(RuntimeError):  # run()'s loop closed meanwhile: nobody to wake
                self._wake()

    async def run(self, start: Callable[[], None], stop: Callable[[], None]) -> None:
        """Start the thread, wait until it ends (without polling), then stop it; raise what ended it.

        Parameters
        ----------
        start : callable
            Starts the thread (run in the default executor: it may block).
        stop : callable
            Asks the thread to end and joins it (run in the default executor),
            called when the thread has ended and when this coroutine is cancelled.
        """
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        self._wake = lambda: loop.call_soon_threadsafe(ended.set)
        try:
            await asyncio.to_thread(start)
            await ended.wait()
        finally:
            await asyncio.to_thread(stop)
        if self.error is not None:
            raise self.error
