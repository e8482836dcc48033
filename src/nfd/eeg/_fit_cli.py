"""``nfd eeg fit``'s command line: recordings and their fMRI series in pairs, options, the report files.

``nfd eeg fit A.vhdr A.tsv [B.vhdr B.tsv ...] -o MODEL`` writes ``MODEL``
(the model, pinned by SHA-256), ``MODEL.json`` (metadata and hash),
``MODEL.report.txt`` (printed too), ``MODEL.report.json`` (the whole
report) and ``MODEL.folds.tsv`` (one row per held-out run or ``pooled``, and
target: volumes, penalty, r, R^2, MSE, RMSE, MAE, SSIM, p-value, r's 95 %
interval).  With ``--compare`` it fits the feature options instead and
writes ``MODEL.compare.tsv`` (no model).

``--estimator sklearn.svm.SVR --param C=1`` fits any scikit-learn regressor
(only modules under ``sklearn.``); ``--estimator-file est.joblib`` a joblib'd
scikit-learn estimator or pipeline (cloned, then fitted; its SHA-256 is
recorded, and checked first when ``--estimator-sha256`` is given).  Loading
it unpickles it: give only files you made or trust.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nfd._files import file_sha256
from nfd.eeg._errors import EegConfigError, EegError, FitError
from nfd.eeg._features import DEFAULT_BANDS, HrfKernel
from nfd.eeg._fit import (
    FitResult,
    FitRun,
    _default_fs,
    fit_runs,
    read_targets,
    volume_times_from_onsets,
    volume_times_from_triggers,
)
from nfd.eeg._preprocess import PreprocessSpec
from nfd.eeg._recording import read_recording

__all__ = ["main"]

FOLD_COLUMNS = (
    "fold", "run", "target", "volumes", "alpha", "r", "r2", "mse", "rmse", "mae", "ssim", "p_phase", "r_ci95_low",
    "r_ci95_high",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``nfd eeg fit EEG TIMESERIES [EEG TIMESERIES ...] -o MODEL``: train, write the model and its report.

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
        runs, names = _runs(args)
        options = _fit_options(args, runs[0].recording.fs)
        if args.compare:
            text = _compare(runs, names, options, args.output)
            sys.stdout.write(text)
            return 0
        result = fit_runs(runs, target_names=names, **options)
        sha = result.model.save(args.output)
    except (EegError, OSError) as exc:
        print(f"nfd eeg fit: error: {exc}", file=sys.stderr)
        return 2
    text = _report_text(result, sha, args.output)
    _write_reports(result, args.output, text)
    sys.stdout.write(text)
    return 0


def _runs(args: argparse.Namespace) -> tuple[list[FitRun], tuple[str, ...]]:
    """The (recording, fMRI series) pairs of the command line, aligned, and the target columns."""
    files: list[Path] = args.files
    if len(files) % 2:
        raise FitError(f"{len(files)} files given, expected pairs of EEG recording and fMRI series (TSV)")
    onsets = args.onsets or []
    if onsets and len(onsets) not in (1, len(files) // 2):
        raise FitError(f"{len(onsets)} --onsets files for {len(files) // 2} recordings, expected one or one each")
    columns = None if args.all_columns else (args.column or None)
    runs, names = [], None
    for k in range(0, len(files), 2):
        recording = read_recording(files[k], stream=args.stream)
        if columns is None and not args.all_columns:
            index, values, got = _default_column(files[k + 1])
        else:
            index, values, got = read_targets(files[k + 1], columns)
        if names is not None and got != names:
            raise FitError(f"{files[k + 1]}: columns {list(got)} differ from {list(names)}, expected the same")
        names = got
        runs.append(FitRun(recording, values, _volume_times(args, recording, index, onsets, k // 2), index,
                           files[k].name))
    assert names is not None
    return runs, names


def _default_column(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The only ``roi_*`` column (as before several targets)."""
    from nfd.eeg._fit import read_target

    index, values, column = read_target(path, None)
    return index, values[:, None], (column,)


