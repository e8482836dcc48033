"""The run's objects, built from the configuration: the one place a package's error becomes a config error.

Owns the translation from the TOML sections to the objects of the other
packages: the watch folder and a recording (``[acquire]``), the run design
(``[feedback] protocol``), the realignment template (``[volume]``), the ROI
masks (``[roi]``), the signal chains (``[signal]``), the quality monitor and the
whole-brain GLM (``[quality]``, ``[iglm]``), the feedback kind (``[feedback]``
and its sub-tables), the sinks, the EEG model and session (``[eeg]``). Every
error a package raises about those options is turned here, and only here,
into a :class:`~nfd.config.ConfigError` naming the key the operator fixes.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np
import structlog

from nfd.acquire import (
    FileNaming,
    RecordingError,
    RecordingSource,
    ScanFileError,
    ScanImage,
    ScanWatcher,
    SeriesId,
    read_scan,
)
from nfd.config import Config, ConfigError
from nfd.design import Design, DesignError, HrfColumnError, HrfFileError, SampledHrf, load_protocol, read_hrf_tsv
from nfd.eeg import ArtifactSpec, EegError, EegModel, EegSession, ModelHashError, load_model
from nfd.feedback import ExternalFeedback, FeedbackComputer, FeedbackError, make_feedback
from nfd.outputs import OutputError, RunFolder, RunFolderError, SerialSink, Sink, UdpSink
from nfd.outputs.web import Controller, LiveState, TokenFileError, WebConfigError, WebServer, read_token_file
from nfd.timeseries import (
    AfterSend,
    ChainOptions,
    QualityMonitor,
    QualityThresholds,
    RoiError,
    RoiSet,
    SignalChain,
    TimeseriesError,
    WholeBrainGLM,
)

log = structlog.get_logger(__name__)


def load_hrf(cfg: Config) -> SampledHrf | None:
    """The ``[signal] hrf`` file's response (column ``hrf_column``), or None for SPM's canonical HRF."""
    s = cfg.signal
    if not s.hrf:
        return None
    try:
        hrf = read_hrf_tsv(s.hrf, s.hrf_column or None)
        hrf.kernel(cfg.run.tr / 16), hrf.kernel(cfg.run.tr)  # one summing to <= 0 is refused before the run
    except HrfFileError as exc:
        key = "signal.hrf_column" if isinstance(exc, HrfColumnError) else "signal.hrf"
        raise ConfigError(str(exc), key=key) from None
    return hrf


def build_chains(cfg: Config, design: Design) -> dict[str, SignalChain]:
    """One signal chain per ROI, with the ``[signal]`` options."""
    s = cfg.signal
    try:
        options = ChainOptions.from_table({
            "high_pass_s": s.high_pass_s, "stage_volumes": s.stage_volumes,
            "motion_regressors": s.motion_regressors, "ar1": s.ar1, "kalman_q": s.kalman_q,
            "kalman_r": s.kalman_r, "kalman_threshold": s.kalman_threshold,
            "scaling_warmup": s.scaling_warmup, "scaling_fraction": s.scaling_fraction,
            "scaling_floor": s.scaling_floor, "scaling_window": s.scaling_window,
            "ar1_placement": s.ar1_placement, "first_motion_epsilon": s.first_motion_epsilon,
            "kalman_zero_sd": s.kalman_zero_sd, "task_kept": s.task_kept, "task_regressor": s.task_regressor,
            "spm_t0": s.spm_t0,
        })
        options = dataclasses.replace(options, hrf=load_hrf(cfg))
        return {name: SignalChain(design, cfg.run.tr, options) for name in roi_names(cfg)}
    except TimeseriesError as exc:
        raise ConfigError(str(exc), key="signal") from None


def feedback_kind_options(cfg: Config) -> dict[str, Any]:
    """The keyword options of :func:`nfd.feedback.make_feedback` for ``feedback.type``."""
    fb = cfg.feedback
    common: dict[str, Any] = {"signal": fb.signal} if fb.signal else {}
    pairs = [list(p) for p in fb.correlation.pairs] or None
    kind = fb.type
    if kind == "psc":
        return {**common, "delay": fb.delay, "combine": fb.combine, "reference": fb.reference}
    if kind == "psc_intermittent":
        sh = fb.shaping
        shaping: Any = (
            {"first_threshold": sh.first_threshold, "margin": sh.margin, "history": sh.history}
            if sh.enabled else False
        )
        return {**common, "delay": fb.delay, "combine": fb.combine, "shaping": shaping, "reference": fb.reference}
    if kind == "correlation":
        return {**common, "window": fb.correlation.window, "pairs": pairs, "combine": fb.combine}
    if kind == "correlation_intermittent":
        return {**common, "delay": fb.delay, "pairs": pairs, "combine": fb.combine}
    if kind == "proxy":
        p = fb.proxy
        return {**common, "targets": list(p.targets), "control": p.control, "min_agree": p.min_agree or None,
                "consecutive": p.consecutive, "min_change_sd": p.min_change_sd, "points": p.points,
                "direction": p.direction}
    if kind == "decoder":
        d = fb.decoder
        if d.weights:
            return {**common, "weights": d.weights, "sha256": d.sha256}
        return {**common, "model_path": d.model, "sha256": d.sha256, "input": d.input, "output": d.output,
                "positive_class": d.positive_class or None}
    if kind == "normative":
        n = fb.normative
        return {**common, "model": n.model, "sha256": n.sha256, "window": n.window, "edges": list(n.edges) or None,
                "error": n.error}
    e = fb.external  # external
    if e.source != "eeg" and (e.eeg_target or e.eeg_weights):
        key = "feedback.external." + ("eeg_target" if e.eeg_target else "eeg_weights")
        raise ConfigError(f"{key} chooses among an EEG model's targets: expected source = \"eeg\", got {e.source!r}",
                          key=key)
    targets = {"target": e.eeg_target, "weights": dict(e.eeg_weights)} if e.source == "eeg" else {}
    return {"max_age_s": e.max_age_s or None, **targets}


def build_feedback(cfg: Config, design: Design) -> FeedbackComputer:
    """The feedback computer of ``feedback.type`` (a decoder loads its model: call it from a thread)."""
    try:
        return make_feedback(cfg.feedback.type, design, roi_names(cfg), **feedback_kind_options(cfg))
    except (FeedbackError, DesignError) as exc:
        raise ConfigError(str(exc), key=f"feedback.{cfg.feedback.type}"
                          if cfg.feedback.type in ("proxy", "decoder", "correlation", "external", "normative")
                          else "feedback") from None


def build_quality(cfg: Config, design: Design) -> QualityMonitor:
    """The real-time quality monitor with the ``[quality]`` thresholds (0 turns one off)."""
    q = cfg.quality
    try:
        thresholds = QualityThresholds(
            fd_mm=q.fd_mm or None, md_mm=q.md_mm or None, dvars_percent=q.dvars_percent or None,
            tsnr_min=q.tsnr_min or None,
        )
        return QualityMonitor(design, roi_names(cfg), thresholds=thresholds, voxelwise=q.voxelwise,
                              tsnr_warmup=q.tsnr_warmup)
    except TimeseriesError as exc:
        raise ConfigError(str(exc), key="quality") from None


def build_after_send(cfg: Config, design: Design) -> AfterSend:
    """Quality figures and (when ``[iglm]`` is on and the protocol has a task) the whole-brain GLM."""
    quality = build_quality(cfg, design)
    g = cfg.iglm
    if not g.enabled:
        return AfterSend(quality)
    if not (design.conditions or g.contrast):
        log.warning("iglm_skipped", reason="the protocol has no task condition to contrast with baseline")
        return AfterSend(quality)
    try:
        iglm = WholeBrainGLM(design, tr=cfg.run.tr, skip_volumes=cfg.run.skip_volumes,
                             high_pass_s=g.high_pass_s or None, motion=g.motion, contrast=dict(g.contrast) or None,
                             hrf=load_hrf(cfg))
    except (TimeseriesError, DesignError) as exc:
        raise ConfigError(str(exc), key="iglm") from None
    return AfterSend(quality, iglm)


def load_rois(cfg: Config, shape: tuple[int, int, int], affine: np.ndarray) -> RoiSet:
    """The ``[roi]`` masks and the ``[atlas]`` ROIs on the EPI grid (``shape``, voxel -> mm ``affine``).

    The atlas is taken onto the grid once, by nearest neighbour through the
    two affines (:func:`atlas_masks`); its ROIs follow the ``[roi]`` masks,
    in the order of :func:`roi_names`.
    """
    masks: dict[str, np.ndarray] = {}
    if cfg.roi:
        try:
            masks = RoiSet.from_files(dict(cfg.roi), shape=shape, affine=affine).masks
        except RoiError as exc:
            raise ConfigError(str(exc), key="roi") from None
    if cfg.atlas.image:
        masks.update(atlas_masks(cfg, shape, affine))
    try:
        return RoiSet(masks, affine=affine)
    except RoiError as exc:
        raise ConfigError(str(exc), key="atlas" if cfg.atlas.image else "roi") from None


def roi_names(cfg: Config) -> list[str]:
    """The run's ROI names: the ``[roi]`` masks', then the ``[atlas]``'s (its networks or regions, from its TSV)."""
    names = list(cfg.roi)
    if cfg.atlas.image:
        names += list(atlas_groups(cfg))
    return names


