"""Every Examples section in nfd runs and gives what it shows; every public name is documented."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest
from structlog.testing import capture_logs

import nfd

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(nfd.__path__, "nfd.")
    if not info.name.startswith("nfd._cext") and info.name != "nfd.__main__"
)
PACKAGES = ["nfd.design", "nfd.acquire", "nfd.volume", "nfd.timeseries", "nfd.feedback", "nfd.outputs",
            "nfd.outputs.web", "nfd.eeg", "nfd.config", "nfd.simulate", "nfd.daemon", "nfd.evaluate",
            "nfd.connectivity", "nfd.normative", "nfd.hrf"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    with capture_logs():  # structlog would print the modules' log lines into the examples' output
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_documented(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__doc__, name
    for public in package.__all__:
        obj = getattr(package, public)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith("nfd."):
            assert obj.__doc__, f"{name}.{public}"  # classes and functions; type aliases have no docstring
