"""``nfd replay`` as a subprocess over a recording, and the records it wrote (for the offline tools' tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nfd.outputs import RunFolder, VolumeRecord, VolumeStatus


def replayed_records(config: Path, recording: Path, out: Path) -> list[VolumeRecord]:
    """Run ``nfd replay -c CONFIG --input RECORDING --out OUT``; the processed volumes' records, in order."""
    proc = subprocess.run([sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input", str(recording),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = list(out.iterdir())
    return [r for r in RunFolder.read_volumes(folder / "volumes.jsonl") if r.status is VolumeStatus.PROCESSED]
