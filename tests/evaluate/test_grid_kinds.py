"""``nfd evaluate`` with task kinds: PSC, intermittent PSC and intermittent correlation over a task dataset with a
protocol per run, against the activation gold standard (the task effect of each run's GLM)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nfd.config import ConfigError
from nfd.design import Design, load_protocol
from nfd.evaluate import evaluate_study, parse_study

SUBJECTS, RUNS, VOLUMES, TR = 4, 2, 120, 2.0
#: Task volumes (0-based, inclusive): six blocks of 10 volumes after baselines of 10.
BLOCKS = tuple((a, a + 9) for a in range(10, VOLUMES, 20))
#: The planted task effect of each ROI at a run gain of 1, percent of the signal.
EFFECT = {"strong": 3.0, "weak": 1.0, "control": 0.0}
CENTRES = {"strong": (-15.0, 0.0, 0.0), "weak": (15.0, 0.0, 0.0), "control": (0.0, 15.0, 0.0)}
SHAPE = (24, 24, 12)
AFFINE = np.array([[3.0, 0, 0, -34.5], [0, 3.0, 0, -34.5], [0, 0, 3.0, -16.5], [0, 0, 0, 1]])

STUDY = """
[dataset]
bids = "task"
protocol = "events"
min_volumes = 20
[volume]
smooth_fwhm = 0.0
[full]
confounds = "6P"              # 24P and the band-pass leave no task effect in 120 volumes
[rois]
centres = "centres.tsv"
radius_mm = [6]
targets = ["strong", "weak"]
[gold]
measure = "activation"
[[variants]]
kind = "psc"
targets = "singles"
delay = [0, 2]
level = ["minimal"]
[[variants]]
kind = "psc_intermittent"
targets = "singles"
delay = [2]
level = ["minimal"]
[[variants]]
kind = "correlation_intermittent"
targets = "pairs"
delay = [2]
level = ["minimal", "full"]
[statistics]
iterations = 200
"""


def _gain(subject: int, run: int) -> float:
    """The run's task gain, spread from 0.3 to 2 (seeded), so that outputs and gold vary across runs."""
    return float(np.random.default_rng([7, subject, run]).uniform(0.3, 2.0))


def _run_image(subject: int, run: int) -> np.ndarray:
    """A head of 1000 with each ROI's sphere (6 mm) carrying its planted effect times the run's gain, a slow
    drift and 2 % voxel noise."""
    rng = np.random.default_rng([11, subject, run])
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1) @ AFFINE[:3, :3].T
    world = grid + AFFINE[:3, 3]
    head = ((world / np.array([32.0, 32.0, 16.0])) ** 2).sum(axis=-1) <= 1.0
    regressor = Design.from_blocks(VOLUMES, [("task", a, b) for a, b in BLOCKS]).task_regressors(TR)[:, 0]
    drift = np.linspace(0.0, 10.0, VOLUMES)
    data = np.where(head[..., None], 1000.0 + drift, 0.0) * np.ones(VOLUMES)
    for name, centre in CENTRES.items():
        sphere = ((world - np.array(centre)) ** 2).sum(axis=-1) <= 6.0**2
        data[sphere] *= 1.0 + _gain(subject, run) * EFFECT[name] / 100.0 * regressor
    data += np.where(head[..., None], rng.normal(0.0, 20.0, data.shape), 0.0)
    return data.astype(np.float32)


