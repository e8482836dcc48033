"""The files of ``nfd simulate bold`` (:func:`write_bold`) and its command line (:func:`bold_main`)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict
from os import PathLike
from pathlib import Path
from typing import NoReturn

import numpy as np

from nfd._files import write_atomic
from nfd._version import __version__
from nfd.simulate._bold import BoldSimulation, BoldSpec, make_bold
from nfd.simulate._bold_hrf import FINE_DT_S, TRUTH_DT_S
from nfd.simulate._bold_inputs import NOISE_KINDS
from nfd.simulate._bold_paradigm import contrasts, paradigm_csv
from nfd.simulate._cohort import _json, _nifti_bytes
from nfd.simulate._errors import SimulationError

__all__ = ["bold_main", "write_bold"]

PROG = "nfd simulate bold"
_MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "n/a" if math.isnan(value) else repr(float(value))
    return str(value)


def _tsv(rows: Sequence[Sequence[object]], header: Sequence[str]) -> bytes:
    """Tab-separated text, floats as Python's shortest exact repr, NaN as ``n/a``."""
    lines = ["\t".join(header), *("\t".join(_cell(v) for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def bold_names(sim: BoldSimulation) -> list[str]:
    """The 4-D file of each session: ``bold.nii.gz`` for one, else ``bold_session-<k>.nii.gz`` (k from 0)."""
    sessions = len(sim.bold)
    return ["bold.nii.gz"] if sessions == 1 else [f"bold_session-{k}.nii.gz" for k in range(sessions)]


def _hrf_tsv(sim: BoldSimulation) -> bytes:
    step = round(TRUTH_DT_S / FINE_DT_S)
    n = (sim.hrfs[0].values.size - 1) // step + 1
    rows = [(round(i * TRUTH_DT_S, 6), *(float(h.values[i * step]) for h in sim.hrfs)) for i in range(n)]
    return _tsv(rows, ("time_s", *(str(p + 1) for p in range(len(sim.hrfs)))))


def _parcels_tsv(sim: BoldSimulation) -> bytes:
    header = ("parcel", "time_to_peak_s", "undershoot_ratio", "fwhm_s", "active",
              *(f"amplitude_{c}" for c in sim.conditions), "peak_shape", "peak_scale_s", "undershoot_shape",
              "undershoot_scale_s", "voxels")  # fmt: skip
    rows = []
    for p, h in enumerate(sim.hrfs):
        params = h.params[:4] if h.params else (math.nan,) * 4
        rows.append((p + 1, h.time_to_peak_s, h.undershoot_ratio, h.fwhm_s, int(sim.active[p]),
                     *map(float, sim.parcel_amplitudes[p]), *map(float, params),
                     int(np.count_nonzero(sim.parcellation == p + 1))))  # fmt: skip
    return _tsv(rows, header)


def _truth_json(sim: BoldSimulation) -> bytes:
    spec = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(sim.spec).items()}
    spec["snr"] = "inf" if sim.spec.snr == math.inf else sim.spec.snr
    return _json({
        "generator": f"nfd {__version__} simulate bold (nfd.simulate.make_bold)",
        "spec": spec, "seed": sim.spec.seed, "conditions": list(sim.conditions),
        "streams": {"(0,)": "baselines, voxel amplitude factors", "(1, k)": "session k's paradigm",
                    "(2, k)": "session k's noise", "(3, k)": "session k's drift", "(4, k)": "session k's motion walk",
                    "(5,)": "motion gains"},
        "bold_files": bold_names(sim), "volume_times": "volume i at i * tr s from its session's start",
        "fine_dt_s": FINE_DT_S, "hrf_dt_s": TRUTH_DT_S,
        "signal": "B (1 + sum_c a_c / 100 x_c(t) + drift(t) + motion(t)) + noise(t); x_c = dt * (stimulus_c * hrf) "
                  "at t = i * tr; an impulse event weighs 1 s; HRFs peak-normalised",
        "snr": "std of the noise-free activation signal over std of the noise, per active voxel, all sessions",
        "time_to_peak_s": [h.time_to_peak_s for h in sim.hrfs],
    })  # fmt: skip


def _files(sim: BoldSimulation) -> dict[str, bytes]:
    tr, affine = sim.spec.tr, sim.affine
    files = {name: _nifti_bytes(image, affine, tr) for name, image in zip(bold_names(sim), sim.bold, strict=True)}
    files.update({
        "parcellation.nii.gz": _nifti_bytes(np.asarray(sim.parcellation), affine),
        "paradigm.csv": paradigm_csv(sim.events), "contrasts.json": _json(contrasts(sim.conditions)),
        "truth/hrf.tsv": _hrf_tsv(sim), "truth/parcels.tsv": _parcels_tsv(sim), "truth/truth.json": _truth_json(sim),
        "truth/baseline.nii.gz": _nifti_bytes(sim.baseline, affine),
        "truth/noise_sd.nii.gz": _nifti_bytes(sim.noise_sd, affine),
    })  # fmt: skip
    for c, name in enumerate(sim.conditions):
        files[f"truth/amplitudes_{name}.nii.gz"] = _nifti_bytes(sim.amplitudes[c], affine)
    columns = [f"{p + 1}_{c}" for p in range(len(sim.hrfs)) for c in sim.conditions]
    for k, x in enumerate(sim.regressors):
        suffix = "" if len(sim.bold) == 1 else f"_session-{k}"
        rows = [tuple(float(v) for v in x[:, :, i].ravel()) for i in range(x.shape[2])]
        files[f"truth/regressors{suffix}.tsv"] = _tsv(rows, columns)
        if sim.spec.motion > 0:
            files[f"truth/motion{suffix}.tsv"] = _tsv([tuple(map(float, r)) for r in sim.motion[k]], _MOTION_COLUMNS)
    return files


def write_bold(sim: BoldSimulation, out_dir: str | PathLike[str]) -> Path:
    """Write `sim` in PyHRF's formats with its truth under `out_dir` (created if missing; files atomically).

    Files: ``bold.nii.gz`` (one session) or ``bold_session-<k>.nii.gz`` (k from 0): float32 4-D, TR (s) as the
    4th pixdim; ``parcellation.nii.gz`` (int16, labels 1..N, 0 background); ``paradigm.csv`` (PyHRF: lines
    ``session "condition" onset duration amplitude``, numbers as ``%f``); ``contrasts.json`` (PyHRF's:
    ``{"audio-video": "audio - video"}``, every pair of conditions); ``truth/hrf.tsv`` (``time_s`` then one
    column per parcel label, every 0.1 s up to the HRF duration, peak 1); ``truth/parcels.tsv`` (``parcel
    time_to_peak_s undershoot_ratio fwhm_s active amplitude_<condition>... peak_shape peak_scale_s
    undershoot_shape undershoot_scale_s voxels``; ``n/a`` for a file's HRF); ``truth/amplitudes_<condition>.nii.gz``
    (float32 percent per voxel); ``truth/baseline.nii.gz`` and ``truth/noise_sd.nii.gz`` (float32, scanner
    units); ``truth/regressors[_session-<k>].tsv`` (``x_pc`` per volume, columns ``<parcel>_<condition>``);
    ``truth/motion[_session-<k>].tsv`` with motion (``trans_x`` ... ``rot_z``, mm and radians); and
    ``truth/truth.json`` (the spec, the seed streams, the definitions). TSV floats are Python's shortest exact
    repr; images are gzip level 1 without a timestamp, so equal seeds give byte-identical files.

    Parameters
    ----------
    sim : BoldSimulation
    out_dir : path

    Returns
    -------
    pathlib.Path
        `out_dir`.
    """
    out = Path(out_dir)
    for relative, payload in _files(sim).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / relative, payload)
    return out


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: {message}, expected the arguments '{PROG} -h' lists", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Artificial task fMRI with a known HRF per parcel, in PyHRF's formats, "
                "with its ground truth in truth/ (nfd.simulate.make_bold). Exit 2 on bad input.")  # fmt: skip
    d = BoldSpec()
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    p.add_argument("--paradigm", default=d.paradigm, help="block | slow-er | fast-er | FILE.csv (PyHRF)")
    p.add_argument("--conditions", default="audio,video", help="comma-separated names (drawn paradigms)")
    p.add_argument("--n-volumes", type=int, default=d.n_volumes, help="volumes per session")
    p.add_argument("--tr", type=float, default=d.tr, help="repetition time in s")
    p.add_argument("--sessions", type=int, default=None, help="sessions (default 1, or the paradigm file's)")
    p.add_argument("--parcels", type=int, default=d.parcels, help="slab parcels along x")
    p.add_argument("--shape", default=",".join(map(str, d.shape)), help="grid in voxels, X,Y,Z")
    p.add_argument("--voxel-size", type=float, default=d.voxel_size_mm, help="voxel size in mm")
    p.add_argument("--hrf", default=d.hrf, help="gamma | canonical | FILE.tsv (time_s, one column per parcel)")
    p.add_argument("--hrf-duration", type=float, default=d.hrf_duration, help="HRF length in s")
    p.add_argument("--activation", default=None, help='JSON {"1": {"audio": 2.0, ...}, ...} (percent)')
    p.add_argument("--amplitude", type=float, default=d.amplitude, help="default pattern's amplitude in percent")
    p.add_argument("--spread", type=float, default=d.spread, help="voxel amplitude spread (sd of the factor)")
    p.add_argument("--noise", default=d.noise, help=" | ".join(NOISE_KINDS))
    p.add_argument("--ar", type=float, default=d.ar, help="AR(1) coefficient in [0, 1)")
    p.add_argument("--snr", type=float, default=d.snr, help="activation sd over noise sd, active voxels (inf: none)")
    p.add_argument("--drift", type=float, default=d.drift, help="drift amplitude in percent")
    p.add_argument("--motion", type=float, default=d.motion, help="largest motion in mm and degrees (0: none)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed (>= 0)")
    return p


