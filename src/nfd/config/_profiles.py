"""Profiles: the option values a configuration starts from (``[signal] profile``).

``profile = "nfd"`` (the default) is the schema's own defaults. ``profile =
"opennft"`` sets every option that OpenNFT's MATLAB code fixes to OpenNFT's
value, for the version ``[signal] opennft_version`` names ("current", the
code since 2020, or "1.0", the 2017 release), so that nfd computes the
feedback OpenNFT computes. Any option written in the TOML file overrides the
profile; :func:`apply_profile` says which did.

Where each value comes from (repository ``OpenNFT/OpenNFT``, folder
``opennft/matlab/``, or ``matlab/`` for 1.0):

* the signal chain, ``nfbPreprSig/preprSig.m``: no high-pass in the
  cumulative GLM, AR(1) (``P.aAR1 = 0.2``, ``setupProcParams.m``) applied to
  the raw series and the regressors (``utils/arRegr.m``) before the GLM, the
  first motion row set to 1e-5, Kalman noise ``Q = 0.25 sd²``, ``R = sd²``
  (1.0: ``sd²`` and ``1.95 sd²``), threshold ``0.9 sd``; ``modifKalman.m``
  with its first-volume hold; 1.0 keeps only the last task column's fit;
* the task regressor, ``setupSPM.m``: SPM's design with onsets in scans and
  microtime onset ``T0 = 1`` (1.0: a user's SPM.mat, SPM's default ``T0 = 8``);
* the feedback, ``nfbCalc.m``: the scaled series against the median of the
  cumulative baseline, ``round(MaxFeedbackVal * x, FeedbackValDec)`` clipped
  to ``[0, MaxFeedbackVal]`` (1.0: ``round(10000 x) / 100`` in ``[1, 100]``;
  intermittent ``round(100 x) / 10`` in ``[1, 10]`` on the Kalman series);
* the realignment, ``setupProcParams.m`` and ``nfbPreprSig/spm_realign_rt.m``:
  3 zero slices padded at each end of the slab (1.0: none), every sample
  point, at most 10 iterations, no warm start; FWHM 5 mm, 4 mm sampling,
  degree-4 splines.

This module only knows values; the schema validates them like any other.
"""

from __future__ import annotations

import copy
from typing import Any

#: The profile names ``[signal] profile`` takes.
PROFILES: tuple[str, ...] = ("nfd", "opennft")
#: The OpenNFT versions ``[signal] opennft_version`` takes.
OPENNFT_VERSIONS: tuple[str, ...] = ("current", "1.0")

_SIGNAL: dict[str, dict[str, Any]] = {
    "current": {
        "high_pass_s": 0.0, "stage_volumes": 0, "motion_regressors": True, "ar1": 0.2,
        "ar1_placement": "prewhiten", "first_motion_epsilon": True,
        "kalman_q": 0.25, "kalman_r": 1.0, "kalman_threshold": 0.9, "kalman_zero_sd": "opennft",
        "task_kept": "all", "task_regressor": "spm", "spm_t0": 1,
        "scaling_warmup": 20, "scaling_fraction": 0.05, "scaling_floor": 0.005, "scaling_window": 0,
    },
    "1.0": {"kalman_q": 1.0, "kalman_r": 1.95, "task_kept": "last", "spm_t0": 8},
}
_VOLUME: dict[str, dict[str, Any]] = {
    "current": {
        "smooth_fwhm": 5.0, "realign_fwhm": 5.0, "sep": 4.0, "realign_degree": 4, "reslice_degree": 4,
        "pad_slices": 3, "edge_margin": 0.0, "warm_start": False, "restart_after": 0, "max_iterations": 10,
    },
    "1.0": {"pad_slices": 0},
}
#: ``[feedback]`` by version and feedback type ("" for every type).
_FEEDBACK: dict[str, dict[str, dict[str, Any]]] = {
    "current": {
        "": {"reference": "opennft", "signal": "scaled", "combine": "median", "gain": 100.0, "decimals": 2,
             "min": 0.0, "max": 100.0},
    },
    "1.0": {
        "psc": {"combine": "median"},
        "psc_intermittent": {"signal": "kalman", "combine": "mean", "gain": 10.0, "decimals": 1, "min": 1.0,
                             "max": 10.0},
        "decoder": {"gain": 1.0, "decimals": 4},
        "": {"min": 1.0},
    },
}
#: Feedback types the OpenNFT rules exist for; the others keep their own feedback options.
_OPENNFT_FEEDBACK_TYPES = ("psc", "psc_intermittent", "decoder")


