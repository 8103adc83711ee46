"""Paired t-tests between methods over per-image scores, with Holm's correction across pairs.

For every pair of methods (A, B): the images where both scores are finite, the mean of the
differences A - B, its confidence interval from the t distribution with n - 1 degrees of
freedom, t and the two-sided p of ``scipy.stats.ttest_rel``, and p adjusted by Holm's
step-down method over all pairs of the family (which controls the family-wise error rate).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy import stats


@dataclass
class PairedTest:
    method_a: str
    method_b: str
    n: int
    mean_a: float
    mean_b: float
    mean_difference: float     # mean of (A - B) over the paired images
    ci_low: float
    ci_high: float
    t: float
    p: float
    p_holm: float = math.nan
    significant_holm: bool = False  # p_holm < alpha

    def to_dict(self) -> dict:
        return asdict(self)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order. NaN stays NaN and does not count
    towards the number of tests."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    ordered = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, index in enumerate(ordered):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def paired_t_test(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                  names: tuple[str, str] = ("A", "B")) -> PairedTest:
    """One paired t-test of A against B (same length, paired by position); non-finite pairs
    are dropped. With fewer than two pairs t, p and the interval are NaN. When every
    difference is the same, scipy's t is undefined: then p is 1 if that difference is 0 and
    0 otherwise (t = 0 or +-inf), and the interval is the difference itself."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need two equally long 1-D sequences, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    nan = math.nan
    if n == 0:
        return PairedTest(*names, 0, nan, nan, nan, nan, nan, nan, nan)
    d = a - b
    mean = float(d.mean())
    if n < 2:
        return PairedTest(*names, n, float(a.mean()), float(b.mean()), mean, nan, nan, nan, nan)
    if np.all(d == d[0]):
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        return PairedTest(*names, n, float(a.mean()), float(b.mean()), mean, mean, mean, t,
                          1.0 if mean == 0 else 0.0)
    result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(confidence)
    return PairedTest(*names, n, float(a.mean()), float(b.mean()), mean, float(interval.low),
                      float(interval.high), float(result.statistic), float(result.pvalue))


def paired_t_tests(scores: Mapping[str, Sequence[float]], confidence: float = 0.95,
                   alpha: float = 0.05) -> list[PairedTest]:
    """Every pair of methods (in the mapping's order), Holm-adjusted together.

    ``scores[method]`` holds one score per image, the same images in the same order for every
    method (NaN where a method has no score for an image).
    """
    names = list(scores)
    lengths = {len(scores[m]) for m in names}
    if len(lengths) > 1:
        raise ValueError("paired t-tests need the same images for every method; got "
                         + ", ".join(f"{m}: {len(scores[m])}" for m in names))
    tests = [paired_t_test(scores[x], scores[y], confidence, (x, y)) for x, y in combinations(names, 2)]
    for test, adjusted in zip(tests, holm_adjust([t.p for t in tests])):
        test.p_holm = adjusted
        test.significant_holm = bool(np.isfinite(adjusted) and adjusted < alpha)
    return tests
