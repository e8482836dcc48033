"""One ROI's signal chain, volume by volume: cumulative GLM, AR(1), Kalman despiking, scaling."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import check_bool, check_option, ensure_float, ensure_int
from nfd.design import Design, SampledHrf, opennft_onoffsets, spm_block_regressors
from nfd.timeseries._ar1 import ar1_filter_columns, ar1_step, check_ar1_coefficient
from nfd.timeseries._errors import TimeseriesError
from nfd.timeseries._glm import glm_clean, glm_stage, nuisance_regressors
from nfd.timeseries._kalman import KalmanSettings, KalmanState, kalman_step
from nfd.timeseries._scaling import ScalingSettings, scale_value, scaling_limits

__all__ = [
    "AR1_PLACEMENTS", "CHAIN_COLUMNS", "OPENNFT_FIRST_MOTION", "TASK_KEPT", "TASK_REGRESSORS", "ChainOptions",
    "ChainStep", "SignalChain",
]

#: Number of nuisance regressors OpenNFT counts in its stage length (constant, trend, 6 motion).
_OPENNFT_NUISANCE_COUNT = 8


#: Values of :attr:`ChainOptions.ar1_placement`: nfd's default first.
AR1_PLACEMENTS: tuple[str, ...] = ("after_glm", "prewhiten")
#: Values of :attr:`ChainOptions.task_kept`.
TASK_KEPT: tuple[str, ...] = ("all", "last")
#: Values of :attr:`ChainOptions.task_regressor`.
TASK_REGRESSORS: tuple[str, ...] = ("nfd", "spm")
#: OpenNFT's first-volume motion value (``preprSig.m``: ``P.motCorrParam(1,:) = 0.00001``), mm and radians.
OPENNFT_FIRST_MOTION = 1e-5
#: SPM's microtime resolution ``fMRI_T`` used for ``task_regressor = "spm"`` (bins per TR).
_SPM_MICROTIME = 16


def _first_motion(value: object) -> float | None:
    """``first_motion_epsilon`` of a table: true -> OpenNFT's 1e-5, false / 0 / None -> None, else the number."""
    if value is None or value is False or (value == 0 and value is not True):
        return None
    if value is True:
        return OPENNFT_FIRST_MOTION
    return value  # type: ignore[return-value]  # checked by ChainOptions


