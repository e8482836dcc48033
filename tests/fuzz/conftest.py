"""The fuzzing pass's bounded budget: one hypothesis profile, reproducible in CI.

Every test in ``tests/fuzz`` runs at most :data:`MAX_EXAMPLES` examples with a
fixed seed (``derandomize``), no per-example deadline (a loaded 2-core CI
machine would otherwise flake) and no example database (CI starts clean each
time, so a run is the same on every machine). The whole package runs in
well under 90 s. ``NFD_FUZZ_EXAMPLES`` raises the budget for a longer local
hunt (``NFD_FUZZ_EXAMPLES=5000 pytest tests/fuzz``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Examples per fuzz test (the CI budget).
MAX_EXAMPLES = int(os.environ.get("NFD_FUZZ_EXAMPLES", "200"))

settings.register_profile(
    "nfd-fuzz",
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
# Applied to each fuzz test (``@settings(parent=settings.get_profile("nfd-fuzz"))``)
# rather than loaded globally, so that the other test packages keep hypothesis's
# defaults when the whole suite runs.