def _volume_times(
    args: argparse.Namespace, recording: Any, index: np.ndarray, onsets: list[Path], k: int
) -> np.ndarray:
    """Each volume's time in its recording (s): triggers, an onsets file, or the TR."""
    if args.trigger is not None:
        return volume_times_from_triggers(recording, args.trigger, index, args.first_trigger_index)
    if onsets:
        return volume_times_from_onsets(_read_onsets(onsets[k if len(onsets) > 1 else 0]), index)
    if not (args.tr > 0):
        raise FitError(f"--tr must be > 0 s, got {args.tr}")
    return np.asarray(args.first_onset + index * args.tr, dtype=np.float64)


def _fit_options(args: argparse.Namespace, source_fs: float) -> dict[str, Any]:
    """:func:`fit_runs`'s keyword arguments from the command line."""
    feature_options: dict[str, Any] = {}
    if args.power is not None:
        feature_options["power"] = args.power
    if args.average_s is not None:
        feature_options["average_s"] = args.average_s
    return {
        "channels": None if args.channels is None else [c.strip() for c in args.channels.split(",") if c.strip()],
        "preprocess": PreprocessSpec(
            fs=args.fs if args.fs is not None else _default_fs(source_fs),
            bandpass=None if args.bandpass is None else tuple(args.bandpass), notch=tuple(args.notch),
        ),
        "window": args.window, "rate": args.rate,
        "bands": DEFAULT_BANDS if args.bands is None else _bands(args.bands),
        "delays": () if args.delays is None else _float_list(args.delays, "--delays"),
        "gamma": args.gamma, "hrf": _hrf_kernel(args.hrf, args.hrf_column, args.rate),
        "feature_options": feature_options,
        **({} if args.alphas is None else {"alphas": _float_list(args.alphas, "--alphas")}),
        "folds": args.folds, "train_fraction": args.train_fraction, "detrend": args.detrend, "split": args.runs,
        "estimator": _estimator(args), "n_surrogates": args.null,
        "sources": {
            "eeg": ",".join(str(f) for f in args.files[::2]),
            "timeseries": ",".join(str(f) for f in args.files[1::2]),
            **({} if args.estimator_file is None else {
                "estimator_file": str(args.estimator_file), "estimator_sha256": file_sha256(args.estimator_file)}),
        },
    }


def _estimator(args: argparse.Namespace) -> Any:
    """The estimator of ``--estimator`` with ``--param``s, or of ``--estimator-file``, or None (ridge)."""
    if args.estimator_file is not None:
        return _estimator_from_file(args.estimator_file, args.estimator_sha256)
    if args.estimator is None:
        if args.param:
            raise FitError("--param without --estimator, expected --estimator sklearn.MODULE.CLASS with it")
        return None
    path = str(args.estimator)
    module, _, name = path.rpartition(".")
    if not module.startswith("sklearn.") or not name:
        raise FitError(f"--estimator {path}: expected a class under sklearn., e.g. sklearn.svm.SVR")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise FitError(f"--estimator {path}: no such class, expected e.g. sklearn.svm.SVR") from None
    params = dict(_param(p) for p in args.param)
    try:
        est = cls(**params)
        est.get_params()
    except (TypeError, ValueError, AttributeError) as exc:
        raise FitError(f"--estimator {path} with {params}: {exc}, expected a scikit-learn estimator and its "
                       "parameters") from None
    if not (hasattr(est, "fit") and hasattr(est, "predict")):
        raise FitError(f"--estimator {path}: not a regressor (no fit and predict), expected one")
    return est


def _param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``--param``: the value as JSON (numbers, true, false, null, strings) or else text."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise FitError(f"--param {text!r}: expected NAME=VALUE, e.g. C=1")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, {"True": True, "False": False, "None": None}.get(value, value)


