"""benchmarks/bench_train.py runs end to end on a tiny setting (its timings are not checked
here: speed targets live in the benchmark, never in tests)."""
from __future__ import annotations

import importlib.util

import torch

from .helpers import REPO


def test_bench_train_reports_every_side_and_both_targets():
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "benchmarks" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.argparse.Namespace(steps=1, eval_batches=1, repeats=1, batch=2, size=32, threads=1,
                                    images=4, profile=False, json=True, strict=False)
    threads = torch.get_num_threads()
    try:
        report = bench.run(args)
    finally:
        torch.set_num_threads(threads)           # run() sets torch's threads for the process
    sides = {"a_ours_train", "b_plain_train", "b2_plain_train_channels_last", "c_ours_eval",
             "d_plain_eval", "d2_plain_eval_channels_last"}
    assert set(report["ms_per_step"]) == set(report["images_per_second"]) == sides
    assert all(len(v) == 1 and v[0] > 0 for v in report["samples_ms_per_step"].values())
    assert set(report["checks"]) == {"train", "evaluate"}
    assert report["all_pass"] == all(c["pass"] for c in report["checks"].values())
