"""The configuration schema: typed, frozen dataclasses, one per TOML table.

Each field's ``metadata`` carries what the validator and ``etc/nfd.toml``
document: ``doc`` (one line), ``unit`` (when it has one), and bounds
(``min``, ``max``, ``min_exclusive``).  Paths are resolved against the
config file's folder by the loader; the dataclasses hold absolute paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nfd._errors import ConfigError

#: Siemens real-time export naming, ``001_SSSSSS_VVVVVV.dcm``.
SIEMENS_RT_PATTERN = r"^\d{3}_(?P<series>\d{6})_(?P<volume>\d{6})\.dcm$"


#: Default of the array options: empty and immutable, so that a Config stays hashable (the loader gives lists).
_NO_ITEMS: Any = ()


def _meta(doc: str, unit: str | None = None, **bounds: float) -> dict[str, Any]:
    """A field's metadata: its one-line ``doc``, its ``unit`` and its bounds."""
    return {"doc": doc, "unit": unit, **bounds}


def _opt(default: Any, doc: str, unit: str | None = None, **bounds: float) -> Any:
    """An optional field of an immutable type (fields of other types call ``field`` with :func:`_meta`)."""
    return field(default=default, metadata=_meta(doc, unit, **bounds))


def _req(doc: str, unit: str | None = None, **bounds: float) -> Any:
    """A required field of an immutable type."""
    return field(metadata=_meta(doc, unit, **bounds))


@dataclass(frozen=True)
class RunConfig:
    """``[run]``: the run as a whole."""

    tr: float = _req("repetition time", "s", min_exclusive=0.0, max=60.0)
    n_volumes: int = _req(
        "volumes in the run, skipped ones included; the run ends after the last", "volumes", min=1, max=100000
    )
    output_dir: Path = field(default=Path("runs"), metadata=_meta("folder in which each run gets its own folder"))
    prefix: str = _opt("run", "prefix of each run folder's name")
    skip_volumes: int = _opt(0, "initial volumes read but not processed (T1 saturation)", "volumes", min=0, max=100000)
    save_raw: bool = _opt(False, "also write the raw volumes as a 4-D raw.nii.gz at the end")


@dataclass(frozen=True)
class AcquireConfig:
    """``[acquire]``: the watch folder and how scan files are recognised."""

    watch_dir: Path = field(metadata=_meta("folder the scanner exports to"))
    pattern: str = _opt(
        SIEMENS_RT_PATTERN,
        "regular expression for scan file names, with a named group 'volume' (the acquisition number)",
    )
    first_number: int = _opt(1, "the number the scanner gives the first volume of a run", min=0, max=1000000)
    index_from: Literal["name", "header"] = _opt("name", "take the acquisition number from the file name or the header")
    poll: bool = _opt(False, "poll the folder instead of waiting for file events (SMB/NFS mounts)")
    poll_interval: float = _opt(0.1, "polling interval", "s", min=0.01, max=10.0)
    complete_timeout: float = _opt(
        10.0, "a file still incomplete this long after its last change is rejected", "s", min_exclusive=0.0, max=600.0
    )
    reorder_timeout: float = _opt(
        2.0, "how long later volumes wait for a missing earlier one before it is declared missing", "s",
        min=0.0, max=120.0
    )
    slices_per_volume: int = _opt(
        0, "single-slice series (GE, Philips): slices per volume (0: from the header)", "slices", min=0, max=1024
    )
    volume_from: Literal["auto", "temporal_position", "acquisition_number", "instance_number"] = _opt(
        "auto", "single-slice series: the header field that says which volume a slice belongs to"
    )
    on_new_series: Literal["ignore", "new_run"] = _opt(
        "ignore", "a file of another series is ignored, or ends this run and starts the next on that series"
    )
    max_file_mb: float = _opt(
        512.0,
        "a scan file larger than this is rejected unread, and gzipped content may not inflate beyond it",
        "MB",
        min=1.0,
        max=65536.0,
    )


