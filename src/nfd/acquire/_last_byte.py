"""When the scanner wrote a file's last byte: the start of every latency nfd reports.

A file's inode change time (``st_ctime``) is set by the kernel when its last
byte is written and again when it is renamed (the way exports give a file
its final name), so it is the moment the file was whole under its name. On
a local file system (inotify) the kernel that sets it is this machine's,
on the same clock as ``time.time()``, and it is taken as it is (it is coarse
by up to one scheduler tick, a few ms, and only ever early: a latency from
it is never understated). On a polled network mount (SMB, NFS) the time is
the file server's clock: it is taken only when it lies within the polling
window before nfd saw the file, and otherwise (a server clock ahead, or
behind by more than the window) nfd's own time of seeing the change is
used, which is late by at most one polling interval. A file that was
already there when the watch began keeps its time however old it is (what
the stale rule needs), unless it lies in the future.

This module owns that rule alone; the watcher passes the numbers in.
"""

from __future__ import annotations

#: How far (s) a file time may lie after nfd saw the file and still be
#: taken (as the time it was seen): the coarse kernel clock and a file
#: server a few ms ahead.
FUTURE_TOLERANCE_S = 0.05

#: Added to the polling interval for the window (s) before nfd saw a file
#: in which a network mount's file time is believed.
POLL_SLACK_S = 1.0


def last_byte_time(changed: float, seen: float, *, polled: bool, poll_interval: float,
                   at_start: bool = False) -> tuple[float, bool]:
    """The time (s since the epoch) a file's last byte was written, and whether its own file time gave it.

    Parameters
    ----------
    changed : float
        The file's ``st_ctime`` (s since the epoch): last write or rename.
    seen : float
        When nfd's stat found the file in this state (s since the epoch, this machine's clock).
    polled : bool
        Whether the folder is polled (a network mount, whose file times are the server's clock).
    poll_interval : float
        The polling interval (s).
    at_start : bool
        The file was already there when the watch began.

    Returns
    -------
    t_written : float
        Never later than ``seen``.
    from_file : bool
        True when the file's time was believed, False when ``seen`` stands in for it.

    Examples
    --------
    >>> last_byte_time(99.996, 100.0, polled=False, poll_interval=0.1)
    (99.996, True)
    >>> last_byte_time(40.0, 100.0, polled=True, poll_interval=0.1)  # a server clock a minute behind
    (100.0, False)
    >>> last_byte_time(40.0, 100.0, polled=True, poll_interval=0.1, at_start=True)
    (40.0, True)
    >>> last_byte_time(100.02, 100.0, polled=True, poll_interval=0.1)  # a few ms ahead
    (100.0, True)
    """
    if changed > seen + FUTURE_TOLERANCE_S:
        return seen, False
    if polled and not at_start and changed < seen - poll_interval - POLL_SLACK_S:
        return seen, False
    return min(changed, seen), True
