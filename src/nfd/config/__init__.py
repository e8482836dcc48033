"""One TOML file configures nfd: reading, validating and showing it.

Owns the schema (:mod:`nfd.config._schema`) and its validator
(:mod:`nfd.config._load`). Touches nothing else: it reads one file and
returns frozen dataclasses; other subpackages receive only the parts they use.

Every option, with its unit and default, is documented in ``etc/nfd.toml``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from nfd.config._load import ConfigError, check_files, load_config, parse_config, parse_table
from nfd.config._schema import (
    SIEMENS_RT_PATTERN,
    AcquireConfig,
    Config,
    FeedbackConfig,
    LogConfig,
    MultiEchoConfig,
    RunConfig,
    UdpConfig,
    VolumeConfig,
)

__all__ = [
    "SIEMENS_RT_PATTERN",
    "AcquireConfig",
    "Config",
    "ConfigError",
    "FeedbackConfig",
    "LogConfig",
    "MultiEchoConfig",
    "RunConfig",
    "UdpConfig",
    "VolumeConfig",
    "check_files",
    "config_to_dict",
    "load_config",
    "parse_config",
    "parse_table",
]


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The resolved settings as plain JSON-able data (paths as strings).

    Examples
    --------
    >>> from pathlib import Path
    >>> cfg = parse_config('[run]\\ntr = 1.5\\nn_volumes = 9\\n[acquire]\\nwatch_dir = "w"\\n'
    ...                    '[feedback]\\nprotocol = "p.json"\\n[roi]\\na = "a.nii"', Path("/x"))
    >>> config_to_dict(cfg)["feedback"]["udp"]["format"]
    'json'
    """

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = dataclasses.asdict(cfg)
    for f in dataclasses.fields(cfg):
        if f.metadata.get("internal"):
            data.pop(f.name, None)
    return plain(data)
