"""The real OpenNFT run, realigned and smoothed once per test session with nfd's own pieces.

``opennft_psc_run``: 155 Siemens mosaics (5 skipped), TR 1.97 s, realigned to
OpenNFT's EPI template and smoothed (FWHM 5 mm) by :class:`nfd.volume.MotionCorrector`,
the two ROI masks read with :meth:`nfd.timeseries.RoiSet.from_files`: what the
daemon computes before the signal chain (about 2 s for the run).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from nfd.acquire import read_scan
from nfd.design import Design, load_protocol
from nfd.timeseries import RoiSet, intensity_mask
from nfd.volume import MotionCorrector, conform_to_grid

RUN = "opennft_psc_run"
TR = 1.97
N_VOLUMES = 155
SKIP = 5


@dataclass(frozen=True)
class OpenNFTRun:
    design: Design
    rois: RoiSet
    shape: tuple[int, int, int]
    affine: np.ndarray
    means: np.ndarray  # (155, n_rois), ROI means of the smoothed volumes (NaN for skipped)
    params: np.ndarray  # (155, 6), motion parameters (mm, radians)
    voxels: dict[str, np.ndarray]  # ROI -> (155, n_voxels)
    mask: np.ndarray  # bool, the first processed volume's intensity mask
    masked: np.ndarray  # (155, mask.sum()) float32, smoothed volumes inside the mask (zeros for skipped)


@functools.lru_cache(maxsize=1)
def opennft_run(shared_data: Path) -> OpenNFTRun:
    folder = shared_data / RUN
    template = nib.load(folder / "fanon-0007-00006-000006-01.nii")
    shape = tuple(int(n) for n in template.shape)
    affine = template.affine
    corrector = MotionCorrector(np.asarray(template.dataobj, dtype=np.float64), affine, smooth_fwhm=5.0)
    rois = RoiSet.from_files(
        {"left": folder / "rois" / "lROI_1.nii", "right": folder / "rois" / "rROI_2.nii"}, shape=shape, affine=affine
    )
    design = load_protocol(folder / "protocol.json", N_VOLUMES, SKIP, TR)
    files = sorted((folder / "dicom").glob("*.dcm"))
    assert len(files) == N_VOLUMES
    means = np.full((N_VOLUMES, len(rois)), np.nan)
    params = np.zeros((N_VOLUMES, 6))
    voxels = {name: np.zeros((N_VOLUMES, size)) for name, size in rois.sizes.items()}
    mask: np.ndarray | None = None
    masked: np.ndarray | None = None
    for index, path in enumerate(files):
        if index < SKIP:
            continue
        scan = read_scan(path)
        result = corrector.process(conform_to_grid(scan.data, scan.affine, shape, affine))
        if mask is None:
            mask = intensity_mask(result.smoothed)
            masked = np.zeros((N_VOLUMES, int(mask.sum())), dtype=np.float32)
        assert masked is not None
        means[index] = rois.means(result.smoothed)
        params[index] = result.params
        for name in rois.names:
            voxels[name][index] = rois.voxels(result.smoothed, name)
        masked[index] = result.smoothed[mask]
    assert mask is not None and masked is not None
    return OpenNFTRun(design, rois, shape, affine, means, params, voxels, mask, masked)