def _events(path: Path) -> None:
    rows = ["onset\tduration\ttrial_type"] + [f"{a * TR:g}\t{(b - a + 1) * TR:g}\ttask" for a, b in BLOCKS]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BIDS task dataset (4 subjects x 2 runs, 120 volumes, TR 2 s) with an events.tsv per run but sub-04 run-2's,
    and the ROI centres."""
    root = tmp_path_factory.mktemp("kinds")
    bids = root / "task"
    bids.mkdir()
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "task", "BIDSVersion": "1.9.0"}))
    for s in range(1, SUBJECTS + 1):
        func = bids / f"sub-{s:02d}" / "func"
        func.mkdir(parents=True)
        for r in range(1, RUNS + 1):
            stem = f"sub-{s:02d}_task-motor_run-{r}"
            image = nib.Nifti1Image(_run_image(s, r), AFFINE)
            image.header.set_xyzt_units("mm", "sec")
            image.header["pixdim"][4] = TR
            nib.save(image, func / f"{stem}_bold.nii.gz")
            (func / f"{stem}_bold.json").write_text(json.dumps({"RepetitionTime": TR, "TaskName": "motor"}))
            if (s, r) != (4, 2):
                _events(func / f"{stem}_events.tsv")
    rows = ["subject\tname\tx\ty\tz"] + ["{:02d}\t{}\t{}\t{}\t{}".format(s, n, *c) for s in range(1, SUBJECTS + 1)
                                           for n, c in CENTRES.items()]  # fmt: skip
    (root / "centres.tsv").write_text("\n".join(rows) + "\n")
    (root / "study.toml").write_text(STUDY)
    return root


@pytest.fixture(scope="module")
def evaluated(task: Path) -> object:
    return evaluate_study(task / "study.toml", task / "out")


def test_psc_ranks_the_stronger_roi_and_tracks_the_activation_gold(task: Path, evaluated: object) -> None:
    """The ROI with 3 % planted effect gets the larger PSC in every run; across runs the outputs track the
    activation gold (the GLM's task effect) and the planted gain; the run without events is one line."""
    result: object = evaluated
    problems = result.problems  # type: ignore[attr-defined]
    assert len(problems) == 1, problems
    assert problems[0].startswith("subject 04 run 2: no protocol") and "dataset.protocol" in problems[0]
    cells = result.cells  # type: ignore[attr-defined]
    assert not ((cells.subject == "04") & (cells.run == "2")).any()
    assert set(zip(cells.subject, cells.run, strict=True)) == {(f"{s:02d}", str(r)) for s in range(1, 5)
                                                                for r in (1, 2)} - {("04", "2")}  # fmt: skip
    psc = cells[(cells.kind == "psc") & (cells.variant.str.contains("delay=2"))]
    by_set = {name: part.sort_values(["subject", "run"]) for name, part in psc.groupby("target_set")}
    strong, weak = by_set["strong"], by_set["weak"]
    assert (strong.output.to_numpy() > weak.output.to_numpy()).all()
    gains = np.array([_gain(int(s), int(r)) for s, r in zip(strong.subject, strong.run, strict=True)])
    # the gold (full level: detrended and band-passed before the GLM) recovers the planted effect's spread
    assert np.corrcoef(strong.gold, 3.0 * gains)[0, 1] > 0.9
    assert np.corrcoef(strong.output, strong.gold)[0, 1] > 0.85 and np.corrcoef(weak.output, weak.gold)[0, 1] > 0.6
    performance = result.performance  # type: ignore[attr-defined]
    kinds = performance[performance.target_set == "strong"]
    assert set(kinds.kind) == {"psc", "psc_intermittent"} and (kinds.performance > 0.8).all(), kinds
    assert np.isnan(strong.r_targets).all() and np.isfinite(strong.standard).all()


def test_intermittent_correlation_is_the_mean_of_its_block_values(task: Path, evaluated: object) -> None:
    """correlation_intermittent's output per run: the mean of the values make_feedback gives at the block ends,
    fed the same (cached) ROI series volume by volume."""
    from nfd.evaluate import minimal_roi_series, sphere_masks
    from nfd.feedback import make_feedback
    from nfd.timeseries import ChainStep

    cells = evaluated.cells  # type: ignore[attr-defined]
    rows = cells[(cells.kind == "correlation_intermittent") & (cells.level == "minimal")]
    assert len(rows) == 7 and np.isfinite(rows.output).all()
    for subject, run in (("01", "1"), ("03", "2")):
        row = rows[(rows.subject == subject) & (rows.run == run)].iloc[0]
        image = task / f"task/sub-{subject}/func/sub-{subject}_task-motor_run-{run}_bold.nii.gz"
        masks = {f"{n}@6": m for n, m in sphere_masks(CENTRES, 6.0, SHAPE, AFFINE).items()}
        series = minimal_roi_series(image, masks, engine={"smooth_fwhm": 0.0}, cache_dir=task / "out" / "cache")
        design = load_protocol(image.with_name(image.name.replace("_bold.nii.gz", "_events.tsv")), VOLUMES, tr=TR)
        feedback = make_feedback("correlation_intermittent", design, ["strong@6", "weak@6"], signal="raw", delay=2)
        nan = float("nan")
        values = []
        for i, index in enumerate(series.indices.tolist()):
            steps = {n: ChainStep(index, float(series.column(n)[i]), nan, nan, nan, nan, 0, nan, nan, 0)
                     for n in ("strong@6", "weak@6")}  # fmt: skip
            value = feedback.update(index, steps, None)
            if value is not None:
                values.append(value)
        assert len(values) == len(BLOCKS)
        assert row.output == pytest.approx(np.mean(values), abs=1e-12)


def test_the_activation_gold_recovers_a_planted_effect_as_lstsq() -> None:
    """The GLM task effect of a synthetic series (20 units on a baseline of 800, noise sd 4) is 20 units in percent
    of the series mean within four standard errors, and equals numpy.linalg.lstsq on the same design matrix."""
    from nfd.evaluate._grid import activation, design_matrix

    n = 120
    design = Design.from_blocks(n, [("task", a, a + 11) for a in range(12, n, 24)])
    indices = np.arange(4, n)  # four skipped volumes
    x = design_matrix(design, TR, indices)
    assert x.shape == (n - 4, 3)
    rng = np.random.default_rng(5)
    regressor = x[:, 0]
    y = np.column_stack([800.0 + 20.0 * regressor + rng.normal(0.0, 4.0, indices.size) for _ in range(3)])
    means = y.mean(axis=0)
    effects = activation(y, design, TR, indices, means)
    centred = regressor - regressor.mean()
    se = 4.0 / np.sqrt(centred @ centred) * 100.0 / 800.0
    assert np.abs(effects - 2000.0 / means).max() < 4 * se
    expected = 100.0 * np.linalg.lstsq(x, y, rcond=None)[0][0] / means
    np.testing.assert_allclose(effects, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ('kind = "decoder"', "variants[0].kind"),
        ('kind = "psc"\ntargets = "singles"\ndelay = [-1]', "variants[0].delay"),
        ('kind = "psc"\ntargets = "singles"\nreference = ["median"]', "variants[0].reference[0]"),
        ('kind = "correlation_intermittent"\ntargets = "singles"', "variants[0].targets"),
        ('kind = "psc_intermittent"\ntargets = "singles"\nsignal = ["kalmann"]', "variants[0].signal[0]"),
        ('kind = "proxy"\ntargets = "singles"', "variants[0].targets"),
    ],
)
def test_bad_task_kinds_and_options_name_their_key(tmp_path: Path, block: str, key: str) -> None:
    import tomllib

    text = STUDY.split("[[variants]]")[0] + "[[variants]]\n" + block + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_study(tomllib.loads(text), tmp_path)
    assert caught.value.key == key, caught.value