@dataclass(frozen=True)
class VolumeConfig:
    """``[volume]``: realignment, reslicing and smoothing."""

    reference: str = _opt(
        "first", "realignment reference: 'first' (the first processed volume) or a NIfTI file on the EPI grid"
    )
    smooth_fwhm: float = _opt(5.0, "Gaussian smoothing kernel, full width at half maximum", "mm", min=0.0, max=50.0)
    pad_slices: int = _opt(
        0, "zero slices added at each end of the slab for realignment and reslicing (OpenNFT: 3)", "slices",
        min=0, max=16
    )
    edge_margin: float = _opt(
        2.5, "realignment leaves out the reference's sample points this close to the slab's first or last slice "
        "(0: SPM's, all points)", "slices", min=0.0, max=8.0
    )
    warm_start: bool = _opt(True, "start each volume's realignment from the previous estimate (OpenNFT: from none)")
    restart_after: int = _opt(
        16, "with warm_start, a volume needing more iterations than this (or max_iterations) is estimated again "
        "from no motion and the lower residual kept (0: never)", "iterations", min=0, max=1000
    )
    quality: float = _opt(
        0.9, "SPM's realignment quality: fraction of the information kept when dropping sample points (1: all)",
        min_exclusive=0.0, max=1.0
    )
    sep: float = _opt(4.0, "separation of the realignment's sample points (SPM's sep)", "mm", min=1.0, max=20.0)
    realign_fwhm: float = _opt(
        5.0, "Gaussian applied to both volumes before realignment, full width at half maximum", "mm",
        min=0.0, max=20.0
    )
    realign_degree: int = _opt(4, "B-spline degree of the realignment (SPM's interp)", min=2, max=4)
    reslice_degree: int = _opt(4, "B-spline degree of the reslicing (1: trilinear)", min=1, max=4)
    max_iterations: int = _opt(64, "Gauss-Newton iterations at most per volume", "iterations", min=1, max=1000)


@dataclass(frozen=True)
class MultiEchoConfig:
    """``[multiecho]``: the echoes of a multi-echo EPI and how they are combined into one volume."""

    echoes: int = _opt(1, "echoes per volume (1: a single-echo series)", "echoes", min=1, max=16)
    echo_times_ms: list[float] = field(
        default=_NO_ITEMS,
        metadata=_meta("echo times, used when the files do not carry them (empty: from the headers or sidecars)",
                       "ms"),
    )
    combine: str = _opt(
        "t2s", "'t2s' (Posse et al. 1999, from the online T2* map), 'paid' (Poser et al. 2006, from each echo's "
        "tSNR), 'fixed' (from t2star_map) or 'echo:N' (echo N alone)"
    )
    realign_echo: int = _opt(
        1, "the echo whose motion is estimated and applied to every echo (the first has the most signal and "
        "the sharpest edges)", min=1, max=16
    )
    t2s_volumes: int = _opt(
        10, "volumes over which the T2* map (and tSNR) is estimated before the weights are frozen", "volumes",
        min=1, max=100000
    )
    t2s_update: Literal["freeze", "running"] = _opt(
        "freeze", "after t2s_volumes: keep the weights, or update them from every volume"
    )
    t2star_map: str = _opt("", "combine 'fixed': a T2* map in ms on the EPI grid (e.g. from a pre-scan)")
    mask: str = _opt(
        "", "the voxels combined (0 elsewhere), a NIfTI file on the EPI grid (empty: those above 1/8 of the "
        "reference's mean, SPM's rule)"
    )


@dataclass(frozen=True)
class UdpConfig:
    """``[feedback.udp]``: feedback datagrams to a stimulus program."""

    enabled: bool = _opt(True, "send feedback over UDP")
    host: str = _opt("127.0.0.1", "receiver's host name or address")
    port: int = _opt(1234, "receiver's UDP port", min=1, max=65535)
    format: Literal["json", "float32", "opennft"] = _opt(
        "json", "datagram format: json (one object per volume), float32 (pyOpenNFT), opennft (OpenNFT's receivers)"
    )
    send_condition: bool = _opt(True, "opennft format: also send the condition name (BAS for baseline)")


