"""The after-send stage: the whole-brain GLM's t-map against a batch least-squares fit, and the maps it gives."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.design import Design
from nfd.timeseries import AfterSend, QualityMonitor, RoiSet, WholeBrainGLM


def _design() -> Design:
    return Design.from_blocks(60, [("UP", 10, 19), ("UP", 30, 39), ("UP", 50, 59)])


def test_whole_brain_t_map_equals_the_batch_fit() -> None:
    design, rng = _design(), np.random.default_rng(3)
    glm = WholeBrainGLM(design, tr=2.0, skip_volumes=0, high_pass_s=None, motion=False)
    mask = np.zeros((4, 4, 2), dtype=bool)
    mask[1:3, 1:3, :] = True
    rows, data = [], []
    for index in range(60):
        params = np.zeros(6)
        row = glm.design.row(index, params)
        volume = (100.0 + 5.0 * row[0] + rng.normal(0, 1, mask.shape)).astype(np.float32)
        glm.update(index, volume, params, mask)
        rows.append(row)
        data.append(volume[mask])
    x, y = np.asarray(rows, dtype=float), np.asarray(data, dtype=float)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = (resid**2).sum(axis=0) / (x.shape[0] - np.linalg.matrix_rank(x))
    c = glm.contrast
    t_batch = (c @ beta) / np.sqrt(sigma2 * (c @ np.linalg.pinv(x.T @ x) @ c))
    t_map = glm.t_map()
    assert t_map is not None and t_map.shape == mask.shape
    assert np.all(np.isnan(t_map[~mask]))
    np.testing.assert_allclose(t_map[mask], t_batch, rtol=1e-4)
    assert t_map[mask].min() > 5  # the task effect is found


def test_after_send_maps_and_peaks_inside_rois() -> None:
    design = _design()
    quality = QualityMonitor(design, ["r"])
    glm = WholeBrainGLM(design, tr=2.0, skip_volumes=0, high_pass_s=128.0, motion=True)
    stage = AfterSend(quality, glm)
    assert "tmap" not in stage.maps()  # nothing fitted yet
    rng = np.random.default_rng(0)
    for index in range(60):
        volume = (1000.0 + rng.normal(0, 5, (6, 6, 3))).astype(np.float32)
        stage.update(index, np.zeros(6), volume, {})
    maps = stage.maps()
    assert set(maps) == {"tmap", "tsnr"}
    mask = np.zeros((6, 6, 3), dtype=bool)
    mask[2, 2, 1] = True
    rois = RoiSet({"r": mask}, affine=np.eye(4))
    peaks = AfterSend.map_peaks(maps, rois)
    assert peaks["tsnr"]["r"] == pytest.approx(float(maps["tsnr"][2, 2, 1]))
    assert AfterSend.map_peaks(maps, None) == {}
