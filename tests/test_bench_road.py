"""benchmarks/bench_road.py runs end to end (its timings are not checked here: speed targets
live in the benchmark, never in tests) and its own equality check holds."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from medxai_desktop.core.resources import demo_model_card

from .helpers import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_bench_road_reports_every_timing_and_equal_scores():
    if demo_model_card() is None:
        pytest.skip("the demo model is not bundled")
    spec = importlib.util.spec_from_file_location("bench_road", REPO / "benchmarks" / "bench_road.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
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
    assert set(report["ratios"]) == {"b_over_c", "c_over_a", "b_over_c9", "c_over_a_optimised"}