@dataclass(frozen=True)
class SerialConfig:
    """``[feedback.serial]``: feedback to a device on a serial port."""

    enabled: bool = _opt(False, "send feedback to a serial port")
    port: str = _opt("/dev/ttyUSB0", "serial device; /dev/serial/by-id/... is found again after replugging")
    baud: int = _opt(115200, "baud rate", "bit/s", min=1, max=4000000)
    format: str = _opt(
        "ascii",
        "ascii (value and newline), binary (little-endian float32) or a template such as '{index},{feedback:.2f}\\n'",
    )
    queue_size: int = _opt(
        64, "messages held while the device is slow or gone (oldest dropped)", "messages", min=1, max=100000
    )
    write_timeout: float = _opt(0.5, "a write is abandoned after this long", "s", min_exclusive=0.0, max=60.0)
    retry_initial: float = _opt(0.5, "first reopen attempt after the port is lost", "s", min_exclusive=0.0, max=60.0)
    retry_max: float = _opt(8.0, "ceiling of the doubling reopen back-off", "s", min_exclusive=0.0, max=3600.0)
    must_exist: bool = _opt(True, "refuse to start when the port is absent (false: wait for it)")


FeedbackKind = Literal[
    "psc", "psc_intermittent", "correlation", "correlation_intermittent", "proxy", "decoder", "external", "normative"
]
SignalStage = Literal["", "raw", "glm", "ar1", "kalman", "scaled"]


@dataclass(frozen=True)
class ShapingConfig:
    """``[feedback.shaping]``: shaping reward for intermittent PSC."""

    enabled: bool = _opt(False, "psc_intermittent: reward blocks that beat the recent ones (shaping)")
    first_threshold: float = _opt(0.5, "PSC a first block must reach for a reward", "%")
    margin: float = _opt(0.1, "how far a block must beat the median of the previous ones", "%")
    history: int = _opt(3, "previous regulation blocks compared with", "blocks", min=1, max=100000)


@dataclass(frozen=True)
class CorrelationConfig:
    """``[feedback.correlation]``: connectivity by correlation."""

    window: int = _opt(20, "correlation: sliding window", "volumes", min=3, max=100000)
    pairs: list[list[str]] = field(
        default=_NO_ITEMS, metadata=_meta("ROI pairs correlated, e.g. [[\"left\", \"right\"]] (empty: every pair)")
    )


@dataclass(frozen=True)
class ProxyConfig:
    """``[feedback.proxy]``: the two-point connectivity proxy (Ramot & Gonzalez-Castillo 2019)."""

    targets: list[str] = field(
        default=_NO_ITEMS, metadata=_meta("target ROIs (2 to 4) whose changes must agree in sign")
    )
    control: str = _opt("", "control ROI whose change must have the opposite sign")
    min_agree: int = _opt(0, "targets that must agree (0: all)", min=0, max=100)
    consecutive: int = _opt(
        1, "consecutive changes an event needs; events do not overlap (nfd's rule; with points = 2 only)",
        "volumes", min=1, max=1000,
    )
    min_change_sd: float = _opt(
        0.0, "smallest change counted, in standard deviations of the changes", min=0.0, max=1000.0
    )
    points: int = _opt(
        2, "time points of the paper's rule: an event when each of the last points - 1 changes agrees; events "
        "overlap (with consecutive = 1 only)", min=2, max=4,
    )
    direction: Literal["any", "same"] = _opt(
        "any", "points or consecutive > 1: each change may go either way (any), or all the same way (same)"
    )

    def __post_init__(self) -> None:
        if self.points > 2 and self.consecutive > 1:
            raise ConfigError(
                f"expected 1 with points = {self.points} (the paper's overlapping rule); consecutive = "
                f"{self.consecutive} is the other, non-overlapping rule: set one of the two",
                "feedback.proxy.consecutive",
            )


@dataclass(frozen=True)
class DecoderConfig:
    """``[feedback.decoder]``: a scikit-learn model saved with joblib."""

    model: str = _opt("", "joblib file of the estimator (or pipeline with its scaler); or give weights")
    weights: str = _opt(
        "", "NIfTI weight map on the EPI grid: each ROI's voxels projected on it, through the signal chain, "
        "then OpenNFT's SVM rule (instead of model)"
    )
    sha256: str = _opt("", "the model's or weight map's SHA-256: a file with another hash is never loaded")
    input: Literal["means", "voxels"] = _opt("means", "what the model is fed each volume: ROI means or ROI voxels")
    output: Literal["auto", "decision", "probability", "prediction"] = _opt(
        "auto", "which output is the measure: decision value, class probability or prediction (auto: the first "
        "the model has)"
    )
    positive_class: str = _opt("", "class whose probability or decision value is the feedback (empty: the last)")


