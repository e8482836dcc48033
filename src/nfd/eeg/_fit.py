"""Training an EEG-fingerprint model from a simultaneous EEG-fMRI session (``nfd eeg fit``).

Meir-Hasson et al. (2014, NeuroImage 102:128): features of the EEG over the
seconds before each volume (:mod:`nfd.eeg._features`), ridge regression
onto the region's fMRI signal.  Steps, all chronological:

1. preprocess the recording's chosen channels exactly as the live inlet will
   (:mod:`nfd.eeg._preprocess`);
2. place each volume on the EEG's time axis: the scanner's volume triggers in
   the markers, or given onsets;
3. features of the window ending at each volume's time (strictly causal:
   samples at or before it): log band power at several delays, or with an
   HRF (``--hrf``) each channel's and band's log power convolved with it,
   one feature per channel and band (:class:`nfd.eeg.HrfKernel`);
4. the target is detrended (a line over the run: the drift of the MR signal
   is not something EEG can predict); the first ``train_fraction`` (80 %)
   of the usable volumes train, the rest test; features and target are
   z-scored with the training part's statistics;
5. the ridge penalty is chosen by blocked K-fold cross-validation on the
   training part (contiguous folds, no shuffling: neighbouring volumes are
   correlated through the haemodynamic response), then the model is fitted
   on the whole training part;
6. Pearson r, R^2 and MSE of the held-out test part.

The cross-validation solves every penalty at once per fold from one SVD of
the fold's features (ridge's closed form), so hundreds of thousands of
features cost seconds.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog

from nfd.eeg._errors import EegConfigError, EegError, FitError
from nfd.eeg._features import DEFAULT_BANDS, FeatureSpec, HrfKernel, feature_matrix
from nfd.eeg._model import EegModel
from nfd.eeg._preprocess import PreprocessSpec, preprocess_recording
from nfd.eeg._recording import Recording, read_recording

__all__ = [
    "FitResult", "fit_main", "fit_model", "read_target", "volume_times_from_onsets", "volume_times_from_triggers",
]

log = structlog.get_logger(__name__)

#: Default ridge penalties tried (on z-scored features and target).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 7, 28))


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_model` made.

    Attributes
    ----------
    model : EegModel
        Fitted on the training part (not saved yet).
    report : dict
        Volumes used, penalty, cross-validation errors, test metrics.
    test_index : ndarray
        Acquisition indices of the test volumes.
    test_true, test_pred : ndarray
        The detrended target and the model's prediction on them (target units).
    """

    model: EegModel
    report: dict[str, Any]
    test_index: np.ndarray
    test_true: np.ndarray
    test_pred: np.ndarray


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


def _ridge_cv(X: np.ndarray, y: np.ndarray, alphas: Sequence[float], folds: int) -> tuple[float, np.ndarray]:
    """Penalty with the least mean squared error over contiguous folds; also the error per penalty."""
    n = X.shape[0]
    edges = np.linspace(0, n, folds + 1).round().astype(int)
    alphas_arr = np.asarray(alphas, dtype=np.float64)
    errors = np.zeros(alphas_arr.size)
    for f in range(folds):
        test = np.zeros(n, dtype=bool)
        test[edges[f] : edges[f + 1]] = True
        Xtr, ytr, Xte, yte = X[~test], y[~test], X[test], y[test]
        mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
        sd[sd == 0] = 1.0
        Xtr = (Xtr - mu) / sd
        Xte = (Xte - mu) / sd
        ym = ytr.mean()
        U, s, Vt = np.linalg.svd(Xtr, full_matrices=False)
        uty = U.T @ (ytr - ym)
        proj = Xte @ Vt.T  # (n_test, rank)
        for a, alpha in enumerate(alphas_arr):
            coef_s = s / (s**2 + alpha) * uty
            pred = ym + proj @ coef_s
            errors[a] += float(np.mean((pred - yte) ** 2)) * test.sum()
    errors /= n
    return float(alphas_arr[int(np.argmin(errors))]), errors


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    resid = y - p
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r = float(np.corrcoef(y, p)[0, 1]) if y.size > 1 and np.std(p) > 0 and np.std(y) > 0 else math.nan
    return {
        "r": r,
        "r2": 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else math.nan,
        "mse": float(np.mean(resid**2)),
    }