@dataclass(frozen=True)
class ChainOptions:
    """Settings of :class:`SignalChain` (nfd's defaults; see each for OpenNFT's).

    Attributes
    ----------
    high_pass_s : float or None
        Cut-off period of the DCT high-pass entered at GLM stage 4, seconds
        (SPM's 128); None for none. The high-pass in the cumulative GLM is
        nfd's choice: OpenNFT's cGLM has none (its DCT set goes only to the
        whole-brain iGLM, ``opennft/matlab/nfbPreprVol/preprVol.m``).
    stage_volumes : int or None
        Volumes per GLM stage; None for OpenNFT's ``regrStep``: the number
        of task regressors + 8.
    motion_regressors : bool
        Enter the six z-scored motion parameters at GLM stage 3.
    ar1 : float
        AR(1) coefficient ``a`` in ``[0, 1)`` (0 disables the filter;
        OpenNFT's ``P.aAR1 = 0.2``).
    kalman : KalmanSettings
        Noise and threshold factors of the Kalman despiker, and its rule for
        a zero SD (:attr:`KalmanSettings.zero_sd`).
    scaling : ScalingSettings
        Dynamic scaling settings.
    ar1_placement : str
        ``"after_glm"`` (nfd's default): the AR(1) filter runs on the GLM's
        output and feeds the Kalman filter. ``"prewhiten"`` (OpenNFT's
        ``opennft/matlab/nfbPreprSig/preprSig.m`` with ``cglmAR1``): the
        raw series is filtered recursively, one new sample per volume, and
        so is every regressor (``opennft/matlab/utils/arRegr.m``): the
        nuisance columns (the constant, which is then not constant, the
        trend, the z-scored motion, a high-pass if any) are refiltered every
        volume, after the motion's z-scoring over the volumes so far; the
        task columns once, over the whole run (``setupProcParams.m``). The
        GLM fits the filtered series and the Kalman filter gets its output
        directly.
    first_motion_epsilon : float or None
        When a number (OpenNFT: 1e-5, mm and radians), it is added to the
        six motion parameters of the first recorded volume before they are
        z-scored: OpenNFT's ``preprSig.m`` sets that row, 0 in its frame
        (motion relative to the first processed volume), to 1e-5, so a
        still parameter is not a zero column; adding gives the same fit in
        any frame (the z-score removes a per-column offset). None (nfd's
        default): the row as estimated.
    task_kept : str
        ``"all"`` (nfd's default, and OpenNFT since 2019): the fit of every
        task column is kept in the GLM's output. ``"last"`` (OpenNFT 1.0,
        ``matlab/nfbPreprSig/preprSig.m``: ``[betaReg(1:end-1); 0]``): only
        the last column's fit is kept; the other task columns are removed
        as nuisance.
    task_regressor : str
        ``"nfd"`` (default): the design's own regressors
        (:meth:`nfd.design.Design.task_regressors`). ``"spm"``: built as
        SPM12 builds them for OpenNFT (``opennft/matlab/setupSPM.m``) from
        the design's blocks (:func:`nfd.design.spm_block_regressors`: onsets
        in scans one scan late, microtime 16, sampled at ``spm_t0``).
    spm_t0 : int
        SPM's ``fMRI_T0`` for ``task_regressor = "spm"``, 1 to 16: 1
        (OpenNFT since 2019) or 8 (SPM's default; OpenNFT's 2019 inline
        design and 1.0's user ``SPM.mat``).
    hrf : SampledHrf or None
        With ``task_regressor = "nfd"``, the response (e.g. the subject's,
        read by :func:`nfd.design.read_hrf_tsv`) whose kernel replaces SPM's
        canonical HRF in the design's regressors
        (``design.task_regressors(tr, hrf=hrf)``); None (default) for SPM's.
        Not with ``"spm"``, which reproduces SPM's design and its HRF.
    """

    high_pass_s: float | None = 128.0
    stage_volumes: int | None = None
    motion_regressors: bool = True
    ar1: float = 0.2
    kalman: KalmanSettings = field(default_factory=KalmanSettings)
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    ar1_placement: str = "after_glm"
    first_motion_epsilon: float | None = None
    task_kept: str = "all"
    task_regressor: str = "nfd"
    spm_t0: int = 1
    hrf: SampledHrf | None = None

    def __post_init__(self) -> None:
        if self.high_pass_s is not None:
            ensure_float(self.high_pass_s, "high_pass_s (seconds)", positive=True, error=TimeseriesError)
        if self.stage_volumes is not None:
            ensure_int(self.stage_volumes, "stage_volumes", minimum=1, error=TimeseriesError)
        check_bool(self.motion_regressors, "motion_regressors", error=TimeseriesError)
        check_ar1_coefficient(self.ar1)
        if not isinstance(self.kalman, KalmanSettings):
            raise TimeseriesError(f"kalman must be a KalmanSettings, got {type(self.kalman).__name__}")
        if not isinstance(self.scaling, ScalingSettings):
            raise TimeseriesError(f"scaling must be a ScalingSettings, got {type(self.scaling).__name__}")
        self.kalman.checked()
        self.scaling.checked()
        check_option("ar1_placement", self.ar1_placement, AR1_PLACEMENTS, error=TimeseriesError)
        if self.first_motion_epsilon is not None:
            ensure_float(
                self.first_motion_epsilon, "first_motion_epsilon (mm, radians)", positive=True, error=TimeseriesError
            )
        check_option("task_kept", self.task_kept, TASK_KEPT, error=TimeseriesError)
        check_option("task_regressor", self.task_regressor, TASK_REGRESSORS, error=TimeseriesError)
        ensure_int(self.spm_t0, "spm_t0 (microtime bin)", minimum=1, maximum=_SPM_MICROTIME, error=TimeseriesError)
        if self.hrf is not None and not isinstance(self.hrf, SampledHrf):
            raise TimeseriesError(f"hrf must be a SampledHrf (nfd.design.read_hrf_tsv), got {type(self.hrf).__name__}")
        if self.hrf is not None and self.task_regressor == "spm":
            raise TimeseriesError(
                "expected no HRF with task_regressor 'spm' (SPM's design as OpenNFT builds it keeps SPM's HRF)"
            )

    #: Keys of :meth:`from_table` (a flat TOML table).
    TABLE_KEYS: ClassVar[tuple[str, ...]] = (
        "high_pass_s", "stage_volumes", "motion_regressors", "ar1", "kalman_q", "kalman_r", "kalman_threshold",
        "scaling_warmup", "scaling_fraction", "scaling_floor", "scaling_window",
        "ar1_placement", "first_motion_epsilon", "kalman_zero_sd", "task_kept", "task_regressor", "spm_t0",
    )

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> ChainOptions:
        """Options from a flat table of plain values (e.g. TOML's ``[signal]``).

        Keys (all optional, :attr:`TABLE_KEYS`): ``high_pass_s`` (s; 0 or
        false: no high-pass), ``stage_volumes`` (0: OpenNFT's), ``motion_regressors``,
        ``ar1``, ``kalman_q``, ``kalman_r``, ``kalman_threshold`` (multiples
        of the SD), ``scaling_warmup`` (volumes), ``scaling_fraction``,
        ``scaling_floor`` (fraction of the mean), ``scaling_window``
        (volumes; 0: none), ``ar1_placement`` (``"after_glm"`` or
        ``"prewhiten"``), ``first_motion_epsilon`` (true: OpenNFT's 1e-5;
        a number; false or 0: none), ``kalman_zero_sd`` (``"pass"`` or
        ``"opennft"``), ``task_kept`` (``"all"`` or ``"last"``),
        ``task_regressor`` (``"nfd"`` or ``"spm"``), ``spm_t0`` (1 to 16).

        Raises
        ------
        TimeseriesError
            For an unknown key (the message lists the known ones) or a bad value.

        Examples
        --------
        >>> from nfd.timeseries import ChainOptions
        >>> options = ChainOptions.from_table({"ar1": 0.0, "high_pass_s": 0, "kalman_threshold": 1.2})
        >>> options.ar1, options.high_pass_s, options.kalman.threshold
        (0.0, None, 1.2)
        >>> opennft = ChainOptions.from_table({"ar1_placement": "prewhiten", "first_motion_epsilon": True})
        >>> opennft.ar1_placement, opennft.first_motion_epsilon
        ('prewhiten', 1e-05)
        """
        unknown = sorted(set(table) - set(cls.TABLE_KEYS))
        if unknown:
            raise TimeseriesError(f"unknown signal option(s) {unknown}; expected some of {list(cls.TABLE_KEYS)}")
        defaults = cls()

        def off_if_zero(key: str, default: Any) -> Any:
            value = table.get(key, default)
            return None if value is False or (value == 0 and value is not True) else value

        kalman = KalmanSettings(
            table.get("kalman_q", defaults.kalman.q),
            table.get("kalman_r", defaults.kalman.r),
            table.get("kalman_threshold", defaults.kalman.threshold),
            table.get("kalman_zero_sd", defaults.kalman.zero_sd),
        )
        scaling = ScalingSettings(
            table.get("scaling_warmup", defaults.scaling.warmup),
            table.get("scaling_fraction", defaults.scaling.fraction),
            table.get("scaling_floor", defaults.scaling.floor),
            off_if_zero("scaling_window", defaults.scaling.window),
        )
        plain = ("motion_regressors", "ar1", "ar1_placement", "task_kept", "task_regressor", "spm_t0")
        return cls(
            high_pass_s=off_if_zero("high_pass_s", defaults.high_pass_s),
            stage_volumes=off_if_zero("stage_volumes", defaults.stage_volumes),
            kalman=kalman,
            scaling=scaling,
            first_motion_epsilon=_first_motion(table.get("first_motion_epsilon", defaults.first_motion_epsilon)),
            **{key: table.get(key, getattr(defaults, key)) for key in plain},
        )