def atlas_groups(cfg: Config) -> dict[str, list[int]]:
    """The ``[atlas]`` ROIs: name (a network, or a region with ``by = "region"``) -> its labels in the image.

    The labels file is a TSV with a header holding the columns ``index``
    (the integer label in the image, >= 1), ``name`` (the region) and
    ``network``; other columns are ignored.

    Raises
    ------
    ConfigError
        An unreadable file, a missing column, a bad or repeated index or
        region, an empty name, or an ROI name that is also a ``[roi]`` mask's
        (key ``atlas.labels``).
    """
    a = cfg.atlas
    path = Path(a.labels)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t")
            rows = list(reader)
            header = [str(c).strip() for c in reader.fieldnames or ()]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read the atlas labels {path} ({exc})", key="atlas.labels") from None
    missing = [c for c in ("index", "name", "network") if c not in header]
    if missing:
        raise ConfigError(f"{path} has no column {missing[0]!r}, expected a TSV with the columns index, name, network",
                          key="atlas.labels")
    groups: dict[str, list[int]] = {}
    seen_index: set[int] = set()
    seen_name: set[str] = set()
    for line, raw in enumerate(rows, start=2):
        row = {str(k).strip(): v for k, v in raw.items() if k is not None}
        index, name, network = (str(row.get(c) or "").strip() for c in ("index", "name", "network"))
        if not index.isdigit() or int(index) < 1 or int(index) in seen_index or not name or not network:
            raise ConfigError(f"{path} line {line}: expected a new integer index >= 1, a name and a network, "
                              f"got {index!r}, {name!r}, {network!r}", key="atlas.labels")
        if name in seen_name:
            raise ConfigError(f"{path} line {line}: region {name!r} is named twice", key="atlas.labels")
        seen_index.add(int(index))
        seen_name.add(name)
        groups.setdefault(network if a.by == "network" else name, []).append(int(index))
    clash = [n for n in groups if n in cfg.roi]
    if clash:
        raise ConfigError(f"atlas ROI {clash[0]!r} is also a [roi] mask's name, expected distinct names",
                          key="atlas.labels")
    if not groups:
        raise ConfigError(f"{path} has no label rows, expected one row per label of the atlas", key="atlas.labels")
    return groups


