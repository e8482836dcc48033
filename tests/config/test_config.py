"""Config: every bad file is refused with one line naming the key; etc/nfd.toml is complete."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from nfd.config import Config, ConfigError, check_files, config_to_dict, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
[run]
tr = 2.0
n_volumes = 40
[acquire]
watch_dir = "watch"
[feedback]
protocol = "protocol.json"
[roi]
left = "left.nii"
"""


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("/base"), Path("nfd.toml"))
    return info.value


def test_minimal_config_gets_documented_defaults() -> None:
    cfg = parse_config(MINIMAL, Path("/base"))
    assert cfg.acquire.watch_dir == Path("/base/watch")
    assert cfg.feedback.protocol == Path("/base/protocol.json")
    assert cfg.roi == {"left": Path("/base/left.nii")}
    assert cfg.feedback.udp.port == 1234 and cfg.feedback.udp.format == "json"
    assert cfg.volume.smooth_fwhm == 5.0 and cfg.run.skip_volumes == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run.tr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (('left = "left.nii"', 'left = "left.nii"\n[feedback.udp]\nprot = 1'), "feedback.udp.prot", "did you mean 'port'"),
        (('left = "left.nii"', 'left = "left.nii"\n[feedback.udp]\nport = "abc"'), "feedback.udp.port", "integer from 1 to 65535"),
        (('left = "left.nii"', 'left = "left.nii"\n[feedback.udp]\nport = 70000'), "feedback.udp.port", "integer from 1 to 65535"),
        (('left = "left.nii"', 'left = "left.nii"\n[feedback.udp]\nformat = "xml"'), "feedback.udp.format", "'opennft'"),
        (("tr = 2.0", "tr = 0"), "run.tr", "> 0.0 (s)"),
        (("tr = 2.0", ""), "run.tr", "missing"),
        (("tr = 2.0", "tr = true"), "run.tr", "got a boolean"),
        (("n_volumes = 40", "n_volumes = 4.5"), "run.n_volumes", "an integer"),
        (("[acquire]", "[acquire]\npattern = 'vol_\\d+'"), "acquire.pattern", "(?P<volume>"),
        (("[acquire]", "[acquire]\npattern = '('"), "acquire.pattern", "invalid"),
        (("[acquire]", "[acquire]\npoll = 'yes'"), "acquire.poll", "true or false"),
        (('left = "left.nii"', ""), "roi", "at least one ROI"),
        (('left = "left.nii"', "left = 3"), "roi.left", "a path"),
        (("[run]", "[run]\nskip_volumes = 40"), "run.skip_volumes", "fewer skipped volumes"),
        (("[run]", "[runn]\nx = 1\n[run]"), "runn", "unknown key"),
        (('left = "left.nii"', 'left = "left.nii"\n[web]\nhost = "0.0.0.0"'), "web.token_file",
         "only loopback may go without a token"),
        (('left = "left.nii"', 'left = "left.nii"\n[eeg]\nenabled = true'), "eeg.model",
         "model file and its sha256"),
        (('left = "left.nii"', ('left = "left.nii"\n[eeg]\nenabled = true\nmodel = "m"\nmodel_sha256 = "x"'
          '\ntype = ""')), "eeg.name", "stream name, type or source_id"),
        (("[feedback]", '[feedback]\ntype = "proxy"'), "feedback.proxy.targets", "2 to 4 target ROIs"),
        (('protocol = "protocol.json"', 'protocol = "protocol.json"\n[feedback.proxy]\ntargets = ["left", "nowhere"]'), "feedback.proxy",
         "got 'nowhere'"),
        (("[feedback]", '[feedback]\ntype = "decoder"'), "feedback.decoder.model", "model file or a weight map"),
        (('protocol = "protocol.json"', ('protocol = "protocol.json"\ntype = "decoder"\n[feedback.decoder]\n'
          'model = "m"\nweights = "w.nii"\nsha256 = "x"')), "feedback.decoder.weights", "one of the two"),
        (("[feedback]", '[feedback]\nreference = "spm"'), "feedback.reference", "'preceding'"),
        (("[feedback]", '[feedback]\ndecimals = 16'), "feedback.decimals", "15"),
        (('protocol = "protocol.json"', 'protocol = "protocol.json"\ntype = "external"\n[feedback.external]\nsource = "button"'),
         "feedback.external.source", "got 'button'"),
        (('protocol = "protocol.json"', 'protocol = "protocol.json"\n[feedback.correlation]\npairs = [["left", 3]]'),
         "feedback.correlation.pairs[0][1]", "expected a string"),
    ],
)
def test_bad_value_names_key_and_expectation(edit: tuple[str, str], key: str, words: str) -> None:
    err = _error(MINIMAL.replace(*edit, 1))
    assert err.key == key
    message = str(err)
    assert message.startswith(f"nfd.toml: {key}: ")
    assert words in message
    assert "\n" not in message


