"""Per-volume records (:class:`nfd.outputs.VolumeRecord`, as the daemon makes them), for driving the web server.

``opennft_run`` replays the real OpenNFT run (``opennft_psc_run``): its 155
Siemens mosaics read with nfd's reader, ROI means of the two real masks,
SPM's (MATLAB) motion parameters, framewise displacement, DVARS of the raw
volumes, continuous PSC against the real protocol, and the feedback as the
daemon scales it -- every key the daemon writes, with made-up timing only.
(The volume engine is left out so that the tests stay fast; it has its own.)

``synthetic_run`` makes a long run (1000 volumes by default) of the same
shape with known values, for counting and load tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.io

from nfd.acquire import read_scan
from nfd.design import load_protocol
from nfd.feedback import ContinuousPSC, combine, scale_feedback
from nfd.outputs import VolumeRecord, VolumeStatus
from nfd.outputs.web import RunInfo
from nfd.timeseries import RoiSet, framewise_displacement

T0 = 1763712000.0


def opennft_run(shared_data: Path) -> tuple[RunInfo, list[VolumeRecord]]:
    """The real run's :class:`RunInfo` and its 150 processed volumes' records (indices 5..154)."""
    run = shared_data / "opennft_psc_run"
    files = sorted((run / "dicom").glob("001_000007_*.dcm"))
    n_volumes, skip, tr = len(files), 5, 1.97
    design = load_protocol(run / "protocol.json", n_volumes=n_volumes, skip_volumes=skip, tr=tr)
    template = read_scan(run / "fanon-0007-00006-000006-01.nii")
    rois = RoiSet.from_files(
        {"left": run / "rois" / "lROI_1.nii", "right": run / "rois" / "rROI_2.nii"},
        shape=template.data.shape, affine=template.affine,
    )
    brain = template.data > 0.2 * float(template.data.max())
    motion = scipy.io.loadmat(run / "mc_matlab_dcm.mat")["mc_series_matlab"]
    psc_states = {name: ContinuousPSC(design, delay=2) for name in rois.names}
    records: list[VolumeRecord] = []
    previous: np.ndarray | None = None
    for index, path in enumerate(files):
        data = read_scan(path).data
        if index < skip:
            previous = data
            continue
        means = rois.means(data)
        assert previous is not None
        dvars = float(np.sqrt(np.mean((data[brain] - previous[brain]) ** 2)))
        previous = data
        fd = 0.0 if not records else framewise_displacement(motion[index - 1], motion[index])
        roi = dict(zip(rois.names, (float(m) for m in means), strict=True))
        psc = {name: psc_states[name].update(index, value) for name, value in roi.items()}
        feedback = scale_feedback(combine(list(psc.values()), "mean"), gain=1.0, lo=-100.0, hi=100.0)
        t_complete = T0 + index * tr + 0.4
        latency = 40.0 + 5.0 * math.sin(index)
        records.append(VolumeRecord(
            index=index,
            status=VolumeStatus.PROCESSED,
            file=path.name,
            condition=design.condition(index),
            t_written=t_complete - 0.004,
            t_complete=t_complete,
            t_sent=t_complete - 0.004 + latency / 1e3,
            latency_ms=latency,
            durations_ms={"wait_complete": 3.0, "read": 1.0, "volume": latency - 6.0, "roi": 0.5, "feedback": 0.1,
                          "send": 0.05},
            motion=[float(p) for p in motion[index]],
            iterations=4,
            converged=True,
            fd=fd,
            dvars=dvars,
            roi=roi,
            psc=psc,
            feedback=feedback,
        ))
    dvars_values = np.array([r["dvars"] for r in records])
    info = RunInfo(
        run_id="run-opennft-psc", n_volumes=n_volumes, tr=tr, blocks=design.blocks, baseline=design.baseline,
        rois=rois.names, skip_volumes=skip, feedback_range=(-100.0, 100.0), fd_threshold=0.2,
        dvars_threshold=float(np.round(1.5 * np.median(dvars_values), 1)), folder=None, started=T0,
    )
    return info, records


def synthetic_run(
    n_volumes: int = 1000, skip: int = 0, rois: tuple[str, ...] = ("left", "right")
) -> tuple[RunInfo, list[VolumeRecord]]:
    """A long run with 20-volume blocks alternating BAS/UP; feedback = 2 sin(index / 10)."""
    tr = 1.0
    blocks = [("BAS" if (b // 20) % 2 == 0 else "UP", b, min(b + 19, n_volumes - 1)) for b in range(0, n_volumes, 20)]
    info = RunInfo(
        run_id="run-synthetic", n_volumes=n_volumes, tr=tr, blocks=blocks, rois=rois, skip_volumes=skip,
        feedback_range=(-5.0, 5.0), fd_threshold=0.5, dvars_threshold=30.0, started=T0,
    )
    records: list[VolumeRecord] = []
    for index in range(skip, n_volumes):
        condition = blocks[index // 20][0]
        records.append(VolumeRecord(
            index=index,
            status=VolumeStatus.PROCESSED,
            condition=condition,
            t_complete=T0 + index * tr,
            t_sent=T0 + index * tr + 0.02,
            latency_ms=20.0,
            motion=[0.01 * index, 0.0, 0.0, 0.0, 0.0, 0.0],
            converged=True,
            fd=0.1 + (0.6 if index % 97 == 0 else 0.0),
            dvars=20.0 + (15.0 if index % 89 == 0 else 0.0),
            roi={name: 800.0 + k + math.sin(index / 7) for k, name in enumerate(rois)},
            psc={name: (k + 1) * math.sin(index / 10) for k, name in enumerate(rois)},
            feedback=2.0 * math.sin(index / 10),
        ))
    return info, records
