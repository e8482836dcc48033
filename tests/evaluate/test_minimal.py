"""Minimally processed ROI series: the daemon's own numbers, offline, and spheres as nilearn draws them."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.evaluate import minimal_roi_series, sphere_masks
from nfd.simulate import make_multiecho_session, make_session, write_multiecho_bids, write_roi_masks
from tests.helpers.replay import replayed_records


def _replay_rois(tmp_path: Path, recording: Path, rois: dict[str, Path], extra: str = "") -> np.ndarray:
    """``nfd replay`` over the recording: the raw ROI means it records per volume."""
    (tmp_path / "events.tsv").write_text("onset\tduration\ttrial_type\n10.0\t10.0\tUP\n")
    roi_lines = "\n".join(f'{k} = "{v}"' for k, v in rois.items())
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = 1000
skip_volumes = 2
[acquire]
watch_dir = "."
{extra}
[roi]
{roi_lines}
[feedback]
protocol = "events.tsv"
[web]
enabled = false
""")
    records = replayed_records(config, recording, tmp_path / "replayed")
    return np.array([[r["roi"][name] for name in rois] for r in records])


def test_single_echo_series_are_the_daemons(tmp_path: Path) -> None:
    session = make_session(16, shape=(32, 32, 18), seed=2, max_motion_mm=0.4, max_motion_deg=0.4)
    bold = tmp_path / "bold.nii"
    nib.save(nib.Nifti1Image(np.moveaxis(session.volumes, 0, -1), session.affine), bold)
    masks = write_roi_masks(tmp_path / "rois", session)
    expected = _replay_rois(tmp_path, bold, masks)
    series = minimal_roi_series(bold, session.rois, engine={"smooth_fwhm": 5.0}, skip_volumes=2)
    assert series.names == tuple(session.rois) and series.indices.tolist() == list(range(2, 16))
    np.testing.assert_allclose(series.values, expected, rtol=1e-6)
    assert np.abs(series.motion[:, :3] - (session.motion[2:, :3] - session.motion[2, :3])).max() < 0.05


def test_multiecho_series_are_the_daemons_and_cached(tmp_path: Path) -> None:
    session = make_multiecho_session(14, shape=(32, 32, 18), seed=4, max_motion_mm=0.3, max_motion_deg=0.3)
    first, *_ = write_multiecho_bids(session, tmp_path / "bids", "sub-01_task-rest")
    masks = write_roi_masks(tmp_path / "rois", session)
    expected = _replay_rois(tmp_path, first, masks, extra="[multiecho]\nechoes = 3\nt2s_volumes = 5")
    cache = tmp_path / "cache"
    options = {"engine": {"smooth_fwhm": 5.0}, "multiecho": {"t2s_volumes": 5}, "skip_volumes": 2, "cache_dir": cache}
    series = minimal_roi_series(first, session.rois, **options)  # type: ignore[arg-type]
    np.testing.assert_allclose(series.values, expected, rtol=1e-6)
    (stored,) = list(cache.glob("*.npz"))
    again = minimal_roi_series(first, session.rois, **options)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.values, series.values)
    assert list(cache.glob("*.npz")) == [stored]  # read back, not computed again
    other = minimal_roi_series(first, session.rois, **{**options, "multiecho": {"combine": "echo:2"}})  # type: ignore[arg-type]
    assert len(list(cache.glob("*.npz"))) == 2 and not np.allclose(other.values, series.values)


@pytest.mark.parametrize("radius", [0.5, 4.0, 6.0, 10.0])
def test_spheres_are_nilearns(radius: float) -> None:
    from nilearn.maskers import NiftiSpheresMasker

    rng = np.random.default_rng(0)
    affine = np.array([[-3.0, 0, 0, 60], [0, 3.0, 0, -70], [0, 0, 3.5, -40], [0, 0, 0, 1]])
    data = rng.random((30, 34, 24, 5))
    centres = {"a": (10.0, -12.0, 8.0), "b": (-21.5, 3.2, 17.9), "edge": (58.0, -68.0, -38.0)}
    masks = sphere_masks(centres, radius, data.shape[:3], affine)
    ours = np.array([[data[..., t][masks[n]].mean() for n in centres] for t in range(5)])
    masker = NiftiSpheresMasker(list(centres.values()), radius=radius, standardize=None)
    theirs = masker.fit_transform(nib.Nifti1Image(data, affine))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_tsnr_and_brain_fraction_are_the_voxels(tmp_path: Path) -> None:
    """Without motion the resliced volumes are the scans: each ROI's tSNR is the mean of its voxels' mean / SD."""
    session = make_session(20, shape=(32, 32, 18), seed=5, max_motion_mm=0.0, max_motion_deg=0.0)
    bold = tmp_path / "bold.nii"
    nib.save(nib.Nifti1Image(np.moveaxis(session.volumes, 0, -1), session.affine), bold)
    outside = np.zeros(session.volumes.shape[1:], dtype=bool)
    outside[0, 0, 0] = True  # a corner of the background
    rois = {**session.rois, "corner": outside}
    series = minimal_roi_series(bold, rois)
    data = session.volumes.astype(np.float64)
    voxel = data.mean(axis=0) / data.std(axis=0, ddof=1)
    for k, name in enumerate(session.rois):
        np.testing.assert_allclose(series.tsnr[k], voxel[session.rois[name]].mean(), rtol=0.02)
        assert series.in_brain[k] == 1.0
    assert series.in_brain[series.names.index("corner")] == 0.0