def profile_values(profile: str, version: str = "current", feedback_type: str = "psc") -> dict[str, dict[str, Any]]:
    """The option values a profile sets, table name -> key -> value (empty for ``"nfd"``).

    Examples
    --------
    >>> values = profile_values("opennft", "1.0", "psc")
    >>> values["signal"]["kalman_q"], values["signal"]["ar1_placement"], values["volume"]["pad_slices"]
    (1.0, 'prewhiten', 0)
    >>> values["feedback"]["min"], values["feedback"]["decimals"]
    (1.0, 2)
    >>> profile_values("nfd")
    {}
    """
    if profile == "nfd":
        return {}
    signal = {**_SIGNAL["current"], **(_SIGNAL[version] if version != "current" else {})}
    volume = {**_VOLUME["current"], **(_VOLUME[version] if version != "current" else {})}
    out: dict[str, dict[str, Any]] = {"signal": signal, "volume": volume}
    if feedback_type in _OPENNFT_FEEDBACK_TYPES:
        feedback = dict(_FEEDBACK["current"][""])
        if version != "current":
            feedback.update(_FEEDBACK[version][""])
            feedback.update(_FEEDBACK[version].get(feedback_type, {}))
        if feedback_type == "decoder":  # OpenNFT's SVM value is not clipped, nor referenced to a baseline
            feedback = {k: v for k, v in feedback.items() if k not in ("reference", "combine", "min", "max")}
        out["feedback"] = feedback
    return out


def apply_profile(table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A TOML table with its profile's values filled in where the file is silent.

    Returns the merged table (a copy), the values the profile set
    (``"signal.ar1"`` -> value) and those the file overrode (key -> the
    file's value). An unknown profile or version, or a table of the wrong
    type, is left as it is for the schema to refuse with the key named.

    Examples
    --------
    >>> merged, applied, overridden = apply_profile(
    ...     {"signal": {"profile": "opennft", "kalman_q": 0.5}, "feedback": {"protocol": "p.json"}})
    >>> merged["signal"]["kalman_q"], merged["signal"]["ar1_placement"], merged["feedback"]["reference"]
    (0.5, 'prewhiten', 'opennft')
    >>> overridden, "signal.kalman_q" in applied
    ({'signal.kalman_q': 0.5}, False)
    """
    signal = table.get("signal")
    if not isinstance(signal, dict):
        return table, {}, {}
    profile, version = signal.get("profile", "nfd"), signal.get("opennft_version", "current")
    feedback = table.get("feedback")
    kind = feedback.get("type", "psc") if isinstance(feedback, dict) else "psc"
    if kind == "decoder" and not _has_weights(feedback):
        kind = "decoder-model"  # a scikit-learn model is nfd's own: no OpenNFT rule for its feedback
    if profile not in PROFILES or version not in OPENNFT_VERSIONS or not isinstance(kind, str):
        return table, {}, {}
    merged = copy.deepcopy(table)
    applied: dict[str, Any] = {}
    overridden: dict[str, Any] = {}
    for section, values in profile_values(profile, version, kind).items():
        target = merged.setdefault(section, {})
        if not isinstance(target, dict):
            return table, {}, {}
        for key, value in values.items():
            if key in target:
                overridden[f"{section}.{key}"] = target[key]
            else:
                target[key] = value
                applied[f"{section}.{key}"] = value
    return merged, applied, overridden


def _has_weights(feedback: Any) -> bool:
    decoder = feedback.get("decoder") if isinstance(feedback, dict) else None
    return isinstance(decoder, dict) and bool(decoder.get("weights"))