def _estimator_from_file(path: Path, sha256: str | None) -> Any:
    """A joblib'd scikit-learn estimator or pipeline, its hash checked first if given, marked with its SHA-256."""
    import joblib

    try:
        content = path.read_bytes()
    except OSError as exc:
        raise FitError(f"--estimator-file {path}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if sha256 is not None and actual != sha256.strip().lower():
        raise FitError(f"--estimator-file {path} has SHA-256 {actual}, --estimator-sha256 pins {sha256}: not loaded")
    try:
        est = joblib.load(io.BytesIO(content))  # the bytes hashed are the bytes loaded
    except Exception as exc:  # unpickling errors come in many types
        raise FitError(f"--estimator-file {path} cannot be loaded: {exc!r}") from exc
    if not (hasattr(est, "fit") and hasattr(est, "predict") and hasattr(est, "get_params")):
        raise FitError(f"--estimator-file {path}: {type(est).__name__} is not a scikit-learn estimator or pipeline")
    return est


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nfd eeg fit",
        description="Train an EEG-fingerprint model (a regression of fMRI ROI or parcel signals on EEG band power).",
    )
    p.add_argument("files", type=Path, nargs="+", metavar="EEG TIMESERIES",
                   help="pairs: an EEG recording (.vhdr, .edf, .bdf, .gdf, .set, .fif, .xdf) and its fMRI series (TSV)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.joblib)")
    p.add_argument("--column", action="append", default=[], help="TSV column to model (repeatable; default: the "
                   "only roi_* column)")
    p.add_argument("--all-columns", action="store_true", help="model every numeric column (a parcel-wise series)")
    p.add_argument("--channels", default=None, help="comma-separated EEG channels (default: all)")
    p.add_argument("--stream", default=None, help="XDF: name of the EEG stream")
    align = p.add_mutually_exclusive_group(required=True)
    align.add_argument("--trigger", help="marker label of the scanner's volume trigger (e.g. R128)")
    align.add_argument("--onsets", type=Path, action="append",
                       help="text file: each volume's onset in s, one per line (once, or once per recording)")
    align.add_argument("--tr", type=float, help="repetition time, s (volumes at --first-onset + index * TR)")
    p.add_argument("--first-onset", type=float, default=0.0, help="with --tr: volume 0's time in the EEG, s")
    p.add_argument("--first-trigger-index", type=int, default=0,
                   help="with --trigger: acquisition index of the recording's first trigger (default 0)")
    p.add_argument("--fs", type=float, default=None, help="rate after decimation, Hz (default: nearest 250 Hz)")
    p.add_argument("--bandpass", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None, help="Hz")
    p.add_argument("--notch", type=float, action="append", default=[], help="notch frequency, Hz (repeatable)")
    p.add_argument("--window", type=float, default=None,
                   help="EEG window before each volume, s (default 12; with --hrf: the HRF's length)")
    p.add_argument("--rate", type=float, default=4.0, help="band-power rate within the window, Hz (default 4)")
    p.add_argument("--bands", default=None, help="LOW-HIGH,... in Hz (default: 10 bands from 0.5 to 45 Hz)")
    p.add_argument("--delays", default=None, help="comma-separated delays in s (default: every 1/rate in the window)")
    p.add_argument("--gamma", type=float, default=1.0, help="Stockwell window width factor (default 1)")
    p.add_argument("--power", default=None, help="band power: stockwell (default), welch or multitaper")
    p.add_argument("--average-s", type=float, default=None, help="averaging span of the band power, s (default 0)")
    p.add_argument("--hrf", default=None, metavar="FILE|canonical",
                   help="convolve each channel's and band's log power with this HRF (a TSV of time_s and values, "
                   "e.g. nfd hrf estimate's; or SPM's canonical): one feature per channel and band, not --delays")
    p.add_argument("--hrf-column", default=None, help="with --hrf FILE: the file's column (parcel) to use")
    p.add_argument("--runs", type=int, default=1, help="cut each recording into this many contiguous runs for "
                   "leave-one-run-out (default 1: one recording is split train/test by --train-fraction)")
    p.add_argument("--folds", type=int, default=5, help="blocked folds for the penalty in a one-run training part")
    p.add_argument("--train-fraction", type=float, default=0.8,
                   help="one run: the first fraction used to train (default 0.8)")
    p.add_argument("--detrend", choices=("none", "linear", "quadratic"), default="none",
                   help="trend removed from the features and the targets alike, fitted on the training part")
    p.add_argument("--alphas", default=None, help="comma-separated ridge penalties (default 28 from 1e-2 to 1e7)")
    p.add_argument("--estimator", default=None, help="a scikit-learn regressor instead of ridge, e.g. sklearn.svm.SVR")
    p.add_argument("--param", action="append", default=[], help="NAME=VALUE for --estimator (repeatable)")
    p.add_argument("--estimator-file", type=Path, default=None, help="a joblib'd scikit-learn estimator or pipeline")
    p.add_argument("--estimator-sha256", default=None, help="with --estimator-file: its SHA-256, checked first")
    p.add_argument("--null", type=int, default=1000, help="phase-randomised surrogates for r's p-value (default 1000)")
    p.add_argument("--compare", action="store_true",
                   help="fit the feature options (power, averaging, delays) and print held-out r; no model written")
    return p


