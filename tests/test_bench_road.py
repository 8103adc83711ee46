"""benchmarks/bench_road.py: its gates, on numbers made by hand on both sides of each bar, and
one run end to end (its timings are not checked here: speed targets live in the benchmark,
never in tests)."""
from __future__ import annotations

import pytest
import torch

from medxai_desktop.core.resources import demo_model_card

from .helpers import load_benchmark

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
FAST = {"b_over_c": 5.2, "b_over_c9": 5.1, "c_over_a": 1.4}
ROUNDING = [1.2e-7, 0.0]                  # float32 rounding, as measured against grad-cam


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_road")


def _failed(checks: dict) -> list[str]:
    return sorted(name for name, c in checks.items() if not c["pass"])


def test_every_gate_passes_on_numbers_that_meet_it(bench):
    assert _failed(bench.checks_of(FAST, ROUNDING)) == []


@pytest.mark.parametrize("ratios, failed", [
    ({**FAST, "b_over_c9": 4.6}, ["b_over_c9"]),      # rerunning the original image: measured 4.4-4.8x
    ({**FAST, "b_over_c": 4.99}, ["b_over_c"]),
    ({**FAST, "c_over_a": 1.51}, ["c_over_a"]),
])
def test_each_speed_gate_fails_on_its_own(bench, ratios, failed):
    assert _failed(bench.checks_of(ratios, ROUNDING)) == failed


@pytest.mark.parametrize("difference", [3.5e-5, 2e-3])   # our noise seeded one higher; no noise
def test_the_equality_gate_fails_on_a_changed_seed_or_no_noise(bench, difference):
    assert _failed(bench.checks_of(FAST, [0.0, difference])) == ["equal_combined"]


def test_bench_road_reports_every_timing_and_equal_scores(bench):
    if demo_model_card() is None:
        pytest.skip("the demo model is not bundled")
    args = bench.argparse.Namespace(model="demo", percentiles="50", seed=0, repeats=1, threads=1,
                                    json=True, strict=False)
    threads = torch.get_num_threads()
    try:
        report = bench.run(args)
    finally:
        torch.set_num_threads(threads)           # run() sets torch's threads for the process
    assert set(report["times_ms"]) == {"a_forwards", "a_optimised_forwards", "b_gradcam", "c_ours",
                                       "c9_ours_with_original", "b_gradcam_imputations",
                                       "c_our_imputations"}
    assert report["forward_batch"] == 2
    assert report["checks"]["equal_combined"]["pass"], report["road_combined"]
    assert set(report["checks"]) == {"b_over_c", "b_over_c9", "c_over_a", "equal_combined"}
