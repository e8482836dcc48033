"""Running independent offline tasks: in this process, in local joblib processes, or on a Dask cluster.

The offline tools (``nfd evaluate``'s runs, ``nfd connectivity extract``'s runs) hand a module-level function
and its items to :func:`map_unordered`, which yields ``(index, result)`` as tasks finish, whichever way they
run: ``jobs = 1`` in this process; ``jobs > 1`` in that many joblib processes; ``scheduler = "local"`` on a
:class:`distributed.LocalCluster` of ``jobs`` single-threaded worker processes, or ``scheduler =
"tcp://HOST:8786"`` on a running cluster. The caller orders the results; each task is expected to fix its own
BLAS threads, so that every way gives the same numbers.

Owns the choice of executor only; it imports joblib and distributed when they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["map_unordered"]


def map_unordered(
    function: Callable[[Any], Any], items: Sequence[Any], *, jobs: int = 1, scheduler: str | None = None
) -> Iterator[tuple[int, Any]]:
    """``(k, function(items[k]))`` for every item, in the order the tasks finish.

    Parameters
    ----------
    function : callable
        A picklable (module-level, or a :func:`functools.partial` of one) function of one item.
    items : sequence
        The tasks' inputs (picklable).
    jobs : int
        Local worker processes (joblib), or the workers of a ``"local"`` Dask cluster.
    scheduler : str, optional
        ``"local"`` or a Dask scheduler's address; None: this process or joblib.

    Examples
    --------
    >>> sorted(map_unordered(abs, [-2, 3, -1]))
    [(0, 2), (1, 3), (2, 1)]
    """
    if scheduler:
        yield from _dask(function, items, jobs, scheduler)
    elif jobs > 1 and len(items) > 1:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        yield from parallel(delayed(_indexed)(function, k, item) for k, item in enumerate(items))
    else:
        for k, item in enumerate(items):
            yield k, function(item)


def _indexed(function: Callable[[Any], Any], k: int, item: Any) -> tuple[int, Any]:
    return k, function(item)


def _dask(function: Callable[[Any], Any], items: Sequence[Any], jobs: int, scheduler: str) -> Iterator[tuple[int, Any]]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {client.submit(_indexed, function, k, item, pure=False): k for k, item in enumerate(items)}
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
