"""Synthetic fMRI sessions with known ground truth, and NIfTI writers for replay.

This subpackage owns nfd's own generator of test data:

- :func:`make_session` -> :class:`SyntheticSession`: a brain-like phantom
  with block-design activation in two ROIs (HRF-convolved, known percent
  signal change), slow drift, thermal noise and random-walk head motion
  (known SPM-convention parameters), all deterministic from a seed;
- :func:`make_multiecho_session` -> :class:`MultiEchoSession`: the same
  phantom as S0 and T2* tissue maps, each echo rendered from
  ``S0 (1 + dS0) exp(-TE (R2* + dR2*))`` with a known ΔR2* activation, an
  S0 fluctuation common to the echoes and thermal noise on each; the theory
  of echo combination (:func:`optimal_tsnr_gain`, :func:`bold_cnr_gain`)
  and writers for replay (:func:`write_multiecho_nifti`,
  :func:`write_multiecho_bids`);
- :func:`make_cohort` -> :class:`Cohort` and :func:`write_cohort`: a multi-echo resting-state cohort (a
  posed phantom per subject, target ROIs with a known spread of coupling and a decoupled control, BOLD as
  ΔR2*, δS0, global signal, motion with spikes, drift, physiological and Rician thermal noise, a coil
  sensitivity) written as BIDS with its ground truth in ``derivatives/truth`` (``nfd simulate cohort``);
- :func:`make_fc_cohort` -> :class:`FcCohort` and :func:`write_fc_cohort`: a multi-site resting-state
  functional-connectivity cohort (controls and patients, a normative network correlation, age and sex effects,
  planted deviant edges in patients, site scaling and shifts, motion with spikes, white-matter/CSF and global
  nuisance) written as fMRIPrep-like derivatives with its ground truth in ``truth/`` (``nfd simulate
  fc-cohort``);
- :func:`make_bold` -> :class:`BoldSimulation` from a :class:`BoldSpec`, :func:`write_bold` and
  :func:`bold_main`: artificial task fMRI (block, slow or fast event-related paradigms, or a PyHRF paradigm CSV)
  with a known HRF per parcel (parcel-specific double gammas, SPM's canonical or a file's), activation per parcel
  and condition, white or AR(1) noise at a chosen SNR, drifts and a motion nuisance, written in PyHRF's formats
  (4-D NIfTI, parcellation, ``paradigm.csv``, ``contrasts.json``) with the truth in ``truth/`` (``nfd simulate
  bold``); :class:`ParadigmEvent` is one event of its paradigm;
- :func:`write_nifti_volume`: one 3-D volume as NIfTI-1, written atomically
  (temporary file, fsync, rename), as a scanner export would appear;
  :meth:`SyntheticSession.write_nifti` and :func:`write_roi_masks` write a
  whole session and its masks.

Errors are :class:`SimulationError` (a :class:`ValueError`).
"""

from __future__ import annotations

from nfd.simulate._bold import BoldSimulation, BoldSpec, ParadigmEvent, make_bold
from nfd.simulate._bold_write import bold_main, write_bold
from nfd.simulate._cohort import Cohort, CohortRun, CohortSettings, CohortSubject, make_cohort, write_cohort
from nfd.simulate._errors import SimulationError
from nfd.simulate._fc_cohort import (
    FcCohort,
    FcCohortSettings,
    FcEdge,
    FcSite,
    FcSubject,
    make_fc_cohort,
    write_fc_cohort,
)
from nfd.simulate._multiecho import (
    MultiEchoSession,
    bold_cnr_gain,
    make_multiecho_session,
    optimal_tsnr_gain,
    write_multiecho_bids,
    write_multiecho_nifti,
)
from nfd.simulate._nifti import write_nifti_volume
from nfd.simulate._session import SyntheticSession, make_session, write_roi_masks

__all__ = [
    "SimulationError",
    "SyntheticSession",
    "make_session",
    "write_nifti_volume",
    "write_roi_masks",
    "MultiEchoSession",
    "make_multiecho_session",
    "optimal_tsnr_gain",
    "bold_cnr_gain",
    "write_multiecho_nifti",
    "write_multiecho_bids",
    "Cohort",
    "CohortRun",
    "CohortSettings",
    "CohortSubject",
    "make_cohort",
    "write_cohort",
    "FcCohort",
    "FcCohortSettings",
    "FcEdge",
    "FcSite",
    "FcSubject",
    "make_fc_cohort",
    "write_fc_cohort",
    "BoldSpec",
    "BoldSimulation",
    "ParadigmEvent",
    "make_bold",
    "write_bold",
    "bold_main",
]
