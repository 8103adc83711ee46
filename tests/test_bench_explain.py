"""benchmarks/bench_explain.py's gates, on numbers made by hand on both sides of each bar (the
benchmark itself runs grad-cam's AblationCAM on a ResNet-50 for minutes: not in the tests)."""
from __future__ import annotations

import pytest

from .helpers import load_benchmark

# Ratios as measured: five maps 99x, of which the four gradient CAMs alone 15x.
MEASURED = {"c_over_a": 1.3, "b_over_c": 99.0, "b4_over_c4": 15.0, "ablation_ratio": 2500.0,
            "d_ours_over_gradcam": 0.4}
EQUAL = {"gradcam++": 2e-6, "ablationcam": 9e-5}


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_explain")


def _statuses(bench, ratios=MEASURED, equality=EQUAL, estimated=False) -> dict[str, str]:
    return {name: bench.status(c) for name, c in bench.checks_of(ratios, equality, estimated).items()}


def test_the_gradient_cams_are_gated_on_their_own_cost_not_behind_ablationcam(bench):
    statuses = _statuses(bench)
    assert statuses["b4_over_c4"] == "FAIL"                 # 15x, though the five maps are 99x
    assert "b_over_c" not in statuses
    assert _statuses(bench, {**MEASURED, "b4_over_c4": 20.5})["b4_over_c4"] == "PASS"


@pytest.mark.parametrize("name, good, bad", [("c_over_a", 1.5, 1.51), ("ablation_ratio", 1000, 999),
                                             ("d_ours_over_gradcam", 0.5, 0.51)])
def test_each_speed_gate_on_both_sides_of_its_bar(bench, name, good, bad):
    assert _statuses(bench, {**MEASURED, name: good})[name] == "PASS"
    assert _statuses(bench, {**MEASURED, name: bad})[name] == "FAIL"


def test_an_estimated_ablationcam_ratio_is_never_a_pass(bench):
    statuses = _statuses(bench, equality={"gradcam++": 2e-6, "ablationcam": None}, estimated=True)
    assert statuses["ablation_ratio"] == "ESTIMATED" and statuses["equal_ablationcam"] == "SKIP"
    assert statuses["c_over_a"] == "PASS"                   # the measured ones are still gated
    checks = bench.checks_of(MEASURED, EQUAL, True)
    assert checks["ablation_ratio"]["pass"] is None


def test_the_equality_checks(bench):
    assert _statuses(bench)["equal_ablationcam"] == "PASS"
    assert _statuses(bench, equality={"gradcam++": 2e-4, "ablationcam": 9e-5})["equal_gradcam++"] == "FAIL"