def _spec(args: argparse.Namespace) -> BoldSpec:
    try:
        shape = tuple(int(v) for v in args.shape.split(","))
    except ValueError as exc:
        raise SimulationError(f"--shape {args.shape!r}, expected three voxel counts like 20,20,10") from exc
    if len(shape) != 3:
        raise SimulationError(f"--shape {args.shape!r}, expected three voxel counts like 20,20,10")
    conditions = tuple(c.strip() for c in args.conditions.split(","))
    return BoldSpec(
        paradigm=args.paradigm, conditions=conditions, n_volumes=args.n_volumes, tr=args.tr, sessions=args.sessions,
        shape=shape, voxel_size_mm=args.voxel_size, parcels=args.parcels, hrf=args.hrf,
        hrf_duration=args.hrf_duration, activation=args.activation, amplitude=args.amplitude, spread=args.spread,
        noise=args.noise, ar=args.ar, snr=args.snr, drift=args.drift, motion=args.motion, seed=args.seed,
    )  # fmt: skip


def bold_main(argv: Sequence[str] | None = None) -> int:
    """``nfd simulate bold --out DIR [options]``: make and write artificial BOLD data (:func:`make_bold`,
    :func:`write_bold`).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``nfd simulate bold`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when written (one line on standard error says where), 2 on bad input: one line
        ``nfd simulate bold: <what>, expected <what>`` on standard error, no traceback.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.out.exists() and not args.out.is_dir():
        print(f"{PROG}: --out {args.out} is a file, expected a folder (created if missing)", file=sys.stderr)
        return 2
    try:
        sim = make_bold(_spec(args))
    except SimulationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        write_bold(sim, args.out)
    except OSError as exc:
        print(f"{PROG}: cannot write {args.out} ({exc.strerror or exc}), expected a writable folder", file=sys.stderr)
        return 2
    print(f"{PROG}: {len(sim.bold)} session(s) of {sim.spec.n_volumes} volumes, {len(sim.hrfs)} parcels, "
          f"{len(sim.events)} events written to {args.out}", file=sys.stderr)  # fmt: skip
    return 0
