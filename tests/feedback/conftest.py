"""Fixtures of these tests: BLAS on one thread.

OpenBLAS's worker threads spin while they wait; on a loaded 2-core machine a
small matrix product then takes hundreds of times longer than on one thread.
These tests use small matrices, so one thread is both fast and predictable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
