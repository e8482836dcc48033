"""Building the run's feedback computer from its kind and options (e.g. a TOML table)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from nfd.design import Design
from nfd.feedback._activity import ContinuousActivity, IntermittentActivity, ShapingRule
from nfd.feedback._computer import FeedbackComputer
from nfd.feedback._connectivity import IntermittentCorrelation, SlidingCorrelation
from nfd.feedback._decoder import DecoderFeedback
from nfd.feedback._errors import FeedbackError
from nfd.feedback._external import ExternalFeedback
from nfd.feedback._normative import NormativeFeedback
from nfd.feedback._proxy import TwoPointProxy

__all__ = ["FEEDBACK_KINDS", "feedback_options", "make_feedback"]

_TYPES: dict[str, type[FeedbackComputer]] = {
    cls.kind: cls
    for cls in (
        ContinuousActivity,
        IntermittentActivity,
        SlidingCorrelation,
        IntermittentCorrelation,
        TwoPointProxy,
        DecoderFeedback,
        ExternalFeedback,
        NormativeFeedback,
    )
}

#: The feedback kinds :func:`make_feedback` builds.
FEEDBACK_KINDS: tuple[str, ...] = tuple(_TYPES)


def _options_of(cls: type[FeedbackComputer]) -> list[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "clock"]


def feedback_options(kind: str) -> tuple[str, ...]:
    """The option names :func:`make_feedback` accepts for `kind`.

    Raises
    ------
    FeedbackError
        If `kind` is unknown.

    Examples
    --------
    >>> from nfd.feedback import feedback_options
    >>> feedback_options("correlation")
    ('signal', 'window', 'pairs', 'combine')
    """
    try:
        return tuple(_options_of(_TYPES[kind]))
    except (KeyError, TypeError):
        raise FeedbackError(f"unknown feedback kind {kind!r}; expected one of {list(FEEDBACK_KINDS)}") from None


def _shaping(value: Any) -> ShapingRule | None:
    if value is None or value is False:
        return None
    if value is True:
        return ShapingRule()
    if isinstance(value, ShapingRule):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"first_threshold", "margin", "history"})
        if unknown:
            raise FeedbackError(
                f"unknown shaping option(s) {unknown}; expected first_threshold, margin, history"
            )
        return ShapingRule(**value)
    raise FeedbackError(f"shaping must be true, false or a table of first_threshold, margin, history; got {value!r}")


def make_feedback(kind: str, design: Design, rois: Sequence[str], **options: Any) -> FeedbackComputer:
    """The feedback computer of a run, one of :data:`FEEDBACK_KINDS`.

    ============================ ===================================== ======================================
    kind                         measure                               options (defaults)
    ============================ ===================================== ======================================
    ``psc``                      every volume: activity vs the         ``signal`` ("raw"), ``delay`` (2),
                                 preceding baseline, % (:class:`       ``combine`` ("mean"), ``reference``
                                 ContinuousActivity`)                  ("preceding"; "opennft": median of
                                                                       the cumulative baseline)
    ``psc_intermittent``         end of each regulation block:         as ``psc`` and ``shaping`` (false,
                                 block vs preceding baseline, %        true or {first_threshold, margin,
                                 (:class:`IntermittentActivity`)       history}); ``reference="opennft"``
                                                                       with ``signal`` "kalman" or "scaled"
    ``correlation``              every volume once the window is       ``signal`` ("kalman"), ``window``
                                 full: sliding-window Pearson r        (20 volumes), ``pairs`` (all),
                                 (:class:`SlidingCorrelation`)         ``combine``
    ``correlation_intermittent`` end of each regulation block:         ``signal``, ``delay``, ``pairs``,
                                 r(block) - r(baseline)                ``combine``
    ``proxy``                    1.0 at a two-point event, else 0.0    ``targets``, ``control``, ``signal``,
                                 (:class:`TwoPointProxy`)              ``min_agree``, ``consecutive`` (1),
                                                                       ``min_change_sd`` (0), ``points``
                                                                       (2), ``direction`` ("any")
    ``decoder``                  a scikit-learn model's output, or     ``model_path`` or ``weights`` (a
                                 OpenNFT's SVM rule on a weight map    NIfTI map), ``sha256``, ``input``
                                 (:class:`DecoderFeedback`)            ("means"), ``signal`` ("raw"; with
                                                                       weights "scaled"), ``output``
                                                                       ("auto"), ``positive_class``
    ``external``                 a value pushed from outside           ``max_age_s`` (none)
                                 (:class:`ExternalFeedback`)
    ``normative``                every volume once the window is       ``model`` (a folder of ``nfd
                                 full: the normative autoencoder's     normative fit``), ``sha256`` (of its
                                 reconstruction error of the window's  model.npz), ``window`` (30),
                                 network FC (:class:`                  ``edges`` (all), ``signal``
                                 NormativeFeedback`)                   ("kalman"), ``error`` ("squared")
    ============================ ===================================== ======================================

    Parameters
    ----------
    kind : str
        One of :data:`FEEDBACK_KINDS`.
    design : Design
        The run's design.
    rois : sequence of str
        The run's ROI names, in the order of the masks.
    **options
        The kind's options (plain values, as a TOML table gives them).

    Returns
    -------
    FeedbackComputer

    Raises
    ------
    FeedbackError
        If `kind` is unknown, an option is not one of the kind's (the
        message lists them) or has a bad value; :class:`DecoderError` when
        a decoder model cannot be loaded.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import make_feedback
    >>> design = Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)])
    >>> make_feedback("psc_intermittent", design, ["v1"], delay=2, shaping=True).kind
    'psc_intermittent'
    >>> make_feedback("correlation", design, ["a", "b"], windw=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nfd.feedback._errors.FeedbackError: unknown option(s) ['windw'] for correlation feedback; expected some of [...]
    """
    try:
        cls = _TYPES[kind]
    except (KeyError, TypeError):
        raise FeedbackError(f"unknown feedback kind {kind!r}; expected one of {list(FEEDBACK_KINDS)}") from None
    allowed = _options_of(cls)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise FeedbackError(f"unknown option(s) {unknown} for {kind} feedback; expected some of {allowed}")
    if "shaping" in options:
        options = {**options, "shaping": _shaping(options["shaping"])}
    return cls(design, rois, **options)
