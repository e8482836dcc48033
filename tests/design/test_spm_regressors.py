"""spm_block_regressors against a transcription of SPM12's spm_get_ons / spm_Volterra / spm_fMRI_design."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.design import Design, DesignError, load_protocol, opennft_onoffsets, spm_block_regressors
from tests.helpers.opennft_reference import spm_design

#: The shared run's protocol (NF_PSC_cont_155.json): 7 regulation blocks, TR 1.97 s, 150 scans after 5 skipped.
BLOCKS = [(11, 20), (31, 40), (51, 60), (71, 80), (91, 100), (111, 120), (131, 140)]
TR, N, SKIP = 1.97, 150, 5


@pytest.mark.parametrize("t0", [1, 8])
@pytest.mark.parametrize(("tr", "blocks"), [(TR, BLOCKS), (2.0, [(1, 5), (20, 34)]), (0.8, [(3, 3), (40, 60)])])
def test_matches_spm12(t0: int, tr: float, blocks: list[tuple[int, int]]) -> None:
    expected = spm_design([blocks, blocks[:1]], N, tr, t0=t0)
    actual = spm_block_regressors([blocks, blocks[:1]], N, tr, t0=t0)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-14)


def test_other_microtime() -> None:
    np.testing.assert_allclose(
        spm_block_regressors([BLOCKS], N, TR, t0=3, microtime=8),
        spm_design([BLOCKS], N, TR, t0=3, microtime=8), rtol=1e-12, atol=1e-14,
    )


def _lag_behind_nfd(spm: np.ndarray, nfd: np.ndarray) -> float:
    """The shift (scans, 0.01 steps) of nfd's regressor that best matches SPM's."""
    t = np.arange(spm.size)
    shifts = np.arange(0.0, 3.0, 0.01)
    errors = [np.sum((np.interp(t - s, t, nfd) - spm) ** 2) for s in shifts]
    return float(shifts[int(np.argmin(errors))])


@pytest.mark.parametrize(("t0", "lag"), [(1, 1.50), (8, 1.07)])
def test_lags_behind_nfds_regressor_as_measured(t0: int, lag: float) -> None:
    # OpenNFT's 1-based onsets read as 0-based scans (one scan late) and SPM's sampling
    design = Design.from_blocks(N + SKIP, [("NFBREG", SKIP + a - 1, SKIP + b - 1) for a, b in BLOCKS], skip_volumes=SKIP)
    nfd = design.task_regressors(TR)[SKIP:, 0]
    spm = spm_block_regressors(opennft_onoffsets(design), N, TR, t0=t0)[:, 0]
    assert _lag_behind_nfd(spm, nfd) == pytest.approx(lag, abs=0.005)


def test_one_scan_late_and_converges_to_one() -> None:
    x = spm_block_regressors([[(11, 80)]], 100, 2.0, t0=1)[:, 0]
    assert np.all(x[:12] == 0.0)  # on = 11 starts at 0-based scan 11; sampled at its start: still 0
    assert x[12] > 0.0
    assert x[75] == pytest.approx(1.0, abs=1e-6)


def test_onoffsets_of_a_design() -> None:
    design = Design.from_blocks(40, [("UP", 15, 24), ("DOWN", 26, 27), ("UP", 30, 34)], skip_volumes=5)
    assert opennft_onoffsets(design) == [[(11, 20), (26, 30)], [(22, 23)]]
    assert opennft_onoffsets(Design.from_blocks(10, [], skip_volumes=2)) == []


@pytest.mark.shared
def test_onoffsets_of_the_shared_protocol(shared_data: Path) -> None:
    design = load_protocol(shared_data / "opennft_psc_run" / "protocol.json", n_volumes=155, skip_volumes=5, tr=TR)
    assert opennft_onoffsets(design) == [BLOCKS]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([[(5, 4)]], 10, 2.0), {}, "on <= off"),
        (([[(1.5, 4)]], 10, 2.0), {}, "integers"),
        (([[(1, 4, 5)]], 10, 2.0), {}, "on, off"),
        (([[(1, 4)]], 0, 2.0), {}, "n_scans"),
        (([[(1, 4)]], 10, 0.0), {}, "tr"),
        (([[(1, 4)]], 10, 2.0), {"t0": 17}, "t0"),
        (([[(1, 4)]], 10, 2.0), {"t0": 0}, "t0"),
        (([[(1, 4)]], 10, 2.0), {"microtime": 0}, "microtime"),
    ],
)
def test_bad_arguments(args: tuple[object, ...], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DesignError, match=match):
        spm_block_regressors(*args, **kwargs)  # type: ignore[arg-type]
