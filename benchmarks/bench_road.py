"""Benchmark: our ROAD against grad-cam's ROADCombined, on one image and one map, in one run.

The input is the first JPEG of ``../shared/data/brain_mri/images/glioma/`` (grayscale
replicated to RGB, 224x224, normalised with the model card's mean/std; a seeded random tensor,
with a warning, if the data is missing); the model an untrained ResNet-50
(``random_model("resnet50", 4 classes, seed=0)``, CPU; ``--model demo`` uses the bundled
brain MRI ResNet-18 instead); the map its GradCAM++ map at layer4 for the predicted class.
Timed, at percentiles [20, 40, 60, 80] unless ``--percentiles`` says otherwise:

  (a) the forward passes our ROAD needs, as the model runs them: one no-grad forward of the
      2 x P imputed images (MoRF and LeRF at each percentile), the reference for its overhead;
  (a') the same batch through our inference copy of the model (conv+batch-norm folded,
      channels-last), which is what our ROAD runs;
  (b) grad-cam's ``ROADCombined(percentiles)(tensor, cams, [ClassifierOutputSoftmaxTarget], model)``
      after ``torch.manual_seed(seed)``;
  (c) our ``road_scores_for(model, explained, ["gradcam++"], percentiles, seed)``, the path of
      ``medxai road`` and of the app: the original image's probability comes from the
      explanation's own forward pass, so 2 x P images go through the model;
  (c9) our ``road_scores(model, tensor, {"gradcam++": map}, target, percentiles, seed)``, which
      runs the original image too (1 + 2 x P images);
  and, to show where the time goes, (b') grad-cam's 2 x P ``NoisyLinearImputer`` calls alone
  and (c') our 2 x P ``noisy_linear_impute`` calls alone.

Every callable is run once as warm-up, then timed in R interleaved rounds (``--repeats``,
default 5); medians are reported (and the ratios from each callable's fastest run, which
suffer less from other processes on a shared CPU). The same run checks that (c)'s and (c9)'s
ROADCombined equal (b)'s to within 1e-5 (same noise: our generator and grad-cam's global RNG
get the same seed; the differences measured are float32 rounding, about 1e-7, while a changed
seed moves the score by 3e-5 or more).

Targets, printed as PASS/FAIL: (b) / (c) >= 5 and, like for like (grad-cam runs the original
image too), (b) / (c9) >= 5; (c) <= 1.5 x (a). Also printed, without a target: (c) / (a'). Exit code 0 even when a target fails, unless
``--strict``. ``--json`` prints only a JSON object on stdout.

    .venv/bin/python benchmarks/bench_road.py [--model resnet50|demo] [--repeats R] [--json] [--strict]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from medxai_desktop.core.evaluation.road import road_scores, road_scores_for
from medxai_desktop.core.evaluation.road_imputation import (
    noisy_linear_impute,
    removal_mask,
)
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.models import load_model, random_model
from medxai_desktop.core.models.inference_module import (
    as_inference_input,
    inference_module,
)
from medxai_desktop.core.models.preprocessing import to_model_tensor
from medxai_desktop.core.resources import demo_model_card

DATA_DIR = REPO.parent / "shared" / "data" / "brain_mri" / "images" / "glioma"
CLASSES = ["glioma", "meningioma", "pituitary", "no_tumor"]
TOLERANCE = 1e-5
TARGETS = {  # name: (description, threshold, "<=" or ">=")
    "b_over_c": ("(b) grad-cam ROADCombined / (c) ours, the explanation's probability reused, >= 5", 5.0, ">="),
    "b_over_c9": ("(b) grad-cam ROADCombined / (c9) ours, the original image run again, >= 5", 5.0, ">="),
    "c_over_a": ("(c) ours <= 1.5 x (a) the forward passes it needs", 1.5, "<="),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_input(model) -> tuple[torch.Tensor, str]:
    files = sorted(p for p in DATA_DIR.glob("*.jpg")) if DATA_DIR.is_dir() else []
    gray = cv2.imread(str(files[0]), cv2.IMREAD_GRAYSCALE) if files else None
    if gray is None:
        log(f"WARNING: no readable JPEG in {DATA_DIR}; using a seeded random tensor instead")
        h, w = model.card.input_size
        return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0)), "random (seed 0)"
    rgb = np.repeat((gray.astype(np.float32) / 255)[:, :, None], 3, axis=2)
    return to_model_tensor(rgb, model.card.input_size, model.card.mean, model.card.std), \
        str(files[0].relative_to(REPO.parent))


def measure_interleaved(items: list[tuple[str, Callable[[], Any]]], repeats: int):
    last = {key: fn() for key, fn in items}
    samples: dict[str, list[float]] = {key: [] for key, _ in items}
    for _ in range(repeats):
        for key, fn in items:
            gc.collect()
            t0 = time.perf_counter()
            last[key] = fn()
            samples[key].append((time.perf_counter() - t0) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}, samples, last


def check(name: str, value: float) -> dict:
    description, threshold, op = TARGETS[name]
    return {"description": description, "value": value, "threshold": threshold, "op": op,
            "pass": value <= threshold if op == "<=" else value >= threshold}


def checks_of(ratios: dict[str, float], differences: list[float]) -> dict:
    """PASS/FAIL of each target, and of the equality with grad-cam, from measured numbers."""
    checks = {name: check(name, ratios[name]) for name in TARGETS}
    worst = max(differences)
    checks["equal_combined"] = {"description": f"|ours - grad-cam| ROADCombined <= {TOLERANCE:g} ((c) and (c9))",
                                "value": worst, "threshold": TOLERANCE, "op": "<=", "pass": worst <= TOLERANCE}
    return checks


def run(args) -> dict:
    load_start = os.getloadavg()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model == "demo":
        card = demo_model_card()
        if card is None:
            raise SystemExit("bench_road: --model demo, but no demo model is bundled")
        model, model_name = load_model(card, device="cpu"), "brain MRI demo ResNet-18 (bundled)"
    else:
        model, model_name = random_model("resnet50", CLASSES, seed=0, device="cpu"), \
            "resnet50 (random_model, seed 0, 4 classes)"
    module = model.module
    x, source = load_input(model)
    explained = ExplanationEngine(model).explain(x, ["gradcam++"])
    target, heatmap = explained.target_index, explained.explanations["gradcam++"].map
    cams = heatmap[None].astype(np.float32)
    percentiles = [float(p) for p in args.percentiles.split(",")]
    n_images = 2 * len(percentiles)
    batch = x.expand(n_images, -1, -1, -1).contiguous()
    optimised = inference_module(module, torch.device("cpu"))
    optimised_batch = as_inference_input(batch, optimised)
    masks = [(~removal_mask(heatmap, p, order)).astype(np.float32) for order in ("lerf", "morf")
             for p in percentiles]
    image = x[0]

    def forwards():                                              # (a)
        with torch.no_grad():
            return module(batch)

    def optimised_forwards():                                    # (a')
        with torch.inference_mode():
            return optimised(optimised_batch)

    def gradcam():                                               # (b)
        torch.manual_seed(args.seed)
        return float(ROADCombined(percentiles)(x, cams, [ClassifierOutputSoftmaxTarget(target)], module)[0])

    def ours():                                                  # (c)
        return road_scores_for(model, explained, ["gradcam++"], percentiles, seed=args.seed,
                               workers=args.threads)["gradcam++"]

    def ours_with_original():                                    # (c9)
        return road_scores(model, x, {"gradcam++": heatmap}, target, percentiles, seed=args.seed,
                           workers=args.threads)["gradcam++"]

    def gradcam_imputations():                                   # (b')
        imputer = NoisyLinearImputer()
        return [imputer(image, torch.from_numpy(keep)) for keep in masks]

    def our_imputations():                                       # (c')
        generator = torch.Generator().manual_seed(args.seed)
        return [noisy_linear_impute(image, keep < 0.5, generator=generator) for keep in masks]

    items = [("a_forwards", forwards), ("a_optimised_forwards", optimised_forwards),
             ("b_gradcam", gradcam), ("c_ours", ours), ("c9_ours_with_original", ours_with_original),
             ("b_gradcam_imputations", gradcam_imputations), ("c_our_imputations", our_imputations)]
    log(f"timing {len(items)} callables: 1 warm-up + {args.repeats} interleaved rounds ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # grad-cam's np.float32(tensor)
        times, samples, last = measure_interleaved(items, args.repeats)

    ours_scores, reference = last["c_ours"], last["b_gradcam"]
    difference = abs(ours_scores.combined - reference)
    difference9 = abs(last["c9_ours_with_original"].combined - reference)

    def ratios_of(t: dict) -> dict:
        return {"b_over_c": t["b_gradcam"] / t["c_ours"], "c_over_a": t["c_ours"] / t["a_forwards"],
                "b_over_c9": t["b_gradcam"] / t["c9_ours_with_original"],
                "c_over_a_optimised": t["c_ours"] / t["a_optimised_forwards"]}

    ratios = ratios_of(times)
    ratios_from_min = ratios_of({k: min(v) for k, v in samples.items()})
    checks = checks_of(ratios, [difference, difference9])
    failed = [k for k, v in checks.items() if not v["pass"]]
    cores = os.cpu_count() or 1
    load = {"cpu_count": cores, "loadavg_1min_start": load_start[0], "loadavg_1min_end": os.getloadavg()[0]}
    if max(load["loadavg_1min_start"], load["loadavg_1min_end"]) > cores + 0.5:
        load["warning"] = (f"load average above the {cores} cores: other processes competed for the CPU, "
                           "so times are inflated and ratios less reliable")
    return {
        "benchmark": "bench_road", "model": model_name, "input": source, "target_class": target,
        "map": "gradcam++ (ours) at layer4", "percentiles": percentiles, "seed": args.seed,
        "forward_batch": n_images, "repeats": args.repeats,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(), "device": "cpu", "machine": platform.machine(),
                        "imputation_threads": args.threads or min(2 * len(percentiles), 8, os.cpu_count() or 1)},
        "cpu_load": load, "times_ms": times, "samples_ms": samples, "ratios": ratios,
        "ratios_from_min": ratios_from_min,
        "road_combined": {"ours": ours_scores.combined, "ours_with_original": last["c9_ours_with_original"].combined,
                          "gradcam": reference, "abs_diff": difference, "abs_diff_with_original": difference9},
        "checks": checks, "all_pass": not failed, "failed": failed,
    }


def print_table(report: dict) -> None:
    t, r, m = report["times_ms"], report["ratios"], report["ratios_from_min"]
    env, load = report["environment"], report["cpu_load"]
    print(f"bench_road: {report['model']}, input {report['input']}, map {report['map']}, "
          f"class {report['target_class']}, percentiles {report['percentiles']}")
    print(f"torch {env['torch']}, {env['threads']} threads ({env['imputation_threads']} for our solves), CPU; "
          f"median of {report['repeats']} interleaved "
          f"rounds after one warm-up; 1-min load average {load['loadavg_1min_start']:.2f} at start, "
          f"{load['loadavg_1min_end']:.2f} at end ({load['cpu_count']} cores)")
    if "warning" in load:
        print(f"WARNING: {load['warning']}")
    n = report["forward_batch"]
    rows = [(f"(a) no-grad forward, batch of {n}", "a_forwards"),
            (f"(a') our inference copy, batch of {n}", "a_optimised_forwards"),
            ("(b) grad-cam ROADCombined", "b_gradcam"),
            ("(c) ours road_scores_for", "c_ours"),
            ("(c9) ours road_scores, original run too", "c9_ours_with_original"),
            (f"(b') grad-cam {n} imputations alone", "b_gradcam_imputations"),
            (f"(c') our {n} imputations alone", "c_our_imputations")]
    for label, key in rows:
        print(f"  {label:<40} {t[key]:10.1f} ms   (min {min(report['samples_ms'][key]):.1f})")
    for key, label in (("b_over_c", "(b) / (c)"), ("c_over_a", "(c) / (a)"), ("b_over_c9", "(b) / (c9)"),
                       ("c_over_a_optimised", "(c) / (a')")):
        print(f"  {label:<10} = {r[key]:.2f}x   (from the fastest runs: {m[key]:.2f}x)")
    rc = report["road_combined"]
    print(f"  ROADCombined: ours {rc['ours']:+.6f} (with the original run: {rc['ours_with_original']:+.6f}), "
          f"grad-cam {rc['gradcam']:+.6f}, |diff| {rc['abs_diff']:.2e} ({rc['abs_diff_with_original']:.2e})")
    for check_ in report["checks"].values():
        print(f"  [{'PASS' if check_['pass'] else 'FAIL'}] {check_['description']}: {check_['value']:.4g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["resnet50", "demo"], default="resnet50")
    parser.add_argument("--percentiles", default="20,40,60,80")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads and our imputation threads (default: "
                                                    "torch's default and the CPU count)")
    parser.add_argument("--json", action="store_true", help="print only a JSON object on stdout")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target or the equality check fails")
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if args.strict and not report["all_pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