@dataclass(frozen=True)
class NormativeConfig:
    """``[feedback.normative]``: the normative autoencoder's reconstruction error of the window's network FC."""

    model: str = _opt("", "model folder written by nfd normative fit (model.npz and model.json)")
    sha256: str = _opt("", "the SHA-256 of its model.npz: a model with another hash is never used")
    window: int = _opt(30, "sliding window of the network FC", "volumes", min=3, max=100000)
    edges: list[str] = field(
        default=_NO_ITEMS,
        metadata=_meta("edge labels averaged into the measure, e.g. [\"som--vis\"] (empty: every edge of the model)"),
    )
    error: Literal["squared", "absolute"] = _opt(
        "squared", "per-edge reconstruction error, standardised units: squared or absolute"
    )


@dataclass(frozen=True)
class AtlasConfig:
    """``[atlas]``: a label atlas in the scan's space, brought onto the EPI grid at start; its ROIs join [roi]."""

    image: str = _opt(
        "", "label NIfTI (integer labels, 0 outside) already in the scan's world space: taken onto the EPI grid by "
        "nearest neighbour through the two affines, never registered (empty: no atlas)"
    )
    labels: str = _opt("", "TSV with the columns index, name, network: one row per label of the image")
    by: Literal["network", "region"] = _opt(
        "network", "one ROI per network (the union of its regions), or one per region, named by it"
    )


@dataclass(frozen=True)
class ExternalConfig:
    """``[feedback.external]``: feedback from a value pushed from outside."""

    source: str = _opt(
        "", "the external source feeding it: one of feedback.external_sources, or eeg (the EEG prediction)"
    )
    max_age_s: float = _opt(0.0, "older values are not used (0: no limit)", "s", min=0.0, max=3600.0)
    eeg_target: str = _opt(
        "", "with source eeg: the model's target used as the feedback (empty: the only one; a model with several "
        "targets needs this or eeg_weights)"
    )
    eeg_weights: dict[str, float] = field(
        default_factory=dict,
        metadata={"doc": "with source eeg: target = weight, the feedback being the weighted sum of the model's "
                         "predicted targets, e.g. {roi_left = 1, roi_right = -1} (exclusive with eeg_target)"},
    )


@dataclass(frozen=True)
class FeedbackConfig:
    """``[feedback]``: what is computed from the ROI signals."""

    protocol: Path = field(
        metadata=_meta("block protocol: OpenNFT protocol JSON, BIDS events.tsv or PyHRF paradigm CSV")
    )
    type: FeedbackKind = field(
        default="psc",
        metadata=_meta(
            "psc (every volume), psc_intermittent (end of each block), correlation, correlation_intermittent, "
            "proxy (two-point connectivity proxy), decoder (scikit-learn), external (pushed values), normative "
            "(a normative FC model's reconstruction error)"
        ),
    )
    signal: SignalStage = field(
        default="",
        metadata=_meta("stage of the ROI signal chain the feedback is computed from (empty: the type's default)"),
    )
    session: int = _opt(0, "PyHRF paradigm: the session to read (0: the file's only session)", min=0, max=1000)
    baseline: str = _opt("BAS", "name of the baseline condition")
    delay: int = _opt(
        2, "volumes left out at the start of each baseline block (haemodynamic delay)", "volumes", min=0, max=1000
    )
    combine: Literal["mean", "median", "max", "min"] = _opt("mean", "how the ROIs' values are combined")
    reference: Literal["preceding", "opennft"] = _opt(
        "preceding",
        "psc, psc_intermittent: the baseline compared with: the mean of the preceding baseline block (after delay), "
        "or OpenNFT's medians (cumulative baseline blocks from their 3rd volume; a block's last 7 volumes)",
    )
    decimals: int = _opt(-1, "round the value sent to this many decimals, halves away from zero as MATLAB "
                         "(-1: not rounded)", min=-1, max=15)
    gain: float = _opt(1.0, "feedback = clip(gain * combined PSC, min, max)")
    min: float = _opt(-100.0, "lowest feedback value sent")
    max: float = _opt(100.0, "highest feedback value sent")
    stale_after: float = _opt(
        0.0, "a volume whose file was written longer ago is processed and recorded but not sent (0: two TRs, at "
        "least 1 s)", "s",
        min=0.0, max=3600.0,
    )
    external_sources: list[str] = field(
        default=_NO_ITEMS,
        metadata=_meta(
            "names of additional feedback sources whose values programs may POST to /api/v1/feedback/sources/NAME"
        ),
    )
    shaping: ShapingConfig = field(default_factory=ShapingConfig, metadata={"doc": "shaping"})
    correlation: CorrelationConfig = field(default_factory=CorrelationConfig, metadata={"doc": "correlation"})
    proxy: ProxyConfig = field(default_factory=ProxyConfig, metadata={"doc": "two-point proxy"})
    decoder: DecoderConfig = field(default_factory=DecoderConfig, metadata={"doc": "decoder"})
    external: ExternalConfig = field(default_factory=ExternalConfig, metadata={"doc": "external source"})
    normative: NormativeConfig = field(default_factory=NormativeConfig, metadata={"doc": "normative FC model"})
    udp: UdpConfig = field(default_factory=UdpConfig, metadata={"doc": "UDP output"})
    serial: SerialConfig = field(default_factory=SerialConfig, metadata={"doc": "serial output"})


