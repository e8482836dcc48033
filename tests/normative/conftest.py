"""A planted-truth FC cohort for the normative tests, drawn with numpy.

Features = a base level + latent (dim 5) @ loadings + noise, plus covariate effects (age, sex); sites add an
additive shift and scale the subject-specific part per edge (ComBat's model); patients have 8 planted deviant
edges shifted off the latent structure.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nfd.normative import edge_labels

N_NETWORKS = 17
N_LATENT = 5
PLANTED = 8
NOISE = 0.05
SHIFT = 0.15


@dataclasses.dataclass(frozen=True)
class Synthetic:
    features: np.ndarray
    subjects: list[str]
    edges: tuple[str, ...]
    groups: np.ndarray
    sites: np.ndarray
    age: np.ndarray
    sex: np.ndarray
    planted: np.ndarray  # indices of the deviant edges

    def participants_tsv(self) -> str:
        lines = ["participant_id\tgroup\tsite\tage\tsex"]
        for row in zip(self.subjects, self.groups, self.sites, self.age, self.sex, strict=True):
            lines.append("\t".join([row[0], row[1], row[2], f"{row[3]:.2f}", row[4]]))
        return "\n".join(lines) + "\n"


def make_cohort(n_controls: int = 300, n_patients: int = 80, n_sites: int = 3, seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    n = n_controls + n_patients
    names = [f"net{k:02d}" for k in range(N_NETWORKS)]
    edges = edge_labels(names)
    n_edges = len(edges)
    loadings = rng.normal(0.0, 0.1, (N_LATENT, n_edges))
    latent = rng.normal(size=(n, N_LATENT))
    part = latent @ loadings + rng.normal(0.0, NOISE, (n, n_edges))
    groups = np.array(["control"] * n_controls + ["patient"] * n_patients)
    sites = np.array([f"s{k}" for k in rng.integers(0, n_sites, n)])
    age = rng.uniform(20, 60, n)
    sex = rng.choice(["F", "M"], n)
    base = rng.uniform(0.1, 0.5, n_edges)
    covariate = np.outer((age - 40) / 10, rng.normal(0, 0.02, n_edges)) + np.outer(
        sex == "M", rng.normal(0, 0.02, n_edges)
    )
    additive = rng.normal(0.0, 0.15, (n_sites, n_edges))
    scale = rng.uniform(0.6, 1.6, (n_sites, n_edges))
    site_index = np.array([int(s[1:]) for s in sites])
    features = base + covariate + additive[site_index] + scale[site_index] * part
    planted = rng.choice(n_edges, PLANTED, replace=False)
    patient = groups == "patient"
    features[np.ix_(patient, planted)] += SHIFT
    subjects = [f"sub-{k:03d}" for k in range(n)]
    return Synthetic(features, subjects, edges, groups, sites, age, sex, np.sort(planted))


@pytest.fixture(scope="session")
def cohort() -> Synthetic:
    return make_cohort()