def fit_model(
    recording: Recording,
    target: np.ndarray,
    volume_times: np.ndarray,
    *,
    index: np.ndarray | None = None,
    channels: Sequence[str] | None = None,
    preprocess: PreprocessSpec | None = None,
    window: float | None = None,
    bands: Sequence[Sequence[float]] = DEFAULT_BANDS,
    rate: float = 4.0,
    delays: Sequence[float] = (),
    gamma: float = 1.0,
    hrf: HrfKernel | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    folds: int = 5,
    train_fraction: float = 0.8,
    detrend: Literal["linear", "none"] = "linear",
    target_name: str = "target",
    sources: dict[str, str] | None = None,
) -> FitResult:
    """Fit an EEG-fingerprint ridge model (steps in the module docstring).

    Parameters
    ----------
    recording : Recording
        The EEG, in the units the live stream will have (microvolts).
    target : ndarray
        ``(n_volumes,)`` the fMRI signal per volume (NaN: not used).
    volume_times : ndarray
        ``(n_volumes,)`` each volume's acquisition time, s from the
        recording's first sample (NaN: not used).
    index : ndarray, optional
        Acquisition indices of the volumes (for the report; default 0..n-1).
    channels : sequence of str, optional
        EEG channels to use (default: all the recording's).
    preprocess : PreprocessSpec, optional
        Default: decimate to the integer fraction of the recording's rate
        nearest 250 Hz, no other filter.
    window : float, optional
        EEG window before each volume, s; default 12 s, or with ``hrf`` the
        shortest window holding all its taps
        (:meth:`nfd.eeg.HrfKernel.covering_window`).
    bands, rate, delays, gamma
        See :class:`nfd.eeg.FeatureSpec`.
    hrf : HrfKernel, optional
        Convolve the log band power with this response (sampled at ``rate``)
        instead of using the delays as separate features.
    alphas : sequence of float
        Ridge penalties to choose from (on z-scored data).
    folds : int
        Cross-validation folds on the training part (>= 2).
    train_fraction : float
        Fraction of the usable volumes (the first ones) used for training.
    detrend : {"linear", "none"}
        Remove a line fitted over all usable volumes from the target.
    target_name : str
        Name of the target (for the metadata).
    sources : dict, optional
        File names etc. recorded in the model's metadata.

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        Unknown channels, fewer than ``2 * folds`` usable training volumes,
        mismatched lengths, a window shorter than the HRF, delays with an HRF.
    """
    target, volume_times, index = _check_volumes(target, volume_times, index)
    _check_training(detrend, train_fraction, folds)
    if preprocess is None:
        preprocess = PreprocessSpec(fs=_default_fs(recording.fs))
    data, times, spec = _preprocessed(
        recording, _channel_names(recording, channels), preprocess,
        window=window, bands=bands, rate=rate, delays=delays, gamma=gamma, hrf=hrf,
    )
    X, y, idx, tv, n_short = _windowed_volumes(data, times, spec, target, volume_times, index)
    n = y.size
    n_train = _n_train(n, n_short, window=spec.window, train_fraction=train_fraction, folds=folds)
    if detrend == "linear":  # the target is the ROI signal without its drift, which EEG cannot predict
        y = y - np.polyval(np.polyfit(tv, y, 1), tv) + float(np.mean(y))
    Xtr, ytr = X[:n_train], y[:n_train]
    alpha, cv_errors = _ridge_cv(Xtr, ytr, alphas, folds)
    estimator, mu, sd, y_mean, y_std = _fit_ridge(Xtr, ytr, alpha)
    report: dict[str, Any] = {
        **_volume_counts(int(target.size), n, n_short, n_train, int(idx[n_train])),
        "n_features": spec.n_features,
        "alpha": alpha, "alphas": [float(a) for a in alphas],
        "cv_mse": [float(e) for e in cv_errors],
        "folds": folds,
        "detrend": detrend,
        **{f"sources_{k}": v for k, v in (sources or {}).items()},
    }
    model = EegModel.create(
        estimator, spec, preprocess, feature_mean=mu, feature_std=sd,
        target={"name": target_name, "detrend": detrend, "mean": y_mean, "std": y_std},
        source_rate=recording.fs, training=report,
    )
    pred_test = model.predict_features(X[n_train:])
    report["train"] = _metrics(ytr, model.predict_features(Xtr))
    report["test"] = _metrics(y[n_train:], pred_test)
    model.metadata["training"] = report
    log.info(
        "eeg_model_fitted", volumes=n, features=spec.n_features, alpha=alpha,
        test_r=round(report["test"]["r"], 4), test_r2=round(report["test"]["r2"], 4),
    )
    return FitResult(model=model, report=report, test_index=idx[n_train:], test_true=y[n_train:], test_pred=pred_test)


