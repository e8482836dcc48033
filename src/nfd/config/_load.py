"""Read a TOML file into :class:`~nfd.config.Config`, refusing anything unexpected.

One validator walks the dataclass schema (:mod:`nfd.config._schema`), so every
option is checked the same way and every error names the key path
(``feedback.udp.port``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from nfd._checks import check_bool, check_option, check_str, ensure_float, ensure_int
from nfd._errors import ConfigError
from nfd.config._profiles import apply_profile
from nfd.config._schema import Config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML configuration file at ``path``.

    Parameters
    ----------
    path : str or Path
        The TOML file. Relative paths inside it resolve against its folder.

    Returns
    -------
    Config
        Frozen, typed configuration with absolute paths.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, or a key is unknown, missing, of the
        wrong type or out of range. The message names the key path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "nfd.toml").write_text('''
    ... [run]
    ... tr = 2.0
    ... n_volumes = 100
    ... [acquire]
    ... watch_dir = "watch"
    ... [feedback]
    ... protocol = "protocol.json"
    ... [roi]
    ... left = "left.nii"
    ... ''')
    >>> cfg = load_config(d / "nfd.toml")
    >>> cfg.feedback.udp.port, cfg.acquire.watch_dir == d / "watch"
    (1234, True)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file ({exc})", file=path) from None
    return parse_config(text, base_dir=path.resolve().parent, file=path)


def parse_config(text: str, base_dir: Path, file: Path | None = None) -> Config:
    """Validate TOML ``text``; relative paths resolve against ``base_dir``.

    See :func:`load_config`.
    """
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    table, applied, overridden = apply_profile(table)
    try:
        cfg = _build(Config, table, "", base_dir)
        _check_semantics(cfg)
    except ConfigError as exc:
        raise ConfigError(exc.reason, key=exc.key, file=file) from None
    return dataclasses.replace(cfg, source=base_dir, profile_applied=tuple(applied.items()),
                               profile_overridden=tuple(overridden.items()))


def _check_semantics(cfg: Config) -> None:
    """Rules that involve more than one key, in the order their errors are reported."""
    for rule in _RULES:
        rule(cfg)


def _check_pattern(cfg: Config) -> None:
    try:
        groups = re.compile(cfg.acquire.pattern).groupindex
    except re.error as exc:
        raise ConfigError(f"expected a regular expression, got an invalid one ({exc})", "acquire.pattern") from None
    if "volume" not in groups:
        raise ConfigError(
            "expected a regular expression with a named group (?P<volume>...) for the acquisition number",
            "acquire.pattern",
        )


def _check_rois(cfg: Config) -> None:
    atlas = cfg.atlas
    if not cfg.roi and not atlas.image:
        raise ConfigError('expected at least one ROI mask: a table [roi] with name = "mask.nii", or an [atlas]', "roi")
    if bool(atlas.image) != bool(atlas.labels):
        raise ConfigError("expected both a label image and its labels TSV for the atlas",
                          "atlas.labels" if atlas.image else "atlas.image")
    if atlas.image:
        return  # the atlas's ROI names are in its labels file: the daemon's build checks names against them
    fb = cfg.feedback
    proxy_rois = (*fb.proxy.targets, fb.proxy.control)
    unknown_rois = [r for r in (*proxy_rois, *(x for p in fb.correlation.pairs for x in p)) if r and r not in cfg.roi]
    if unknown_rois:
        raise ConfigError(
            f"expected ROI names from [roi] ({', '.join(cfg.roi)}), got {unknown_rois[0]!r}",
            "feedback.proxy" if unknown_rois[0] in proxy_rois else "feedback.correlation.pairs",
        )


def _check_feedback_kind(cfg: Config) -> None:
    fb = cfg.feedback
    if fb.type == "proxy" and not (2 <= len(fb.proxy.targets) <= 4 and fb.proxy.control):
        raise ConfigError("expected 2 to 4 target ROIs and a control ROI for the two-point proxy",
                          "feedback.proxy.targets")
    d = fb.decoder
    if fb.type == "decoder" and (bool(d.model) == bool(d.weights) or not d.sha256):
        raise ConfigError("expected a model file or a weight map (one of the two) and its sha256 for the decoder",
                          "feedback.decoder.weights" if d.weights else "feedback.decoder.model")
    if fb.type == "normative" and not (fb.normative.model and fb.normative.sha256):
        raise ConfigError("expected a model folder (nfd normative fit) and the sha256 of its model.npz",
                          "feedback.normative.sha256" if fb.normative.model else "feedback.normative.model")
    eeg_source = fb.external.source == "eeg" and cfg.eeg.enabled
    if fb.type == "external" and fb.external.source not in fb.external_sources and not eeg_source:
        raise ConfigError(f"expected one of feedback.external_sources {list(fb.external_sources)}, or eeg with "
                          f"[eeg] enabled, got {fb.external.source!r}", "feedback.external.source")


def _check_eeg(cfg: Config) -> None:
    if cfg.eeg.enabled:
        if not (cfg.eeg.model and cfg.eeg.model_sha256):
            raise ConfigError("expected a model file and its sha256 when EEG is enabled", "eeg.model")
        if not (cfg.eeg.name or cfg.eeg.type or cfg.eeg.source_id):
            raise ConfigError("expected a stream name, type or source_id to find the EEG stream", "eeg.name")


def _check_feedback_range(cfg: Config) -> None:
    if cfg.feedback.min >= cfg.feedback.max:
        raise ConfigError(
            f"expected feedback.min < feedback.max, got {cfg.feedback.min} >= {cfg.feedback.max}", "feedback.min"
        )


def _check_web(cfg: Config) -> None:
    if cfg.web.enabled and cfg.web.host not in ("127.0.0.1", "localhost", "::1") and not cfg.web.token_file:
        raise ConfigError(
            f"expected a token_file when binding {cfg.web.host!r}: only loopback may go without a token",
            "web.token_file",
        )


def _check_multiecho(cfg: Config) -> None:
    me = cfg.multiecho
    n = me.echoes
    if me.echo_times_ms and (len(me.echo_times_ms) != n or any(not 0 < t <= 1000 for t in me.echo_times_ms)
                             or list(me.echo_times_ms) != sorted(set(me.echo_times_ms))):
        raise ConfigError(f"expected {n} increasing echo times in (0, 1000] ms, one per echo, got "
                          f"{list(me.echo_times_ms)}", "multiecho.echo_times_ms")
    if me.realign_echo > n:
        raise ConfigError(f"expected an echo from 1 to multiecho.echoes ({n}), got {me.realign_echo}",
                          "multiecho.realign_echo")
    method, _, number = me.combine.partition(":")
    valid = method in ("t2s", "paid", "fixed") and not number
    valid = valid or (method == "echo" and number.isdigit() and 1 <= int(number) <= n)
    if not valid:
        raise ConfigError(f"expected 't2s', 'paid', 'fixed' or 'echo:N' with N from 1 to {n}, got {me.combine!r}",
                          "multiecho.combine")
    if method == "fixed" and not me.t2star_map:
        raise ConfigError("expected a T2* map file for combine = 'fixed'", "multiecho.t2star_map")


def _check_hrf(cfg: Config) -> None:
    s = cfg.signal
    if s.hrf and s.task_regressor == "spm":
        raise ConfigError(
            "expected no HRF file with task_regressor 'spm' (SPM's design as OpenNFT builds it keeps SPM's "
            "canonical HRF); set task_regressor = 'nfd' to use the file", "signal.hrf"
        )
    if s.hrf_column and not s.hrf:
        raise ConfigError("expected an HRF file (signal.hrf) for the column to be read from", "signal.hrf_column")


def _check_run(cfg: Config) -> None:
    if cfg.run.skip_volumes >= cfg.run.n_volumes:
        raise ConfigError(
            f"expected fewer skipped volumes than run.n_volumes ({cfg.run.n_volumes})", "run.skip_volumes"
        )


#: The rules of :func:`_check_semantics`, in order.
_RULES: tuple[Callable[[Config], None], ...] = (
    _check_pattern,
    _check_rois,
    _check_feedback_kind,
    _check_eeg,
    _check_feedback_range,
    _check_web,
    _check_multiecho,
    _check_run,
    _check_hrf,
)


def check_files(cfg: Config, *, watch_dir: bool = True) -> None:
    """Check that the files and folders the configuration names exist.

    Parameters
    ----------
    cfg : Config
    watch_dir : bool
        Also require ``acquire.watch_dir`` to be an existing folder (``nfd run``;
        ``nfd replay`` reads its input elsewhere).

    Raises
    ------
    ConfigError
        Naming the key whose path does not exist.
    """
    if watch_dir and not cfg.acquire.watch_dir.is_dir():
        raise ConfigError(
            f"expected an existing folder, {_shown(cfg.acquire.watch_dir)} is not one", "acquire.watch_dir"
        )
    if not cfg.feedback.protocol.is_file():
        raise ConfigError(
            f"expected an existing file, {_shown(cfg.feedback.protocol)} is not one", "feedback.protocol"
        )
    for name, mask in cfg.roi.items():
        if not mask.is_file():
            raise ConfigError(f"expected an existing NIfTI file, {_shown(mask)} is not one", _join("roi", name))
    if cfg.web.enabled and cfg.web.token_file and not Path(cfg.web.token_file).is_file():
        raise ConfigError(f"expected an existing file, {_shown(cfg.web.token_file)} is not one", "web.token_file")
    decoder = cfg.feedback.decoder
    decoder_file, decoder_key = ((decoder.weights, "feedback.decoder.weights") if decoder.weights
                                 else (decoder.model, "feedback.decoder.model"))
    if cfg.feedback.type == "decoder" and not Path(decoder_file).is_file():
        raise ConfigError(f"expected an existing file, {_shown(decoder_file)} is not one", decoder_key)
    _check_atlas_files(cfg)
    if cfg.signal.hrf and not Path(cfg.signal.hrf).is_file():
        raise ConfigError(f"expected an existing HRF TSV file, {_shown(cfg.signal.hrf)} is not one", "signal.hrf")
    if cfg.eeg.enabled and not Path(cfg.eeg.model).is_file():
        raise ConfigError(f"expected an existing file, {_shown(cfg.eeg.model)} is not one", "eeg.model")
    for key in ("t2star_map", "mask"):
        path = getattr(cfg.multiecho, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"expected an existing NIfTI file, {_shown(path)} is not one", f"multiecho.{key}")
    if cfg.volume.reference != "first" and not Path(cfg.volume.reference).is_file():
        raise ConfigError(
            f"expected 'first' or an existing NIfTI file, {_shown(cfg.volume.reference)} is not one", "volume.reference"
        )


def _check_atlas_files(cfg: Config) -> None:
    """The ``[atlas]`` files and the normative model folder exist."""
    if cfg.feedback.type == "normative" and not Path(cfg.feedback.normative.model).is_dir():
        raise ConfigError(f"expected an existing model folder, {_shown(cfg.feedback.normative.model)} is not one",
                          "feedback.normative.model")
    for key in ("image", "labels"):
        path = getattr(cfg.atlas, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"expected an existing file, {_shown(path)} is not one", f"atlas.{key}")


# --------------------------------------------------------------------------- #
# The schema walker


def _shown(path: str | Path) -> str:
    """A path for a one-line message: as it is, or quoted and escaped when it holds a newline or another
    unprintable character."""
    text = str(path)
    return text if text.isprintable() else repr(text)


#: A TOML bare key: shown as it is in key paths; any other key is shown quoted.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(prefix: str, key: str) -> str:
    """The key path of ``key`` in table ``prefix``, as TOML writes it.

    A key that is not a bare key (empty, with a dot, a space or a newline) is
    quoted and escaped, so that the path stays one line and names it.
    """
    shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
    return f"{prefix}.{shown}" if prefix else shown


def parse_table(cls: type, table: Any, prefix: str, base_dir: Path) -> Any:
    """Validate a parsed TOML table against a schema dataclass, as the daemon's config is validated.

    The one validator of :func:`load_config`, for other files of nfd's own
    (``nfd evaluate``'s study file): unknown keys (with a close match
    suggested), missing required keys, types, bounds in the fields'
    metadata (``min``, ``max``, ``min_exclusive``), ``Literal`` choices,
    arrays and nested tables; paths resolved against `base_dir`.

    Parameters
    ----------
    cls : type
        A frozen dataclass whose fields carry nfd's schema metadata.
    table : dict
        The parsed table.
    prefix : str
        The table's key path in the file ("" for the top level).
    base_dir : Path
        Folder relative paths are resolved against.

    Returns
    -------
    An instance of `cls`.

    Raises
    ------
    ConfigError
        Naming the key path and what was expected.
    """
    return _build(cls, table, prefix, base_dir)


def _build(cls: type, table: Any, prefix: str, base_dir: Path) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {_describe(table)}", prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    unknown = [k for k in table if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown key{hint}; expected one of: {', '.join(fields)}", _join(prefix, key))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing; expected {_expected(hints[name], f.metadata)}", key)
            continue
        values[name] = _coerce(table[name], hints[name], f.metadata, key, base_dir)
    return cls(**values)


def _coerce(value: Any, tp: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, key, base_dir)
    origin = get_origin(tp)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table of {_expected(tp, meta)}, got {_describe(value)}", key)
        _, vt = get_args(tp)
        return {k: _coerce(v, vt, {}, _join(key, k), base_dir) for k, v in value.items()}
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"expected an array of {_expected(item, {})}s, got {_describe(value)}", key)
        return [_coerce(v, item, {}, f"{key}[{i}]", base_dir) for i, v in enumerate(value)]
    if origin is Literal:
        choices = get_args(tp)
        try:
            return check_option(key, value, choices)
        except ValueError:
            raise ConfigError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}", key) from None
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _coerce(value, args[0], meta, key, base_dir)
    scalar = _SCALARS.get(tp)
    if scalar is None:
        raise TypeError(f"schema type {tp!r} at {key} has no validator")  # a bug in the schema, not the file
    return scalar(value, meta, key, base_dir)


def _refused(value: Any, tp: type, meta: typing.Mapping[str, Any], key: str) -> ConfigError:
    """The error for a value of the wrong type: what `key` expects, and what it got."""
    noun = "a string" if tp is str else "a path (a non-empty string)" if tp is Path else _expected(tp, meta)
    return ConfigError(f"expected {noun}, got {_describe(value)}", key)


def _coerce_bool(value: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> bool:
    try:
        return check_bool(value, key)
    except ValueError:
        raise _refused(value, bool, meta, key) from None


def _coerce_int(value: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> int:
    try:
        number = ensure_int(value, key)
    except ValueError:
        raise _refused(value, int, meta, key) from None
    _check_bounds(number, meta, key, int)
    return number


def _coerce_float(value: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> float:
    try:
        number = ensure_float(value, key, finite=False)  # TOML's inf and nan: refused with the bounds
    except ValueError:
        raise _refused(value, float, meta, key) from None
    _check_bounds(number, meta, key, float)
    return number


#: String options that hold a path (resolved against the config's folder when set).
_PATH_STRINGS = (
    "web.token_file", "feedback.decoder.model", "feedback.decoder.weights", "eeg.model", "multiecho.t2star_map",
    "multiecho.mask", "feedback.normative.model", "atlas.image", "atlas.labels", "signal.hrf",
)


def _coerce_str(value: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> str:
    try:
        text = check_str(value, key, empty=True)
    except ValueError:
        raise _refused(value, str, meta, key) from None
    if (key == "volume.reference" and text != "first") or (key in _PATH_STRINGS and text):
        return str(_resolve(text, key, base_dir))
    return text


def _coerce_path(value: Any, meta: typing.Mapping[str, Any], key: str, base_dir: Path) -> Path:
    try:
        text = check_str(value, key, empty=True)
    except ValueError:
        raise _refused(value, Path, meta, key) from None
    if not text:
        raise _refused(value, Path, meta, key)
    return _resolve(text, key, base_dir)


def _resolve(text: str, key: str, base_dir: Path) -> Path:
    """``text`` as an absolute path (``~`` expanded, relative to ``base_dir``).

    A path the system cannot take (a NUL byte, ``~user`` of no known user) is
    a :class:`ConfigError` naming the key, not a crash.
    """
    try:
        return (base_dir / Path(text).expanduser()).resolve()
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"expected a usable path, got {_describe(text)} ({exc})", key) from None


#: Validators of the schema's scalar types: (value, field metadata, key path, config folder) -> value.
_SCALARS: dict[Any, Callable[[Any, typing.Mapping[str, Any], str, Path], Any]] = {
    bool: _coerce_bool,
    int: _coerce_int,
    float: _coerce_float,
    str: _coerce_str,
    Path: _coerce_path,
}


def _check_bounds(value: float, meta: typing.Mapping[str, Any], key: str, tp: type) -> None:
    lo, hi, lo_ex = meta.get("min"), meta.get("max"), meta.get("min_exclusive")
    if tp is float and not math.isfinite(value):  # TOML's nan and inf: no option means them
        raise ConfigError(f"expected a finite {_expected(tp, meta).removeprefix('a ')}, got {value!r}", key)
    if (lo is not None and value < lo) or (hi is not None and value > hi) or (lo_ex is not None and value <= lo_ex):
        raise ConfigError(f"expected {_expected(tp, meta)}, got {value!r}", key)


def _expected(tp: Any, meta: typing.Mapping[str, Any]) -> str:
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    if dataclasses.is_dataclass(tp):
        return "a table"
    if get_origin(tp) is dict:
        return "name = path entries"
    if get_origin(tp) is list:
        return "an array"
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(map(repr, get_args(tp)))
    noun = {int: "an integer", float: "a number", bool: "true or false", str: "a string", Path: "a path"}.get(
        tp, str(tp)
    )
    lo, hi, lo_ex = meta.get("min"), meta.get("max"), meta.get("min_exclusive")
    if lo is not None and hi is not None:
        noun += f" from {lo} to {hi}"
    elif lo_ex is not None and hi is not None:
        return f"{noun} > {lo_ex}{unit}, at most {hi}"
    elif lo is not None:
        noun += f" >= {lo}"
    elif lo_ex is not None:
        noun += f" > {lo_ex}"
    elif hi is not None:
        noun += f" <= {hi}"
    return noun + unit


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown}" if len(shown) <= 40 else kind
