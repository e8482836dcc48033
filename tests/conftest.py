"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from threadpoolctl import threadpool_limits

#: ``../shared/data`` beside the checkout (CI always has it); overridable for
#: a checkout that lives elsewhere.
SHARED_DATA = Path(
    os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real scanner and EEG files, or skip the test.

    The files are not in the repository (their licences and size forbid it);
    they live in ``../shared/data`` beside the checkout, or wherever the
    environment variable ``NFD_SHARED_DATA`` points.
    """
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real data folder {SHARED_DATA} is absent: these tests read real scanner "
            "files from ../shared/data beside the checkout (set NFD_SHARED_DATA to "
            "point elsewhere)"
        )
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread: OpenBLAS's worker threads spin while they wait, and on a
    loaded 2-core machine a small matrix product then takes hundreds of times
    longer than on one thread (the daemon pins it the same way)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


#: Names whose presence in a test module's namespace means its tests start another
#: process (``nfd run``, the demo, a headless browser, the receiver tool): those
#: tests take seconds each, and ``-m "not slow"`` leaves them out.
_PROCESS_STARTERS = ("subprocess", "running_daemon", "Chromium")


def _starts_processes(module: ModuleType | None) -> bool:
    return module is not None and any(name in vars(module) for name in _PROCESS_STARTERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark, in one place, what a test needs rather than trusting each file to say it.

    ``shared``: the test (or a fixture it uses, however indirectly) asks for
    :func:`shared_data`, so ``-m "not shared"`` runs on a checkout without
    ``../shared``. ``slow``: its module starts other processes.
    """
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared)
        if _starts_processes(getattr(item, "module", None)):
            item.add_marker(pytest.mark.slow)
