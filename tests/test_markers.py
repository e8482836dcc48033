"""The central marker hook in ``tests/conftest.py``: what it marks, checked on the collected suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collected(*args: str) -> set[str]:
    """Node ids pytest selects with ``args``, without running them."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr
    return {line for line in out.stdout.splitlines() if "::" in line}


def test_every_test_of_the_real_data_and_process_suites_is_marked() -> None:
    everything = _collected("tests/daemon", "tests/acquire/test_siemens_mosaic.py", "tests/volume/test_conform.py")
    not_shared = _collected("-m", "not shared", "tests/daemon", "tests/acquire/test_siemens_mosaic.py",
                            "tests/volume/test_conform.py")
    not_slow = _collected("-m", "not slow", "tests/daemon")
    # A test that reads ../shared (through any fixture) is left out by -m "not shared" ...
    shared = everything - not_shared
    assert any("test_siemens_mosaic.py::" in n for n in shared)
    assert any("test_conform.py::" in n for n in shared)
    # ... and one that does not stays in.
    assert any("test_conform.py::" in n for n in not_shared)
    # Every test that starts `nfd run` is slow.
    assert not any("test_end_to_end.py::" in n or "test_series_runs.py::" in n for n in not_slow)
    assert any("test_worker.py::" in n for n in not_slow)
