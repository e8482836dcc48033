"""A real daemon run fed by a real LSL player and volumes written in time: the EEG-in-the-loop tests' road."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nfd.config import Config
from nfd.daemon.app import Daemon, watch_source
from nfd.eeg import EegPlayer


async def run_with_player(
    cfg: Config, player: EegPlayer, write_volume: Callable[[int], object], n: int, interval: float
) -> dict[str, Any]:
    """Start ``player``, run the daemon while volume ``i`` is written every ``interval`` s; the run's summary."""
    await asyncio.to_thread(player.start)

    async def scanner() -> None:
        for i in range(n):
            await asyncio.sleep(interval)
            await asyncio.to_thread(write_volume, i)

    try:
        async with Daemon(cfg, handle_signals=False, web=False) as daemon:
            writer = asyncio.create_task(scanner())
            summary = await asyncio.wait_for(daemon.run(watch_source(cfg)), timeout=60)
            await writer
    finally:
        await asyncio.to_thread(player.stop)
    return summary
