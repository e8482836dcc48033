"""An algorithm variant over cached ROI series: the daemon's signal chains and feedback kind, volume by volume.

The variants of a study run on the ROI series the volume engine produced once
(:func:`nfd.evaluate.minimal_roi_series`), not on the volumes again: each ROI
value goes through a fresh :class:`~nfd.timeseries.SignalChain` and the
chain steps through a fresh feedback computer of the chosen kind
(:func:`~nfd.feedback.make_feedback`), in acquisition order, exactly as the
daemon's pipeline feeds them (``Pipeline.handle``: chain update with the
volume's motion, then ``FeedbackComputer.update``). The values are the
feedback *measures* (``feedback_measure`` in ``volumes.jsonl``), before the
display's gain, offset and clipping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from nfd.design import Design
from nfd.evaluate._minimal import MinimalSeries
from nfd.feedback import FeedbackError, make_feedback
from nfd.timeseries import ChainOptions, ChainStep, SignalChain

__all__ = ["VariantRun", "chain_steps", "feedback_over", "raw_steps", "run_variant"]


@dataclass(frozen=True, eq=False)
class VariantRun:
    """What one variant gave over one run.

    Attributes
    ----------
    measures : numpy.ndarray
        float64 ``(n_volumes,)``: the feedback measure at each row of the
        series, NaN where the kind gives none (e.g. the first volume of the
        proxy, or outside the blocks of an intermittent kind).
    summary : dict
        The feedback kind's summary (e.g. the proxy's ``events`` and
        ``composite``).
    """

    measures: npt.NDArray[np.float64]
    summary: dict[str, Any]


def run_variant(
    series: MinimalSeries,
    design: Design,
    tr: float,
    kind: str,
    *,
    chain: ChainOptions | Mapping[str, Any] | Literal["raw"] | None = None,
    **options: Any,
) -> VariantRun:
    """Run one feedback kind, with its options, over a run's ROI series.

    Parameters
    ----------
    series : MinimalSeries
        The run's ROI series, motion and acquisition indices.
    design : Design
        The run's design (a rest run: one baseline condition over the run).
    tr : float
        Repetition time, s.
    kind : str
        A feedback kind of :data:`nfd.feedback.FEEDBACK_KINDS` that needs no
        voxels (not the decoder on voxels).
    chain : ChainOptions or mapping or "raw", optional
        The ``[signal]`` chain's options (:meth:`ChainOptions.from_table`);
        nfd's defaults when None. ``"raw"``: no chain, each ROI value as it
        is (:func:`raw_steps`), for a kind reading ``signal = "raw"``.
    **options
        The kind's options (:func:`nfd.feedback.make_feedback`), e.g. the
        proxy's ``targets``, ``control``, ``points``.

    Returns
    -------
    VariantRun

    Raises
    ------
    nfd.feedback.FeedbackError
        A bad kind or option, or a kind that needs the ROIs' voxels.
    """
    if chain == "raw":
        steps = raw_steps(series)
    else:
        chain_options = chain if isinstance(chain, ChainOptions) else ChainOptions.from_table(dict(chain or {}))
        steps = chain_steps(series, design, tr, chain_options)
    return feedback_over(steps, series, design, kind, **options)


def raw_steps(series: MinimalSeries) -> list[dict[str, ChainStep]]:
    """Each volume's ROI values as chain steps that carry only the raw value (every later stage NaN).

    What a feedback kind reading the ``"raw"`` signal sees; built once per
    series and shared by every variant of a study that reads it.
    """
    nan = float("nan")
    rows = series.values.tolist()
    return [
        {
            name: ChainStep(index, value, nan, nan, nan, nan, 0, nan, nan, 0)
            for name, value in zip(series.names, row, strict=True)
        }
        for index, row in zip(series.indices.tolist(), rows, strict=True)
    ]


def chain_steps(
    series: MinimalSeries, design: Design, tr: float, options: ChainOptions | None = None
) -> list[dict[str, ChainStep]]:
    """Each ROI through a fresh signal chain, volume by volume with its motion (as ``Pipeline.handle``).

    Parameters
    ----------
    series : MinimalSeries
    design : Design
        The run's design (the chain's GLM reads its task regressors).
    tr : float
        Repetition time, s.
    options : ChainOptions, optional
        The ``[signal]`` chain's options; nfd's defaults when None.

    Returns
    -------
    list of dict
        Per row of `series`, ROI name -> :class:`~nfd.timeseries.ChainStep`.
    """
    options = options if options is not None else ChainOptions.from_table({})
    chains = {name: SignalChain(design, tr, options) for name in series.names}
    return [
        {
            name: chains[name].update(index, float(series.values[row, col]), motion)
            for col, name in enumerate(series.names)
        }
        for row, (index, motion) in enumerate(zip(series.indices.tolist(), series.motion, strict=True))
    ]


def feedback_over(
    steps: list[dict[str, ChainStep]],
    series: MinimalSeries,
    design: Design,
    kind: str,
    *,
    rois: Sequence[str] | None = None,
    **options: Any,
) -> VariantRun:
    """A fresh feedback computer of `kind` fed the chain steps of every volume, in order.

    Parameters
    ----------
    steps : list of dict
        Per row of `series`, ROI name -> :class:`~nfd.timeseries.ChainStep`
        (:func:`raw_steps`, or a chain's).
    series : MinimalSeries
        The series the steps came from (its ROI names and indices).
    design : Design
    kind : str
    rois : sequence of str, optional
        The ROIs the computer is built on (a kind that combines all its ROIs, e.g. ``psc``, is given the
        targets alone); every column of `series` by default.
    **options
        The kind's options.

    Returns
    -------
    VariantRun
    """
    feedback = make_feedback(kind, design, list(series.names) if rois is None else list(rois), **options)
    if feedback.needs_voxels:
        raise FeedbackError(f"feedback kind {kind!r} needs the ROIs' voxels; it cannot run on ROI series")
    measures = np.full(series.indices.size, np.nan)
    for row, (index, step) in enumerate(zip(series.indices.tolist(), steps, strict=True)):
        value = feedback.update(index, step, None)
        if value is not None:
            measures[row] = value
    return VariantRun(measures, feedback.summary())
