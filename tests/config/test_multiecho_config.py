"""``[multiecho]``: every inconsistent table refused with one line naming the key, before the run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.config import ConfigError, check_files, parse_config
from nfd.daemon.worker import multiecho_options

from .test_config import MINIMAL


def _parse(body: str, base: Path = Path("/base")) -> object:
    return parse_config(MINIMAL + "[multiecho]\n" + body + "\n", base, Path("nfd.toml"))


def test_default_is_single_echo() -> None:
    cfg = parse_config(MINIMAL, Path("/base"))
    assert cfg.multiecho.echoes == 1 and cfg.multiecho.combine == "t2s" and multiecho_options(cfg.multiecho) is None


def test_a_multi_echo_table_reaches_the_engine() -> None:
    cfg = _parse('echoes = 3\necho_times_ms = [14.5, 38.5, 62.5]\ncombine = "paid"\nrealign_echo = 2\n'
                 't2s_volumes = 5\nt2s_update = "running"')
    assert multiecho_options(cfg.multiecho) == {  # type: ignore[attr-defined]
        "realign_echo": 2, "combine": "paid", "t2s_volumes": 5, "t2s_update": "running"}


@pytest.mark.parametrize(("body", "key", "words"), [
    ("echoes = 3\necho_times_ms = [14.5, 38.5]", "multiecho.echo_times_ms", "expected 3 increasing echo times"),
    ("echoes = 2\necho_times_ms = [38.5, 14.5]", "multiecho.echo_times_ms", "increasing"),
    ("echoes = 2\necho_times_ms = [0, 14.5]", "multiecho.echo_times_ms", "(0, 1000] ms"),
    ("echoes = 2\nrealign_echo = 3", "multiecho.realign_echo", "from 1 to multiecho.echoes (2)"),
    ('echoes = 3\ncombine = "echo:4"', "multiecho.combine", "'echo:N' with N from 1 to 3"),
    ('echoes = 3\ncombine = "optimal"', "multiecho.combine", "expected 't2s', 'paid', 'fixed'"),
    ('echoes = 3\ncombine = "fixed"', "multiecho.t2star_map", "a T2* map file"),
    ("echoes = 0", "multiecho.echoes", "an integer from 1 to 16"),
    ('t2s_update = "sometimes"', "multiecho.t2s_update", "'freeze', 'running'"),
])
def test_inconsistent_tables_are_refused_naming_the_key(body: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(body)
    assert info.value.key == key and words in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_check_files_wants_the_t2star_map(tmp_path: Path) -> None:
    for name in ("protocol.json", "left.nii"):
        (tmp_path / name).write_text("x")
    (tmp_path / "watch").mkdir()
    cfg = parse_config(MINIMAL + '[multiecho]\nechoes = 3\ncombine = "fixed"\nt2star_map = "t2s.nii.gz"\n', tmp_path)
    with pytest.raises(ConfigError) as info:
        check_files(cfg)
    assert info.value.key == "multiecho.t2star_map" and "t2s.nii.gz" in str(info.value)
