"""The shipped systemd unit: confined ("OK" to ``systemd-analyze security``) and valid against a real install.

Skipped where ``systemd-analyze`` is absent (``.ci/run`` installs Debian's
``systemd`` package when it runs as root, so CI always has it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nfd.outputs.web._limits import ConnectionLimits, default_max_clients

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "nfd.service"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is absent (Debian package 'systemd')")
#: The exposure systemd calls "OK" (issue 10's bar).
MAX_EXPOSURE = 2.5


def _exposure(unit: Path) -> float:
    out = subprocess.run([str(ANALYZE), "security", "--offline=true", "--no-pager", str(unit)],
                         capture_output=True, text=True, check=False)
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", out.stdout + out.stderr)
    assert found, out.stdout + out.stderr
    return float(found.group(1))


def _installed(tmp_path: Path, *drop_ins: str) -> Path:
    """The unit as installed: ExecStart on this venv's real ``nfd``, drop-ins appended (they override, as systemd's
    ``nfd.service.d/*.conf`` do)."""
    nfd = Path(sys.executable).with_name("nfd")
    assert nfd.is_file(), f"{nfd} is not installed"
    text = UNIT.read_text().replace("/opt/nfd/bin/nfd", str(nfd))
    unit = tmp_path / "nfd.service"
    unit.write_text("\n".join([text, *drop_ins]))
    return unit


def _verify(unit: Path) -> str:
    out = subprocess.run([str(ANALYZE), "verify", "--man=no", str(unit)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stderr


def _serial_drop_in() -> str:
    """The README's drop-in for a serial port (the block after its heading)."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"nfd\.service\.d/serial\.conf.*?```ini\n(.+?)```", readme, flags=re.DOTALL)
    assert found, "README.md has no serial drop-in for the unit"
    return found.group(1)


def test_the_shipped_unit_is_confined() -> None:
    assert _exposure(UNIT) <= MAX_EXPOSURE


def test_the_unit_verifies_against_a_real_install(tmp_path: Path) -> None:
    # No unknown key, no bad value: systemd would silently ignore a misspelt hardening line.
    assert _verify(_installed(tmp_path)).strip() == ""


def test_a_misspelt_key_would_be_caught(tmp_path: Path) -> None:
    assert "Unknown key" in _verify(_installed(tmp_path, "[Service]\nProtectSystm=strict\n"))


def test_the_readmes_serial_drop_in_verifies_and_stays_confined(tmp_path: Path) -> None:
    drop_in = _serial_drop_in()
    assert "DeviceAllow=/dev/ttyUSB0 rw" in drop_in and "dialout" in drop_in
    unit = _installed(tmp_path, drop_in)
    assert _verify(unit).strip() == ""
    assert _exposure(unit) <= MAX_EXPOSURE


def test_the_unit_bounds_descriptors_and_the_web_server_keeps_to_its_share() -> None:
    # Issue 10, case 8: the web server's connection cap comes from this limit and leaves the scan path at least
    # half of it (the cap and its listen backlog together).
    found = re.findall(r"^LimitNOFILE=(\d+)$", UNIT.read_text(), flags=re.MULTILINE)
    assert found == ["4096"]
    cap = default_max_clients(int(found[0]))
    assert cap == 256 and cap + ConnectionLimits(cap, 10.0).backlog <= int(found[0]) // 2