def _seen(task: np.ndarray) -> np.ndarray:
    """The task columns not all zero so far (a condition not met yet is left out of the fit)."""
    seen = np.any(task != 0.0, axis=0)
    return task if seen.all() else task[:, seen]


#: Columns of :meth:`SignalChain.table`, in order.
CHAIN_COLUMNS: tuple[str, ...] = (
    "index", "raw", "glm", "ar1", "kalman", "scaled", "spike", "scale_lo", "scale_hi", "stage",
)


class ChainStep(NamedTuple):
    """Every intermediate value of one volume through the chain.

    Attributes
    ----------
    index : int
        0-based acquisition index.
    raw : float
        The ROI value given (signal units).
    glm : float
        After the cumulative GLM: nuisance removed, task kept (signal units,
        mean about 0).
    ar1 : float
        After the AR(1) filter (signal units): the GLM's output filtered
        (``ar1_placement = "after_glm"``, the Kalman filter's input), or the
        raw value filtered (``"prewhiten"``, the GLM's input).
    kalman : float
        After Kalman despiking and low-pass filtering (signal units).
    scaled : float
        ``kalman`` scaled by the dynamic limits (unitless, mostly in [0, 1]).
    spike : int
        +1 / -1 when the Kalman step held back a spike of that sign, else 0.
    scale_lo, scale_hi : float
        The scaling limits (signal units).
    stage : int
        The GLM stage (1 constant, 2 + trend, 3 + motion, 4 + task and nfd's
        high-pass if any).
    """

    # the domain's name for the field; a NamedTuple field shadows tuple.index, as intended here
    index: int  # type: ignore[assignment]
    raw: float
    glm: float
    ar1: float
    kalman: float
    scaled: float
    spike: int
    scale_lo: float
    scale_hi: float
    stage: int

    def as_record(self) -> dict[str, Any]:
        """The step as a dict of plain numbers (for ``volumes.jsonl``)."""
        return self._asdict()


