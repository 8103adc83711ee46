"""Paired t-tests and Holm's correction (core.evaluation.paired_tests), against numbers worked
out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from medxai_desktop.core.evaluation.paired_tests import (
    holm_adjust,
    paired_t_test,
    paired_t_tests,
)


def test_holm_by_hand():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> stays 0.06)
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1; NaN is not a test and keeps its place
    # m = 3: 0.001 x 3 = 0.003; 0.55 x 2 = 1.1 -> 1; 0.6 x 1 = 0.6 -> stays 1 (monotone)
    adjusted = holm_adjust([0.6, math.nan, 0.55, 0.001])
    assert adjusted[0] == pytest.approx(1.0) and adjusted[2] == pytest.approx(1.0)
    assert adjusted[3] == pytest.approx(0.003) and math.isnan(adjusted[1])
    assert holm_adjust([]) == []


def test_paired_t_test_by_hand():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    b = [1.5, 1.9, 3.6, 3.2, 5.5]
    d = np.array(a) - np.array(b)                     # -0.5, 0.1, -0.6, 0.8, -0.5
    mean, sd, n = d.mean(), d.std(ddof=1), len(d)
    assert mean == pytest.approx(-0.14)
    se = sd / math.sqrt(n)
    t = mean / se
    p = 2 * stats.t.sf(abs(t), n - 1)
    half = stats.t.ppf(0.975, n - 1) * se
    result = paired_t_test(a, b, names=("a", "b"))
    assert (result.method_a, result.method_b, result.n) == ("a", "b", 5)
    assert result.mean_a == pytest.approx(3.0) and result.mean_b == pytest.approx(3.14)
    assert result.mean_difference == pytest.approx(mean)
    assert result.t == pytest.approx(t) and result.p == pytest.approx(p)
    assert (result.ci_low, result.ci_high) == pytest.approx((mean - half, mean + half))
    wider = paired_t_test(a, b, confidence=0.99)
    assert wider.ci_low < result.ci_low and wider.ci_high > result.ci_high


def test_non_finite_pairs_are_dropped_and_degenerate_cases():
    full = paired_t_test([1.0, 2.0, 4.0, 7.0], [0.5, 2.5, 3.0, 6.0])
    with_gaps = paired_t_test([1.0, 2.0, 4.0, 7.0, np.nan, 3.0], [0.5, 2.5, 3.0, 6.0, 1.0, np.inf])
    assert with_gaps.n == 4 and with_gaps.p == pytest.approx(full.p)
    one = paired_t_test([1.0], [0.0])
    assert one.n == 1 and one.mean_difference == 1.0 and math.isnan(one.p)
    assert paired_t_test([], []).n == 0
    same = paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (same.t, same.p, same.mean_difference) == (0.0, 1.0, 0.0)
    shifted = paired_t_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert shifted.t == math.inf and shifted.p == 0.0 and shifted.ci_low == shifted.ci_high == 0.5
    with pytest.raises(ValueError, match="equally long"):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        paired_t_test([1.0, 2.0], [1.0, 3.0], confidence=95)


def test_all_pairs_are_holm_corrected_together():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 40)
    scores = {"good": base + 0.8 + rng.normal(0, 0.3, 40), "same": base + rng.normal(0, 0.3, 40),
              "also_same": base + rng.normal(0, 0.3, 40)}
    tests = paired_t_tests(scores)
    assert [(t.method_a, t.method_b) for t in tests] == [("good", "same"), ("good", "also_same"),
                                                         ("same", "also_same")]
    assert [t.p_holm for t in tests] == pytest.approx(holm_adjust([t.p for t in tests]))
    assert tests[0].significant_holm and tests[1].significant_holm
    assert not tests[2].significant_holm and tests[2].p_holm >= tests[2].p
    assert tests[0].mean_difference == pytest.approx(float(np.mean(scores["good"] - scores["same"])))
    with pytest.raises(ValueError, match="same images"):
        paired_t_tests({"x": [1.0, 2.0], "y": [1.0]})
