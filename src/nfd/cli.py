"""The ``nfd`` command: run, replay, demo, check-config, simulate, evaluate, connectivity, normative, eeg.

Exit codes: 0 success (including a run stopped by SIGTERM), 1 an unexpected
failure (logged with its traceback), 2 a configuration or usage error (one
line on standard error, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import structlog

from nfd._log import configure_logging
from nfd._version import __version__
from nfd.config import Config, ConfigError, check_files, config_to_dict, load_config

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nfd", description="Real-time neurofeedback daemon for fMRI and EEG-fMRI."
    )
    p.add_argument("--version", action="version", version=f"nfd {__version__}")
    _log_options(p, argparse.SUPPRESS)
    p.set_defaults(log_format=None, log_level=None)
    # The log options are accepted after the command too (nfd run -c F --log-format console).
    common = argparse.ArgumentParser(add_help=False)
    _log_options(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", parents=[common], help="run the daemon on the configured watch folder",
        description="Run the neurofeedback daemon: wait for scans in acquire.watch_dir, send feedback, write a "
                    "run folder per run, until SIGTERM. Exit 2 on a configuration error.",
    )
    run.add_argument("-c", "--config", required=True, type=Path, metavar="FILE", help="TOML configuration")

    chk = sub.add_parser(
        "check-config", parents=[common], help="validate a config file and print the resolved settings",
        description="Validate a configuration as 'nfd run' would (keys, values, files, the protocol) and print the "
                    "resolved settings as JSON. Exit 0 when valid, 2 with one line naming the key otherwise.",
    )
    chk.add_argument("config", type=Path, metavar="FILE", help="TOML configuration")

    rep = sub.add_parser("replay", parents=[common], help="run the pipeline over a recorded run, as fast as possible")
    rep.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    rep.add_argument("--input", required=True, type=Path, metavar="PATH",
                     help="a folder of scan files or a 4-D NIfTI")
    rep.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the run folder")
    rep.add_argument("--web", action="store_true", help="serve the live page during the replay ([web] settings)")
    rep.add_argument("--send", action="store_true",
                     help="send the feedback to the configured UDP and serial sinks (default: send nothing, so that "
                          "a rehearsal never drives a live stimulus PC)")

    sim = sub.add_parser("simulate-scanner", add_help=False,
                         help="write a recorded series into a watch folder at the TR, as a scanner does")
    sim.add_argument("args", nargs=argparse.REMAINDER)

    _simulate_parser(sub, common)
    _evaluate_parser(sub, common)

    _own_parsers(sub)
    eeg = sub.add_parser("eeg", add_help=False, help="EEG tools: 'nfd eeg fit' trains an EEG-fingerprint model")
    eeg.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("simulate-eeg", add_help=False, help="play an EEG recording as an LSL stream in real time") \
        .add_argument("args", nargs=argparse.REMAINDER)

    demo = sub.add_parser("demo", parents=[common], help="run the daemon on a synthetic session it makes itself")
    demo.add_argument("--volumes", type=int, default=80, help="volumes in the session (default 80)")
    demo.add_argument("--tr", type=float, default=2.0, help="simulated repetition time in s (default 2.0)")
    demo.add_argument("--speed", type=float, default=10.0,
                      help="how many times faster than real time the volumes are written (default 10)")
    demo.add_argument("--out", type=Path, default=Path("nfd-demo"),
                      help="folder for the run folder (default ./nfd-demo)")
    demo.add_argument("--seed", type=int, default=1, help="random seed of the synthetic session")
    demo.add_argument("--echoes", type=int, default=1, choices=range(1, 6), metavar="N",
                      help="a multi-echo session of N echoes (1 to 5; default 1), combined online")
    return p


def _own_parsers(sub: argparse._SubParsersAction) -> None:
    """The tools parsing their own subcommands (``nfd connectivity``, ``normative``, ``hrf``), in ``--help``."""
    for name, help_text in (
        ("connectivity", "atlas series from fMRIPrep derivatives and FC matrices ('nfd connectivity --help')"),
        ("normative", "a normative FC model: fit, score, stats, select ('nfd normative --help')"),
        ("hrf", "per-parcel HRF estimation in PyHRF's formats ('nfd hrf estimate --help')"),
    ):
        sub.add_parser(name, add_help=False, help=help_text).add_argument("args", nargs=argparse.REMAINDER)


def _simulate_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """``nfd simulate cohort``: a synthetic multi-echo resting-state cohort as BIDS, with its truth."""
    simulate = sub.add_parser("simulate", parents=[common], help="write synthetic datasets with known ground truth")
    kinds = simulate.add_subparsers(dest="simulate_command", required=True, metavar="KIND")
    c = kinds.add_parser(
        "cohort", parents=[common], help="a multi-echo resting-state cohort with known connectivity, as BIDS",
        description="Write a synthetic multi-echo resting-state BIDS dataset (a phantom per subject, target ROIs "
                    "with a known spread of coupling and a decoupled control, every noise of the model) and its "
                    "ground truth in derivatives/truth (nfd.simulate.make_cohort). Exit 2 on a bad argument.",
    )
    c.add_argument("--subjects", type=int, default=34, help="subjects (default 34)")
    c.add_argument("--runs", type=int, default=2, help="rest runs per subject (default 2)")
    c.add_argument("--volumes", type=int, default=270, help="volumes per run (default 270)")
    c.add_argument("--echoes", type=int, default=3, help="echoes (default 3: TE 14.5, 35.3, 56.1 ms)")
    c.add_argument("--echo-times", type=float, nargs="+", metavar="MS", help="echo times in ms, one per echo")
    c.add_argument("--tr", type=float, default=2.0, help="repetition time in s (default 2.0)")
    c.add_argument("--targets", type=int, default=11, help="target ROIs, 2 to 11 (default 11), plus one control")
    c.add_argument("--shape", type=int, nargs=3, default=(48, 56, 40), metavar="N", help="grid (default 48 56 40)")
    c.add_argument("--voxel-size", type=float, nargs=3, default=(3.5, 3.5, 3.5), metavar="MM",
                   help="voxel size in mm (default 3.5 3.5 3.5)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--dtype", default="int16", choices=["int16", "float32"], help="image type (default int16)")
    c.add_argument("--threads", type=int, default=2, help="compression threads (default 2)")
    c.add_argument("--out", required=True, type=Path, metavar="DIR", help="the dataset's root folder")
    kinds.add_parser("bold", add_help=False,
                     help="BOLD with parcel-wise HRFs in PyHRF's formats, and its truth ('nfd simulate bold --help')"
                     ).add_argument("args", nargs=argparse.REMAINDER)
    f = kinds.add_parser(
        "fc-cohort", parents=[common], help="a multi-site FC cohort with planted deviant edges, fMRIPrep-like",
        description="Write synthetic fMRIPrep-like derivatives of healthy controls and patients at several sites "
                    "(network series with a normative correlation, site and covariate effects, deviant edges "
                    "planted in the patients, motion, physiological noise, confounds TSVs, an atlas) and the "
                    "ground truth in truth/ (nfd.simulate.make_fc_cohort). Exit 2 on a bad argument.",
    )
    f.add_argument("--controls", type=int, default=200, help="healthy controls (default 200)")
    f.add_argument("--patients", type=int, default=60, help="patients (default 60)")
    f.add_argument("--sites", type=int, default=3, help="sites (default 3)")
    f.add_argument("--networks", type=int, default=17, help="networks (default 17: Yeo 17 names)")
    f.add_argument("--deviant-edges", type=int, default=10, help="edges planted in patients (default 10)")
    f.add_argument("--volumes", type=int, default=300, help="volumes per subject (default 300)")
    f.add_argument("--tr", type=float, default=2.0, help="repetition time in s (default 2.0)")
    f.add_argument("--voxel-size", type=float, default=4.0, metavar="MM", help="isotropic voxel size, mm (default 4)")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument("--threads", type=int, default=2, help="compression threads (default 2)")
    f.add_argument("--out", required=True, type=Path, metavar="DIR", help="the derivatives' root folder")


def _evaluate_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """``nfd evaluate STUDY --out DIR``: a neurofeedback algorithm grid over recorded runs against a gold standard."""
    e = sub.add_parser(
        "evaluate", parents=[common], help="simulate candidate algorithms over recorded runs against a gold standard",
        description="Run a study (a TOML file: the dataset, ROIs, processing, gold standard, algorithm grid, "
                    "statistics; see etc/study.toml) with nfd's real-time pipeline and write cells.tsv, "
                    "performance.tsv, comparisons.tsv, correlations.tsv, figures and report.html into --out. An "
                    "interrupted study resumes in the same --out. Exit 2 on a bad study file.",
    )
    e.add_argument("study", type=Path, metavar="STUDY", help="the study's TOML file")
    e.add_argument("--out", type=Path, metavar="DIR", help="output folder (required unless --check)")
    e.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    e.add_argument("--scheduler", metavar="ADDR",
                   help="run on a Dask cluster: its scheduler's address (tcp://HOST:8786), or 'local' for a "
                        "LocalCluster of --jobs workers")
    e.add_argument("--check", action="store_true",
                   help="validate the study file and list the runs and problems found, without running")


def _log_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--log-format", choices=["json", "console"], default=default,
                        help="override log.format of the config")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=default,
                        help="override log.level")


_EEG_USAGE = """usage: nfd eeg fit [options]

