"""Known-answer test: realignment of an oblique slab whose first and last slices cut through the brain.

A partial-coverage EPI slab (64 x 64 x 30 voxels of 3 x 3 x 2.5 mm, tilted
20 degrees about x, 75 mm thick) through a smooth brain-like phantom taller
than the slab, so that brain fills part of its first and last slices. The
phantom is this file's own analytic function: each volume is the phantom
evaluated at the moved voxel centres (no interpolation in the truth), moved
by a known random walk of rigid transforms (up to 1.5 mm and 1.5 degrees
per parameter) with Gaussian noise of 2 % of the brain's intensity (a tSNR
of 50).

OpenNFT pads such a slab with 3 zero slices at each end; the zeros make an
edge that stays with the slab while the head moves, and the estimate is
pulled towards no motion. nfd's default (no padding, the reference's
sample points within 2.5 slices of the slab's ends left out) must recover
the truth within a small fraction of a voxel, and do no worse than
OpenNFT's padding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.volume import MotionCorrector, spm_matrix

SHAPE = (64, 64, 30)
VOXEL_MM = (3.0, 3.0, 2.5)
N_VOLUMES = 16
NOISE = 0.02  # of the brain's median intensity

# (centre mm, semi-axes mm, amplitude): scalp, brain, ventricles and a few blobs
_ELLIPSOIDS = (
    ((0.0, 0.0, 0.0), (64.0, 80.0, 56.0), 350.0),
    ((0.0, 0.0, 0.0), (56.0, 72.0, 48.0), 400.0),
    ((0.0, 6.0, 5.0), (9.0, 21.0, 11.0), -300.0),
    ((-15.0, -22.0, -6.0), (7.0, 9.0, 10.0), -160.0),
    ((27.0, -26.0, 12.0), (11.0, 9.0, 8.0), 130.0),
    ((-22.0, 30.0, -16.0), (9.0, 12.0, 9.0), -110.0),
    ((12.0, 36.0, 20.0), (13.0, 9.0, 7.0), 170.0),
)
_EDGE_MM = 3.0


def _phantom(world: np.ndarray) -> np.ndarray:
    """The phantom's intensity at world coordinates ``(..., 3)`` mm: smooth-edged ellipsoids and a texture."""
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    out = np.zeros(x.shape)
    for (cx, cy, cz), (rx, ry, rz), amplitude in _ELLIPSOIDS:
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2)
        out += amplitude / (1.0 + np.exp(np.clip((d - 1.0) * min(rx, ry, rz) / _EDGE_MM, -50, 50)))
    brain = np.sqrt((x / 56) ** 2 + (y / 72) ** 2 + (z / 48) ** 2)
    texture = np.sin(x / 8.0) * np.cos(y / 10.0) * np.cos(z / 9.0)
    return out + 50.0 * texture / (1.0 + np.exp(np.clip((brain - 1.0) * 48 / _EDGE_MM, -50, 50)))


def _slab_affine() -> np.ndarray:
    """Voxel -> mm of the oblique slab: centred, 5 mm above the phantom's centre, tilted 20 degrees about x."""
    affine = np.diag([*VOXEL_MM, 1.0])
    affine[:3, 3] = -(np.asarray(SHAPE) - 1) / 2.0 * np.asarray(VOXEL_MM)
    return spm_matrix([0.0, 0.0, 5.0, math.radians(20.0), 0.0, 0.0]) @ affine


def _render(affine: np.ndarray, params: np.ndarray) -> np.ndarray:
    """The phantom moved by ``params`` (SPM convention): voxel ``v`` shows it at ``spm_matrix(params) @ affine @ v``."""
    idx = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64) for n in SHAPE), indexing="ij"), axis=-1)
    m = spm_matrix(params) @ affine
    return _phantom(idx @ m[:3, :3].T + m[:3, 3]).astype(np.float32)


def _truth() -> np.ndarray:
    """(N_VOLUMES, 6) SPM parameters: a random walk from no motion, each reaching 1.5 mm or 1.5 degrees."""
    rng = np.random.default_rng(21)
    walk = np.cumsum(rng.normal(size=(N_VOLUMES, 6)), axis=0)
    walk -= walk[0]
    walk /= np.abs(walk).max(axis=0)
    walk[:, :3] *= 1.5
    walk[:, 3:] *= math.radians(1.5)
    return walk


@pytest.fixture(scope="module")
def series() -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    affine = _slab_affine()
    reference = _render(affine, np.zeros(6))
    truth = _truth()
    rng = np.random.default_rng(5)
    sd = NOISE * float(np.median(reference[reference > 250]))
    volumes = [_render(affine, p) + rng.normal(scale=sd, size=SHAPE).astype(np.float32) for p in truth]
    return reference, affine, volumes, truth


def _rms_errors(engine: MotionCorrector, volumes: list[np.ndarray], truth: np.ndarray) -> tuple[float, float]:
    """RMS error of the translations (mm) and rotations (degrees) against the truth."""
    params = np.array([engine.process(v).params for v in volumes])
    error = params - truth
    return math.sqrt(float(np.mean(error[:, :3] ** 2))), math.degrees(math.sqrt(float(np.mean(error[:, 3:] ** 2))))


def test_the_brain_reaches_both_ends_of_the_slab(series: tuple[np.ndarray, ...]) -> None:
    reference = series[0]
    brain = reference > 250  # the brain's intensity is about 750, the scalp's 350
    assert brain[:, :, 0].mean() > 0.1 and brain[:, :, -1].mean() > 0.1


def test_default_realignment_is_accurate_on_a_cut_slab(series: tuple[np.ndarray, ...]) -> None:
    reference, affine, volumes, truth = series
    default_mm, default_deg = _rms_errors(MotionCorrector(reference, affine), volumes, truth)
    opennft_mm, opennft_deg = _rms_errors(MotionCorrector(reference, affine, pad_slices=3, edge_margin=0.0),
                                          volumes, truth)
    # the truth moves by up to 1.5 mm / 1.5 degrees: a hundredth of a voxel and a few hundredths of a degree
    assert default_mm < 0.02 and default_deg < 0.05, (default_mm, default_deg)
    assert default_mm <= opennft_mm and default_deg <= opennft_deg
    # OpenNFT's padding is the case the default avoids: errors many times larger
    assert opennft_mm > 5 * default_mm and opennft_deg > 5 * default_deg, (opennft_mm, opennft_deg)


def test_edge_margin_leaves_out_only_the_end_slices(series: tuple[np.ndarray, ...]) -> None:
    reference, affine = series[0], series[1]
    kept = MotionCorrector(reference, affine, quality=1.0)._samples.points[:, 2]
    every = MotionCorrector(reference, affine, quality=1.0, edge_margin=0.0)._samples.points[:, 2]
    assert kept.min() >= 2.5 and kept.max() <= SHAPE[2] - 1 - 2.5
    assert every.min() < 1.0 and every.max() > SHAPE[2] - 2.5
    assert np.count_nonzero((every >= 2.5) & (every <= SHAPE[2] - 3.5)) == kept.size