def test_toml_syntax_error_is_one_line() -> None:
    err = _error("[run\ntr = 2")
    assert "not valid TOML" in str(err) and "line 1" in str(err) and "\n" not in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_check_files_names_the_missing_path(tmp_path: Path) -> None:
    (tmp_path / "nfd.toml").write_text(MINIMAL)
    cfg = load_config(tmp_path / "nfd.toml")
    with pytest.raises(ConfigError, match=r"acquire\.watch_dir: expected an existing folder"):
        check_files(cfg)
    (tmp_path / "watch").mkdir()
    with pytest.raises(ConfigError, match=r"feedback\.protocol: expected an existing file"):
        check_files(cfg)
    (tmp_path / "protocol.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"roi\.left: expected an existing NIfTI file"):
        check_files(cfg)
    (tmp_path / "left.nii").write_bytes(b"")
    check_files(cfg)


def _schema_keys(cls: type, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            keys |= _schema_keys(hints[f.name], key + ".")
        elif typing.get_origin(hints[f.name]) is not dict:
            keys.add(key)
    return keys


def _flatten(table: dict[str, typing.Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for k, v in table.items():
        if isinstance(v, dict) and k != "roi":
            keys |= _flatten(v, f"{prefix}{k}.")
        elif k != "roi":
            keys.add(f"{prefix}{k}")
    return keys


def test_etc_config_documents_every_option_and_loads() -> None:
    path = ROOT / "etc" / "nfd.toml"
    cfg = load_config(path)
    documented = _flatten(config_to_dict(cfg))
    assert documented == _schema_keys(Config)
    text = path.read_text()
    for key in _schema_keys(Config):
        name = key.rsplit(".", 1)[-1]
        assert f"\n{name} = " in text, f"{key} is not written out in etc/nfd.toml"
    # every value written in etc/nfd.toml is the documented default, except the run-specific ones
    assert cfg.acquire.reorder_timeout == 2.0 and cfg.feedback.udp.port == 1234


def _nfd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfd", *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_check_config_misspelt_key_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "nfd.toml").write_text(MINIMAL.replace("[feedback]", "[feedback]\ngian = 2.0", 1))
    proc = _nfd("check-config", str(tmp_path / "nfd.toml"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "feedback.gian" in lines[0] and "did you mean 'gain'" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_check_config_prints_resolved_settings(tmp_path: Path) -> None:
    (tmp_path / "nfd.toml").write_text(MINIMAL)
    (tmp_path / "watch").mkdir()
    (tmp_path / "protocol.json").write_text(
        '{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[6, 10], [16, 20]]}]}'
    )
    (tmp_path / "left.nii").write_bytes(b"")
    proc = _nfd("check-config", str(tmp_path / "nfd.toml"))
    assert proc.returncode == 0, proc.stderr
    assert f'"watch_dir": "{tmp_path / "watch"}"' in proc.stdout
    assert '"port": 1234' in proc.stdout


def test_version() -> None:
    from nfd import __version__

    proc = _nfd("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"nfd {__version__}"


def _numeric_options(cls: type = Config, prefix: str = "") -> list[tuple[str, type, dict]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _numeric_options(tp, f"{prefix}{f.name}.")
        elif tp in (int, float):
            out.append((f"{prefix}{f.name}", tp, dict(f.metadata)))
    return out


#: Options whose value is a free number (a gain, the display range, shaping thresholds): finite, any size.
UNBOUNDED = {"feedback.gain", "feedback.min", "feedback.max", "feedback.shaping.first_threshold",
             "feedback.shaping.margin", "feedback.udp.port"}


@pytest.mark.parametrize(("key", "tp", "meta"), _numeric_options(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_numeric_option_has_a_sane_range_and_refuses_nan(key: str, tp: type, meta: dict) -> None:
    # nfd run must never take 1e9 volumes (a MemoryError), a 1e-9 s heartbeat or a 1e12 s reorder wait
    assert "max" in meta or key in UNBOUNDED, f"{key} has no upper bound"
    section, name = key.rsplit(".", 1)
    text = MINIMAL + f"\n[{section}]\n{name} = {{}}\n"
    if re.search(rf"^{name} = ", MINIMAL, re.MULTILINE) and section in ("run", "acquire", "feedback"):
        text = re.sub(rf"^{name} = .*$", f"{name} = {{}}", MINIMAL, count=1, flags=re.MULTILINE)
    elif section in ("run", "acquire", "feedback"):  # tables MINIMAL already has: edit them in place
        text = MINIMAL.replace(f"[{section}]", f"[{section}]\n{name} = {{}}", 1)
    if tp is float:
        for bad in ("nan", "inf", "-inf"):
            error = _error(text.replace("{}", bad))
            assert error.key == key and "finite" in str(error), str(error)
    if "max" in meta:
        error = _error(text.replace("{}", repr(tp(meta["max"]) * 2 + 1)))
        assert error.key == key and "got" in str(error), str(error)