def _report_text(result: FitResult, sha256: str, path: Path) -> str:
    r = result.report
    spec = result.model.spec
    if spec.hrf is None:
        temporal = f"{len(spec.delays)} delays"
    else:
        column = "" if spec.hrf.column is None else f" column {spec.hrf.column}"
        temporal = f"HRF {spec.hrf.source}{column} ({spec.hrf.n_taps} taps over {spec.hrf.length:g} s)"
    if r["validation"] == "holdout":
        volumes = (f"volumes: {r['volumes_used']} used ({r['volumes_train']} train, {r['volumes_test']} test from "
                   f"index {r['first_test_index']}), {r['volumes_without_window']} without a whole EEG window")
    else:
        volumes = (f"volumes: {r['volumes_used']} used in {r['runs']} runs, each held out in turn (leave-one-run-out)"
                   f", {r['volumes_without_window']} without a whole EEG window")
    if r["alpha"] is None:
        fitted = f"estimator {r['estimator']}"
    else:
        how = (f"{r['folds']}-fold blocked cross-validation on the training part" if r["runs"] == 1
               else f"leave-one-run-out over the {r['runs']} runs; each held-out run's own in its training runs")
        fitted = f"ridge alpha {r['alpha']:.4g} (chosen by {how})"
    lines = [
        f"nfd EEG-fingerprint model {path.name}",
        f"sha256 {sha256}",
        (f"channels {', '.join(spec.channels)}; {spec.fs:g} Hz; window {spec.window:g} s; rate {spec.rate:g} Hz; "
         f"{len(spec.bands)} bands; {temporal}; {spec.n_features} features"),
        volumes,
        f"targets {', '.join(r['targets'])}; detrend {r['detrend']} (features and targets, fitted on training parts)",
        fitted,
        f"train: r {r['train']['r']:.3f}  R2 {r['train']['r2']:.3f}  MSE {r['train']['mse']:.4g}",
        _test_line(r),
    ]
    lines += [_fold_line(f) for f in r["outer"]] if r["runs"] > 1 else []
    lines += [f"warning: {w}" for w in r["warnings"]]
    return "\n".join(lines) + "\n"


def _test_line(r: dict[str, Any]) -> str:
    t = r["test"]
    text = (f"test:  r {t['r']:.3f}  R2 {t['r2']:.3f}  MSE {t['mse']:.4g}  RMSE {t['rmse']:.4g}  MAE {t['mae']:.4g}")
    if "ssim" in t:
        text += f"  SSIM {t['ssim']:.3f}"
    if len(r["targets"]) == 1 and t.get("p_phase") is not None:
        lo, hi = t["r_ci95"]
        text += f"  (r 95% CI [{lo:.3f}, {hi:.3f}], phase-randomised p {t['p_phase']:.4g})"
    return text + (" pooled over held-out runs" if r["runs"] > 1 else "")


def _fold_line(f: dict[str, Any]) -> str:
    rs = ", ".join(f"{name} r {m['r']:.3f} R2 {m['r2']:.3f}" for name, m in f["metrics"].items())
    alpha = "" if f["alpha"] is None else f", alpha {f['alpha']:.4g}"
    return f"  run {f['run']} held out ({f['volumes']} volumes{alpha}): {rs}"


def _fold_rows(report: dict[str, Any]) -> list[list[Any]]:
    """``MODEL.folds.tsv``'s rows: each held-out run and target, then the pooled rows."""
    rows = []
    for k, f in enumerate(report["outer"]):
        for name, m in f["metrics"].items():
            rows.append([k, f["run"], name, f["volumes"], f["alpha"], m["r"], m["r2"], m["mse"], m["rmse"], m["mae"],
                         f["ssim"], None, None, None])
    for name, m in report["test_per_target"].items():
        rows.append(["pooled", None, name, report["volumes_test"], report["alpha"], m["r"], m["r2"], m["mse"],
                     m["rmse"], m["mae"], report["test"].get("ssim"), m["p_phase"], *m["r_ci95"]])
    return rows


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return repr(v) if isinstance(v, float) else str(v)


