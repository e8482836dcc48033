"""The interface every feedback type implements, and what they share."""

from __future__ import annotations

import abc
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nfd._checks import ensure_float, ensure_int
from nfd.design import Design, DesignError
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep, RoiSet

__all__ = ["CHAIN_SIGNALS", "FeedbackComputer"]

#: ChainStep fields a feedback type may read (see :class:`nfd.timeseries.ChainStep`).
CHAIN_SIGNALS: tuple[str, ...] = ("raw", "glm", "ar1", "kalman", "scaled")


def check_signal(signal: object, allowed: Sequence[str] = CHAIN_SIGNALS) -> str:
    """`signal` if it names a chain series in `allowed`, else :class:`FeedbackError`."""
    if not isinstance(signal, str) or signal not in allowed:
        raise FeedbackError(f"signal must be one of {list(allowed)} (a SignalChain series), got {signal!r}")
    return signal


def check_count(name: str, value: object, minimum: int) -> int:
    """`value` as an int >= `minimum`, else :class:`FeedbackError` naming `name`.

    Any integral type but bool (numpy integers too), through
    :func:`nfd._checks.ensure_int`; the message keeps its wording
    (``<name> must be an integer >= <minimum>``).
    """
    try:
        return ensure_int(value, name, minimum=minimum, error=FeedbackError)
    except FeedbackError:
        raise FeedbackError(f"{name} must be an integer >= {minimum}, got {value!r}") from None


def check_number(name: str, value: object, minimum: float | None = None) -> float:
    """`value` as a finite float (>= `minimum` when given), else :class:`FeedbackError`.

    Any real number but bool (numpy numbers too), through
    :func:`nfd._checks.ensure_float`.
    """
    return ensure_float(value, name, minimum=minimum, error=FeedbackError)


class FeedbackComputer(abc.ABC):
    """One run's feedback measure, computed volume by volume from the ROI signal chains.

    A feedback type is built once per run (:func:`nfd.feedback.make_feedback`)
    and fed every processed volume, in index order, with that volume's
    :class:`nfd.timeseries.ChainStep` of every ROI (and the ROI voxels when
    :attr:`needs_voxels`). It returns the measure (to be scaled and clipped
    by :func:`nfd.feedback.scale_feedback`) or None when there is no
    feedback at this volume (e.g. between the ends of regulation blocks).
    Everything is causal: a value uses data up to the current volume only.

    Only :meth:`update` (and an external source's ``push``) changes state;
    an instance is used from one thread.

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        Names of the ROIs whose steps :meth:`update` receives (at least
        :attr:`min_rois`).
    """

    #: The name :func:`make_feedback` knows the type by.
    kind: str = ""
    #: Whether :meth:`update` needs the ROI voxels (else ``voxels`` may be None).
    needs_voxels: bool = False
    #: Fewest ROIs the type works with.
    min_rois: int = 1
    #: Whether values pushed from outside (:meth:`push`: REST, EEG) are this type's feedback.
    accepts_push: bool = False
    #: Whether the ROI chains' raw values are this type's ``raw_values(voxels)`` (a projection of the
    #: ROI voxels, e.g. a decoder weight map) instead of the ROI means; such a type has
    #: ``bind_rois(rois)``, called once the ROI set is known.
    projects_voxels: bool = False

    def bind_rois(self, rois: RoiSet) -> None:
        """Take what a :attr:`projects_voxels` kind needs of the ROI set; the other kinds need nothing.

        Raises
        ------
        FeedbackError
            A projecting kind whose map does not fit ``rois``.
        """
        if self.projects_voxels:
            raise NotImplementedError(f"{type(self).__name__} projects voxels but has no bind_rois")

    def raw_values(self, voxels: Mapping[str, np.ndarray]) -> dict[str, float]:
        """The ROI chains' raw values, for a :attr:`projects_voxels` kind only.

        Raises
        ------
        FeedbackError
            This kind takes the ROI means (it does not project voxels).
        """
        raise FeedbackError(f"feedback type {self.kind!r} takes the ROI means: it does not project voxels")

    def push(self, value: float | Mapping[str, float], *, index: int | None = None) -> None:
        """Give a value from outside (REST, EEG; per target for EEG); only kinds with :attr:`accepts_push` take one.

        Raises
        ------
        FeedbackError
            This kind computes its own feedback.
        """
        raise FeedbackError(f"feedback type {self.kind!r} computes its own values: it does not accept pushed ones")

    def __init__(self, design: Design, rois: Sequence[str]) -> None:
        if not isinstance(design, Design):
            raise DesignError(f"design must be an nfd.design.Design, got {type(design).__name__}")
        if isinstance(rois, str):
            rois = [rois]
        names = list(rois)
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise FeedbackError(f"rois must be distinct non-empty ROI names, got {rois!r}")
        if len(names) < self.min_rois:
            raise FeedbackError(f"{self.kind} feedback needs at least {self.min_rois} ROIs, got {names}")
        self._design = design
        self._rois = tuple(names)
        self._detail: dict[str, Any] = {}
        self._volumes = 0
        self._given = 0

    @property
    def design(self) -> Design:
        """The run's design."""
        return self._design

    @property
    def rois(self) -> tuple[str, ...]:
        """The ROI names this computer reads."""
        return self._rois

    @property
    def detail(self) -> dict[str, Any]:
        """Extra figures of the latest :meth:`update` (per-ROI values, reward...), for the volume's record."""
        return dict(self._detail)

    def _check_index(self, index: int) -> int:
        self._design.block_number(index)  # VolumeIndexError outside the design
        return operator.index(index)

    def _signal_values(self, steps: Mapping[str, ChainStep], signal: str) -> dict[str, float]:
        """The `signal` field of every ROI's step; NaN for a missing value."""
        out: dict[str, float] = {}
        for name in self._rois:
            try:
                step = steps[name]
            except KeyError:
                raise FeedbackError(
                    f"no chain step for ROI {name!r}; {self.kind} feedback reads {list(self._rois)}"
                ) from None
            value = float(getattr(step, signal))
            out[name] = value if math.isfinite(value) else math.nan
        return out

    def update(
        self,
        index: int,
        steps: Mapping[str, ChainStep],
        voxels: Mapping[str, np.ndarray] | None = None,
    ) -> float | None:
        """The feedback measure at volume `index`.

        Parameters
        ----------
        index : int
            0-based acquisition index; volumes come in increasing order.
        steps : mapping of str to ChainStep
            This volume's chain step of every ROI in :attr:`rois`.
        voxels : mapping of str to numpy.ndarray, optional
            ROI name -> the ROI's voxel values of this volume (e.g.
            :meth:`nfd.timeseries.RoiSet.voxels`), when :attr:`needs_voxels`.

        Returns
        -------
        float or None
            The measure (its unit depends on the type), or None for no
            feedback at this volume.

        Raises
        ------
        FeedbackError
            If a step or the voxels of an ROI are missing.
        nfd.design.VolumeIndexError
            If `index` is outside the design (a :class:`nfd.design.DesignError`,
            not a FeedbackError); the volume is then not counted.
        """
        i = self._check_index(index)
        self._detail = {}
        value = self._update(i, steps, voxels)
        self._volumes += 1
        if value is not None:
            self._given += 1
        return value

    @abc.abstractmethod
    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        """Type-specific part of :meth:`update`."""

    def summary(self) -> dict[str, Any]:
        """Run-level figures: the kind, volumes seen, volumes with feedback, and type-specific ones."""
        return {"kind": self.kind, "rois": list(self._rois), "volumes": self._volumes, "feedback_volumes": self._given}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, rois={list(self._rois)}, volumes={self._volumes})"
