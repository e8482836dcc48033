"""[atlas]: a label image and its TSV, brought onto the EPI grid by nearest neighbour; its ROIs join [roi]."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.config import ConfigError, check_files, load_config, parse_config
from nfd.daemon.build import atlas_groups, labels_on_grid, load_rois, roi_names

EPI_SHAPE = (10, 12, 6)
EPI_AFFINE = np.array([[3.0, 0, 0, -15.0], [0, 3.0, 0, -18.0], [0, 0, 4.0, -12.0], [0, 0, 0, 1]])
#: The atlas on a finer grid (1.5 mm, its own origin), over the same world space.
ATLAS_SHAPE = (24, 28, 18)
ATLAS_AFFINE = np.array([[1.5, 0, 0, -17.0], [0, 1.5, 0, -20.0], [0, 0, 1.5, -13.0], [0, 0, 0, 1]])
#: World boxes (mm, [lo, hi) per axis) of the labels 1-4: regions of the networks "vis" (1, 2) and "dmn" (3, 4);
#: their faces lie halfway between EPI voxel centres, which the nearest atlas voxel is at most 0.5 mm from.
BOXES = {1: ((-16.5, -4.5), (-19.5, -1.5), (-14, -2)), 2: ((-4.5, 7.5), (-19.5, -1.5), (-14, -2)),
         3: ((-16.5, -4.5), (-1.5, 13.5), (-2, 10)), 4: ((-4.5, 7.5), (-1.5, 13.5), (-2, 10))}
TSV = "index\tname\tnetwork\n1\tvis_l\tvis\n2\tvis_r\tvis\n3\tdmn_l\tdmn\n4\tdmn_r\tdmn\n"


def world(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    ijk = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ ijk + affine[:3, 3:4]).T.reshape(*shape, 3)


def label_volume(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """Each voxel's label: the box its centre lies in (planted truth in world mm)."""
    xyz = world(shape, affine)
    out = np.zeros(shape, np.int16)
    for label, box in BOXES.items():
        inside = np.all([(xyz[..., d] >= lo) & (xyz[..., d] < hi) for d, (lo, hi) in enumerate(box)], axis=0)
        out[inside] = label
    return out


def write(tmp: Path, extra: str = "", tsv: str = TSV, atlas: np.ndarray | None = None) -> Path:
    data = label_volume(ATLAS_SHAPE, ATLAS_AFFINE) if atlas is None else atlas
    nib.save(nib.Nifti1Image(data, ATLAS_AFFINE), tmp / "atlas.nii.gz")
    (tmp / "atlas.tsv").write_text(tsv)
    (tmp / "protocol.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[6, 10]]}]}')
    (tmp / "watch").mkdir(exist_ok=True)
    (tmp / "nfd.toml").write_text(f"""
[run]
tr = 2.0
n_volumes = 20
[acquire]
watch_dir = "watch"
[feedback]
protocol = "protocol.json"
[atlas]
image = "atlas.nii.gz"
labels = "atlas.tsv"
{extra}
""")
    return tmp / "nfd.toml"


def test_networks_on_the_epi_grid_by_nearest_neighbour(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path))
    check_files(cfg)
    assert roi_names(cfg) == ["vis", "dmn"] and atlas_groups(cfg) == {"vis": [1, 2], "dmn": [3, 4]}
    rois = load_rois(cfg, EPI_SHAPE, EPI_AFFINE)
    truth = label_volume(EPI_SHAPE, EPI_AFFINE)
    assert rois.names == ("vis", "dmn")
    np.testing.assert_array_equal(rois.masks["vis"], np.isin(truth, [1, 2]))
    np.testing.assert_array_equal(rois.masks["dmn"], np.isin(truth, [3, 4]))
    assert rois.sizes["vis"] > 0 and rois.sizes["dmn"] > 0


def test_labels_on_grid_against_a_voxel_loop() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=ATLAS_SHAPE)
    tilted = EPI_AFFINE.copy()
    tilted[:3, :3] = tilted[:3, :3] @ np.array([[0.98, -0.2, 0], [0.2, 0.98, 0], [0, 0, 1.0]])  # a rotation
    got = labels_on_grid(labels, ATLAS_AFFINE, EPI_SHAPE, tilted)
    inverse = np.linalg.inv(ATLAS_AFFINE)
    for i, j, k in np.ndindex(*EPI_SHAPE):
        src = inverse @ tilted @ np.array([i, j, k, 1.0])
        a, b, c = (int(np.floor(v + 0.5)) for v in src[:3])
        inside = 0 <= a < ATLAS_SHAPE[0] and 0 <= b < ATLAS_SHAPE[1] and 0 <= c < ATLAS_SHAPE[2]
        assert got[i, j, k] == (labels[a, b, c] if inside else 0), (i, j, k)