def read_atlas(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """The ``[atlas] image``: its integer labels (i, j, k) and voxel -> mm affine (blocking: a thread or the CLI).

    Raises
    ------
    ConfigError
        Not a readable NIfTI, not one 3-D volume, or labels that are not
        non-negative integers (key ``atlas.image``).
    """
    path = Path(cfg.atlas.image)
    try:
        image: Any = nib.load(path)
        data = np.asarray(image.dataobj)
        affine = np.asarray(image.affine, dtype=np.float64)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ConfigError(f"cannot read the atlas {path} as NIfTI ({exc})", key="atlas.image") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ConfigError(f"the atlas {path} has shape {data.shape}, expected one 3-D label volume", key="atlas.image")
    with np.errstate(invalid="ignore"):
        integral = np.all(np.isfinite(data)) and np.all(data >= 0) and np.all(np.rint(data) == data)
    if not integral or not np.all(np.isfinite(affine)):
        raise ConfigError(f"the atlas {path} holds labels that are not non-negative integers, expected a label image",
                          key="atlas.image")
    return np.rint(data).astype(np.int64), affine


def labels_on_grid(
    labels: np.ndarray, labels_affine: np.ndarray, shape: tuple[int, int, int], affine: np.ndarray
) -> np.ndarray:
    """A label volume taken onto another grid by nearest neighbour through the two affines (0 outside it).

    Each voxel ``v`` of the target grid (``shape``, voxel -> mm ``affine``)
    takes the label at ``round(inv(labels_affine) @ affine @ v)``: world mm
    to world mm, no registration, so the labels must already be in the
    scan's space (e.g. an atlas resampled to the subject's EPI or scanner
    space beforehand). Integer labels, shape ``shape``.
    """
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    to_labels = np.linalg.inv(labels_affine) @ affine
    source = np.rint(to_labels[:3, :3] @ ijk + to_labels[:3, 3:4]).astype(np.int64)
    inside = np.all((source >= 0) & (source < np.asarray(labels.shape)[:, None]), axis=0)
    out = np.zeros(ijk.shape[1], dtype=labels.dtype)
    out[inside] = labels[source[0, inside], source[1, inside], source[2, inside]]
    return out.reshape(shape)


def atlas_masks(cfg: Config, shape: tuple[int, int, int], affine: np.ndarray) -> dict[str, np.ndarray]:
    """The ``[atlas]`` ROIs as boolean masks on the EPI grid, named by network or region (:func:`atlas_groups`).

    Raises
    ------
    ConfigError
        The atlas or its labels cannot be used, or an ROI has no voxel on the
        EPI grid (off the field of view, or the atlas is not in the scan's
        space), naming it.
    """
    groups = atlas_groups(cfg)
    labels, labels_affine = read_atlas(cfg)
    on_grid = labels_on_grid(labels, labels_affine, shape, np.asarray(affine, dtype=np.float64))
    masks: dict[str, np.ndarray] = {}
    for name, indices in groups.items():
        mask = np.isin(on_grid, indices)
        if not mask.any():
            raise ConfigError(
                f"atlas ROI {name!r} (labels {indices}) has no voxel on the EPI grid: it is off the field of view, "
                "or the atlas is not in the scan's space", key="atlas.image",
            )
        masks[name] = mask
    return masks


def watch_source(
    cfg: Config,
    series: SeriesId | None = None,
    on_new_series: Literal["ignore", "new_run"] | None = None,
    barred: Iterable[SeriesId] = (),
) -> ScanWatcher:
    """The watch folder of ``cfg.acquire`` as a scan source, for ``series`` (None: the newest at start).

    ``barred``: series that never start a run (see :class:`nfd.acquire.ScanWatcher`).
    """
    a = cfg.acquire
    return ScanWatcher(
        a.watch_dir,
        naming=FileNaming(a.pattern),
        first_number=a.first_number,
        index_from=a.index_from,
        poll=a.poll,
        poll_interval=a.poll_interval,
        complete_timeout=a.complete_timeout,
        reorder_timeout=a.reorder_timeout,
        tr=cfg.run.tr,
        slices_per_volume=a.slices_per_volume or None,
        volume_from=a.volume_from,
        on_new_series=on_new_series or a.on_new_series,
        series=series,
        barred=barred,
        max_file_mb=a.max_file_mb,
        echoes=cfg.multiecho.echoes,
        echo_times_ms=tuple(cfg.multiecho.echo_times_ms) or None,
    )


def open_recording(path: Path, cfg: Config) -> RecordingSource:
    """A recorded run (a folder of scan files or a 4-D NIfTI) as a scan source, named as ``[acquire]`` says."""
    a = cfg.acquire
    try:
        return RecordingSource.open(
            path, naming=FileNaming(a.pattern), first_number=a.first_number,
            slices_per_volume=a.slices_per_volume or None, volume_from=a.volume_from,
            echo_times_ms=tuple(cfg.multiecho.echo_times_ms) or None,
        )
    except RecordingError as exc:
        raise ConfigError(str(exc), key="--input") from None


def load_design(cfg: Config) -> Design:
    """The block protocol of ``cfg.feedback.protocol``, over ``cfg.run.n_volumes`` volumes."""
    try:
        return load_protocol(
            cfg.feedback.protocol, n_volumes=cfg.run.n_volumes, skip_volumes=cfg.run.skip_volumes, tr=cfg.run.tr,
            baseline=cfg.feedback.baseline, session=cfg.feedback.session or None,
        )
    except DesignError as exc:  # a malformed protocol, or one that does not fit the run
        raise ConfigError(str(exc), key="feedback.protocol") from None


def read_template(path: Path) -> ScanImage:
    """The realignment reference of ``[volume] reference`` (blocking: call it from a thread)."""
    try:
        return read_scan(path)
    except ScanFileError as exc:
        raise ConfigError(f"cannot use {path} as the realignment reference: {exc}", key="volume.reference") from None


def load_eeg_model(cfg: Config) -> EegModel:
    """The ``[eeg] model``, checked against its sha256 (blocking: call it from a thread)."""
    try:
        return load_model(cfg.eeg.model, cfg.eeg.model_sha256)
    except ModelHashError as exc:
        raise ConfigError(str(exc), key="eeg.model_sha256") from None
    except EegError as exc:
        raise ConfigError(str(exc), key="eeg.model") from None


def check_eeg_targets(cfg: Config, model: EegModel, feedback: FeedbackComputer) -> None:
    """When the EEG feeds the feedback: ``eeg_target`` / ``eeg_weights`` against the model's targets.

    Raises
    ------
    ConfigError
        A name that is no target of the model, or no choice among several
        targets (the key: ``feedback.external.eeg_target`` or ``eeg_weights``).
    """
    e = cfg.feedback.external
    if cfg.feedback.type != "external" or e.source != "eeg" or not isinstance(feedback, ExternalFeedback):
        return
    try:
        feedback.check_targets(model.target_names)
    except FeedbackError as exc:
        raise ConfigError(str(exc), key="feedback.external." + ("eeg_weights" if e.eeg_weights else "eeg_target")
                          ) from None


def eeg_session(cfg: Config, model: EegModel, folder: Path) -> EegSession:
    """The run's EEG session with the ``[eeg]`` stream, marker and timing options."""
    e = cfg.eeg
    m = e.markers
    session = EegSession(
        model, name=e.name or None, type=e.type or None, source_id=e.source_id or None,
        interval=e.interval, run_folder=folder, markers=m.enabled, marker_name=m.name or None,
        marker_type=m.type or None, marker_source_id=m.source_id or None, timeout=e.timeout,
        retry_max=e.retry_max, buffer_seconds=e.buffer, stale_after=e.stale_after, max_gap=e.max_gap,
    )
    artifacts = eeg_artifacts(cfg)
    if artifacts is not None:
        session.inlet.artifacts = artifacts
        if session.marker_inlet is not None:
            session.marker_inlet.add_listener(session.inlet.add_marker)
    return session


def eeg_artifacts(cfg: Config) -> ArtifactSpec | None:
    """``[eeg.artifacts]`` as an :class:`~nfd.eeg.ArtifactSpec` (None when nothing is removed).

    The ECG channel is checked when the stream is found (its channels are known only then).
    """
    a = cfg.eeg.artifacts
    if not (a.gradient or a.bcg):
        return None
    if a.gradient and not cfg.eeg.markers.enabled:
        raise ConfigError("expected [eeg.markers] enabled: the gradient removal needs the triggers",
                          "eeg.artifacts.gradient")
    try:
        return ArtifactSpec(
            gradient=a.gradient, trigger=a.trigger, tr=a.tr or cfg.run.tr, slices=a.slices,
            template_epochs=a.template_epochs, bcg=a.bcg, ecg_channel=a.ecg_channel, template_beats=a.template_beats,
        )
    except EegError as exc:
        raise ConfigError(str(exc), key="eeg.artifacts") from None


def build_sinks(cfg: Config) -> list[Sink]:
    """The configured feedback sinks, not yet open."""
    fb = cfg.feedback
    sinks: list[Sink] = []
    if fb.udp.enabled:
        sinks.append(UdpSink(host=fb.udp.host, port=fb.udp.port, fmt=fb.udp.format,
                             send_condition=fb.udp.send_condition))
    if fb.serial.enabled:
        ser = fb.serial
        try:
            sinks.append(SerialSink(
                ser.port, baud=ser.baud, fmt=ser.format, queue_size=ser.queue_size,
                write_timeout=ser.write_timeout, retry_initial=ser.retry_initial, retry_max=ser.retry_max,
                must_exist=ser.must_exist,
            ))
        except OutputError as exc:
            raise ConfigError(str(exc), key="feedback.serial") from None
    return sinks


async def open_sinks(cfg: Config) -> list[Sink]:
    """The configured sinks, opened; one that cannot open is a config error naming its key (the others close)."""
    opened: list[Sink] = []
    try:
        for sink in build_sinks(cfg):
            try:
                await sink.open()
            except OutputError as exc:
                raise ConfigError(str(exc), key=sink.config_key) from None
            opened.append(sink)
    except BaseException:
        for sink in opened:
            await sink.close()
        raise
    return opened


async def start_web_server(cfg: Config, live: LiveState, controller: Controller) -> WebServer:
    """The operator's window on ``[web]``, started."""
    w = cfg.web
    try:
        server = WebServer(live, controller, host=w.host, port=w.port, token_file=w.token_file or None,
                           max_body=w.max_body, heartbeat=w.heartbeat)
        await server.start()
    except (WebConfigError, TokenFileError) as exc:
        raise ConfigError(str(exc), key="web") from None
    return server


def preflight(cfg: Config) -> None:
    """Every check ``nfd run`` makes before the first volume, opening nothing (blocking: a thread or the CLI).

    ``nfd check-config`` and ``nfd run`` both call it, so that what one
    accepts the other starts with: the design fits the run; the feedback
    kind, the signal chain, the quality and after-send options build; a
    decoder's and an EEG model's SHA-256 match (the files are read, never
    run when they do not), and the EEG targets the feedback names are the
    model's; a normative model's networks are among the ROIs;
    the atlas and its labels read; the realignment template reads and the
    ROI masks (and the atlas's ROIs) lie on its grid; the runs folder and the prefix can make a run folder;
    the web token file is private and usable; a serial port that must exist
    does, readable and writable by this user. Run it as the service user to
    catch permissions.

    Raises
    ------
    ConfigError
        The first problem, naming its key.
    """
    design = load_design(cfg)
    build_chains(cfg, design)
    build_quality(cfg, design)
    build_after_send(cfg, design)
    feedback = build_feedback(cfg, design)
    if cfg.atlas.image:
        read_atlas(cfg)
    if cfg.eeg.enabled:
        check_eeg_targets(cfg, load_eeg_model(cfg), feedback)
        eeg_artifacts(cfg)  # nfd run builds it with the session: refuse its settings here too
    if cfg.volume.reference != "first":
        template = read_template(Path(cfg.volume.reference))
        load_rois(cfg, template.data.shape[:3], template.affine)
    try:
        RunFolder.check(cfg.run.output_dir, prefix=cfg.run.prefix)
    except RunFolderError as exc:
        key = "run.prefix" if "prefix" in str(exc) else "run.output_dir"
        raise ConfigError(str(exc), key=key) from None
    if cfg.web.enabled and cfg.web.token_file:
        try:
            read_token_file(cfg.web.token_file)
        except TokenFileError as exc:
            raise ConfigError(str(exc), key="web.token_file") from None
    _check_serial_port(cfg)


def _check_serial_port(cfg: Config) -> None:
    ser = cfg.feedback.serial
    if not ser.enabled:
        return
    build_sinks(cfg)  # the options
    if not ser.must_exist:
        return
    if not os.path.exists(ser.port):
        raise ConfigError(
            f"serial port {ser.port} does not exist (plug the device in, or set must_exist = false to wait for it)",
            key="feedback.serial.port",
        )
    if not os.access(ser.port, os.R_OK | os.W_OK):
        raise ConfigError(
            f"serial port {ser.port} is not readable and writable by this user (add it to the port's group, "
            "e.g. dialout)",
            key="feedback.serial.port",
        )
