"""The study file of ``nfd evaluate``: one TOML file saying what to evaluate, validated like the daemon's config.

A study names the recorded runs (a BIDS dataset read with pybids, or explicit recordings), the ROIs (centres in
world mm per subject, with radii), how the volumes are processed (the daemon's own ``[volume]`` table, the
online combination of echoes, the offline "fully processed" cleaning), the gold standard, the grid of algorithm
variants and the statistics. Every key is checked by the validator of :mod:`nfd.config` (unknown keys, types,
bounds), so an error names its key path (``variants[1].points[0]``) and what was expected; see
``etc/study.toml`` for every option.

This module owns the schema (:class:`Study` and its tables), :func:`load_study` and :func:`study_runs` (the
runs a study's dataset holds). It reads files; it computes nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from nfd.config import ConfigError, VolumeConfig, parse_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["DatasetTable", "RunEntry", "Study", "StudyRun", "VariantsTable", "load_study", "study_runs"]

#: Defaults of the array keys: immutable, typed Any as the config schema's (the validator gives lists).
_NONE: Any = ()
_FOUR_MM: Any = (4.0,)
_TWO_POINTS: Any = (2,)
_BOTH_LEVELS: Any = ("minimal", "full")
_NO_CHANGE: Any = (0.0,)
_TWENTY: Any = (20,)
_TWO: Any = (2,)
_PRECEDING: Any = ("preceding",)
_RAW: Any = ("raw",)

#: The feedback kinds of the grid (:data:`nfd.feedback.FEEDBACK_KINDS` but those needing voxels or a pushed value),
#: and those that need a task design (a protocol per run).
GRID_KINDS: tuple[str, ...] = ("proxy", "correlation", "psc", "psc_intermittent", "correlation_intermittent")
TASK_KINDS: tuple[str, ...] = ("psc", "psc_intermittent", "correlation_intermittent")


def _doc(doc: str, unit: str | None = None, **bounds: float) -> dict[str, Any]:
    return {"doc": doc, "unit": unit, **bounds}


@dataclass(frozen=True)
class RunEntry:
    """``[[dataset.runs]]``: one recording given explicitly (a DICOM folder or a 4-D NIfTI)."""

    subject: str = field(metadata=_doc("subject label"))
    path: Path = field(metadata=_doc("the recording: a folder of scan files or a 4-D NIfTI (multi-echo: echo 1's)"))
    run: str = field(default="1", metadata=_doc("run label"))
    tr: float = field(default=0.0, metadata=_doc("repetition time (0: from the files)", "s", min=0.0, max=60.0))
    protocol: str = field(
        default="", metadata=_doc("its protocol: OpenNFT JSON, events TSV or PyHRF CSV (empty: dataset.protocol)"))


@dataclass(frozen=True)
class DatasetTable:
    """``[dataset]``: the recorded runs."""

    bids: str = field(default="", metadata=_doc("a BIDS dataset's root (sub-*/[ses-*]/func/*_bold.nii[.gz])"))
    task: str = field(default="", metadata=_doc("BIDS task of the runs (empty: every task)"))
    subjects: list[str] = field(default=_NONE, metadata=_doc("subject labels (empty: all)"))
    runs: list[RunEntry] = field(default=_NONE, metadata=_doc("recordings given explicitly, besides or instead"))
    skip_volumes: int = field(default=0, metadata=_doc("initial volumes left out", "volumes", min=0, max=10000))
    min_volumes: int = field(
        default=20, metadata=_doc("a run with fewer volumes after the skipped ones is left out", "volumes", min=3)
    )
    protocol: str = field(
        default="", metadata=_doc("each run's task design: 'events' (its BIDS *_events.tsv, found by pybids), or a "
                                  "protocol file (OpenNFT JSON, events TSV, PyHRF CSV; may hold {subject}, {run}); "
                                  "empty: none (rest runs)"))
    baseline: str = field(default="BAS", metadata=_doc("the protocol's baseline condition name"))
    session: int = field(default=0, metadata=_doc("PyHRF paradigm: the session read (0: its only one)", min=0))


@dataclass(frozen=True)
class RoisTable:
    """``[rois]``: spheres around per-subject centres."""

    centres: str = field(
        metadata=_doc(
            "a TSV of centres in world mm (columns name, x, y, z, and subject unless the path holds {subject})"
        )
    )
    radius_mm: list[float] = field(default=_FOUR_MM, metadata=_doc("sphere radii", "mm"))
    targets: list[str] = field(default=_NONE, metadata=_doc("target ROIs (empty: every ROI but the control)"))
    control: str = field(default="control", metadata=_doc("the control ROI"))


@dataclass(frozen=True)
class OptcomTable:
    """``[optcom]``: the online combination of echoes (the daemon's ``[multiecho]`` options)."""

    combine: Literal["t2s", "paid"] = field(default="t2s", metadata=_doc("weights: 't2s' (Posse 1999) or 'paid'"))
    realign_echo: int = field(default=1, metadata=_doc("the echo whose motion is estimated", min=1, max=16))
    t2s_volumes: int = field(default=10, metadata=_doc("volumes before the weights are frozen", "volumes", min=1))
    t2s_update: Literal["freeze", "running"] = field(default="freeze", metadata=_doc("after t2s_volumes"))


@dataclass(frozen=True)
class FullTable:
    """``[full]``: the fully processed level, each ROI's whole series cleaned offline (nilearn)."""

    multiecho: Literal["none", "r2star"] = field(
        default="none", metadata=_doc("multi-echo runs: clean the combined series, or -R2* fitted from the echoes")
    )
    confounds: Literal["none", "6P", "12P", "24P"] = field(default="24P", metadata=_doc("motion regressors"))
    despike: bool = field(default=True, metadata=_doc("squash spikes first (AFNI 3dDespike's rule)"))
    compcor: Literal["none", "anatomical", "temporal"] = field(
        default="none", metadata=_doc("CompCor noise regressors: from compcor_mask's voxels, or the brain's 2 % "
                                      "highest-variance voxels (Behzadi 2007)"))
    compcor_mask: str = field(
        default="", metadata=_doc("compcor 'anatomical': a NIfTI noise mask (white matter, CSF) per subject "
                                  "(the path may hold {subject}), resampled to each run's EPI grid"))
    compcor_components: int = field(default=5, metadata=_doc("CompCor components", min=1, max=50))
    detrend: bool = field(default=True, metadata=_doc("remove the linear trend"))
    derivatives: str = field(
        default="", metadata=_doc("an fMRIPrep derivatives folder: the level from its desc-preproc_bold and confounds"))
    space: str = field(default="", metadata=_doc("derivatives: the space entity of desc-preproc_bold (empty: none)"))
    centres: str = field(default="", metadata=_doc("derivatives: ROI centres in their space (empty: rois.centres)"))
    confound_columns: list[str] = field(
        default=_NONE, metadata=_doc("derivatives: confounds TSV columns regressed besides the motion strategy's"))
    high_pass_hz: float = field(default=0.01, metadata=_doc("high-pass edge (0: none)", "Hz", min=0.0))
    low_pass_hz: float = field(default=0.1, metadata=_doc("low-pass edge (0: none)", "Hz", min=0.0))


@dataclass(frozen=True)
class GoldTable:
    """``[gold]``: the gold standard each run's output is compared with."""

    measure: Literal["composite", "sliding", "score", "activation"] = field(
        default="composite", metadata=_doc("'composite': mean target-target r minus mean target-control r over the "
                                           "run; 'sliding': that composite's mean over windows of `window` volumes; "
                                           "'score': a per-run score from a TSV (e.g. behaviour); 'activation': the "
                                           "targets' mean task effect in the run's GLM, % of the signal"))
    window: int = field(default=30, metadata=_doc("measure 'sliding': the window", "volumes", min=3))
    scores: str = field(default="", metadata=_doc("measure 'score': a TSV with columns subject, run, score"))
    level: Literal["full", "minimal"] = field(default="full", metadata=_doc("the series it is computed on"))
    echo: str = field(default="", metadata=_doc("'optcom', or an echo number (empty: optcom when multi-echo)"))
    radius_mm: float = field(default=0.0, metadata=_doc("the ROIs' radius (0: the variant's)", "mm", min=0.0))


@dataclass(frozen=True)
class VariantsTable:
    """``[[variants]]``: one block of the algorithm grid (every combination of its lists)."""

    kind: Literal["proxy", "correlation", "psc", "psc_intermittent", "correlation_intermittent"] = field(
        default="proxy", metadata=_doc("the feedback kind: the two-point proxy, the sliding-window correlation, "
                                       "or a task kind (PSC, intermittent PSC, intermittent correlation)"))
    targets: Literal["pairs", "triples", "quads", "singles"] = field(
        default="pairs", metadata=_doc("target sets: every pair, triple or quad, or every target alone (psc kinds)")
    )
    sets: int = field(default=0, metadata=_doc("a seeded sample of this many sets (0: all)", min=0))
    min_agree: int = field(default=0, metadata=_doc("targets that must agree (0: all; 3 of 4 in the paper)", min=0))
    points: list[int] = field(default=_TWO_POINTS, metadata=_doc("the proxy's n-point rule"))
    direction: Literal["any", "same"] = field(default="any", metadata=_doc("direction across intervals"))
    min_change_sd: list[float] = field(
        default=_NO_CHANGE, metadata=_doc("proxy: smallest change that counts, in SDs of the ROI's changes", min=0.0))
    window: list[int] = field(default=_TWENTY, metadata=_doc("correlation: window lengths", "volumes"))
    delay: list[int] = field(default=_TWO, metadata=_doc("task kinds: volumes left out at each block's start",
                                                         "volumes"))
    reference: list[Literal["preceding", "opennft"]] = field(
        default=_PRECEDING, metadata=_doc("psc kinds: the preceding baseline block's mean, or OpenNFT's medians"))
    signal: list[Literal["raw", "glm", "ar1", "kalman", "scaled"]] = field(
        default=_RAW, metadata=_doc("task kinds: the signal chain's stage read (nfd's [signal] defaults)"))
    combine: Literal["mean", "median", "max", "min"] = field(
        default="mean", metadata=_doc("task kinds: how the targets' (or pairs') values are combined"))
    radius_mm: list[float] = field(default=_NONE, metadata=_doc("radii (empty: all of [rois])", "mm"))
    echo: list[str] = field(default=_NONE, metadata=_doc("'optcom' or echo numbers (empty: optcom, or '1')"))
    level: list[Literal["minimal", "full"]] = field(default=_BOTH_LEVELS, metadata=_doc("processing"))


_ONE_BLOCK: Any = (VariantsTable(),)


@dataclass(frozen=True)
class StatisticsTable:
    """``[statistics]``."""

    iterations: int = field(default=10000, metadata=_doc("permutation test iterations", min=100, max=10**7))
    seed: int = field(default=0, metadata=_doc("seed of the permutations and of sampled sets", min=0))


@dataclass(frozen=True)
class Study:
    """A whole study file, validated (see the module docstring)."""

    rois: RoisTable = field(metadata=_doc("ROIs"))
    dataset: DatasetTable = field(default_factory=DatasetTable, metadata=_doc("the runs"))
    volume: VolumeConfig = field(default_factory=VolumeConfig, metadata=_doc("the daemon's [volume] table"))
    optcom: OptcomTable = field(default_factory=OptcomTable, metadata=_doc("echo combination"))
    full: FullTable = field(default_factory=FullTable, metadata=_doc("the fully processed level"))
    gold: GoldTable = field(default_factory=GoldTable, metadata=_doc("the gold standard"))
    variants: list[VariantsTable] = field(default=_ONE_BLOCK, metadata=_doc("the algorithm grid"))
    statistics: StatisticsTable = field(default_factory=StatisticsTable, metadata=_doc("statistics"))
    folder: Path = field(default=Path("."), metadata={"internal": True})


_ECHO = re.compile(r"optcom|[1-9][0-9]?")


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path : path
        The TOML file; relative paths in it are taken from its folder.

    Returns
    -------
    Study

    Raises
    ------
    nfd.config.ConfigError
        The file is unreadable, not TOML, or a key is unknown or invalid
        (the message names the file and the key).
    """
    file = Path(path)
    try:
        table = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the study file ({exc.strerror})", file=file) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a valid TOML file ({exc})", file=file) from None
    try:
        return parse_study(table, file.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(exc.reason, exc.key, file) from None


def parse_study(table: dict[str, Any], folder: Path) -> Study:
    """Validate a parsed study table (see :func:`load_study`); paths are relative to `folder`."""
    study: Study = parse_table(Study, table, "", folder)
    study = Study(**{**study.__dict__, "folder": folder})
    _check(study)
    return study


def _check(study: Study) -> None:
    """What the schema cannot say: echo names, radii among [rois], a dataset at all."""
    if not study.dataset.bids and not study.dataset.runs:
        raise ConfigError("expected a BIDS dataset (dataset.bids) or recordings ([[dataset.runs]])", "dataset")
    if not study.rois.radius_mm or any(r <= 0 for r in study.rois.radius_mm):
        raise ConfigError(f"expected radii > 0, got {list(study.rois.radius_mm)}", "rois.radius_mm")
    if study.rois.control in study.rois.targets:
        raise ConfigError(f"the control {study.rois.control!r} is also a target", "rois.targets")
    if study.full.compcor == "anatomical" and not study.full.compcor_mask:
        raise ConfigError("expected a noise mask for compcor 'anatomical'", "full.compcor_mask")
    if study.gold.measure == "score" and not study.gold.scores:
        raise ConfigError("expected a TSV of per-run scores for measure 'score'", "gold.scores")
    if study.gold.echo and not _ECHO.fullmatch(study.gold.echo):
        raise ConfigError(f"expected 'optcom' or an echo number, got {study.gold.echo!r}", "gold.echo")
    for k, v in enumerate(study.variants):
        _check_variant(v, f"variants[{k}]", study)
    _check_protocol(study)


def _check_protocol(study: Study) -> None:
    """A task kind, or the activation gold, needs a protocol for the runs."""
    if study.dataset.protocol or any(entry.protocol for entry in study.dataset.runs):
        return
    task = [(k, v.kind) for k, v in enumerate(study.variants) if v.kind in TASK_KINDS]
    if task:
        k, kind = task[0]
        raise ConfigError(f"variants[{k}] kind {kind!r} needs each run's task design: expected 'events' (the BIDS "
                          "events.tsv) or a protocol file", "dataset.protocol")  # fmt: skip
    if study.gold.measure == "activation":
        raise ConfigError("gold measure 'activation' needs each run's task design: expected 'events' (the BIDS "
                          "events.tsv) or a protocol file", "dataset.protocol")  # fmt: skip


def _check_variant(v: VariantsTable, key: str, study: Study) -> None:
    """One [[variants]] block: echo names, radii among [rois], the rules' ranges."""
    bad_echo = [e for e in v.echo if not _ECHO.fullmatch(e)]
    if bad_echo:
        raise ConfigError(f"expected 'optcom' or echo numbers, got {bad_echo[0]!r}", f"{key}.echo")
    extra = [r for r in v.radius_mm if r not in study.rois.radius_mm]
    if extra:
        raise ConfigError(
            f"radius {extra[0]} is not among rois.radius_mm {list(study.rois.radius_mm)}", f"{key}.radius_mm"
        )
    if not v.window or any(w < 3 for w in v.window):
        raise ConfigError(f"expected windows of at least 3 volumes, got {list(v.window)}", f"{key}.window")
    if any(m < 0 for m in v.min_change_sd) or not v.min_change_sd:
        raise ConfigError(f"expected numbers >= 0, got {list(v.min_change_sd)}", f"{key}.min_change_sd")
    if not v.points or any(p < 2 or p > 10 for p in v.points):
        raise ConfigError(f"expected points from 2 to 10, got {list(v.points)}", f"{key}.points")
    _check_task_options(v, key, study)
    size = {"singles": 1, "pairs": 2, "triples": 3, "quads": 4}[v.targets]
    if v.min_agree > size:
        raise ConfigError(f"min_agree {v.min_agree} exceeds the {size} targets of a set", f"{key}.min_agree")
    if not v.level:
        raise ConfigError("expected at least one level", f"{key}.level")


def _check_task_options(v: VariantsTable, key: str, study: Study) -> None:
    """The task kinds' options, and which target sets a kind and the gold standard can take."""
    if not v.delay or any(d < 0 or d > 1000 for d in v.delay):
        raise ConfigError(f"expected delays from 0 to 1000 volumes, got {list(v.delay)}", f"{key}.delay")
    if not v.reference:
        raise ConfigError("expected at least one reference", f"{key}.reference")
    if not v.signal:
        raise ConfigError("expected at least one signal", f"{key}.signal")
    if v.targets == "singles" and v.kind not in ("psc", "psc_intermittent"):
        raise ConfigError(f"kind {v.kind!r} needs at least 2 targets per set; 'singles' is for the psc kinds",
                          f"{key}.targets")  # fmt: skip
    if v.targets == "singles" and study.gold.measure in ("composite", "sliding"):
        raise ConfigError(f"the gold measure {study.gold.measure!r} needs at least 2 targets per set; with "
                          "'singles' use measure 'activation' or 'score'", f"{key}.targets")  # fmt: skip
    if v.kind == "psc_intermittent" and "opennft" in v.reference and set(v.signal) - {"kalman", "scaled"}:
        raise ConfigError("reference 'opennft' of psc_intermittent reads signal 'kalman' or 'scaled', got "
                          f"{list(v.signal)}", f"{key}.reference")  # fmt: skip


@dataclass(frozen=True)
class StudyRun:
    """One run of a study's dataset.

    Attributes
    ----------
    subject, run : str
        Labels (``run`` joins the BIDS session and run: ``"1"``, ``"pre-2"``).
    echoes : tuple of Path
        One file per echo (one for a single-echo run), or the one explicit recording.
    tr : float
        Repetition time, s (0 when only the files know it).
    echo_times_ms : tuple of float
        Echo times from the sidecars, ms (empty when unknown).
    entities : tuple of (str, str)
        The BIDS entities naming the run (subject, session, task, run), to find its derivatives.
    protocol : Path or None
        The run's task design: its BIDS ``*_events.tsv`` (``dataset.protocol = "events"``, found by pybids) or
        the protocol file ``dataset.protocol`` (or ``[[dataset.runs]] protocol``) names, whether it exists or
        not; None when there is none (a rest run, or no events file found).
    """

    subject: str
    run: str
    echoes: tuple[Path, ...]
    tr: float
    echo_times_ms: tuple[float, ...] = ()
    entities: tuple[tuple[str, str], ...] = ()
    protocol: Path | None = None


def study_runs(study: Study) -> tuple[list[StudyRun], list[str]]:
    """The runs a study's dataset holds (pybids for a BIDS dataset), and one line per problem found.

    Returns
    -------
    runs : list of StudyRun
        Sorted by subject and run.
    problems : list of str
        E.g. a run whose echoes are incomplete, a subject asked for and absent.
    """
    runs: list[StudyRun] = []
    problems: list[str] = []
    if study.dataset.bids:
        found, found_problems = _bids_runs(
            study.folder / study.dataset.bids, study.dataset.task, study.dataset.subjects,
            events=study.dataset.protocol == "events",
        )
        runs += [_with_protocol(r, study, "") for r in found]
        problems += found_problems
    for entry in study.dataset.runs:
        if not entry.path.exists():
            problems.append(f"subject {entry.subject} run {entry.run}: missing run: {entry.path} does not exist")
            continue
        run = StudyRun(entry.subject, entry.run, _echo_files(entry.path), entry.tr)
        runs.append(_with_protocol(run, study, entry.protocol))
    runs.sort(key=lambda r: (r.subject, r.run))
    return runs, problems


def _with_protocol(run: StudyRun, study: Study, own: str) -> StudyRun:
    """The run with its protocol file: `own` (a ``[[dataset.runs]]`` entry's), else ``dataset.protocol``'s path
    with ``{subject}`` and ``{run}`` filled in ("events": pybids found it already)."""
    pattern = own or study.dataset.protocol
    if not pattern or pattern == "events":
        return run
    path = study.folder / pattern.replace("{subject}", run.subject).replace("{run}", run.run)
    return replace(run, protocol=path)


def _echo_files(path: Path) -> tuple[Path, ...]:
    """A recording's echo files: an ``_echo-1_`` NIfTI with its siblings ``_echo-2_``... while they exist."""
    from nfd.acquire._echoes import bids_echo, echo_sibling

    if not path.is_file() or bids_echo(path.name) != 1:
        return (path,)
    files = [path]
    while echo_sibling(path, len(files) + 1).is_file():
        files.append(echo_sibling(path, len(files) + 1))
    return tuple(files)


def _bids_runs(
    root: Path, task: str, subjects: Sequence[str], *, events: bool = False
) -> tuple[list[StudyRun], list[str]]:
    """Group a BIDS dataset's bold files by subject, session, task and run; echoes in order; with `events`, each
    run's nearest ``*_events.tsv`` (pybids' inheritance: the run's own, or one shared higher up)."""
    from bids import BIDSLayout

    if not (root / "dataset_description.json").is_file():
        return [], [f"dataset.bids: {root} is not a BIDS dataset (no dataset_description.json)"]
    layout = BIDSLayout(root, validate=False)
    query: dict[str, Any] = {"suffix": "bold", "extension": [".nii", ".nii.gz"], "datatype": "func"}
    if task:
        query["task"] = task
    files = layout.get(**query)
    groups: dict[tuple[str, str], list[Any]] = {}
    several_tasks = len({f.get_entities().get("task") for f in files}) > 1
    for f in files:
        e = f.get_entities()
        label = "-".join(str(e[k]) for k in ("session", "task", "run") if k in e and (k != "task" or several_tasks))
        groups.setdefault((str(e["subject"]), label or "1"), []).append(f)
    problems = [f"subject {s}: missing: no bold run in {root}" for s in subjects if s not in {key[0] for key in groups}]
    runs = []
    for (subject, label), items in sorted(groups.items()):
        if subjects and subject not in subjects:
            continue
        items.sort(key=lambda f: int(f.get_entities().get("echo", 1)))
        numbers = [int(f.get_entities().get("echo", 1)) for f in items]
        if numbers != list(range(1, len(items) + 1)):
            problems.append(
                f"subject {subject} run {label}: missing run: echoes {numbers}, expected 1 to {max(numbers)}"
            )
            continue
        meta = [f.get_metadata() for f in items]
        tr = float(meta[0].get("RepetitionTime", 0.0) or 0.0)
        tes = tuple(float(m["EchoTime"]) * 1000.0 for m in meta if "EchoTime" in m)
        entities = tuple((k, str(v)) for k, v in items[0].get_entities().items()
                         if k in ("subject", "session", "task", "run"))  # fmt: skip
        echo_times = tes if len(tes) == len(items) and len(items) > 1 else ()
        protocol = _events_file(layout, items[0].path) if events else None
        runs.append(StudyRun(subject, label, tuple(Path(f.path) for f in items), tr, echo_times, entities, protocol))
    return runs, problems


def _events_file(layout: Any, bold: str) -> Path | None:
    """The ``*_events.tsv`` of a bold file, found by pybids (None when there is none)."""
    found = layout.get_nearest(bold, suffix="events", extension=".tsv",
                               ignore_strict_entities=["suffix", "extension", "echo"])  # fmt: skip
    return Path(found) if found else None
