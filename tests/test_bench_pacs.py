"""benchmarks/bench_pacs.py runs end to end on a small study (its timings are not checked here:
speed targets live in the benchmark, never in tests)."""
from __future__ import annotations

import importlib.util

import pytest

from tests import orthanc_server as orth

from .helpers import REPO


def test_bench_pacs_reports_every_timing():
    problem = orth.missing_reason()
    if problem:
        pytest.skip(f"!!! PACS benchmark test SKIPPED: {problem}")
    spec = importlib.util.spec_from_file_location("bench_pacs", REPO / "benchmarks" / "bench_pacs.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.run(bench.parse_args(["--instances", "6", "--repeats", "1"]))
    assert set(report["seconds_median"]) == {"a_ours_cget", "b_getscu", "c_ours_wado", "d_plain_dicomweb_client"}
    assert set(report["ratios_median"]) == {"cget_vs_getscu", "wado_vs_dicomweb_client"}
    assert all(v > 0 for v in report["instances_per_second"].values())