def test_task_kinds_need_a_protocol(tmp_path: Path) -> None:
    import tomllib

    text = STUDY.replace('protocol = "events"\n', "")
    with pytest.raises(ConfigError) as caught:
        parse_study(tomllib.loads(text), tmp_path)
    assert caught.value.key == "dataset.protocol" and "psc" in str(caught.value)
    singles = text.replace('measure = "activation"', 'measure = "composite"').split("[[variants]]")
    with pytest.raises(ConfigError) as caught:
        parse_study(tomllib.loads(singles[0].replace("[dataset]", '[dataset]\nprotocol = "events"') + "[[variants]]"
                                  + singles[1]), tmp_path)  # fmt: skip
    assert caught.value.key == "variants[0].targets" and "composite" in str(caught.value)


def test_a_signal_chain_stage_as_an_axis(task: Path) -> None:
    """signal = ["raw", "glm"]: the glm cell is run_variant's psc over the run's ROI series through nfd's default
    signal chain with the run's design (the daemon's pipeline), and differs from the raw one."""
    from nfd.evaluate import minimal_roi_series, run_variant, sphere_masks

    study = task / "signal.toml"
    study.write_text(STUDY.split("[[variants]]")[0].replace("min_volumes = 20", 'min_volumes = 20\nsubjects = ["01"]')
                     + '[[variants]]\nkind = "psc"\ntargets = "singles"\nsignal = ["raw", "glm"]\nlevel = ["minimal"]\n')
    result = evaluate_study(study, task / "out-signal")
    cells = result.cells
    assert result.problems == [] and len(cells) == 2 * 2 * RUNS
    row = cells[(cells.run == "2") & (cells.target_set == "strong") & cells.variant.str.contains("signal=glm")].iloc[0]
    raw = cells[(cells.run == "2") & (cells.target_set == "strong") & ~cells.variant.str.contains("signal=")].iloc[0]
    image = task / "task/sub-01/func/sub-01_task-motor_run-2_bold.nii.gz"
    masks = {f"{n}@6": m for n, m in sphere_masks(CENTRES, 6.0, SHAPE, AFFINE).items()}
    series = minimal_roi_series(image, masks, engine={"smooth_fwhm": 0.0}, cache_dir=task / "out-signal" / "cache")
    design = load_protocol(image.with_name("sub-01_task-motor_run-2_events.tsv"), VOLUMES, tr=TR)
    expected = run_variant(series, design, TR, "psc", chain={}, rois=["strong@6"], signal="glm", delay=2)
    assert row.output == pytest.approx(expected.summary["mean_regulation"], abs=1e-12)
    assert abs(row.output - raw.output) > 1e-6 and row.gold == raw.gold


