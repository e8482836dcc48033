#!/usr/bin/env python3
"""How far each of nfd's own choices moves the feedback from OpenNFT's, on the shared OpenNFT run.

The run goes once through the daemon with ``profile = "opennft"`` (OpenNFT's
realignment set-up); its ROI means and motion then feed nfd's signal chain and
continuous PSC in this process: once with every OpenNFT option, once with all
of nfd's defaults, and once per step with only that step set to nfd's default.
Printed per variant: the correlation of each ROI's Kalman series and of the
feedback sent with OpenNFT's (the ``opennft`` profile's, which equals the MATLAB
transcription: tests/daemon/test_opennft_profile.py). Feedback is compared as
the unrounded measure (``scaled``-series difference for OpenNFT's rule, % for
nfd's), since the two rules have different units.

Usage::

    python tools/opennft_steps.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nfd._log import configure_logging
from nfd.config import parse_config
from nfd.daemon import run_daemon
from nfd.daemon.build import open_recording
from nfd.design import load_protocol
from nfd.feedback import make_feedback
from nfd.outputs import VolumeRecord
from nfd.timeseries import ChainOptions, SignalChain

TR, N, SKIP = 1.97, 155, 5
OPENNFT_SIGNAL: dict[str, Any] = {
    "high_pass_s": 0, "ar1_placement": "prewhiten", "first_motion_epsilon": True, "kalman_zero_sd": "opennft",
    "task_regressor": "spm", "spm_t0": 1, "kalman_q": 0.25, "kalman_r": 1.0,
}
#: step -> (signal options set back to nfd's default, feedback options set back to nfd's)
STEPS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "cGLM high-pass 128 s": ({"high_pass_s": 128.0}, {}),
    "AR(1) after the GLM": ({"ar1_placement": "after_glm"}, {}),
    "task regressor at the TR (nfd's)": ({"task_regressor": "nfd"}, {}),
    "first motion row as estimated": ({"first_motion_epsilon": False}, {}),
    "Kalman on a zero SD: plain update": ({"kalman_zero_sd": "pass"}, {}),
    "PSC vs the preceding baseline's mean (raw %)": ({}, {"reference": "preceding", "signal": "raw",
                                                        "combine": "mean"}),
}


def _config(run: Path, watch: Path) -> str:
    return f"""
[run]
tr = {TR}
n_volumes = {N}
skip_volumes = {SKIP}
[acquire]
watch_dir = "{watch}"
[volume]
reference = "{run / 'fanon-0007-00006-000006-01.nii'}"
[roi]
left = "{run / 'rois' / 'lROI_1.nii'}"
right = "{run / 'rois' / 'rROI_2.nii'}"
[feedback]
protocol = "{run / 'protocol.json'}"
[feedback.udp]
enabled = false
[signal]
profile = "opennft"
"""


def _records(run: Path) -> list[VolumeRecord]:
    records: list[VolumeRecord] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(_config(run, Path(tmp)), base_dir=Path(tmp))
        asyncio.run(run_daemon(cfg, open_recording(run / "dicom", cfg), handle_signals=False,
                               output_dir=Path(tmp) / "out", web=False, on_volume=records.append))
    return records


def _simulate(run: Path, records: list[VolumeRecord], signal: dict[str, Any], feedback: dict[str, Any],
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    design = load_protocol(run / "protocol.json", N, SKIP, TR)
    chains = {name: SignalChain(design, TR, ChainOptions.from_table(signal)) for name in ("left", "right")}
    fb = make_feedback("psc", design, ["left", "right"], **feedback)
    measures = []
    for r in records:
        steps = {name: chain.update(r.index, r.roi[name], np.asarray(r.motion)) for name, chain in chains.items()}
        m = fb.update(r.index, steps, None)
        measures.append(np.nan if m is None else m)
    return {name: c.table()["kalman"] for name, c in chains.items()}, np.array(measures)


def _r(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    run = parser.parse_args().data / "opennft_psc_run"
    configure_logging("console", "warning")
    records = _records(run)
    opennft_fb = {"reference": "opennft", "signal": "scaled", "combine": "median"}
    ref_kalman, ref_fb = _simulate(run, records, OPENNFT_SIGNAL, opennft_fb)
    variants: dict[str, tuple[dict[str, Any], dict[str, Any]] | None] = {
        "OpenNFT (profile opennft)": ({}, {}), **STEPS, "all of nfd's defaults": None}
    print(f"{'variant':<48} {'Kalman r left':>14} {'right':>8} {'feedback r':>11}")
    for name, variant in variants.items():
        if variant is None:  # every option at nfd's default
            kal, fbv = _simulate(run, records, {}, {})
        else:
            kal, fbv = _simulate(run, records, {**OPENNFT_SIGNAL, **variant[0]}, {**opennft_fb, **variant[1]})
        print(f"{name:<48} {_r(kal['left'], ref_kalman['left']):>14.3f} {_r(kal['right'], ref_kalman['right']):>8.3f}"
              f" {_r(fbv, ref_fb):>11.3f}", flush=True)


if __name__ == "__main__":
    main()
