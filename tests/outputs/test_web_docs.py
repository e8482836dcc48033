"""The Examples sections of the serial sink and of nfd.outputs.web run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from structlog.testing import capture_logs

import nfd.outputs
import nfd.outputs.web

MODULES = [
    "nfd.outputs._serial",
    "nfd.outputs._serial_format",
    "nfd.outputs.web",
    *sorted(f"nfd.outputs.web.{info.name}" for info in pkgutil.iter_modules(nfd.outputs.web.__path__)),
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    with capture_logs():  # the server's info lines would land in the doctest output
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_api() -> None:
    assert set(nfd.outputs.web.__all__) == {
        "ControlRefused", "Controller", "EEG_STATES", "LiveState", "LiveStateError", "RunInfo", "TokenFileError",
        "UnknownTarget", "WebConfigError", "WebError", "WebServer", "openapi_document", "read_token_file",
        "volume_message",
    }
    for name in nfd.outputs.web.__all__:
        assert getattr(nfd.outputs.web, name).__doc__, name
    for error in ("ControlRefused", "LiveStateError", "TokenFileError", "UnknownTarget", "WebConfigError"):
        assert issubclass(getattr(nfd.outputs.web, error), nfd.outputs.web.WebError)
    assert issubclass(nfd.outputs.web.WebError, nfd.outputs.OutputError)
    assert {"SerialSink", "SERIAL_FIELDS"} <= set(nfd.outputs.__all__)