def _check_tr(tr: float) -> float:
    return ensure_float(tr, "tr (seconds)", positive=True, error=TimeseriesError)


class SignalChain:
    """An ROI's signal processing after OpenNFT's, for one ROI, causal, one volume at a time.

    Every volume, with the series so far (volumes after the skipped ones):

    1. cumulative GLM (OpenNFT's ``opennft/matlab/nfbPreprSig/preprSig.m``,
       Koush et al., 2017, NeuroImage 156:489): regressors entered in stages
       of ``stage_volumes`` volumes (see :func:`nfd.timeseries.glm_stage`):
       constant; + linear trend; + the six motion parameters z-scored;
       + the design's task regressors (HRF-convolved) and, nfd's default
       not OpenNFT's, SPM's DCT high-pass (``high_pass_s``). The whole
       series is refitted, the nuisance fit removed and the task fit kept;
       the value is the last point (:func:`nfd.timeseries.glm_clean`);
    2. AR(1): ``y'_1 = (1 - a) y_1``, ``y'_t = y_t - a y'_{t-1}``, by
       default on the GLM's output; with ``ar1_placement = "prewhiten"``,
       as OpenNFT, on the raw series and every regressor before the GLM
       (see :class:`ChainOptions`);
    3. modified Kalman filter (Koush et al., 2012, NeuroImage 59:478):
       ``Q = 0.25 sd**2``, ``R = sd**2``, threshold ``0.9 sd``, ``sd`` the
       sample SD of the Kalman filter's input so far; a spike is held back
       once per direction (:func:`nfd.timeseries.kalman_step`);
    4. dynamic scaling (:func:`nfd.timeseries.scaling_limits`) with a floor
       of ``floor * mean(raw so far)``.

    Cost: the GLM at volume 150 with ~20 regressors is a least-squares
    fit of a 150 x 20 matrix by Cholesky; a whole update takes about
    0.15 ms there (``tools/bench_signal.py``); the rest is O(1) but for
    the sort of the scaling (O(n log n), microseconds). Prewhitening adds
    one O(n p) filter pass over the nuisance columns per volume.

    Volumes must come in increasing index order; gaps (dropped volumes) are
    allowed: the trend and high-pass use the true positions, the filters
    run over the values received. A non-finite raw value is not recorded
    (its step is all NaN). Only :meth:`update` changes state; one instance
    per ROI, not shared between threads without a lock.

    Parameters
    ----------
    design : nfd.design.Design
        The run's design: number of volumes, skipped volumes, labels, task
        regressors.
    tr : float
        Repetition time, seconds.
    options : ChainOptions
        See :class:`ChainOptions`.

    Raises
    ------
    TimeseriesError
        If `tr` is not positive or the design's regressors do not have one
        row per volume.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.design import Design
    >>> from nfd.timeseries import SignalChain
    >>> design = Design.from_blocks(60, [("UP", 20, 29), ("UP", 40, 49)], skip_volumes=2)
    >>> chain = SignalChain(design, tr=2.0)
    >>> rng = np.random.default_rng(0)
    >>> for index in range(2, 60):
    ...     step = chain.update(index, 1000.0 + rng.normal(), np.zeros(6))
    >>> step.index, step.stage, sorted(chain.table())[:3]
    (59, 4, ['ar1', 'glm', 'index'])
    """

    def __init__(self, design: Design, tr: float, options: ChainOptions | None = None) -> None:
        self._tr = _check_tr(tr)
        self._options = ChainOptions() if options is None else options
        if not isinstance(self._options, ChainOptions):
            raise TimeseriesError(f"options must be a ChainOptions, got {type(self._options).__name__}")
        n_volumes = operator.index(design.n_volumes)
        skip = operator.index(design.skip_volumes)
        task = self._task_columns(design, n_volumes, skip)
        if task.ndim != 2 or task.shape[0] != n_volumes:
            raise TimeseriesError(
                f"the design's task regressors must have shape ({n_volumes}, q), got {task.shape}"
            )
        labels = np.asarray(design.labels)
        if labels.shape != (n_volumes,):
            raise TimeseriesError(f"the design's labels must have shape ({n_volumes},), got {labels.shape}")
        self._n_volumes = n_volumes
        self._skip = skip
        self._task = task
        self._prewhiten = self._options.ar1_placement == "prewhiten"
        # the GLM's task columns: OpenNFT filters them once, over the whole run after the skipped volumes
        self._task_model = task.copy()
        if self._prewhiten:
            self._task_model[skip:] = ar1_filter_columns(task[skip:], self._options.ar1)
        self._labels = labels
        q = task.shape[1]
        self._stage_volumes = (
            self._options.stage_volumes if self._options.stage_volumes is not None else q + _OPENNFT_NUISANCE_COUNT
        )
        self._kalman_settings = self._options.kalman.checked()
        self._scaling_settings = self._options.scaling.checked()
        capacity = max(0, n_volumes - skip)
        self._positions = np.zeros(capacity, dtype=np.intp)
        self._raw = np.zeros(capacity)
        self._white = np.zeros(capacity)  # the raw series AR(1)-filtered (prewhitening)
        self._motion = np.zeros((capacity, 6))
        self._out = np.zeros((capacity, len(CHAIN_COLUMNS)))
        self._n = 0
        self._last_index = -1
        self._last_motion = np.zeros(6)
        self._kalman_state = KalmanState()
        # Welford's running moments of the AR(1) output (the Kalman input) and sum of raw values
        self._k_mean = 0.0
        self._k_m2 = 0.0
        self._raw_sum = 0.0
        self._limits: tuple[float, float] | None = None

    def _task_columns(self, design: Design, n_volumes: int, skip: int) -> np.ndarray:
        """The task regressors, one row per acquired volume: the design's, or SPM's (OpenNFT's)."""
        if self._options.task_regressor == "nfd":
            return np.asarray(design.task_regressors(self._tr, hrf=self._options.hrf), dtype=np.float64)
        task = np.zeros((n_volumes, len(design.conditions)))
        if n_volumes > skip:
            task[skip:] = spm_block_regressors(
                opennft_onoffsets(design), n_volumes - skip, self._tr,
                t0=self._options.spm_t0, microtime=_SPM_MICROTIME,
            )
        return task

    # -- description -----------------------------------------------------------

    @property
    def tr(self) -> float:
        """Repetition time, seconds."""
        return self._tr

    @property
    def options(self) -> ChainOptions:
        """The chain's settings."""
        return self._options

    @property
    def stage_volumes(self) -> int:
        """Volumes per GLM stage."""
        return self._stage_volumes

    @property
    def n_updates(self) -> int:
        """Number of volumes recorded so far."""
        return self._n

    @property
    def last(self) -> ChainStep | None:
        """The latest recorded step, or None."""
        return self._row(self._n - 1) if self._n else None

    def _row(self, i: int) -> ChainStep:
        r = self._out[i]
        return ChainStep(
            int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]),
            int(r[6]), float(r[7]), float(r[8]), int(r[9]),
        )

    def table(self) -> dict[str, np.ndarray]:
        """Every intermediate series so far, column name -> array (see :data:`CHAIN_COLUMNS`).

        ``index``, ``spike`` and ``stage`` are int64 arrays, the rest float64;
        one row per recorded volume, in order.
        """
        out: dict[str, np.ndarray] = {}
        for column, name in enumerate(CHAIN_COLUMNS):
            values = self._out[: self._n, column].copy()
            out[name] = values.astype(np.int64) if name in ("index", "spike", "stage") else values
        return out

    def series(self, name: str) -> np.ndarray:
        """One intermediate series so far (a copy), e.g. ``"kalman"``.

        Raises
        ------
        TimeseriesError
            If `name` is not one of :data:`CHAIN_COLUMNS`.
        """
        try:
            column = CHAIN_COLUMNS.index(name)
        except ValueError:
            raise TimeseriesError(f"unknown chain series {name!r}; expected one of {list(CHAIN_COLUMNS)}") from None
        return self._out[: self._n, column].copy()

    # -- processing ------------------------------------------------------------

    def _check_index(self, index: int) -> int:
        i = ensure_int(index, "volume index", error=TimeseriesError)
        if not self._skip <= i < self._n_volumes:
            raise TimeseriesError(
                f"volume index {i} is outside the processed volumes {self._skip}..{self._n_volumes - 1} "
                f"(0-based acquisition indices; the first {self._skip} are skipped)"
            )
        if i <= self._last_index:
            raise TimeseriesError(
                f"volume index {i} is not after the previous one ({self._last_index}); volumes must come in order"
            )
        return i

    def _motion_row(self, motion_params: ArrayLike | None) -> np.ndarray:
        if motion_params is None:
            return self._last_motion
        row = np.asarray(motion_params, dtype=np.float64).ravel()
        if row.shape != (6,):
            raise TimeseriesError(
                f"motion_params must be 6 numbers (x, y, z mm; rx, ry, rz radians), got shape {row.shape}"
            )
        if not np.all(np.isfinite(row)):
            return self._last_motion
        return row

    def _glm(self, n: int, stage: int) -> float:
        positions = self._positions[:n]
        nuisance = nuisance_regressors(
            positions,
            stage,
            tr=self._tr,
            high_pass_s=self._options.high_pass_s,
            motion=self._motion[:n] if self._options.motion_regressors else None,
        )
        if self._prewhiten:  # OpenNFT's arRegr.m on the nuisance columns, after the motion's z-score
            nuisance = ar1_filter_columns(nuisance, self._options.ar1)
        task = None
        if stage >= 4 and self._task.shape[1]:
            task = self._task_model[positions + self._skip]
            if self._options.task_kept == "last":  # OpenNFT 1.0: the other task columns are nuisance
                nuisance = np.hstack([nuisance, _seen(task[:, :-1])])
                task = task[:, -1:]
            task = _seen(task)
            if not task.shape[1]:
                task = None
        cleaned, _beta = glm_clean(self._white[:n] if self._prewhiten else self._raw[:n], nuisance, task)
        return float(cleaned[-1])

    def _record(self, slot: int, i: int, value: float, motion: np.ndarray) -> None:
        """Store volume `i`'s position, raw value, motion row and prewhitened value in `slot`."""
        self._positions[slot] = i - self._skip
        self._raw[slot] = value
        epsilon = self._options.first_motion_epsilon
        self._motion[slot] = motion + epsilon if slot == 0 and epsilon is not None else motion
        self._raw_sum += value
        if self._prewhiten:
            previous = None if slot == 0 else float(self._white[slot - 1])
            self._white[slot] = ar1_step(value, previous, self._options.ar1)

    def _kalman_input(self, slot: int, glm: float) -> tuple[float, float]:
        """``(ar1, kalman input)``: the AR(1) column of the step and the value the Kalman filter gets."""
        if self._prewhiten:
            return float(self._white[slot]), glm
        previous_ar1 = None if slot == 0 else float(self._out[slot - 1, 3])
        ar1 = ar1_step(glm, previous_ar1, self._options.ar1) if self._options.ar1 > 0 else glm
        return ar1, ar1

    def update(self, index: int, raw: float, motion_params: ArrayLike | None = None) -> ChainStep:
        """Process the ROI value of volume `index`.

        Parameters
        ----------
        index : int
            0-based acquisition index, after the previous one and not a
            skipped volume.
        raw : float
            The ROI's raw value (e.g. its mean, scanner units).
        motion_params : array_like, shape (6,), optional
            The volume's motion parameters (mm, radians); when None or not
            finite, the previous volume's are used (zeros at first).

        Returns
        -------
        ChainStep
            Every intermediate value; all NaN (spike 0) when `raw` is not
            finite (then nothing is recorded).

        Raises
        ------
        TimeseriesError
            If `index` is out of order or out of the run, or
            `motion_params` does not have 6 entries.
        """
        i = self._check_index(index)
        value = float(raw)
        motion = self._motion_row(motion_params)
        n = self._n + 1
        stage = glm_stage(n, self._stage_volumes)
        if not math.isfinite(value):
            nan = math.nan
            return ChainStep(i, nan, nan, nan, nan, nan, 0, nan, nan, stage)
        self._last_index = i
        self._last_motion = motion
        slot = self._n
        self._record(slot, i, value, motion)

        glm = self._glm(n, stage)
        ar1, kalman_input = self._kalman_input(slot, glm)

        # Welford: sample SD of the Kalman input so far (MATLAB std, n - 1)
        delta = kalman_input - self._k_mean
        self._k_mean += delta / n
        self._k_m2 += delta * (kalman_input - self._k_mean)
        sd = math.sqrt(self._k_m2 / (n - 1)) if n > 1 else 0.0
        kalman, self._kalman_state, spike = kalman_step(self._kalman_state, kalman_input, sd, self._kalman_settings)

        self._out[slot, 4] = kalman
        changed = slot > 0 and self._labels[i] != self._labels[self._last_positions_index(slot - 1)]
        lo, hi = scaling_limits(
            self._out[:n, 4],
            floor_value=abs(self._scaling_settings.floor * self._raw_sum / n),
            settings=self._scaling_settings,
            previous=self._limits,
            condition_changed=bool(changed),
        )
        self._limits = (lo, hi)
        scaled = scale_value(kalman, lo, hi)
        self._out[slot] = (i, value, glm, ar1, kalman, scaled, spike, lo, hi, stage)
        self._n = n
        return ChainStep(i, value, glm, ar1, kalman, scaled, spike, lo, hi, stage)

    def _last_positions_index(self, slot: int) -> int:
        return int(self._positions[slot]) + self._skip

    def __repr__(self) -> str:
        return (
            f"SignalChain(tr={self._tr}, volumes={self._n_volumes}, skip={self._skip}, "
            f"task_regressors={self._task.shape[1]}, stage_volumes={self._stage_volumes}, updates={self._n})"
        )

