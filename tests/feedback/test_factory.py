"""make_feedback: options from plain values, and clear errors for wrong ones (every kind's interface: test_kind_interface)."""

from __future__ import annotations

import pytest

from nfd.design import Design
from nfd.feedback import FEEDBACK_KINDS, FeedbackError, ShapingRule, make_feedback

DESIGN = Design.from_blocks(30, [("UP", 10, 19)], skip_volumes=2)


def test_shaping_from_toml_values() -> None:
    built = make_feedback("psc_intermittent", DESIGN, ["a"], shaping={"first_threshold": 1.0, "history": 2})
    assert built._shaping == ShapingRule(first_threshold=1.0, history=2)  # type: ignore[attr-defined]
    assert make_feedback("psc_intermittent", DESIGN, ["a"], shaping=False)._shaping is None  # type: ignore[attr-defined]
    with pytest.raises(FeedbackError, match=r"unknown shaping option\(s\) \['bonus'\]"):
        make_feedback("psc_intermittent", DESIGN, ["a"], shaping={"bonus": 1})
    with pytest.raises(FeedbackError, match="shaping must be true, false or a table"):
        make_feedback("psc_intermittent", DESIGN, ["a"], shaping="yes")


def test_unknown_kinds_and_options() -> None:
    with pytest.raises(FeedbackError, match=r"unknown feedback kind 'svm'; expected one of \['psc'"):
        make_feedback("svm", DESIGN, ["a"])
    with pytest.raises(FeedbackError, match=r"unknown option\(s\) \['gain'\] for psc feedback"):
        make_feedback("psc", DESIGN, ["a"], gain=2.0)
    with pytest.raises(FeedbackError, match="decoder"):
        make_feedback("decoder", DESIGN, ["a"], model_path="m.joblib", sha256="x")


def test_feedback_options_lists_what_make_feedback_accepts() -> None:
    from nfd.feedback import feedback_options

    assert feedback_options("psc") == ("signal", "delay", "combine", "reference")
    assert feedback_options("external") == ("max_age_s", "target", "weights")
    assert "sha256" in feedback_options("decoder")
    for kind in FEEDBACK_KINDS:
        assert feedback_options(kind)
    with pytest.raises(FeedbackError, match="unknown feedback kind"):
        feedback_options("svm")
