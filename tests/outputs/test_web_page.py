"""The live page in headless Chromium, driven by a real server fed with a replayed run.

Skipped, with the reason, when no Chromium binary is found (Debian:
``apt-get install chromium``; or set ``NFD_CHROMIUM``).  Writes
``test-artifacts/live-page.png`` (and the README's ``docs/live-page.png``)
from the real run, and ``test-artifacts/live-page-1000.png`` plus the
drawing times of a 1000-volume run to ``test-artifacts/live-page-timing.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from nfd.outputs import VolumeRecord
from nfd.outputs.web import LiveState, RunInfo, WebServer
from tests.helpers.chromium import Chromium, chromium_binary
from tests.helpers.records import synthetic_run
from tests.helpers.web import IdleController

CHROMIUM = chromium_binary()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary found (chromium, chromium-browser, google-chrome or $NFD_CHROMIUM): "
    "install Debian's chromium package to test the live page",
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def _evaluate(browser: Chromium, expression: str) -> Any:
    return await browser.evaluate(expression)


async def test_the_page_plots_every_volume_of_a_replayed_real_run(
    opennft_records: tuple[RunInfo, list[VolumeRecord]],
) -> None:
    assert CHROMIUM is not None
    info, records = opennft_records
    state = LiveState()
    async with WebServer(state, IdleController(), "127.0.0.1", 0) as server, Chromium(CHROMIUM, 1280, 780) as browser:
        await browser.navigate(server.url)
        await browser.wait_for("window.nfdLive && window.nfdLive.connected")
        state.run_started(info)
        for record in records:
            state.volume(record)
            await asyncio.sleep(0.002)  # faster than any scanner; the page keeps up
        state.run_ended({"volumes_processed": len(records)})
        await browser.wait_for(
            "nfdLive.runState === 'ended' && nfdLive.counts.feedback === 150 && nfdLive.drawn.feedback === 150"
        )
        counts = await _evaluate(browser, "nfdLive.counts")
        drawn = await _evaluate(browser, "nfdLive.drawn")
        points = await _evaluate(
            browser, "Object.fromEntries([...document.querySelectorAll('canvas')].map(c => [c.id, c.dataset.points]))"
        )
        status = await _evaluate(
            browser, "[...document.querySelectorAll('#status span')].map(s => s.textContent).filter(Boolean)"
        )
        legend = await _evaluate(browser, "document.getElementById('legend-roi').textContent")
        eeg_hidden = await _evaluate(browser, "document.getElementById('panel-eeg').hidden")
        png = await browser.screenshot()
        errors = browser.page_errors()
    assert counts == {
        "feedback": 150, "roi": {"left": 150, "right": 150}, "fd": 150, "dvars": 150, "eeg": 0, "events": 0
    }
    # Every point is finite in the real run, and 150 points need no decimation at this width.
    assert drawn == {"feedback": 150, "roi": 300, "fd": 150, "dvars": 150, "eeg": 0}
    assert points == {"plot-feedback": "150", "plot-roi": "150", "plot-fd": "150", "plot-dvars": "150", "plot-eeg": "0"}
    assert status[:3] == ["nfd", "run run-opennft-psc · ended", "volume 155/155 · BAS · 150 processed"]
    assert any(s.startswith("latency ") and s.endswith(" ms") for s in status)
    assert legend == "leftright" and eeg_hidden is True
    assert errors == []
    assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "live-page.png").write_bytes(png)
    DOCS.mkdir(exist_ok=True)
    if os.environ.get("NFD_UPDATE_DOCS"):  # refresh the README's screenshot on request only
        (DOCS / "live-page.png").write_bytes(png)


async def test_a_1000_volume_run_joined_mid_run_with_eeg_is_drawn_and_decimated_when_narrow() -> None:
    assert CHROMIUM is not None
    info, records = synthetic_run(n_volumes=1000)
    state = LiveState()
    state.eeg_status("filling", stream="simulated")
    state.run_started(info)
    for record in records[:500]:  # before the page connects: it gets them in its hello
        state.volume(record)
    predictions = 0
    async with WebServer(state, IdleController(), "127.0.0.1", 0) as server, Chromium(CHROMIUM, 1280, 1000) as browser:
        await browser.navigate(server.url)
        await browser.wait_for("window.nfdLive && nfdLive.connected && nfdLive.counts.feedback === 500")
        for record in records[500:]:
            state.volume(record)
            if record["index"] % 4 == 0:
                state.eeg_prediction({"time": record["t_complete"] + 0.5, "value": 0.5 * record["feedback"]})
                predictions += 1
            if record["index"] == 700:
                state.event_marked("task_switch", record["t_complete"] + 0.25)
                state.warning("volume_missing", "volume 699 never arrived", index=699)
            await asyncio.sleep(0)
        state.run_ended({"volumes_processed": 1000})
        await browser.wait_for("nfdLive.runState === 'ended' && nfdLive.drawn.feedback === 1000")
        counts = await _evaluate(browser, "nfdLive.counts")
        wide = await _evaluate(browser, "nfdLive.drawn")
        warnings = await _evaluate(browser, "document.getElementById('st-warnings').textContent")
        quality = await _evaluate(browser, "document.getElementById('st-quality').textContent")
        frames_before = await _evaluate(browser, "nfdLive.frames")
        await browser.set_width(480)  # a phone, or a narrow window beside the scanner console
        await browser.wait_for(f"nfdLive.frames > {frames_before} && nfdLive.drawn.feedback < 1000")
        narrow = await _evaluate(browser, "nfdLive.drawn")
        width = await _evaluate(browser, "document.getElementById('plot-feedback').clientWidth")
        timing = await _evaluate(
            browser,
            "({frames: nfdLive.frames, lastDrawMs: nfdLive.lastDrawMs, maxDrawMs: nfdLive.maxDrawMs,"
            " messages: nfdLive.messages})",
        )
        png = await browser.screenshot()
        errors = browser.page_errors()
    assert predictions == 125
    assert counts == {"feedback": 1000, "roi": {"left": 1000, "right": 1000}, "fd": 1000, "dvars": 1000,
                      "eeg": 125, "events": 1}
    assert wide == {"feedback": 1000, "roi": 2000, "fd": 1000, "dvars": 1000, "eeg": 125}
    # Decimated: at most two vertices (min, max) per pixel column, still one per column at least.
    for name in ("feedback", "fd", "dvars"):
        assert width // 2 < narrow[name] <= 2 * width, (name, narrow[name], width)
    assert narrow["eeg"] == 125  # fewer points than columns: all drawn
    assert warnings == "1 warning"
    assert quality.startswith("FD > 0.50 mm: 11 · DVARS > 30.0: 12")  # index % 97 == 0 and % 89 == 0
    assert errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "live-page-1000.png").write_bytes(png)
    (ARTIFACTS / "live-page-timing.json").write_text(json.dumps(timing, indent=2))


async def test_with_a_token_the_page_asks_for_it_or_takes_it_from_the_fragment(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    token = "page-token-0123456789abcdef"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    state = LiveState()
    info, records = synthetic_run(n_volumes=20)
    state.run_started(info)
    for record in records:
        state.volume(record)
    async with (
        WebServer(state, IdleController(), "127.0.0.1", 0, token_file=token_file) as server,
        Chromium(CHROMIUM) as browser,
    ):
        await browser.navigate(server.url)
        await browser.wait_for("window.nfdLive && !document.getElementById('token-form').hidden")
        assert await _evaluate(browser, "nfdLive.connected") is False
        await browser.navigate(server.url + "#token=" + token)
        await browser.wait_for("nfdLive.connected && nfdLive.counts.feedback === 20")
        url = await _evaluate(browser, "window.location.href")
    assert token not in url  # taken out of the address bar once read
