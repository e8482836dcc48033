"""A small synthetic study on disk for tests that start a real ``nfd run``: session, ROI masks, protocol, config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks


@dataclass(frozen=True)
class Study:
    """What :func:`synthetic_study` wrote: the config, the watch folder and the session whose volumes to write."""

    config: Path
    watch: Path
    session: SyntheticSession

    def write(self, index: int, name: str = "vol_{number:04d}.nii") -> Path:
        """Write volume ``index`` (0-based) into the watch folder, atomically, as a scanner's export would."""
        path = self.watch / name.format(number=index + 1)
        write_nifti_volume(path, self.session.volumes[index], self.session.affine)
        return path


def synthetic_study(
    folder: Path,
    *,
    n: int,
    tr: float,
    seed: int = 9,
    blocks: tuple[tuple[int, int], ...] = ((4, 6),),
    pattern: str = r"^vol_(?P<volume>\d{4})\.nii$",
    output_dir: str = "runs",
    udp_port: int | None = None,
    feedback: str = "",
    extra: str = "",
    **session: float,
) -> Study:
    """Write a study of ``n`` volumes at ``tr`` (s) into ``folder``: two ROI masks, a protocol, ``nfd.toml``.

    ``blocks`` are the protocol's UP blocks (1-based volume numbers, inclusive);
    UDP goes to ``udp_port`` on loopback when given (else it is off); the web
    API is off; ``feedback`` adds lines to ``[feedback]``; ``extra`` is appended to the configuration (more tables);
    ``session`` passes options to :func:`nfd.simulate.make_session`.
    """
    options = {"shape": (24, 24, 16), "block_length": 3, **session}
    s = make_session(n_volumes=n, tr=tr, seed=seed, **options)  # type: ignore[arg-type]
    masks = write_roi_masks(folder / "rois", s)
    watch = folder / "watch"
    watch.mkdir()
    onsets = [list(b) for b in blocks]
    (folder / "p.json").write_text(json.dumps({"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": onsets}]}))
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    udp = "enabled = false" if udp_port is None else f"port = {udp_port}"
    config = folder / "nfd.toml"
    config.write_text(f"""
[run]
tr = {tr}
n_volumes = {n}
output_dir = "{output_dir}"
[acquire]
watch_dir = "watch"
pattern = '{pattern}'
[roi]
{rois}
[feedback]
protocol = "p.json"
{feedback}
[feedback.udp]
{udp}
[web]
enabled = false
{extra}""")
    return Study(config, watch, s)


def preflight_study(folder: Path, extra: str = "") -> Path:
    """A 12-volume study folder (template, two ROI masks, a protocol) whose ``nfd.toml`` both ``nfd check-config``
    and ``nfd run`` accept as written; ``extra`` is appended to the configuration. Returns the config's path."""
    s = make_session(n_volumes=12, tr=2.0, shape=(20, 20, 16), seed=1, block_length=3)
    masks = write_roi_masks(folder / "rois", s)
    write_nifti_volume(folder / "template.nii", s.volumes[0], s.affine)
    (folder / "watch").mkdir()
    (folder / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[4, 6]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = folder / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = 12
output_dir = "runs"
[acquire]
watch_dir = "watch"
[volume]
reference = "template.nii"
[roi]
{rois}
[feedback]
protocol = "p.json"
[feedback.udp]
enabled = false
[web]
enabled = false
{extra}""")
    return config
