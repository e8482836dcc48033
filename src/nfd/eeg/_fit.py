"""Training an EEG-fingerprint model from simultaneous EEG-fMRI sessions (``nfd eeg fit``).

Meir-Hasson et al. (2014, NeuroImage 102:128): features of the EEG over the
seconds before each volume (:mod:`nfd.eeg._features`), a regression (ridge
by default, or any scikit-learn regressor) onto one or several regions' fMRI
signals.  Steps, all chronological:

1. preprocess each recording's chosen channels exactly as the live inlet
   will (:mod:`nfd.eeg._preprocess`);
2. place each volume on its recording's time axis: the scanner's volume
   triggers in the markers, or given onsets;
3. features of the window ending at each volume's time (strictly causal:
   samples at or before it): log band power at several delays, or with an
   HRF (``--hrf``) each channel's and band's log power convolved with it
   (:class:`nfd.eeg.HrfKernel`);
4. runs: each recording is a run, and ``split`` cuts each into that many
   contiguous runs of equal length;
5. validation.  With a single run (one recording, ``split=1``) the first
   ``train_fraction`` (80 %) of the usable volumes train and the rest test
   (as nfd did before several runs).  With several runs, leave-one-run-out:
   every run is held out in turn and the model fitted on the others; the
   scores are given per held-out run and pooled over them;
6. in every fit, the features and the targets are detrended alike
   (``detrend``: ``none`` = the mean only, ``linear``, ``quadratic``; a
   polynomial in the recording's time) and scaled to unit variance, the
   trend and the scale fitted on the training part only and applied to the
   held-out part (:class:`nfd.eeg._fit_cv.Scaler`);
7. the ridge penalty is chosen inside the training part: leave one run out
   when it holds two runs or more, else blocked ``folds``-fold (contiguous
   folds: neighbouring volumes are correlated through the haemodynamic
   response); a penalty at an edge of the grid is a warning (log and report);
8. held-out r, R^2, MSE, RMSE and MAE per target, the SSIM of the predicted
   against the measured parcel vector per volume with several targets, the
   phase-randomised p-value of r and its 95 % interval (Fisher's z with the
   effective number of pairs) (:mod:`nfd.eeg._fit_cv`);
9. the model written is fitted on all the volumes (several runs; penalty by
   leave-one-run-out over them) or on the training part (single run).

The default ``detrend="none"`` keeps the held-out predictions exactly the
live predictor's (which has no run clock to remove a trend with); with a
trend, held-out predictions are made from features detrended with the
training part's trend at the held-out times.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from nfd.eeg._errors import EegConfigError, FitError
from nfd.eeg._features import DEFAULT_BANDS, FeatureSpec, HrfKernel, feature_matrix
from nfd.eeg._fit_cv import (
    DETRENDS,
    Scaler,
    cv_groups,
    effective_n,
    fisher_interval,
    phase_randomised_p,
    regression_metrics,
    ridge_path_errors,
    ssim_per_row,
)
from nfd.eeg._model import EegModel
from nfd.eeg._preprocess import PreprocessSpec, preprocess_recording
from nfd.eeg._recording import Recording

__all__ = [
    "FitResult", "FitRun", "fit_main", "fit_model", "fit_runs", "read_target", "read_targets",
    "volume_times_from_onsets", "volume_times_from_triggers",
]

log = structlog.get_logger(__name__)

#: Default ridge penalties tried (on scaled features and targets).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 7, 28))


@dataclass(frozen=True)
class FitRun:
    """One recording and its fMRI series, for :func:`fit_runs`.

    Attributes
    ----------
    recording : Recording
        The EEG, in the units the live stream will have (microvolts).
    target : ndarray
        ``(n_volumes,)`` or ``(n_volumes, n_targets)`` the fMRI signal per
        volume (NaN: not used).
    volume_times : ndarray
        ``(n_volumes,)`` each volume's time, s from the recording's first
        sample (NaN: not used).
    index : ndarray or None
        Acquisition indices (default ``0 .. n_volumes - 1``).
    name : str
        For the report (e.g. the file's name).
    """

    recording: Recording
    target: np.ndarray
    volume_times: np.ndarray
    index: np.ndarray | None = None
    name: str = ""


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_model` and :func:`fit_runs` made.

    Attributes
    ----------
    model : EegModel
        The fitted model (not saved yet).
    report : dict
        Volumes, penalty, warnings, per-fold and pooled held-out metrics
        (``test``: pooled, the first target's with one target, else the
        mean over targets; ``test_per_target``; ``outer``: one entry per
        held-out run).
    test_index : ndarray
        Acquisition indices of the held-out volumes, in the order of the folds.
    test_true, test_pred : ndarray
        The held-out target (detrended, around the training level) and its
        prediction, target units: ``(n,)`` with one target, else ``(n, n_targets)``.
    test_run : ndarray
        ``(n,)`` the run of each held-out volume.
    """

    model: EegModel
    report: dict[str, Any]
    test_index: np.ndarray
    test_true: np.ndarray
    test_pred: np.ndarray
    test_run: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def read_target(path: str | os.PathLike[str], column: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Read an fMRI ROI time series from a TSV file such as nfd's ``timeseries.tsv``.

    Parameters
    ----------
    path : path
        Tab-separated with a header; ``n/a`` (or empty) for missing values.
        An ``index`` column gives each row's 0-based acquisition index
        (otherwise row ``k`` is volume ``k``).
    column : str, optional
        The column to model; default: the only ``roi_*`` column.

    Returns
    -------
    index : ndarray of int
    values : ndarray of float (NaN where missing)
    column : str

    Raises
    ------
    FitError
        Missing file, column, or non-numeric values.
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError as exc:
        raise FitError(f"cannot read the fMRI time series {p}: {exc}") from exc
    if len(rows) < 2:
        raise FitError(f"{p}: expected a header and at least one row")
    header = rows[0]
    if column is None:
        rois = [c for c in header if c.startswith("roi_")]
        if len(rois) != 1:
            raise FitError(f"{p}: choose the column to model with --column (columns: {header})")
        column = rois[0]
    if column not in header:
        raise FitError(f"{p}: no column {column!r} (columns: {header})")
    ci = header.index(column)
    ii = header.index("index") if "index" in header else None
    index, values = [], []
    for k, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            cell = row[ci].strip()
            values.append(math.nan if cell in ("", "n/a") else float(cell))
            index.append(int(row[ii]) if ii is not None else k - 2)
        except (ValueError, IndexError):
            raise FitError(f"{p}, line {k}: {column!r} and 'index' must be numbers, got {row!r}") from None
    return np.asarray(index, dtype=np.int64), np.asarray(values, dtype=np.float64), column


def volume_times_from_triggers(
    recording: Recording, label: str, index: np.ndarray, first_trigger_index: int = 0
) -> np.ndarray:
    """Each volume's time (s from the recording's start) from the scanner's triggers in the markers.

    The ``k``-th trigger marks the start of acquisition index
    ``first_trigger_index + k``.  Volumes without a trigger get NaN.

    Raises
    ------
    FitError
        No marker has this label.
    """
    onsets = recording.marker_onsets(label)
    if onsets.size == 0:
        labels = sorted({m.label for m in recording.markers})
        raise FitError(f"{recording.source}: no marker {label!r} (scanner trigger); markers there: {labels[:20]}")
    k = np.asarray(index) - first_trigger_index
    out = np.full(k.shape, np.nan)
    ok = (k >= 0) & (k < onsets.size)
    out[ok] = onsets[k[ok]]
    return out


def volume_times_from_onsets(onsets: Sequence[float], index: np.ndarray) -> np.ndarray:
    """Each volume's time from a list of onsets (entry ``k`` = acquisition index ``k``); NaN beyond it."""
    arr = np.asarray(onsets, dtype=np.float64)
    k = np.asarray(index)
    out = np.full(k.shape, np.nan)
    ok = (k >= 0) & (k < arr.size)
    out[ok] = arr[k[ok]]
    return out


def read_targets(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read several fMRI series (ROIs or parcels) from one TSV file.

    Parameters
    ----------
    path : path
        As :func:`read_target`.
    columns : sequence of str, optional
        The columns; default: every column but ``index`` whose values are
        all numbers or missing (a parcel-wise series).

    Returns
    -------
    index : ndarray of int
    values : ndarray
        ``(n_rows, n_columns)``, NaN where missing.
    columns : tuple of str

    Raises
    ------
    FitError
        As :func:`read_target`; no numeric column.
    """
    if columns is None:
        p = Path(path)
        try:
            header = p.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r").split("\t")
        except OSError as exc:
            raise FitError(f"cannot read the fMRI time series {p}: {exc}") from exc
        columns = []
        for c in header:
            if c == "index":
                continue
            try:
                read_target(p, c)
            except FitError:
                continue
            columns.append(c)
        if not columns:
            raise FitError(f"{p}: no numeric column to model (columns: {header})")
    index = np.zeros(0, dtype=np.int64)
    values = []
    for c in columns:
        index, v, _ = read_target(path, c)
        values.append(v)
    return index, np.column_stack(values), tuple(columns)


def fit_model(
    recording: Recording,
    target: np.ndarray,
    volume_times: np.ndarray,
    *,
    index: np.ndarray | None = None,
    target_name: str = "target",
    target_names: Sequence[str] | None = None,
    **options: Any,
) -> FitResult:
    """Fit an EEG-fingerprint model on one recording (steps in the module docstring).

    Parameters
    ----------
    recording : Recording
        The EEG, in the units the live stream will have (microvolts).
    target : ndarray
        ``(n_volumes,)`` the fMRI signal per volume, or ``(n_volumes,
        n_targets)`` several (NaN: not used).
    volume_times : ndarray
        ``(n_volumes,)`` each volume's acquisition time, s from the
        recording's first sample (NaN: not used).
    index : ndarray, optional
        Acquisition indices of the volumes (default 0..n-1).
    target_name : str
        Name of a single target.
    target_names : sequence of str, optional
        Names of several targets (default ``target_0``, ...).
    **options
        Of :func:`fit_runs` (channels, preprocess, window, bands, rate,
        delays, gamma, hrf, feature_options, alphas, folds, train_fraction,
        detrend, split, estimator, sources, n_surrogates).

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        See :func:`fit_runs`.
    """
    y = np.asarray(target, dtype=np.float64)
    if target_names is None:
        target_names = (target_name,) if y.ndim == 1 else tuple(f"target_{k}" for k in range(y.shape[-1]))
    return fit_runs([FitRun(recording, y, volume_times, index, str(recording.source))], target_names=target_names,
                    **options)


def fit_runs(
    runs: Sequence[FitRun],
    *,
    target_names: Sequence[str],
    channels: Sequence[str] | None = None,
    preprocess: PreprocessSpec | None = None,
    window: float | None = None,
    bands: Sequence[Sequence[float]] = DEFAULT_BANDS,
    rate: float = 4.0,
    delays: Sequence[float] = (),
    gamma: float = 1.0,
    hrf: HrfKernel | None = None,
    feature_options: Mapping[str, Any] | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    folds: int = 5,
    train_fraction: float = 0.8,
    detrend: str = "none",
    split: int = 1,
    estimator: Any = None,
    sources: Mapping[str, str] | None = None,
    n_surrogates: int = 1000,
) -> FitResult:
    """Fit an EEG-fingerprint model on one or several recordings (steps in the module docstring).

    Parameters
    ----------
    runs : sequence of FitRun
        The recordings with their fMRI series (same channels and rate).
    target_names : sequence of str
        One name per target column.
    channels : sequence of str, optional
        EEG channels to use (default: all the first recording's).
    preprocess : PreprocessSpec, optional
        Default: decimate to the integer fraction of the rate nearest 250 Hz.
    window : float, optional
        EEG window before each volume, s; default 12 s, or with ``hrf`` the
        shortest window holding all its taps.
    bands, rate, delays, gamma, hrf
        See :class:`nfd.eeg.FeatureSpec`.
    feature_options : mapping, optional
        More :class:`nfd.eeg.FeatureSpec` fields (e.g. ``power``, ``average_s``).
    alphas : sequence of float
        Ridge penalties to choose from (on scaled data).
    folds : int
        Blocked folds for the penalty when the training part is one run (>= 2).
    train_fraction : float
        With a single run: the first fraction of the usable volumes that trains.
    detrend : {"none", "linear", "quadratic"}
        Trend removed from the features and the targets alike (fitted on the
        training part).
    split : int
        Cut each recording into this many contiguous runs (>= 1).
    estimator : sklearn regressor, optional
        Unfitted; cloned for every fit (default: ridge with the penalty
        chosen by cross-validation).  Wrapped in
        :class:`sklearn.multioutput.MultiOutputRegressor` for several targets
        when it does not take several itself.
    sources : mapping, optional
        File names etc. recorded in the model's metadata.
    n_surrogates : int
        Phase-randomised surrogates for the p-value of r (0: none).

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        Unknown channels, too few usable volumes, mismatched lengths or
        recordings, a window shorter than the HRF, delays with an HRF, bad options.
    """
    _check_training(detrend, train_fraction, folds, split)
    if not (isinstance(n_surrogates, int) and n_surrogates >= 0):
        raise FitError(f"surrogates for the null of r must be an integer >= 0, got {n_surrogates!r}")
    names = tuple(str(n) for n in target_names)
    data = _run_features(
        runs, names, channels=channels, preprocess=preprocess, window=window, bands=bands, rate=rate,
        delays=delays, gamma=gamma, hrf=hrf, feature_options=feature_options or {}, split=split,
    )
    settings = _Settings(alphas=tuple(float(a) for a in alphas), folds=folds, degree=DETRENDS[detrend],
                         estimator=estimator, n_surrogates=n_surrogates)
    if np.unique(data.run).size == 1:
        n_train = _n_train(data.y.shape[0], data.n_short, window=data.spec.window, train_fraction=train_fraction,
                           folds=folds)
        outer = [np.arange(data.y.shape[0]) >= n_train]
    else:
        outer = [data.run == g for g in np.unique(data.run)]
    fits = [_fold_fit(data, ~test, settings) for test in outer]
    held = [(test, fit.predict(data, test)) for test, fit in zip(outer, fits, strict=True)]
    final = fits[0] if len(outer) == 1 else _fold_fit(data, np.ones(data.y.shape[0], dtype=bool), settings)
    report = _report(data, outer, fits, held, final, settings, detrend=detrend, sources=sources or {})
    model = EegModel.create(
        final.estimator, data.spec, data.preprocess, feature_mean=final.sx.mean, feature_std=final.sx.scale,
        target={"names": list(names), "detrend": detrend, "mean": final.sy.mean, "std": final.sy.scale},
        source_rate=data.source_rate, training=report,
    )
    test_all = np.concatenate([np.flatnonzero(t) for t in outer])
    true = np.concatenate([final_true for _, (final_true, _) in held])
    pred = np.concatenate([p for _, (_, p) in held])
    single = len(names) == 1
    log.info(
        "eeg_model_fitted", volumes=int(data.y.shape[0]), runs=len(outer), features=data.spec.n_features,
        alpha=final.alpha, test_r=round(report["test"]["r"], 4), test_r2=round(report["test"]["r2"], 4),
    )
    return FitResult(
        model=model, report=report, test_index=data.index[test_all],
        test_true=true[:, 0] if single else true, test_pred=pred[:, 0] if single else pred,
        test_run=data.run[test_all],
    )


@dataclass(frozen=True)
class _Settings:
    """How every fold is fitted: the penalties, inner folds, trend degree, estimator and null surrogates."""

    alphas: tuple[float, ...]
    folds: int
    degree: int
    estimator: Any
    n_surrogates: int


@dataclass(frozen=True)
class _RunData:
    """The usable volumes of all runs, in run then time order: features, targets, times (s), runs, indices."""

    X: np.ndarray
    y: np.ndarray
    t: np.ndarray
    run: np.ndarray
    index: np.ndarray
    spec: FeatureSpec
    preprocess: PreprocessSpec
    source_rate: float
    n_given: int
    n_short: int
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Fold:
    """One fitted fold: penalty (None for a given estimator), its CV errors, the estimator and the scalers."""

    alpha: float | None
    errors: np.ndarray | None
    estimator: Any
    sx: Scaler
    sy: Scaler

    def predict(self, data: _RunData, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The detrended measured targets and the predictions ``(n, n_targets)`` of ``part``, target units."""
        t = data.t[part]
        z = np.asarray(self.estimator.predict(self.sx.transform(t, data.X[part])), dtype=np.float64)
        pred = self.sy.restore(z.reshape(t.size, -1))
        return self.sy.restore(self.sy.transform(t, data.y[part])), pred


def _fold_fit(data: _RunData, train: np.ndarray, settings: _Settings) -> _Fold:
    """Scale, choose the penalty (ridge) inside ``train``, and fit on it."""
    t, X, Y = data.t[train], data.X[train], data.y[train]
    sx, sy = Scaler.fit(t, X, settings.degree), Scaler.fit(t, Y, settings.degree)
    alpha: float | None = None
    errors = None
    if settings.estimator is None:
        from sklearn.linear_model import Ridge  # scikit-learn takes a second to import: only when training

        groups = cv_groups(data.run[train], settings.folds)
        errors = ridge_path_errors(X, Y, t, groups, settings.alphas, settings.degree)
        alpha = settings.alphas[int(np.argmin(errors))]
        estimator: Any = Ridge(alpha=alpha)
    else:
        estimator = _clone_for(settings.estimator, Y.shape[1])
    Zy = sy.transform(t, Y)
    estimator.fit(sx.transform(t, X), Zy[:, 0] if Zy.shape[1] == 1 else Zy)
    return _Fold(alpha=alpha, errors=errors, estimator=estimator, sx=sx, sy=sy)


def _clone_for(estimator: Any, n_targets: int) -> Any:
    """An unfitted copy of ``estimator``, wrapped for several targets when it takes only one."""
    from sklearn.base import clone
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.utils import get_tags

    try:
        est = clone(estimator)
        multi = bool(get_tags(est).target_tags.multi_output)
    except Exception as exc:  # clone and the tags fail in many ways on foreign objects
        raise FitError(f"estimator {estimator!r} cannot be cloned as a scikit-learn estimator: {exc}") from exc
    return MultiOutputRegressor(est) if n_targets > 1 and not multi else est


def _run_features(
    runs: Sequence[FitRun],
    names: tuple[str, ...],
    *,
    channels: Sequence[str] | None,
    preprocess: PreprocessSpec | None,
    split: int,
    **feature_settings: Any,
) -> _RunData:
    """Features and targets of every run's usable volumes, each recording cut into ``split`` runs."""
    if not runs:
        raise FitError("no recording to fit, expected at least one EEG recording with its fMRI series")
    first = runs[0].recording
    chosen = _channel_names(first, channels)
    preprocess = preprocess if preprocess is not None else PreprocessSpec(fs=_default_fs(first.fs))
    parts: list[tuple[np.ndarray, ...]] = []
    spec: FeatureSpec | None = None
    n_given = n_short = 0
    for k, run in enumerate(runs):
        target, times, index = _check_volumes(run.target, run.volume_times, run.index, len(names))
        data, sample_times, run_spec = _preprocessed(
            run.recording, _channel_names(run.recording, chosen), preprocess, **feature_settings
        )
        if spec is not None and run_spec != spec:
            raise FitError(f"{run.name or k}: its rate {run_spec.fs:g} Hz differs from the first recording's "
                           f"{spec.fs:g} Hz, expected recordings at the same rate")
        spec = run_spec
        X, y, idx, tv, short = _windowed_volumes(data, sample_times, spec, target, times, index)
        labels = k * split + np.minimum(split - 1, np.arange(y.shape[0]) * split // max(1, y.shape[0]))
        parts.append((X, y, tv, labels, idx))
        n_given += target.shape[0]
        n_short += short
    assert spec is not None
    X, y, t, run_labels, index = (np.concatenate([p[i] for p in parts]) for i in range(5))
    counts = np.bincount(run_labels, minlength=len(runs) * split)
    if len(runs) * split > 1 and counts.min() < 3:
        raise FitError(f"runs of {counts.tolist()} usable volumes: too few (at least 3 per run), expected "
                       "fewer runs (--runs) or longer recordings")
    return _RunData(X=X, y=y, t=t, run=run_labels, index=index, spec=spec, preprocess=preprocess,
                    source_rate=float(first.fs), n_given=n_given, n_short=n_short, names=names)


def _check_volumes(
    target: np.ndarray, volume_times: np.ndarray, index: np.ndarray | None, n_targets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The targets ``(n, n_targets)`` (signal units), volume times (s) and acquisition indices ``(n,)``."""
    target = np.asarray(target, dtype=np.float64)
    volume_times = np.asarray(volume_times, dtype=np.float64)
    if target.ndim == 1:
        target = target[:, None]
    if target.ndim != 2 or volume_times.ndim != 1 or target.shape[0] != volume_times.size:
        raise FitError(f"target {target.shape} and volume_times {volume_times.shape} must have one row per volume")
    if target.shape[1] != n_targets:
        raise FitError(f"target has {target.shape[1]} columns for {n_targets} target names")
    return target, volume_times, np.arange(target.shape[0]) if index is None else np.asarray(index)


def _check_training(detrend: str, train_fraction: float, folds: int, split: int) -> None:
    """Refuse an unknown detrending, a training fraction outside (0, 1), fewer than 2 folds or 1 run."""
    if detrend not in DETRENDS:
        raise FitError(f"detrend must be one of {sorted(DETRENDS)}, got {detrend!r}")
    if not (0 < train_fraction < 1):
        raise FitError(f"train_fraction must be in (0, 1), got {train_fraction}")
    if folds < 2:
        raise FitError(f"folds must be >= 2, got {folds}")
    if not (isinstance(split, int) and split >= 1):
        raise FitError(f"runs per recording must be an integer >= 1, got {split!r}")


def _default_fs(fs: float) -> float:
    """The rate after decimation by the integer factor that brings ``fs`` (Hz) nearest 250 Hz."""
    return fs / max(1, round(fs / 250.0))


def _channel_names(recording: Recording, channels: Sequence[str] | None) -> list[str]:
    """The channels to train on (default: all the recording's); each must be in the recording."""
    names = list(recording.channel_names) if channels is None else [str(c) for c in channels]
    unknown = [c for c in names if c not in recording.channel_names]
    if unknown:
        raise FitError(f"channels {unknown} are not in {recording.source} (it has {list(recording.channel_names)})")
    return names


def _preprocessed(
    recording: Recording,
    names: list[str],
    preprocess: PreprocessSpec,
    *,
    window: float | None,
    bands: Sequence[Sequence[float]],
    rate: float,
    delays: Sequence[float],
    gamma: float,
    hrf: HrfKernel | None,
    feature_options: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray, FeatureSpec]:
    """The channels ``names`` preprocessed, their sample times (s from the recording's start), the features.

    A window of None is 12 s, or with ``hrf`` the shortest holding its taps at the preprocessed rate.

    Raises
    ------
    FitError
        The preprocessing or feature settings are refused (the message says why).
    """
    columns = [recording.channel_names.index(c) for c in names]
    try:
        data, fs_out = preprocess_recording(recording.data[:, columns], recording.fs, preprocess)
        if window is None:
            window = 12.0 if hrf is None else hrf.covering_window(fs_out)
        spec = FeatureSpec(
            channels=tuple(names), fs=fs_out, window=window, bands=tuple((lo, hi) for lo, hi in bands), rate=rate,
            delays=tuple(delays), gamma=gamma, hrf=hrf, **feature_options,
        )
    except (EegConfigError, TypeError) as exc:
        raise FitError(f"feature settings: {exc}") from None
    factor = round(recording.fs / fs_out)
    return data, np.arange(data.shape[0]) * factor / recording.fs, spec


def _windowed_volumes(
    data: np.ndarray,
    times: np.ndarray,
    spec: FeatureSpec,
    target: np.ndarray,
    volume_times: np.ndarray,
    index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The volumes with a target, a time and a whole EEG window before it, in time order.

    Returns
    -------
    X, y, index, times : ndarray
        Their features, targets ``(n, n_targets)``, acquisition indices and times (s).
    n_short : int
        Volumes with a target and a time but no whole window (before the EEG starts or after it ends).
    """
    usable = np.isfinite(target).all(axis=1) & np.isfinite(volume_times)
    X, valid = feature_matrix(data, times, np.where(usable, volume_times, -np.inf), spec)
    keep = usable & valid
    n_short = int(np.count_nonzero(usable & ~valid))
    order = np.argsort(np.where(keep, volume_times, np.inf), kind="stable")[: int(keep.sum())]
    return X[order], target[order], index[order], volume_times[order], n_short


def _n_train(n: int, n_short: int, *, window: float, train_fraction: float, folds: int) -> int:
    """The first ``train_fraction`` of ``n`` usable volumes; at least 2 per fold, and 3 left to test."""
    n_train = math.floor(train_fraction * n)
    if n_train < 2 * folds or n - n_train < 3:
        raise FitError(
            f"only {n} volumes have a whole {window:g} s EEG window before them ({n_short} more fall before the "
            f"EEG starts or after it ends): too few to train on {train_fraction:.0%} with {folds} folds "
            "and test on the rest"
        )
    return n_train


def _volume_counts(given: int, used: int, without_window: int, train: int, first_test_index: int) -> dict[str, int]:
    """The training report's volume counts (``used`` = ``train`` + test, the test from ``first_test_index``)."""
    return {
        "volumes_given": given,
        "volumes_used": used,
        "volumes_without_window": without_window,
        "volumes_train": train,
        "volumes_test": used - train,
        "first_test_index": first_test_index,
    }


def _report(
    data: _RunData,
    outer: list[np.ndarray],
    fits: list[_Fold],
    held: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]],
    final: _Fold,
    settings: _Settings,
    *,
    detrend: str,
    sources: Mapping[str, str],
) -> dict[str, Any]:
    """The training report: volumes, penalties and warnings, metrics per held-out run and pooled."""
    n = data.y.shape[0]
    first_test = int(np.flatnonzero(outer[0])[0])
    n_train = int(np.count_nonzero(~outer[0])) if len(outer) == 1 else n
    report: dict[str, Any] = {
        **_volume_counts(data.n_given, n, data.n_short, n_train, int(data.index[first_test])),
        "volumes_test": int(sum(int(t.sum()) for t in outer)),
        "n_features": data.spec.n_features,
        "runs": len(outer),
        "validation": "holdout" if len(outer) == 1 else "leave-one-run-out",
        "targets": list(data.names),
        "estimator": _estimator_name(final.estimator),
        "alpha": final.alpha, "alphas": list(settings.alphas),
        "cv_mse": None if final.errors is None else [float(e) for e in final.errors],
        "folds": settings.folds,
        "detrend": detrend,
        **{f"sources_{k}": v for k, v in sources.items()},
    }
    report["outer"] = [
        _fold_report(int(data.run[test][0]) if len(outer) > 1 else None, fit, true, pred, data.names)
        for test, fit, (_, (true, pred)) in zip(outer, fits, held, strict=True)
    ]
    true = np.concatenate([tp[0] for _, tp in held])
    pred = np.concatenate([tp[1] for _, tp in held])
    groups = np.concatenate([np.full(int(t.sum()), k) for k, t in enumerate(outer)])
    per_target = {
        name: {**regression_metrics(true[:, j], pred[:, j]), **_r_inference(true[:, j], pred[:, j], groups, settings)}
        for j, name in enumerate(data.names)
    }
    report["test_per_target"] = per_target
    report["test"] = _combined(per_target)
    if len(data.names) > 1:
        report["test"]["ssim"] = float(np.mean(np.concatenate([
            ssim_per_row(t, p) for _, (t, p) in held
        ])))
    train = ~outer[0] if len(outer) == 1 else np.ones(n, dtype=bool)
    report["train"] = _combined({
        name: regression_metrics(*(a[:, j] for a in final.predict(data, train))) for j, name in enumerate(data.names)
    })
    report["warnings"] = _edge_warnings(final, fits, settings.alphas)
    for w in report["warnings"]:
        log.warning("eeg_fit_penalty_at_edge", message=w)
    return report


def _fold_report(
    run: int | None, fit: _Fold, true: np.ndarray, pred: np.ndarray, names: tuple[str, ...]
) -> dict[str, Any]:
    """One held-out run's entry: run, volumes, penalty, metrics per target and (several targets) mean SSIM."""
    metrics = {name: regression_metrics(true[:, j], pred[:, j]) for j, name in enumerate(names)}
    return {
        "run": run, "volumes": int(true.shape[0]), "alpha": fit.alpha,
        "metrics": metrics,
        "ssim": float(np.mean(ssim_per_row(true, pred))) if len(names) > 1 else None,
    }


def _r_inference(y: np.ndarray, p: np.ndarray, groups: np.ndarray, settings: _Settings) -> dict[str, Any]:
    """The phase-randomised p-value of r, the effective number of pairs and r's 95 % interval."""
    r = float(np.corrcoef(y, p)[0, 1]) if np.std(y) > 0 and np.std(p) > 0 else math.nan
    n_eff = effective_n(y, p)
    lo, hi = fisher_interval(r, n_eff)
    out: dict[str, Any] = {"n_eff": n_eff, "r_ci95": [lo, hi], "p_phase": None, "n_surrogates": settings.n_surrogates}
    if settings.n_surrogates > 0 and math.isfinite(r):
        out["p_phase"] = phase_randomised_p(y, p, groups, settings.n_surrogates)[0]
    return out


def _combined(per_target: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One target's metrics, or the mean of each metric over several targets."""
    values = list(per_target.values())
    if len(values) == 1:
        return dict(values[0])
    keys = ("r", "r2", "mse", "rmse", "mae")
    return {k: float(np.mean([v[k] for v in values])) for k in keys}


def _edge_warnings(final: _Fold, fits: list[_Fold], alphas: Sequence[float]) -> list[str]:
    """A warning when the chosen ridge penalty is the grid's smallest or largest."""
    if final.alpha is None or len(alphas) < 3:
        return []
    lo, hi = min(alphas), max(alphas)
    edge = [f.alpha for f in fits if f.alpha in (lo, hi)]
    if final.alpha not in (lo, hi) and not edge:
        return []
    which = "smallest" if final.alpha == lo else "largest" if final.alpha == hi else "inner"
    text = (
        f"ridge penalty {final.alpha:.4g} is the {which} of the grid [{lo:.4g}, {hi:.4g}] "
        f"(at an edge in {len(edge)} of {len(fits)} held-out folds): the best may lie outside it, widen --alphas"
    )
    return [text]


def _estimator_name(estimator: Any) -> str:
    """``module.Class`` of the estimator (and of the one a multi-output wrapper holds)."""
    inner = getattr(estimator, "estimator", None)
    name = f"{type(estimator).__module__}.{type(estimator).__name__}"
    return name if inner is None else f"{name}({type(inner).__module__}.{type(inner).__name__})"


def fit_main(argv: Sequence[str] | None = None) -> int:
    """``nfd eeg fit``: see :func:`nfd.eeg._fit_cli.main`."""
    from nfd.eeg._fit_cli import main

    return main(argv)