@dataclass(frozen=True)
class SignalConfig:
    """``[signal]``: the per-ROI signal chain (cumulative GLM, AR(1), Kalman, scaling)."""

    profile: Literal["nfd", "opennft"] = _opt(
        "nfd", "the values the options start from: nfd's defaults, or OpenNFT's MATLAB chain, feedback and "
        "realignment (options written in this file override them)"
    )
    opennft_version: Literal["current", "1.0"] = _opt(
        "current", "profile opennft: OpenNFT's code since 2020, or its 1.0 release (Kalman noise, 1.0's display)"
    )

    high_pass_s: float = _opt(128.0, "DCT high-pass cut-off period (0: none)", "s", min=0.0, max=100000.0)
    stage_volumes: int = _opt(
        0, "volumes per GLM stage (0: OpenNFT's, task regressors + 8)", "volumes", min=0, max=100000
    )
    motion_regressors: bool = _opt(True, "the six z-scored motion parameters as nuisance regressors")
    ar1: float = _opt(0.2, "AR(1) coefficient a: y'(t) = y(t) - a y'(t-1)", min=0.0, max=0.99)
    kalman_q: float = _opt(0.25, "Kalman process noise Q, in units of the series' variance", min_exclusive=0.0, max=1e6)
    kalman_r: float = _opt(
        1.0, "Kalman measurement noise R, in units of the series' variance", min_exclusive=0.0, max=1e6
    )
    kalman_threshold: float = _opt(0.9, "spike threshold, in standard deviations", min_exclusive=0.0, max=1e6)
    scaling_warmup: int = _opt(20, "volumes scaled by min and max before the 5 % medians", "volumes", min=1, max=100000)
    scaling_fraction: float = _opt(0.05, "top and bottom fraction whose medians give the range", min_exclusive=0.0,
                                   max=0.5)
    scaling_floor: float = _opt(0.005, "smallest scaling range, as a fraction of the mean", min=0.0, max=1e6)
    scaling_window: int = _opt(0, "scale over the last N volumes only (0: the whole run)", "volumes", min=0, max=100000)
    ar1_placement: Literal["after_glm", "prewhiten"] = _opt(
        "after_glm", "AR(1) on the GLM's output, or OpenNFT's prewhitening of the series and regressors before it"
    )
    first_motion_epsilon: bool = _opt(False, "OpenNFT's 1e-5 added to the first volume's motion before z-scoring")
    kalman_zero_sd: Literal["pass", "opennft"] = _opt(
        "pass", "Kalman on a zero SD (the first volume): a plain update, or OpenNFT's negative-spike hold"
    )
    task_kept: Literal["all", "last"] = _opt(
        "all", "task fits kept in the GLM's output: all, or the last (OpenNFT 1.0)"
    )
    task_regressor: Literal["nfd", "spm"] = _opt(
        "nfd", "task regressors: nfd's (the design's HRF at the TR), or SPM's design as OpenNFT builds it"
    )
    spm_t0: int = _opt(1, "task_regressor spm: microtime onset T0 of 16 bins (OpenNFT 1, SPM's default 8)",
                       min=1, max=16)
    hrf: str = _opt(
        "", "an HRF TSV file (time_s, then one column per HRF; nfd hrf estimate writes one) whose response "
        "replaces SPM's canonical HRF in the task regressors and the iGLM ('': SPM's; not with task_regressor spm, "
        "which reproduces SPM's design and keeps its HRF)"
    )
    hrf_column: str = _opt("", "the column of the hrf file to use ('': its only one; required when it has several)")