def test_regions_and_roi_masks_together(tmp_path: Path) -> None:
    mask = np.zeros(EPI_SHAPE, np.uint8)
    mask[0, 0, 0] = 1
    nib.save(nib.Nifti1Image(mask, EPI_AFFINE), tmp_path / "corner.nii")
    cfg = load_config(write(tmp_path, 'by = "region"\n[roi]\ncorner = "corner.nii"'))
    assert roi_names(cfg) == ["corner", "vis_l", "vis_r", "dmn_l", "dmn_r"]
    rois = load_rois(cfg, EPI_SHAPE, EPI_AFFINE)
    assert rois.names == ("corner", "vis_l", "vis_r", "dmn_l", "dmn_r") and rois.sizes["corner"] == 1
    np.testing.assert_array_equal(rois.masks["dmn_r"], label_volume(EPI_SHAPE, EPI_AFFINE) == 4)


def test_a_name_clash_with_roi_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vis.nii").write_bytes(b"")
    cfg = load_config(write(tmp_path, '[roi]\nvis = "vis.nii"'))
    with pytest.raises(ConfigError, match=r"atlas\.labels: atlas ROI 'vis' is also a \[roi\] mask's name"):
        roi_names(cfg)


def test_an_roi_off_the_field_of_view_is_named(tmp_path: Path) -> None:
    atlas = label_volume(ATLAS_SHAPE, ATLAS_AFFINE)
    atlas[atlas == 3] = 0
    atlas[atlas == 4] = 0
    atlas[-1, -1, -1] = 4  # dmn only in a corner the EPI grid does not reach
    cfg = load_config(write(tmp_path, atlas=atlas))
    with pytest.raises(ConfigError, match=r"atlas\.image: atlas ROI 'dmn' \(labels \[3, 4\]\) has no voxel on the "
                                          r"EPI grid: it is off the field of view"):
        load_rois(cfg, EPI_SHAPE, EPI_AFFINE)


@pytest.mark.parametrize(("tsv", "message"), [
    ("index\tname\n1\ta\n", r"has no column 'network'"),
    (TSV + "2\tother\tvis\n", r"line 6: expected a new integer index >= 1"),
    (TSV + "5\tvis_l\tvis\n", r"line 6: region 'vis_l' is named twice"),
    ("index\tname\tnetwork\n", r"has no label rows"),
    ("index\tname\tnetwork\nx\ta\tb\n", r"line 2: expected a new integer index >= 1, a name and a network, got 'x'"),
])
def test_bad_labels_are_one_line_naming_the_key(tmp_path: Path, tsv: str, message: str) -> None:
    cfg = load_config(write(tmp_path, tsv=tsv))
    with pytest.raises(ConfigError, match=r"atlas\.labels: .*" + message):
        atlas_groups(cfg)


def test_a_label_image_that_is_not_integral_is_refused(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, atlas=np.full(ATLAS_SHAPE, 0.5, np.float32)))
    with pytest.raises(ConfigError, match=r"atlas\.image: .*labels that are not non-negative integers"):
        load_rois(cfg, EPI_SHAPE, EPI_AFFINE)


def test_schema() -> None:
    base = '[run]\ntr = 2.0\nn_volumes = 9\n[acquire]\nwatch_dir = "w"\n[feedback]\nprotocol = "p.json"\n'
    with pytest.raises(ConfigError, match=r"atlas\.labels: expected both a label image and its labels TSV"):
        parse_config(base + '[atlas]\nimage = "a.nii"', Path("/x"))
    with pytest.raises(ConfigError, match=r"roi: expected at least one ROI mask: .* or an \[atlas\]"):
        parse_config(base, Path("/x"))
    with pytest.raises(ConfigError, match=r"atlas\.by: expected one of 'network', 'region'"):
        parse_config(base + '[atlas]\nimage = "a.nii"\nlabels = "a.tsv"\nby = "lobe"', Path("/x"))
    cfg = parse_config(base + '[atlas]\nimage = "a.nii"\nlabels = "a.tsv"', Path("/x"))
    assert cfg.atlas.image == "/x/a.nii" and cfg.atlas.by == "network" and not cfg.roi
    normative = base.replace('protocol = "p.json"', 'protocol = "p.json"\ntype = "normative"') + '[roi]\na = "a.nii"'
    with pytest.raises(ConfigError, match=r"feedback\.normative\.model: expected a model folder"):
        parse_config(normative, Path("/x"))
    with pytest.raises(ConfigError, match=r"feedback\.normative\.sha256: expected a model folder"):
        parse_config(normative + '\n[feedback.normative]\nmodel = "m"', Path("/x"))
