"""``[volume]`` engine options: each one's range, and a value set in the TOML reaching the engine.

The engine options (padding, edge margin, warm start, quality, sample
separation, realignment FWHM, spline degrees, iteration cap) are
:class:`nfd.volume.MotionCorrector`'s keyword arguments under the same
names; the daemon builds its worker process with them
(:func:`nfd.daemon.worker.engine_options`), and so does the in-process step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from nfd.config import Config, ConfigError, parse_config
from nfd.daemon import Daemon, InProcessVolumeStep, VolumeWorker
from nfd.daemon.worker import engine_options
from nfd.volume import MotionCorrector

from .test_config import MINIMAL

#: option -> (lowest accepted, highest accepted, just below, just above); None: no such value.
RANGES: dict[str, tuple[object, object, object | None, object]] = {
    "pad_slices": (0, 16, -1, 17),
    "edge_margin": (0.0, 8.0, -0.1, 8.5),
    "quality": (1e-6, 1.0, 0.0, 1.01),
    "sep": (1.0, 20.0, 0.9, 20.5),
    "realign_fwhm": (0.0, 20.0, -0.5, 20.5),
    "realign_degree": (2, 4, 1, 5),
    "reslice_degree": (1, 4, 0, 5),
    "max_iterations": (1, 1000, 0, 1001),
    "restart_after": (0, 1000, -1, 1001),
}

#: Every option set away from its default, as a lab copying OpenNFT's set-up (and more) would.
NON_DEFAULT = """\
[volume]
pad_slices = 3
edge_margin = 0.0
warm_start = false
quality = 1.0
sep = 6.0
realign_fwhm = 4.0
realign_degree = 3
reslice_degree = 2
max_iterations = 1
restart_after = 5
smooth_fwhm = 3.0
"""


def _volume_toml(body: str) -> str:
    return MINIMAL + "[volume]\n" + body + "\n"


def _toml_value(value: object) -> str:
    return repr(value).lower() if isinstance(value, bool) else repr(value)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_range_limits_accepted(name: str) -> None:
    lowest, highest, _, _ = RANGES[name]
    for value in (lowest, highest):
        cfg = parse_config(_volume_toml(f"{name} = {_toml_value(value)}"), Path("/base"))
        assert getattr(cfg.volume, name) == value


@pytest.mark.parametrize("name", sorted(RANGES))
def test_out_of_range_refused_naming_key_and_range(name: str) -> None:
    _, _, below, above = RANGES[name]
    for value in (below, above):
        if value is None:
            continue
        with pytest.raises(ConfigError) as info:
            parse_config(_volume_toml(f"{name} = {_toml_value(value)}"), Path("/base"), Path("nfd.toml"))
        assert info.value.key == f"volume.{name}"
        assert "expected" in str(info.value) and repr(value) in str(info.value)


@pytest.mark.parametrize(("name", "text"), [("realign_degree", "4.0"), ("pad_slices", "true"), ("warm_start", "1")])
def test_wrong_type_refused(name: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_volume_toml(f"{name} = {text}"), Path("/base"), Path("nfd.toml"))
    assert info.value.key == f"volume.{name}"


def test_defaults_are_the_engines() -> None:
    """Without a [volume] table the daemon's engine gets exactly MotionCorrector's own defaults."""
    ref, affine = _blob()
    cfg = parse_config(MINIMAL, Path("/base"))
    options = engine_options(cfg.volume)
    assert set(options) == set(RANGES) | {"warm_start", "smooth_fwhm"}
    assert options["pad_slices"] == 0 and options["edge_margin"] == 2.5 and options["warm_start"] is True
    built = MotionCorrector(ref, affine).options
    assert {k: built[k] for k in options} == options


def _blob() -> tuple[np.ndarray, np.ndarray]:
    x, y, z = np.meshgrid(*(np.arange(n, dtype=float) for n in (32, 32, 20)), indexing="ij")
    ref = 100.0 * np.exp(-((x - 16) ** 2 + (y - 15) ** 2) / 60.0 - (z - 9) ** 2 / 20.0) + 50.0 * np.exp(
        -((x - 10) ** 2 + (y - 20) ** 2 + (z - 12) ** 2) / 12.0
    )
    return ref.astype(np.float32), np.diag([3.0, 3.0, 3.5, 1.0])


def _non_default_config() -> Config:
    return parse_config(MINIMAL.replace("[roi]", NON_DEFAULT + "[roi]", 1), Path("/base"))


def _check_engine(options: dict[str, object], iterations: int) -> None:
    assert options["pad_slices"] == 3 and options["edge_margin"] == 0.0 and options["warm_start"] is False
    assert options["quality"] == 1.0 and options["sep"] == 6.0 and options["realign_fwhm"] == 4.0
    assert options["realign_degree"] == 3 and options["reslice_degree"] == 2 and options["smooth_fwhm"] == 3.0
    assert options["max_iterations"] == 1 and options["restart_after"] == 5
    assert iterations == 1  # the cap is in force: a moved volume needs several iterations otherwise


def test_toml_options_reach_the_daemons_worker_process() -> None:
    """The options of a TOML file reach the engine built in the daemon's worker process, not just the config."""
    cfg = _non_default_config()
    ref, affine = _blob()
    moved = np.roll(ref, 1, axis=0)

    async def main() -> tuple[dict[str, object], int]:
        daemon = Daemon(cfg, handle_signals=False, web=False, send=False)
        worker = daemon.worker
        assert isinstance(worker, VolumeWorker)
        await worker.start()
        try:
            await worker.set_reference(ref, affine)
            out = await worker.process(moved)
            return dict(worker.engine_options), out.iterations
        finally:
            await worker.close()

    options, iterations = asyncio.run(main())
    _check_engine(options, iterations)


def test_toml_options_reach_the_in_process_step() -> None:
    cfg = _non_default_config()
    ref, affine = _blob()
    step = InProcessVolumeStep(**engine_options(cfg.volume))

    async def main() -> tuple[dict[str, object], int]:
        await step.start()
        await step.set_reference(ref, affine)
        out = await step.process(np.roll(ref, 1, axis=0))
        await step.close()
        return dict(step.engine_options), out.iterations

    options, iterations = asyncio.run(main())
    _check_engine(options, iterations)


def test_defaults_converge_in_several_iterations() -> None:
    """The counterpart of the cap test: with the defaults the same volume takes more than one iteration."""
    ref, affine = _blob()
    res = MotionCorrector(ref, affine).process(np.roll(ref, 1, axis=0))
    assert res.converged and res.iterations > 1
