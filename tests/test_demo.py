"""``nfd demo``, the README's first command, on a short session."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_processes_every_volume_and_tracks_the_activation(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nfd", "demo", "--volumes", "30", "--speed", "20", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    lines = [line for line in out.splitlines() if line.startswith("volume ")]
    assert [int(line.split()[1]) for line in lines] == list(range(30))
    assert "volumes processed         30 of 30 (feedback received for 30)" in out
    r = float(re.search(r"true activation\s+r = (-?[\d.]+)", out).group(1))
    assert r > 0.7
    assert re.search(r"latency last byte -> sent median [\d.]+ ms, p95 [\d.]+ ms", out)
    folder = Path(re.search(r"run folder\s+(\S+)", out).group(1))
    assert folder.parent == tmp_path and (folder / "volumes.jsonl").is_file() and (folder / "motion.tsv").is_file()


def test_multiecho_demo_combines_the_echoes_and_recovers_t2star(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nfd", "demo", "--echoes", "3", "--volumes", "24", "--speed", "20", "--out",
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "synthetic 3-echo session of 24 volumes" in out
    assert "volumes processed         24 of 24 (feedback received for 24)" in out
    match = re.search(r"T2\* in grey matter\s+median ([\d.]+) ms \(true ([\d.]+)\), median error ([\d.]+) ms", out)
    assert match, out
    assert abs(float(match.group(1)) - float(match.group(2))) < 2.0 and float(match.group(3)) < 3.0
    folder = Path(re.search(r"run folder\s+(\S+)", out).group(1))
    assert {"t2star.nii.gz", "s0.nii.gz", "tsnr_echo-3.nii.gz"} <= {p.name for p in folder.iterdir()}
    assert float(re.search(r"true activation\s+r = (-?[\d.]+)", out).group(1)) > 0.6
