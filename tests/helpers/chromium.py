"""Headless Chromium driven over the DevTools protocol (CDP), with aiohttp only.

Enough for the live page's tests: open a URL, evaluate JavaScript, take a
screenshot.  Chromium is Debian's ``chromium`` package (or
``chromium-browser``/``google-chrome``, or the binary named by
``NFD_CHROMIUM``); :func:`chromium_binary` returns None when there is none.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_binary() -> str | None:
    """The Chromium (or Chrome) executable to use, or None."""
    named = os.environ.get("NFD_CHROMIUM")
    if named:
        return named if shutil.which(named) or Path(named).is_file() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    """Chromium answered a DevTools command with an error, or failed to start."""


class Chromium:
    """One headless Chromium process with one page, as an async context manager."""

    def __init__(self, binary: str, width: int = 1280, height: int = 1000, timeout: float = 30.0) -> None:
        self.binary = binary
        self.width, self.height = width, height
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None  # ignore_cleanup_errors below
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        #: DevTools events received so far (console messages, exceptions ...).
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="nfd-chromium-", ignore_cleanup_errors=True)
        profile = Path(self._profile.name)
        self._proc = self._start(profile)
        port_file = profile / "DevToolsActivePort"
        deadline = asyncio.get_running_loop().time() + self.timeout
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self._proc.poll() is not None:
                raise CdpError(f"chromium exited with status {self._proc.returncode} before DevTools started")
            if asyncio.get_running_loop().time() > deadline:
                raise CdpError("chromium's DevTools did not start in time")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json()
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Log.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._proc.wait, 10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                await asyncio.to_thread(self._proc.wait)
        if self._profile is not None:
            # Chromium's helper processes may still be writing the profile for a moment.
            for _ in range(50):
                try:
                    shutil.rmtree(self._profile.name)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            self._profile.cleanup()

    def _start(self, profile: Path) -> subprocess.Popen[bytes]:
        """Start the headless browser on ``profile`` (returns once it is spawned; DevTools come up later)."""
        return subprocess.Popen(
            [
                self.binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", f"--window-size={self.width},{self.height}", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the helpers end with it
        )

    def _signal_group(self, sig: int) -> None:
        """Signal the process group this Chromium was started in (its id is the browser's pid)."""
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        assert self._ws is not None
        ident = next(self._ids)
        await self._ws.send_json({"id": ident, "method": method, "params": params or {}})
        while True:
            msg = await self._ws.receive_json(timeout=self.timeout)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll ``expression`` until it is truthy; return its value (CdpError after ``timeout`` s)."""
        deadline = asyncio.get_running_loop().time() + (timeout or self.timeout)
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise CdpError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.05)

    def page_errors(self) -> list[str]:
        """Uncaught exceptions and console errors of the page so far."""
        out = []
        for event in self.events:
            if event["method"] == "Runtime.exceptionThrown":
                out.append(str(event["params"]["exceptionDetails"]))
            elif event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
                out.append(str(event["params"]["args"]))
            elif event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                out.append(str(event["params"]["entry"]))
        return out

    async def set_width(self, width: int) -> None:
        """Resize the viewport (CSS pixels), as a narrower window would."""
        self.width = width
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def screenshot(self) -> bytes:
        """A PNG of the whole page."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        result = await self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True,
             "clip": {"x": 0, "y": 0, "width": max(size["width"], self.width), "height": size["height"], "scale": 1}},
        )
        return base64.b64decode(result["data"])