def test_check_names_a_bad_kind(task: Path) -> None:
    """nfd evaluate --check: an unknown kind stops it with exit 2 and one line naming the key."""
    import subprocess
    import sys

    study = task / "bad.toml"
    study.write_text(STUDY.replace('kind = "psc_intermittent"', 'kind = "psc_intermitent"'))
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--check"], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "variants[1].kind" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(task / "study.toml"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and "8 runs of 4 subjects" in done.stderr, done.stderr



def test_comparisons_pair_variants_differing_in_their_axis_only() -> None:
    """psc variants that differ in delay and level: each comparison's two variants differ in its axis alone
    (before delay, reference and signal were axes, "delay=0 minimal" was compared with "delay=2 full")."""
    from nfd.evaluate import AXES
    from nfd.evaluate._stats import comparison_table

    rng = np.random.default_rng(3)
    rows = []
    for delay, level in itertools.product((0, 2), ("minimal", "full")):
        label = f"psc delay={delay} level={level}"
        for k in range(4):
            axes = dict.fromkeys(AXES)
            axes.update(kind="psc", n_targets=1, radius_mm=6.0, echo="1", level=level, delay=delay, signal="raw")
            rows.append({**axes, "variant": label, "target_set": f"roi{k}", "performance": rng.uniform(0, 1),
                         "n": 8, "standard_performance": np.nan, "r_targets": np.nan, "tsnr": 50.0})  # fmt: skip
    comparisons = comparison_table(pd.DataFrame(rows), n_resamples=100)
    assert sorted(comparisons.axis) == ["delay", "delay", "level", "level"], comparisons[["axis", "a", "b"]]
    for row in comparisons.itertuples():
        va, vb = row.variant_a, row.variant_b  # type: ignore[attr-defined]
        differ = {w for w, x in zip(va.split(), vb.split(), strict=True) if w != x}
        assert len(differ) == 1 and next(iter(differ)).startswith(str(row.axis)), (row.axis, va, vb)



def test_an_edited_protocol_recomputes_its_run_only(task: Path, tmp_path: Path) -> None:
    """The resume key holds each run's protocol file: editing one in place recomputes that run, not the others."""
    out = tmp_path / "out"
    assert evaluate_study(task / "study.toml", out).computed == 8  # type: ignore[attr-defined]
    assert evaluate_study(task / "study.toml", out).computed == 0  # type: ignore[attr-defined]
    events = task / "task" / "sub-01" / "func" / "sub-01_task-motor_run-1_events.tsv"
    original = events.read_text()
    lines = original.splitlines()
    onset, *rest = lines[1].split("\t")
    lines[1] = "\t".join([f"{float(onset) + 2 * TR:g}", *rest])  # the first block two volumes later
    try:
        events.write_text("\n".join(lines) + "\n")
        assert evaluate_study(task / "study.toml", out).computed == 1  # type: ignore[attr-defined]
    finally:
        events.write_text(original)
