"""A smoke test of the Power 2011 coordinates (264 spheres) over a small synthetic int16 image in MNI space."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.connectivity import CleaningOptions, compute_features, extract_dataset, find_runs, load_atlas
from nfd.connectivity._io import SeriesSet
from nfd.evaluate import sphere_masks
from tests.connectivity.synthetic import write_mni_run


def test_power_spheres_on_an_mni_image(shared_data: Path, tmp_path: Path) -> None:
    bold = write_mni_run(tmp_path / "fmriprep", n_volumes=60)
    atlas = load_atlas(shared_data / "templates" / "nilearn_power_2011.csv", radius_mm=5.0)
    assert len(atlas.names) == 264 and atlas.coords_mm is not None
    runs = find_runs(tmp_path / "fmriprep", space="MNI152NLin6Asym")
    assert len(runs) == 1
    (raw,), problems = extract_dataset(runs, atlas, CleaningOptions((), detrend=False))
    assert problems == [] and raw.values.shape == (60, 264) and np.isfinite(raw.values).all()
    # the int16 image is cast to float first: each sphere (several 4-mm voxels at 5 mm) keeps its fractional mean
    data = np.asarray(nib.load(bold).dataobj, dtype=np.float64)
    image = nib.load(bold)
    masks = sphere_masks({"a": atlas.coords_mm[0], "b": atlas.coords_mm[100]}, 5.0, data.shape[:3], image.affine)
    for column, mask in ((0, masks["a"]), (100, masks["b"])):
        expected = data[mask].mean(axis=0)
        assert mask.sum() > 1 and not np.allclose(expected, np.round(expected))
        np.testing.assert_allclose(raw.values[:, column], expected, atol=1e-3)
    # the same voxels as nilearn's masker draws (its search over every voxel, once, as the reference)
    from nilearn.maskers.nifti_spheres_masker import apply_mask_and_get_affinity

    from nfd.connectivity._spheres import sphere_indices

    mask_img = nib.Nifti1Image(np.ones(data.shape[:3], dtype=np.uint8), image.affine)
    _, adjacency = apply_mask_and_get_affinity([tuple(c) for c in atlas.coords_mm], image, 5.0, True, mask_img)
    ours = sphere_indices(atlas.coords_mm, 5.0, data.shape[:3], image.affine, np.ones(data.shape[:3], dtype=bool))
    for k, row in enumerate(adjacency.tocsr()):
        np.testing.assert_array_equal(np.sort(row.indices), ours[k])
    (cleaned,), _ = extract_dataset(runs, atlas, CleaningOptions(("6P",), high_pass_hz=0.01))
    features, _ = compute_features(SeriesSet([cleaned], atlas.names, atlas.networks, atlas.coords_mm, {}), "pearson")
    assert features.features.shape == (1, 264 * 263 // 2) and np.isfinite(features.features).all()
    assert np.median(np.abs(features.features)) < 0.2  # independent noise: edges near 0 (spheres may overlap)


def test_nilearns_bundled_power_coordinates_are_the_shared_table(shared_data: Path) -> None:
    """``nilearn:power_2011`` (nilearn's bundled table, no download) gives the 264 centres of the shared CSV."""
    shared = load_atlas(shared_data / "templates" / "nilearn_power_2011.csv", radius_mm=5.0)
    bundled = load_atlas("nilearn:power_2011", radius_mm=5.0)
    assert bundled.coords_mm is not None and shared.coords_mm is not None
    np.testing.assert_array_equal(bundled.coords_mm, shared.coords_mm)
    dosenbach = load_atlas("nilearn:dosenbach_2010")
    assert dosenbach.coords_mm is not None and dosenbach.coords_mm.shape == (160, 3)
    assert "cerebellum" in dosenbach.networks
    with pytest.raises(ValueError, match="nilearn:power_2011"):
        load_atlas("nilearn:yeo")
