"""Bounds shared by the fuzz tests: few enough examples that the folder runs in well under a minute on a
small machine, and the same examples on every run (derandomized). Raise PAYRECON_FUZZ_EXAMPLES for a
longer hunt; set PAYRECON_FUZZ_RANDOM=1 to draw new examples (Hypothesis prints the seed to reproduce a
failure with `--hypothesis-seed`)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("PAYRECON_FUZZ_EXAMPLES", "1"))
RANDOM = os.environ.get("PAYRECON_FUZZ_RANDOM", "") == "1"


def bounded(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        print_blob=RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