EEG tools:
  fit    train an EEG-fingerprint model from EEG recorded with fMRI ('nfd eeg fit --help')
"""


def _load(path: Path, *, watch_dir: bool) -> tuple[Config, str]:
    cfg = load_config(path)
    check_files(cfg, watch_dir=watch_dir)
    return cfg, path.read_text(encoding="utf-8")


def _logging(args: argparse.Namespace, cfg: Config | None) -> None:
    fmt = args.log_format or (cfg.log.format if cfg else "json")
    level = args.log_level or (cfg.log.level if cfg else "info")
    configure_logging(fmt, level)


def _check_config(args: argparse.Namespace) -> int:
    cfg, _ = _load(args.config, watch_dir=True)
    from nfd.daemon.build import preflight

    preflight(cfg)  # every check nfd run makes before the first volume
    sys.stdout.write(orjson.dumps(config_to_dict(cfg), option=orjson.OPT_INDENT_2).decode() + "\n")
    print(f"nfd: {args.config}: {_profile_line(cfg)}", file=sys.stderr)
    print(f"nfd: {args.config}: configuration is valid", file=sys.stderr)
    return EXIT_OK


def _profile_line(cfg: Config) -> str:
    """Which profile is in force, how many options it set, and which the file overrides."""
    s = cfg.signal
    name = "nfd" if s.profile == "nfd" else f"opennft (OpenNFT {s.opennft_version})"
    if s.profile == "nfd":
        return "profile nfd (nfd's defaults)"
    overrides = ", ".join(f"{key} = {value!r}" for key, value in cfg.profile_overridden) or "none"
    return f"profile {name}: {len(cfg.profile_applied)} options set by it; overridden in the file: {overrides}"


def _run(args: argparse.Namespace) -> int:
    cfg, text = _load(args.config, watch_dir=True)
    from nfd.daemon.app import Daemon
    from nfd.daemon.build import preflight

    preflight(cfg)  # what check-config accepts, nfd run starts with
    _logging(args, cfg)

    async def serve() -> None:
        async with Daemon(cfg, config_text=text) as daemon:
            await daemon.serve()

    asyncio.run(serve())
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    cfg, text = _load(args.config, watch_dir=False)
    from nfd.daemon.app import run_daemon
    from nfd.daemon.build import open_recording

    _logging(args, cfg)
    source = open_recording(args.input, cfg)
    summary = asyncio.run(
        run_daemon(cfg, source, config_text=text, output_dir=args.out.resolve(), web=args.web, send=args.send)
    )
    print(f"nfd: replayed {summary.get('volumes_processed', 0)} volumes into {summary.get('run_folder')}",
          file=sys.stderr)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from nfd.demo import run_demo

    configure_logging(args.log_format or "console", args.log_level or "warning", stream=sys.stderr)
    return asyncio.run(
        run_demo(n_volumes=args.volumes, tr=args.tr, speed=args.speed, out=args.out, seed=args.seed,
                 echoes=args.echoes)
    )


def _simulate_scanner(args: argparse.Namespace) -> int:
    from nfd.acquire import simulate_scanner_main

    configure_logging(args.log_format or "console", args.log_level or "info", stream=sys.stderr)
    return simulate_scanner_main(args.args)


def _simulate(args: argparse.Namespace) -> int:
    import time

    from nfd.simulate import SimulationError, make_cohort, write_cohort

    if args.simulate_command == "fc-cohort":
        return _simulate_fc(args)
    start = time.perf_counter()
    try:
        cohort = make_cohort(
            args.subjects, args.runs, args.volumes, echoes=args.echoes, echo_times_ms=args.echo_times, tr=args.tr,
            n_targets=args.targets, shape=tuple(args.shape), voxel_size=tuple(args.voxel_size), seed=args.seed,
            dtype=args.dtype,
        )
        def progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (total - done)
            print(f"nfd: simulate cohort: run {done} of {total} written, {elapsed:.0f} s, about {eta:.0f} s left",
                  file=sys.stderr, flush=True)

        write_cohort(cohort, args.out, threads=args.threads, progress=progress)
    except SimulationError as exc:
        print(f"nfd: simulate cohort: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"nfd: wrote {args.subjects} subjects x {args.runs} runs x {args.volumes} volumes x "
          f"{len(cohort.settings.echo_times_ms)} echoes into {args.out} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return EXIT_OK


def _simulate_fc(args: argparse.Namespace) -> int:
    """``nfd simulate fc-cohort``: make and write the cohort, a line per subject with the time left."""
    import time

    from nfd.simulate import SimulationError, make_fc_cohort, write_fc_cohort

    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        print(f"nfd: simulate fc-cohort: subject {done} of {total} written, {elapsed:.0f} s, about "
              f"{elapsed / done * (total - done):.0f} s left", file=sys.stderr, flush=True)

    try:
        cohort = make_fc_cohort(args.controls, args.patients, sites=args.sites, networks=args.networks,
                                deviant_edges=args.deviant_edges, volumes=args.volumes, tr=args.tr,
                                voxel_size_mm=args.voxel_size, seed=args.seed)  # fmt: skip
        write_fc_cohort(cohort, args.out, threads=args.threads, progress=progress)
    except SimulationError as exc:
        print(f"nfd: simulate fc-cohort: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"nfd: wrote {args.controls} controls and {args.patients} patients at {args.sites} sites into {args.out} "
          f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    import importlib.util
    import time

    from nfd.evaluate import evaluate_study, load_study, study_runs

    configure_logging(args.log_format or "console", args.log_level or "warning", stream=sys.stderr)
    missing = [m for m in ("nilearn", "pandas", "bids", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"nfd: evaluate needs {', '.join(missing)}: pip install 'nfd[evaluate]'", file=sys.stderr)
        return EXIT_CONFIG
    if args.check or args.out is None:
        if args.out is None and not args.check:
            print("nfd: evaluate: expected --out DIR (or --check)", file=sys.stderr)
            return EXIT_CONFIG
        runs, problems = study_runs(load_study(args.study))
        print(f"nfd: evaluate: {args.study} is valid: {len(runs)} runs of "
              f"{len({r.subject for r in runs})} subjects", file=sys.stderr)
        for line in problems:
            print(f"nfd: evaluate: {line}", file=sys.stderr)
        return EXIT_OK
    if args.jobs < 1:
        print(f"nfd: evaluate: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return EXIT_CONFIG
    if args.out.exists() and not args.out.is_dir():
        print(f"nfd: evaluate: --out {args.out} is a file: expected a folder (created if missing)", file=sys.stderr)
        return EXIT_CONFIG
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        eta = f", about {elapsed / done * (total - done):.0f} s left" if done else ""
        print(f"nfd: evaluate: run {done} of {total} done, {elapsed:.0f} s{eta}", file=sys.stderr, flush=True)

    try:
        result = evaluate_study(args.study, args.out, jobs=args.jobs, scheduler=args.scheduler, progress=progress)
    except KeyboardInterrupt:
        print(f"nfd: evaluate: interrupted; the finished runs are kept in {args.out}/cells.jsonl: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    print(f"nfd: evaluate: {len(result.cells)} cells from {result.runs} runs ({result.computed} computed now), "
          f"{len(result.problems)} problems; report {result.report} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return EXIT_OK


def _eeg_usage(args: argparse.Namespace) -> int:
    print("nfd: expected 'nfd eeg fit ...' (see 'nfd eeg fit --help')", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nfd`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate-scanner"]:  # its own parser, options and --help
        return _simulate_scanner(argparse.Namespace(log_format=None, log_level=None, args=argv[1:]))
    if argv[:1] == ["eeg"] and argv[1:2] != ["fit"]:
        help_asked = bool(set(argv[1:2]) & {"-h", "--help"})
        (sys.stdout if help_asked else sys.stderr).write(_EEG_USAGE)
        return EXIT_OK if help_asked else EXIT_CONFIG
    if argv[:1] in (["connectivity"], ["normative"], ["hrf"]):  # offline tools parsing their own subcommands
        configure_logging("console", "info", stream=sys.stderr)
        if argv[0] == "connectivity":
            from nfd.connectivity import main as tool
        elif argv[0] == "normative":
            from nfd.normative import main as tool
        else:
            from nfd.hrf import main as tool
        try:
            return tool(argv[1:])
        except SystemExit as exc:  # their argparse: --help (0) or a usage error (2, one line)
            return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    if argv[:2] == ["simulate", "bold"]:  # the BOLD generator parses its own options
        from nfd.simulate import bold_main

        return bold_main(argv[2:])
    if argv[:2] == ["eeg", "fit"] or argv[:1] == ["simulate-eeg"]:  # the EEG tools parse their own options
        from nfd.eeg import fit_main, player_main

        configure_logging("console", "info", stream=sys.stderr)
        return fit_main(argv[2:]) if argv[0] == "eeg" else player_main(argv[1:])
    args = _parser().parse_args(argv)
    command = {"run": _run, "check-config": _check_config, "replay": _replay, "demo": _demo,
               "simulate-scanner": _simulate_scanner, "simulate": _simulate, "evaluate": _evaluate,
               "eeg": _eeg_usage, "simulate-eeg": _eeg_usage}[args.command]
    try:
        return command(args)
    except ConfigError as exc:
        print(f"nfd: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:  # noqa: BLE001  the last resort: an unexpected failure is logged with its traceback, exit 1
        structlog.get_logger("nfd.cli").exception("nfd_failed", command=args.command)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