def _write_reports(result: FitResult, path: Path, text: str) -> None:
    """``MODEL.report.txt``, ``MODEL.report.json`` and ``MODEL.folds.tsv`` beside the model."""
    path.with_name(path.name + ".report.txt").write_text(text, encoding="utf-8")
    path.with_name(path.name + ".report.json").write_text(
        json.dumps(result.report, indent=2, default=float) + "\n", encoding="utf-8"
    )
    with open(path.with_name(path.name + ".folds.tsv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(FOLD_COLUMNS)
        w.writerows([[_cell(v) for v in row] for row in _fold_rows(result.report)])


#: ``--compare``'s alternative bands: the five classic ones, Hz.
CLASSIC_BANDS: tuple[tuple[float, float], ...] = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


def compare_options(has_power: bool) -> list[tuple[str, dict[str, Any]]]:
    """``--compare``'s options: power and averaging (when FeatureSpec has them) x temporal model x bands.

    The bands are the command line's (``given bands``) or :data:`CLASSIC_BANDS`.
    """
    powers: list[dict[str, Any]] = [{}]
    if has_power:
        powers = [{"power": "stockwell"}, {"power": "stockwell", "average_s": 2.0},
                  {"power": "welch", "average_s": 2.0}, {"power": "multitaper", "average_s": 2.0}]
    temporal: list[tuple[str, dict[str, Any]]] = [
        ("all delays", {}), ("a delay every 2 s", {"delays": "every 2 s"}),
        ("canonical HRF", {"hrf": "canonical"}),
    ]
    bands: list[tuple[str, dict[str, Any]]] = [("given bands", {}), ("5 classic bands", {"bands": CLASSIC_BANDS})]
    out = []
    for pw in powers:
        for label, t in temporal:
            if "hrf" in t and (pw.get("average_s") or pw.get("power", "stockwell") != "stockwell"):
                continue  # an HRF takes the instantaneous Stockwell power
            name = " ".join(f"{k}={v}" for k, v in pw.items()) or "stockwell"
            out += [(f"{name}, {label}, {b_label}", {**pw, **t, **b}) for b_label, b in bands]
    return out


def _compare(runs: list[FitRun], names: tuple[str, ...], options: dict[str, Any], path: Path) -> str:
    """Fit each of :func:`compare_options` (other settings as given); the table of held-out r, also as TSV."""
    import dataclasses

    from nfd.eeg._features import FeatureSpec

    has_power = "power" in {f.name for f in dataclasses.fields(FeatureSpec)}
    rows = []
    for label, change in compare_options(has_power):
        opts = {**options, "n_surrogates": 0, "feature_options": {
            k: change[k] for k in ("power", "average_s") if k in change}}
        if "delays" in change:
            window = options["window"] or 12.0
            span = change.get("average_s", 0.0)
            opts.update(delays=tuple(np.arange(0.0, window - span - 1 / options["rate"] + 1e-9, 2.0)), hrf=None,
                        window=window)
        if "hrf" in change:
            opts.update(delays=(), hrf=HrfKernel.canonical(options["rate"]), window=None)
        if "bands" in change:
            opts.update(bands=change["bands"])
        try:
            r = fit_runs(runs, target_names=names, **opts).report
            edge = "at an edge of the grid" if r["warnings"] else None
            rows.append((label, r["n_features"], r["test"]["r"], r["test"]["r2"], r["alpha"], edge))
        except FitError as exc:
            rows.append((label, None, math.nan, math.nan, None, str(exc)))
    lines = ["option\tfeatures\theld_out_r\theld_out_r2\talpha\tnote"]
    lines += ["\t".join(_cell(v) for v in row) for row in rows]
    text = "\n".join(lines) + "\n"
    path.with_name(path.name + ".compare.tsv").write_text(text, encoding="utf-8")
    return text


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