def _check_volumes(
    target: np.ndarray, volume_times: np.ndarray, index: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target (signal units), volume times (s) and acquisition indices as equal-length 1-D arrays."""
    target = np.asarray(target, dtype=np.float64)
    volume_times = np.asarray(volume_times, dtype=np.float64)
    if target.shape != volume_times.shape or target.ndim != 1:
        raise FitError(f"target {target.shape} and volume_times {volume_times.shape} must be equal-length 1-D arrays")
    return target, volume_times, np.arange(target.size) if index is None else np.asarray(index)


def _check_training(detrend: str, train_fraction: float, folds: int) -> None:
    """Refuse an unknown detrending, a training fraction outside (0, 1) and fewer than 2 folds."""
    if detrend not in ("linear", "none"):
        raise FitError(f"detrend must be 'linear' or 'none', got {detrend!r}")
    if not (0 < train_fraction < 1):
        raise FitError(f"train_fraction must be in (0, 1), got {train_fraction}")
    if folds < 2:
        raise FitError(f"folds must be >= 2, got {folds}")


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
            delays=tuple(delays), gamma=gamma, hrf=hrf,
        )
    except EegConfigError as exc:
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
        Their features, target values, acquisition indices and times (s).
    n_short : int
        Volumes with a target and a time but no whole window (before the EEG starts or after it ends).
    """
    usable = np.isfinite(target) & np.isfinite(volume_times)
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


def _fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[Any, np.ndarray, np.ndarray, float, float]:
    """Ridge with penalty ``alpha`` on z-scored ``X`` and ``y``; also the features' and target's mean and std."""
    from sklearn.linear_model import Ridge  # scikit-learn takes a second to import: only when training

    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    estimator = Ridge(alpha=alpha).fit((X - mu) / sd, (y - y_mean) / y_std)
    return estimator, mu, sd, y_mean, y_std


def _float_list(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise EegConfigError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _bands(text: str) -> list[tuple[float, float]]:
    out = []
    for part in text.split(","):
        try:
            lo, hi = part.split("-")
            out.append((float(lo), float(hi)))
        except ValueError:
            raise EegConfigError(f"--bands: expected LOW-HIGH pairs in Hz separated by commas, got {part!r}") from None
    return out


def _read_onsets(path: Path) -> list[float]:
    values = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FitError(f"cannot read onsets {path}: {exc}") from exc
    for k, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise FitError(f"{path}, line {k}: expected one onset in seconds per line, got {line!r}") from None
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nfd eeg fit",
        description="Train an EEG-fingerprint model (ridge regression of an fMRI ROI signal on EEG band power).",
    )
    p.add_argument("eeg", type=Path, help="EEG recording: .vhdr, .edf, .bdf, .gdf, .set, .fif or .xdf")
    p.add_argument("timeseries", type=Path, help="fMRI ROI series, TSV (e.g. nfd's timeseries.tsv)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.joblib)")
    p.add_argument("--column", default=None, help="TSV column to model (default: the only roi_* column)")
    p.add_argument("--channels", default=None, help="comma-separated EEG channels (default: all)")
    p.add_argument("--stream", default=None, help="XDF: name of the EEG stream")
    align = p.add_mutually_exclusive_group(required=True)
    align.add_argument("--trigger", help="marker label of the scanner's volume trigger (e.g. R128)")
    align.add_argument("--onsets", type=Path, help="text file: each volume's onset in s, one per line from volume 0")
    align.add_argument("--tr", type=float, help="repetition time, s (volumes at --first-onset + index * TR)")
    p.add_argument("--first-onset", type=float, default=0.0, help="with --tr: volume 0's time in the EEG, s")
    p.add_argument(
        "--first-trigger-index", type=int, default=0,
        help="with --trigger: acquisition index of the recording's first trigger (default 0)",
    )
    p.add_argument("--fs", type=float, default=None, help="rate after decimation, Hz (default: nearest 250 Hz)")
    p.add_argument("--bandpass", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None, help="Hz")
    p.add_argument("--notch", type=float, action="append", default=[], help="notch frequency, Hz (repeatable)")
    p.add_argument(
        "--window", type=float, default=None,
        help="EEG window before each volume, s (default 12; with --hrf: the HRF's length)",
    )
    p.add_argument("--rate", type=float, default=4.0, help="band-power rate within the window, Hz (default 4)")
    p.add_argument("--bands", default=None, help="LOW-HIGH,... in Hz (default: 10 bands from 0.5 to 45 Hz)")
    p.add_argument("--delays", default=None, help="comma-separated delays in s (default: every 1/rate in the window)")
    p.add_argument("--gamma", type=float, default=1.0, help="Stockwell window width factor (default 1)")
    p.add_argument(
        "--hrf", default=None, metavar="FILE|canonical",
        help="convolve each channel's and band's log power with this HRF (a TSV of time_s and values, e.g. "
        "nfd hrf estimate's; or SPM's canonical): one feature per channel and band, instead of --delays",
    )
    p.add_argument("--hrf-column", default=None, help="with --hrf FILE: the file's column (parcel) to use")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--train-fraction", type=float, default=0.8, help="first fraction used to train (default 0.8)")
    p.add_argument("--detrend", choices=("linear", "none"), default="linear", help="target detrending")
    return p


def _option_clash(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of --hrf, --hrf-column and --delays (None if nothing)."""
    if args.hrf is not None and args.delays is not None:
        return "--hrf and --delays are exclusive (the HRF's taps are the delays), expected one of them"
    if args.hrf_column is not None and (args.hrf is None or args.hrf == "canonical"):
        return f"--hrf-column {args.hrf_column} without an HRF file, expected --hrf FILE with it"
    return None


def _hrf_kernel(hrf: str | None, column: str | None, rate: float) -> HrfKernel | None:
    """``--hrf``'s kernel at the band-power rate (Hz): SPM's canonical HRF, a file's column, or None.

    Raises
    ------
    FitError
        The file is unreadable or malformed, or lacks the column (the reader's message).
    """
    if hrf is None:
        return None
    try:
        return HrfKernel.canonical(rate) if hrf == "canonical" else HrfKernel.from_file(hrf, rate, column)
    except EegConfigError as exc:
        raise FitError(f"--hrf: {exc}") from None


def _report_text(result: FitResult, sha256: str, path: Path) -> str:
    r = result.report
    spec = result.model.spec
    if spec.hrf is None:
        temporal = f"{len(spec.delays)} delays"
    else:
        column = "" if spec.hrf.column is None else f" column {spec.hrf.column}"
        temporal = f"HRF {spec.hrf.source}{column} ({spec.hrf.n_taps} taps over {spec.hrf.length:g} s)"
    lines = [
        f"nfd EEG-fingerprint model {path.name}",
        f"sha256 {sha256}",
        (
            f"channels {', '.join(spec.channels)}; {spec.fs:g} Hz; window {spec.window:g} s; rate {spec.rate:g} Hz; "
            f"{len(spec.bands)} bands; {temporal}; {spec.n_features} features"
        ),
        (
            f"volumes: {r['volumes_used']} used ({r['volumes_train']} train, {r['volumes_test']} test from index "
            f"{r['first_test_index']}), {r['volumes_without_window']} without a whole EEG window"
        ),
        f"ridge alpha {r['alpha']:.4g} (chosen by {r['folds']}-fold blocked cross-validation on the training part)",
        f"train: r {r['train']['r']:.3f}  R2 {r['train']['r2']:.3f}  MSE {r['train']['mse']:.4g}",
        f"test:  r {r['test']['r']:.3f}  R2 {r['test']['r2']:.3f}  MSE {r['test']['mse']:.4g}",
    ]
    return "\n".join(lines) + "\n"


def fit_main(argv: Sequence[str] | None = None) -> int:
    """``nfd eeg fit EEG TIMESERIES -o MODEL``: train, write the model, its metadata and a report.

    Writes ``MODEL``, ``MODEL.json`` (metadata and SHA-256) and
    ``MODEL.report.txt``; prints the report (with the SHA-256 to pin in the
    configuration).

    Returns
    -------
    int
        0 on success; 2 on unusable input (one line on standard error).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    clash = _option_clash(args)
    if clash is not None:
        print(f"nfd eeg fit: {clash}", file=sys.stderr)
        return 2
    try:
        hrf = _hrf_kernel(args.hrf, args.hrf_column, args.rate)
        recording = read_recording(args.eeg, stream=args.stream)
        index, values, column = read_target(args.timeseries, args.column)
        if args.trigger is not None:
            times = volume_times_from_triggers(recording, args.trigger, index, args.first_trigger_index)
        elif args.onsets is not None:
            times = volume_times_from_onsets(_read_onsets(args.onsets), index)
        else:
            if not (args.tr > 0):
                raise FitError(f"--tr must be > 0 s, got {args.tr}")
            times = args.first_onset + index * args.tr
        preprocess = PreprocessSpec(
            fs=args.fs if args.fs is not None else _default_fs(recording.fs),
            bandpass=None if args.bandpass is None else tuple(args.bandpass),
            notch=tuple(args.notch),
        )
        result = fit_model(
            recording, values, times, index=index,
            channels=None if args.channels is None else [c.strip() for c in args.channels.split(",") if c.strip()],
            preprocess=preprocess, window=args.window, rate=args.rate,
            bands=DEFAULT_BANDS if args.bands is None else _bands(args.bands),
            delays=() if args.delays is None else _float_list(args.delays, "--delays"),
            gamma=args.gamma, hrf=hrf, folds=args.folds, train_fraction=args.train_fraction, detrend=args.detrend,
            target_name=column, sources={"eeg": str(args.eeg), "timeseries": str(args.timeseries)},
        )
        sha = result.model.save(args.output)
    except (EegError, OSError) as exc:
        print(f"nfd eeg fit: error: {exc}", file=sys.stderr)
        return 2
    text = _report_text(result, sha, args.output)
    args.output.with_name(args.output.name + ".report.txt").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0
