"""The Examples sections of nfd.eeg run and give what they show; the public API is documented."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from structlog.testing import capture_logs

import nfd.eeg

MODULES = sorted(f"nfd.eeg.{info.name}" for info in pkgutil.iter_modules(nfd.eeg.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    with capture_logs():
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_api_is_documented_and_errors_share_a_base() -> None:
    for name in nfd.eeg.__all__:
        obj = getattr(nfd.eeg, name)
        if getattr(obj, "__module__", "").startswith("nfd."):  # classes and functions, not type aliases
            assert obj.__doc__, name
    errors = [getattr(nfd.eeg, n) for n in nfd.eeg.__all__ if n.endswith("Error")]
    assert len(errors) == 10
    assert all(issubclass(e, nfd.eeg.EegError) for e in errors)
    for error in ("ModelHashError", "ModelFormatError", "ModelMismatchError"):
        assert issubclass(getattr(nfd.eeg, error), nfd.eeg.ModelError)