@dataclass(frozen=True)
class QualityConfig:
    """``[quality]``: real-time quality thresholds (crossings are logged and counted)."""

    fd_mm: float = _opt(0.5, "framewise displacement threshold (Power et al. 2012; 0: off)", "mm", min=0.0, max=100.0)
    md_mm: float = _opt(0.2, "micro-displacement threshold (0: off)", "mm", min=0.0, max=100.0)
    dvars_percent: float = _opt(5.0, "DVARS threshold, percent of the mean signal (0: off)", "%", min=0.0, max=1000.0)
    tsnr_min: float = _opt(0.0, "lowest acceptable ROI tSNR (0: off)", min=0.0, max=1e6)
    tsnr_warmup: int = _opt(10, "volumes before the tSNR threshold is checked", "volumes", min=0, max=100000)
    voxelwise: bool = _opt(True, "keep per-voxel tSNR (written as tsnr.nii.gz at the end)")


@dataclass(frozen=True)
class IglmConfig:
    """``[iglm]``: the whole-brain incremental GLM (Bagarinao et al. 2003), run after feedback is sent."""

    enabled: bool = _opt(True, "t-map of the task contrast, updated every volume, written as tmap.nii.gz")
    contrast: dict[str, float] = field(
        default_factory=dict,
        metadata={"doc": "condition = weight, e.g. {NFBREG = 1} (empty: every condition against baseline)"},
    )
    high_pass_s: float = _opt(128.0, "DCT high-pass cut-off period (0: none)", "s", min=0.0, max=100000.0)
    motion: bool = _opt(True, "the motion parameters as nuisance regressors")


@dataclass(frozen=True)
class EegMarkersConfig:
    """``[eeg.markers]``: an LSL marker stream recorded beside the EEG."""

    enabled: bool = _opt(True, "record a marker stream (scanner triggers, task events) into eeg_markers.tsv")
    name: str = _opt("", "LSL stream name")
    type: str = _opt("Markers", "LSL stream type")
    source_id: str = _opt("", "LSL source id")


@dataclass(frozen=True)
class EegArtifactsConfig:
    """``[eeg.artifacts]``: MR artifact removal at the stream's rate, before the low-pass and decimation."""

    gradient: bool = _opt(False, "remove gradient artifacts by average artifact subtraction on the volume triggers")
    trigger: str = _opt("R128", "marker value of a volume trigger in the [eeg.markers] stream")
    tr: float = _opt(0.0, "time between volume triggers (0: [run] tr)", "s", min=0.0, max=60.0)
    slices: int = _opt(1, "epochs per volume: 1, or the slices (evenly spaced over the TR)", min=1, max=1000)
    template_epochs: int = _opt(30, "epochs averaged into the gradient template", "epochs", min=1, max=1000)
    bcg: bool = _opt(False, "remove the ballistocardiogram by average artifact subtraction on ECG R peaks")
    ecg_channel: str = _opt("ECG", "the ECG channel's name in the stream (checked when the stream is found)")
    template_beats: int = _opt(30, "heartbeats averaged into the BCG template", "beats", min=1, max=1000)