def _noisy_session(tmp_path: Path, fraction: float) -> tuple[Path, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A still session whose brain voxels outside the ROIs carry, in a random `fraction` of them, a known noise
    series (4 % of the voxel's mean, random loadings): the recording, that noise, its voxels and the ROIs."""
    session = make_session(60, shape=(32, 32, 18), seed=6, max_motion_mm=0.0, max_motion_deg=0.0)
    data = session.volumes.astype(np.float64)
    rng = np.random.default_rng(7)
    brain = data[0] > 0.8 * data[0][data[0] > data[0].mean() / 8].mean()
    outside = brain & ~np.logical_or.reduce(list(session.rois.values()))
    noisy = outside & (rng.random(outside.shape) < fraction)
    noise = np.cumsum(rng.normal(size=60))
    noise = (noise - noise.mean()) / noise.std()
    loadings = rng.uniform(0.5, 1.5, size=int(noisy.sum()))
    data[:, noisy] += 0.04 * data[0][noisy] * loadings * noise[:, None]
    bold = tmp_path / "bold.nii"
    nib.save(nib.Nifti1Image(np.moveaxis(data.astype(np.float32), 0, -1), session.affine), bold)
    return bold, noise, noisy, session.rois


def _best_r(components: np.ndarray, noise: np.ndarray) -> float:
    return max(abs(np.corrcoef(components[:, k], noise)[0, 1]) for k in range(components.shape[1]))


def test_anatomical_compcor_finds_the_noise_of_its_mask(tmp_path: Path) -> None:
    bold, noise, noisy, rois = _noisy_session(tmp_path, 0.3)
    series = minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=noisy, compcor_components=3)
    assert series.noise is not None and series.noise.shape == (60, 3)
    # nilearn detrends the voxels first: the components hold the noise less its linear trend
    t = np.arange(60.0)
    detrended = noise - np.polyval(np.polyfit(t, noise, 1), t)
    assert abs(np.corrcoef(series.noise[:, 0], detrended)[0, 1]) > 0.99
    plain = minimal_roi_series(bold, rois)
    assert plain.noise is None
    cache = tmp_path / "cache"
    first = minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=noisy, cache_dir=cache)
    again = minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=noisy, cache_dir=cache)
    np.testing.assert_array_equal(first.noise, again.noise)  # type: ignore[arg-type]
    other = minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=noisy & False | rois[next(iter(rois))],
                               cache_dir=cache)  # fmt: skip
    assert len(list(cache.glob("*.npz"))) == 2 and _best_r(other.noise, detrended) < 0.5  # type: ignore[arg-type]


def test_temporal_compcor_finds_the_brains_most_variable_voxels(tmp_path: Path) -> None:
    bold, noise, _, rois = _noisy_session(tmp_path, 0.05)
    t = np.arange(60.0)
    detrended = noise - np.polyval(np.polyfit(t, noise, 1), t)
    series = minimal_roi_series(bold, rois, compcor="temporal", compcor_components=2)
    assert series.noise is not None and _best_r(series.noise, detrended) > 0.98


def test_compcor_refuses_a_mask_off_the_grid(tmp_path: Path) -> None:
    bold, _, _, rois = _noisy_session(tmp_path, 0.3)
    with pytest.raises(ValueError, match="EPI grid"):
        minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=np.ones((4, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="too few"):
        minimal_roi_series(bold, rois, compcor="anatomical", compcor_mask=np.zeros((32, 32, 18), dtype=bool))
