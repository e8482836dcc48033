"""``[signal] profile``: OpenNFT's values fill what the file leaves out, the file's own values win."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nfd.config import ConfigError, parse_config
from nfd.config._profiles import profile_values

BASE = """\
[run]
tr = 2.0
n_volumes = 40
[acquire]
watch_dir = "watch"
[feedback]
protocol = "protocol.json"
{feedback}
[roi]
left = "left.nii"
[signal]
{signal}
"""


def _cfg(signal: str = "", feedback: str = "") -> object:
    return parse_config(BASE.format(signal=signal, feedback=feedback), Path("/base"))


def test_the_nfd_profile_is_the_schemas_defaults() -> None:
    cfg = _cfg()
    assert cfg.signal.profile == "nfd" and cfg.profile_applied == () and cfg.profile_overridden == ()
    assert cfg == _cfg('profile = "nfd"')
    assert cfg.signal.ar1_placement == "after_glm" and cfg.signal.high_pass_s == 128.0
    assert cfg.volume.pad_slices == 0 and cfg.feedback.reference == "preceding" and cfg.feedback.decimals == -1


def test_the_opennft_profile_sets_openfts_chain_feedback_and_realignment() -> None:
    cfg = _cfg('profile = "opennft"')
    s, v, fb = cfg.signal, cfg.volume, cfg.feedback
    # preprSig.m, modifKalman.m, setupSPM.m (current)
    assert (s.high_pass_s, s.ar1, s.ar1_placement, s.first_motion_epsilon) == (0.0, 0.2, "prewhiten", True)
    assert (s.kalman_q, s.kalman_r, s.kalman_threshold, s.kalman_zero_sd) == (0.25, 1.0, 0.9, "opennft")
    assert (s.task_kept, s.task_regressor, s.spm_t0) == ("all", "spm", 1)
    # nfbCalc.m: round(MaxFeedbackVal * x, FeedbackValDec) in [0, MaxFeedbackVal] on the scaled series
    assert (fb.reference, fb.signal, fb.combine, fb.gain, fb.decimals, fb.min, fb.max) == (
        "opennft", "scaled", "median", 100.0, 2, 0.0, 100.0)
    # setupProcParams.m, spm_realign_rt.m
    assert (v.pad_slices, v.edge_margin, v.warm_start, v.max_iterations) == (3, 0.0, False, 10)
    applied = dict(cfg.profile_applied)
    assert applied["signal.ar1_placement"] == "prewhiten" and applied["volume.pad_slices"] == 3
    assert cfg.profile_overridden == ()


def test_opennft_1_0_has_its_own_kalman_noise_display_and_no_padding() -> None:
    cfg = _cfg('profile = "opennft"\nopennft_version = "1.0"')
    assert (cfg.signal.kalman_q, cfg.signal.kalman_r, cfg.signal.task_kept, cfg.signal.spm_t0) == (
        1.0, 1.95, "last", 8)
    assert cfg.volume.pad_slices == 0 and cfg.feedback.min == 1.0 and cfg.feedback.max == 100.0
    inter = _cfg('profile = "opennft"\nopennft_version = "1.0"', 'type = "psc_intermittent"')
    fb = inter.feedback
    assert (fb.signal, fb.combine, fb.gain, fb.decimals, fb.min, fb.max) == ("kalman", "mean", 10.0, 1, 1.0, 10.0)


def test_an_option_written_in_the_file_overrides_the_profile() -> None:
    cfg = _cfg('profile = "opennft"\nkalman_q = 0.5', "gain = 50.0\n[feedback.udp]\nport = 5000")
    assert cfg.signal.kalman_q == 0.5 and cfg.feedback.gain == 50.0
    assert cfg.signal.ar1_placement == "prewhiten"  # the rest still from the profile
    assert dict(cfg.profile_overridden) == {"signal.kalman_q": 0.5, "feedback.gain": 50.0}
    assert "signal.kalman_q" not in dict(cfg.profile_applied)


def test_a_model_decoder_keeps_nfds_feedback_options_a_weight_map_takes_opennfts_svm_display() -> None:
    model = _cfg('profile = "opennft"', 'type = "decoder"\n[feedback.decoder]\nmodel = "m.joblib"\nsha256 = "x"')
    assert model.feedback.gain == 1.0 and model.feedback.decimals == -1 and model.signal.ar1_placement == "prewhiten"
    weights = _cfg('profile = "opennft"', 'type = "decoder"\n[feedback.decoder]\nweights = "w.nii"\nsha256 = "x"')
    assert (weights.feedback.gain, weights.feedback.decimals, weights.feedback.min) == (100.0, 2, -100.0)
    assert profile_values("opennft", "1.0", "decoder")["feedback"] == {"signal": "scaled", "gain": 1.0,
                                                                       "decimals": 4}


@pytest.mark.parametrize(("signal", "key"), [('profile = "afni"', "signal.profile"),
                                             ('profile = "opennft"\nopennft_version = "2.0"',
                                              "signal.opennft_version")])
def test_an_unknown_profile_or_version_names_its_key(signal: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _cfg(signal)
    assert info.value.key == key


def test_check_config_says_which_profile_and_which_overrides_are_in_force(tmp_path: Path) -> None:
    (tmp_path / "nfd.toml").write_text(BASE.format(signal='profile = "opennft"\nkalman_q = 0.5', feedback=""))
    (tmp_path / "watch").mkdir()
    (tmp_path / "protocol.json").write_text(
        '{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[11, 20], [31, 40]]}]}'
    )
    (tmp_path / "left.nii").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "nfd", "check-config", str(tmp_path / "nfd.toml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if "profile" in x)
    assert "profile opennft (OpenNFT current)" in line and "overridden in the file: signal.kalman_q = 0.5" in line
    assert '"ar1_placement": "prewhiten"' in proc.stdout
