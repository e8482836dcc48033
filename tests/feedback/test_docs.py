"""The Examples sections of nfd.feedback run and give what they show; the public API is documented."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import nfd.feedback

MODULES = sorted(f"nfd.feedback.{info.name}" for info in pkgutil.iter_modules(nfd.feedback.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_api_is_documented() -> None:
    for name in nfd.feedback.__all__:
        assert getattr(nfd.feedback, name).__doc__, name
    for error in ("DesignError", "ProtocolError", "VolumeIndexError", "DecoderError"):
        assert issubclass(getattr(nfd.feedback, error), nfd.feedback.FeedbackError)
