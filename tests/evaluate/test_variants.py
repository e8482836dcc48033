"""An algorithm variant over cached ROI series gives the feedback measures the daemon computes on the run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from nfd.design import Design, load_protocol
from nfd.evaluate import minimal_roi_series, run_variant
from nfd.feedback import FeedbackError
from nfd.outputs import VolumeRecord
from nfd.simulate import make_session, write_roi_masks
from tests.helpers.replay import replayed_records

N = 40


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], dict[str, Path]]:
    root = tmp_path_factory.mktemp("run")
    session = make_session(
        N,
        shape=(32, 32, 18),
        seed=5,
        block_length=8,
        activation_pct=2.0,
        noise_pct=1.0,
        max_motion_mm=0.3,
        max_motion_deg=0.3,
    )
    bold = root / "bold.nii"
    nib.save(nib.Nifti1Image(np.moveaxis(session.volumes, 0, -1), session.affine), bold)
    rois = dict(session.rois)
    control = np.zeros(session.shape, bool)
    control[8:12, 20:24, 6:10] = True  # outside both ROIs
    rois["control"] = control
    masks = write_roi_masks(root / "rois", SimpleNamespace(rois=rois, affine=session.affine))
    rows = ["onset\tduration\ttrial_type"] + [
        f"{a * 2.0}\t{(b - a + 1) * 2.0}\t{c}" for c, a, b in session.design.blocks if c != "BAS"
    ]
    (root / "events.tsv").write_text("\n".join(rows) + "\n")
    return bold, rois, masks


def _replay(root: Path, bold: Path, masks: dict[str, Path], feedback: str) -> list[VolumeRecord]:
    roi_lines = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = root / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
skip_volumes = 1
[acquire]
watch_dir = "."
[roi]
{roi_lines}
[feedback]
protocol = "{bold.parent / "events.tsv"}"
{feedback}
[web]
enabled = false
""")
    return replayed_records(config, bold, root / "replayed")


@pytest.mark.parametrize(
    ("kind", "toml", "options"),
    [
        (
            "proxy",
            'type = "proxy"\n[feedback.proxy]\ntargets = ["roi_a", "roi_b"]\ncontrol = "control"\npoints = 3',
            {"targets": ["roi_a", "roi_b"], "control": "control", "points": 3},
        ),
        ("psc", 'type = "psc"', {}),
        (
            "correlation",
            'type = "correlation"\n[feedback.correlation]\nwindow = 10\npairs = [["roi_a", "roi_b"]]',
            {"window": 10, "pairs": [["roi_a", "roi_b"]]},
        ),
    ],
)
def test_variant_measures_are_the_daemons(
    tmp_path: Path,
    run: tuple[Path, dict[str, np.ndarray], dict[str, Path]],
    kind: str,
    toml: str,
    options: dict[str, object],
) -> None:
    bold, rois, masks = run
    records = _replay(tmp_path, bold, masks, toml)
    series = minimal_roi_series(bold, rois, engine={"smooth_fwhm": 5.0}, skip_volumes=1)
    design = load_protocol(bold.parent / "events.tsv", n_volumes=N, skip_volumes=1, tr=2.0, baseline="BAS")
    result = run_variant(series, design, 2.0, kind, **options)
    daemon = np.array([np.nan if r["feedback_measure"] is None else r["feedback_measure"] for r in records])
    assert np.isfinite(daemon).sum() > 5
    np.testing.assert_allclose(result.measures, daemon, rtol=1e-9, atol=1e-12, equal_nan=True)
    if kind == "proxy":
        assert result.summary["events"] == int(np.nansum(daemon))


def test_a_kind_that_needs_voxels_is_refused(run: tuple[Path, dict[str, np.ndarray], dict[str, Path]]) -> None:
    bold, rois, _ = run
    series = minimal_roi_series(bold, rois, engine={"smooth_fwhm": 5.0})
    with pytest.raises(FeedbackError):
        run_variant(series, Design.from_blocks(N, []), 2.0, "no such kind")


def test_raw_steps_give_the_proxy_on_the_roi_means(run: tuple[Path, dict[str, np.ndarray], dict[str, Path]]) -> None:
    """With no chain (``chain="raw"``) the proxy counts the events of the ROI means themselves (nfd's proxy_events)."""
    from nfd.feedback import ProxyRule, proxy_events

    bold, rois, _ = run
    series = minimal_roi_series(bold, rois)
    design = Design.from_blocks(N, [])
    targets = [n for n in series.names if n != "control"][:2]
    for points in (2, 3):
        got = run_variant(
            series, design, 2.0, "proxy", chain="raw", signal="raw", targets=targets, control="control", points=points
        )
        expected = proxy_events(
            np.column_stack([series.column(t) for t in targets]), series.column("control"), ProxyRule(points=points)
        )
        assert got.summary["events"] == int(expected.sum()) > 0
        np.testing.assert_array_equal(np.nan_to_num(got.measures[1:]), expected[1:])
