"""benchmarks/bench_gui.py's start-up report, on runs made by hand: the app's start-up is set
against the bare Qt window measured in the same run (the benchmark itself starts the app nine
times: not in the tests)."""
from __future__ import annotations

import pytest

from .helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_gui")


def _runs(painted: list[float], quit_s: float = 0.1) -> list[dict]:
    return [{"painted_s": p, "idle_s": p + 4, "quit_s": quit_s} for p in painted]


def test_start_up_is_reported_against_the_bare_window_of_the_same_run(bench):
    result = bench.startup_summary([0.16, 0.9, 0.17], _runs([1.4, 2.2, 1.5]), _runs([1.5, 1.6, 1.4], 0.2))
    assert result["reference_bare_qt_window_s"] == 0.17 and result["painted_s"] == 1.5
    assert result["painted_beyond_reference_s"] == 1.33 and result["painted_over_reference"] == pytest.approx(8.82)
    assert result["passed"]
    line = bench.startup_line(result)
    assert "1.5 s = the bare Qt window of this run 0.17 s + 1.33 s (8.82x" in line and line.endswith("PASS")


@pytest.mark.parametrize("painted, quit_s", [([3.0, 3.1, 3.2], 0.1), ([1.4, 1.5, 1.6], 1.0)])
def test_the_goals_on_both_sides(bench, painted, quit_s):
    assert bench.startup_summary([0.2], _runs([2.9]), _runs([2.9], 0.99))["passed"]
    result = bench.startup_summary([0.2], _runs(painted, quit_s), _runs(painted))
    assert not result["passed"] and bench.startup_line(result).endswith("FAIL")


def test_no_verdict_without_the_reference(bench):
    with pytest.raises(ValueError, match="bare Qt window measured in the same run"):
        bench.startup_summary([], _runs([1.4]), _runs([1.4]))