@dataclass(frozen=True)
class EegConfig:
    """``[eeg]``: EEG over LSL and the fMRI signal predicted from it (the EEG fingerprint)."""

    enabled: bool = _opt(False, "read an EEG stream and predict the modelled fMRI signal")
    name: str = _opt("", "LSL stream name (at least one of name, type, source_id)")
    type: str = _opt("EEG", "LSL stream type")
    source_id: str = _opt("", "LSL source id, the most specific")
    model: str = _opt("", "model file written by nfd eeg fit (channels, rate, window, bands and delays are in it)")
    model_sha256: str = _opt("", "the model file's SHA-256: a file with another hash is never loaded")
    interval: float = _opt(0.5, "seconds between periodic predictions (0: on every chunk)", "s", min=0.0, max=60.0)
    timeout: float = _opt(1.0, "seconds per attempt to find the stream", "s", min_exclusive=0.0, max=3600.0)
    retry_max: float = _opt(
        5.0, "longest back-off between attempts to find a lost stream", "s", min_exclusive=0.0, max=3600.0
    )
    buffer: float = _opt(60.0, "preprocessed EEG kept in memory (at least the model's window + 1 s)", "s",
                         min_exclusive=0.0, max=3600.0)
    stale_after: float = _opt(1.0, "newest sample older than this: EEG is missing", "s", min_exclusive=0.0, max=3600.0)
    max_gap: float = _opt(0.1, "a window may overrun its length by this before it counts as spanning a gap", "s",
                          min=0.0, max=60.0)
    markers: EegMarkersConfig = field(default_factory=EegMarkersConfig, metadata={"doc": "marker stream"})
    artifacts: EegArtifactsConfig = field(
        default_factory=EegArtifactsConfig, metadata={"doc": "MR artifact removal"}
    )


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: the live page, WebSocket and REST API."""

    enabled: bool = _opt(True, "serve the live page, /ws and /api/v1 while nfd run runs")
    host: str = _opt("127.0.0.1", "address to bind; any other than loopback requires token_file")
    port: int = _opt(8080, "TCP port (0: any free port)", min=0, max=65535)
    token_file: str = _opt(
        "", "file holding the bearer token (16+ URL-safe characters); empty: no token (loopback only)"
    )
    client_queue: int = _opt(
        256, "messages a WebSocket client may lag before it is dropped", "messages", min=1, max=100000
    )
    max_body: int = _opt(16384, "largest request body accepted", "bytes", min=64, max=67108864)
    heartbeat: float = _opt(20.0, "WebSocket ping interval", "s", min=0.5, max=3600.0)


@dataclass(frozen=True)
class LogConfig:
    """``[log]``: structured logs on standard output."""

    format: Literal["json", "console"] = _opt("json", "json lines (for journald) or console (for a person)")
    level: Literal["debug", "info", "warning", "error"] = _opt("info", "least severe level written")


@dataclass(frozen=True)
class Config:
    """The whole configuration, as read from one TOML file."""

    run: RunConfig = field(metadata={"doc": "the run"})
    acquire: AcquireConfig = field(metadata={"doc": "scan input"})
    feedback: FeedbackConfig = field(metadata={"doc": "feedback"})
    volume: VolumeConfig = field(default_factory=VolumeConfig, metadata={"doc": "volume processing"})
    multiecho: MultiEchoConfig = field(default_factory=MultiEchoConfig, metadata={"doc": "multi-echo EPI"})
    roi: dict[str, Path] = field(
        default_factory=dict, metadata={"doc": "ROI masks: name = NIfTI file on the EPI grid"}
    )
    atlas: AtlasConfig = field(default_factory=AtlasConfig, metadata={"doc": "atlas ROIs"})
    signal: SignalConfig = field(default_factory=SignalConfig, metadata={"doc": "ROI signal chain"})
    quality: QualityConfig = field(default_factory=QualityConfig, metadata={"doc": "quality thresholds"})
    iglm: IglmConfig = field(default_factory=IglmConfig, metadata={"doc": "whole-brain GLM"})
    eeg: EegConfig = field(default_factory=EegConfig, metadata={"doc": "EEG"})
    web: WebConfig = field(default_factory=WebConfig, metadata={"doc": "operator's window"})
    log: LogConfig = field(default_factory=LogConfig, metadata={"doc": "logging"})
    #: The folder the config file was read from (relative paths resolve against it).
    source: Path | None = field(default=None, metadata={"internal": True})
    #: Options ``[signal] profile`` set ("table.key", value), and those the file overrode, in the file's values.
    profile_applied: tuple[tuple[str, Any], ...] = field(default=(), metadata={"internal": True})
    profile_overridden: tuple[tuple[str, Any], ...] = field(default=(), metadata={"internal": True})
