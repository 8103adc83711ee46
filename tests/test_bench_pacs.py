"""benchmarks/bench_pacs.py: every timed round must bring every instance (checked with callables
made by hand), and one run end to end on a small study (its timings are not checked here:
speed targets live in the benchmark, never in tests)."""
from __future__ import annotations

import pytest

from tests import orthanc_server as orth

from .helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_pacs")


def test_every_round_is_timed_on_every_instance(bench):
    times = bench.timed({"a": lambda: 3, "b": lambda: 3}, repeats=2, expected=3)
    assert {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}


@pytest.mark.parametrize("counts, when", [([2], "warm-up"), ([3, 3, 2], "timed round 2")])
def test_a_call_that_brings_fewer_instances_stops_the_benchmark(bench, counts, when):
    calls = iter(counts)
    with pytest.raises(SystemExit, match=f"b retrieved 2 of 3 instances in the {when}"):
        bench.timed({"a": lambda: 3, "b": lambda: next(calls)}, repeats=3, expected=3)


def test_bench_pacs_reports_every_timing():
    problem = orth.missing_reason()
    if problem:
        pytest.skip(f"!!! PACS benchmark test SKIPPED: {problem}")
    bench = load_benchmark("bench_pacs")
    report = bench.run(bench.parse_args(["--instances", "6", "--repeats", "1"]))
    assert set(report["seconds_median"]) == {"a_ours_cget", "b_getscu", "c_ours_wado", "d_plain_dicomweb_client"}
    assert set(report["ratios_median"]) == {"cget_vs_getscu", "wado_vs_dicomweb_client"}
    assert all(v > 0 for v in report["instances_per_second"].values())
