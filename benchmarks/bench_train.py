"""Benchmark: `medxai train`'s training step and `medxai evaluate`'s inference against plain
PyTorch loops, on the same pre-decoded images, in one run.

The images: ``--images`` JPEGs of ``../shared/data/brain_mri/images`` (the same number from each
class, in file order), decoded and resized once by the project's ``load_resized``, as
``medxai train`` and ``medxai evaluate`` do before their loops; seeded random gray images, with
a warning, if the data is missing. The model: ResNet-18 from the architecture registry, random
init (seed 0), 4 classes (brain MRI), on the CPU; every side has its own copy of the same
weights. Batch size, input size and torch's thread count are the same for all (``--batch``,
``--size``, ``--threads``; default 32, 224 and torch's default).

Training, the time per step:

  (a) ours: ``core.models.training._train_epoch``, the loop ``train()`` runs each epoch, with the
      module, optimiser and device that ``train()`` prepares (``_prepare_training``: SGD, lr 1e-3,
      momentum 0.9, weight decay 5e-4, the default augmentation on) and the progress callback of
      ``medxai train`` (``cli.train.training_progress_bars``), over ``--steps`` batches of the
      uint8 images;
  (b) plain: ``model.train(); for x, y in batches: opt.zero_grad(); loss = crit(model(x), y);
      loss.backward(); opt.step()`` on the same images already as normalised float32 NCHW
      tensors (the same SGD settings, no augmentation);
  (b') the same plain loop with the model and the tensors in channels-last memory format: the
      fastest plain loop on a CPU, and the layout ours runs in, so the like-for-like reference.

Evaluation, the time per batch:

  (c) ours: ``core.evaluation.model_evaluation.predict_images``, the batched inference of
      ``medxai evaluate`` (normalisation, forward, softmax), over ``--eval-batches`` batches;
  (d) plain: ``model.eval(); with torch.no_grad(): for x in batches: model(x)`` on the
      normalised float32 tensors; (d') the same in channels-last (the like-for-like reference).

Each side is warmed up once, then timed in R interleaved rounds (``--repeats``; the order of
the sides rotates from round to round, so that a burst of load from other processes hits every
side alike). The median per step is reported, with images per second, and the ratios also from
each side's fastest round. The 1-min load average is printed, with a warning when it exceeds the
core count. ``--profile`` adds a cProfile of one more pass of (a), its top functions by own time.

Targets (PASS/FAIL), like for like (ours runs channels-last on a CPU): (a) <= 1.15 x (b');
(c) <= 1.15 x (d'). The ratios to the NCHW loops (b) and (d) are printed without a target
(channels-last alone makes ours 20-25 % faster than them). The exit status is 0 even when a
target fails, unless ``--strict`` is given (then 1). ``--json`` prints only a JSON object.

    .venv/bin/python benchmarks/bench_train.py            # about 1.5 minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_train.py --quick    # under a minute
        [--steps N] [--eval-batches N] [--repeats R] [--batch B] [--size S] [--threads T]
        [--images N] [--profile] [--json] [--strict]
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from medxai_desktop.cli.train import training_progress_bars  # noqa: E402
from medxai_desktop.core.evaluation.model_evaluation import predict_images  # noqa: E402
from medxai_desktop.core.models import get_architecture, random_model, training  # noqa: E402
from medxai_desktop.core.models.datasets import find_labelled_images, load_resized  # noqa: E402

DATA_DIR = REPO / ".." / "shared" / "data" / "brain_mri" / "images"
ARCH = "resnet18"
NUM_CLASSES = 4
GOAL = 1.15
TARGETS = {"train": ("(a) ours <= 1.15 x (b') plain channels-last, per training step", "a_ours_train",
                     "b2_plain_train_channels_last"),
           "evaluate": ("(c) ours <= 1.15 x (d') plain channels-last, per inference batch", "c_ours_eval",
                        "d2_plain_eval_channels_last")}
NCHW = {"train": "b_plain_train", "evaluate": "d_plain_eval"}   # printed, no target


def log(message: str) -> None:
    """Notes go to stderr, so that ``--json`` leaves stdout to the JSON object."""
    print(message, file=sys.stderr, flush=True)


def load_images(count: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str]:
    """``count`` decoded N x H x W x 3 uint8 images and their labels, the same number per class."""
    if DATA_DIR.is_dir():
        dataset = find_labelled_images(DATA_DIR)
        per_class = -(-count // len(dataset.classes))
        chosen = [i for c in range(len(dataset.classes))
                  for i in [j for j, y in enumerate(dataset.labels) if y == c][:per_class]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images, labels, _ = load_resized(dataset.subset(sorted(chosen)[:count]), size)
        order = np.random.default_rng(0).permutation(len(labels))
        return images[order], labels[order], f"{len(labels)} JPEGs of {DATA_DIR.resolve()}"
    log(f"WARNING: {DATA_DIR} not found; using seeded random gray images instead")
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (count, *size, 1), dtype=np.uint8)
    return np.repeat(gray, 3, axis=3), rng.integers(0, NUM_CLASSES, count).astype(np.int64), \
        f"{count} random gray images (seed 0)"


def normalised(images: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The pre-decoded images as the plain loops get them: float32 NCHW, normalised, contiguous."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    return ((x - mean) / std).contiguous()


def plain_model(channels_last: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    module = get_architecture(ARCH).build(NUM_CLASSES)
    return module.to(memory_format=torch.channels_last) if channels_last else module


def batches_of(x: torch.Tensor, y: torch.Tensor | None, batch: int, channels_last: bool) -> list:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [(x[i:i + batch].contiguous(memory_format=fmt), None if y is None else y[i:i + batch])
            for i in range(0, len(x), batch)]


def plain_train_pass(module: torch.nn.Module, batches: list) -> Callable[[], None]:
    optimiser = torch.optim.SGD(module.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    criterion = torch.nn.CrossEntropyLoss()

    def run() -> None:
        module.train()
        for x, y in batches:
            optimiser.zero_grad()
            loss = criterion(module(x), y)
            loss.backward()
            optimiser.step()

    return run


def plain_eval_pass(module: torch.nn.Module, batches: list) -> Callable[[], None]:
    def run() -> None:
        module.eval()
        with torch.no_grad():
            for x, _ in batches:
                module(x)

    return run


def ours_train_pass(images: np.ndarray, labels: np.ndarray, mean_v, std_v, args) -> Callable[[], None]:
    """One epoch of ``training._train_epoch`` over the images, prepared as ``train()`` does."""
    config = training.TrainConfig(arch=ARCH, epochs=1000, input_size=tuple(args.size_hw),
                                  batch_size=args.batch, device="cpu", seed=0)
    device = torch.device("cpu")
    module, weights, optimiser, _ = training._prepare_training(
        get_architecture(ARCH), config, NUM_CLASSES, labels, device)
    mean = torch.tensor(mean_v, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std_v, dtype=torch.float32).view(1, 3, 1, 1)
    generator = torch.Generator().manual_seed(config.seed)
    progress = training_progress_bars(config.epochs)
    epoch = [0]

    def run() -> None:
        epoch[0] += 1
        training._train_epoch(module, optimiser, images, labels, mean, std, device, weights, config,
                              generator, epoch[0], progress, None)

    return run


def sides(args, images, labels) -> tuple[dict[str, tuple[Callable[[], None], int]], dict]:
    """Every timed side: name -> (one pass, steps in it)."""
    pixels = images.reshape(-1, 3).astype(np.float64) / 255       # as train()'s "dataset" normalisation
    mean_v, std_v = pixels.mean(0), np.maximum(pixels.std(0), 1e-3)
    mean = torch.tensor(mean_v, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std_v, dtype=torch.float32).view(1, 3, 1, 1)
    n_train, n_eval = args.steps * args.batch, args.eval_batches * args.batch
    x, y = normalised(images, mean, std), torch.from_numpy(labels)
    classes = [f"class{i}" for i in range(NUM_CLASSES)]
    model = random_model(ARCH, classes, seed=0, input_size=tuple(args.size_hw), device="cpu")
    model.card.mean, model.card.std = tuple(map(float, mean_v)), tuple(map(float, std_v))
    eval_x = x[:n_eval]
    eval_cl = copy.deepcopy(model.module).to(memory_format=torch.channels_last)
    out = {
        "a_ours_train": (ours_train_pass(images[:n_train], labels[:n_train], mean_v, std_v, args), args.steps),
        "b_plain_train": (plain_train_pass(plain_model(False), batches_of(x[:n_train], y[:n_train], args.batch,
                                                                          False)), args.steps),
        "b2_plain_train_channels_last": (plain_train_pass(plain_model(True), batches_of(
            x[:n_train], y[:n_train], args.batch, True)), args.steps),
        "c_ours_eval": (lambda: predict_images(model, images[:n_eval], args.batch), args.eval_batches),
        "d_plain_eval": (plain_eval_pass(model.module, batches_of(eval_x, None, args.batch, False)),
                         args.eval_batches),
        "d2_plain_eval_channels_last": (plain_eval_pass(eval_cl, batches_of(eval_x, None, args.batch, True)),
                                        args.eval_batches),
    }
    return out, {"mean": list(map(float, mean_v)), "std": list(map(float, std_v))}


def measure(items: dict[str, tuple[Callable[[], None], int]], repeats: int) -> dict[str, list[float]]:
    """ms per step of each side: one warm-up pass, then ``repeats`` rounds in a rotating order."""
    for name, (run, _) in items.items():
        log(f"  warm-up {name}")
        run()
    samples: dict[str, list[float]] = {name: [] for name in items}
    names = list(items)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run, steps = items[name]
            gc.collect()
            t0 = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - t0) * 1000 / steps)
        log(f"  round {r + 1}/{repeats}: " + ", ".join(f"{n} {samples[n][-1]:.0f} ms" for n in names))
    return samples


def profile_ours(run: Callable[[], None], top: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def checks_of(times: dict[str, float]) -> dict:
    """PASS/FAIL of each target from the measured times per step (ms, by side)."""
    checks = {}
    for key, (description, ours, plain) in TARGETS.items():
        ratio = times[ours] / times[plain]
        checks[key] = {"description": description, "value": ratio, "threshold": GOAL, "pass": ratio <= GOAL}
    return checks


def run(args) -> dict:
    load_start = os.getloadavg()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.size_hw = (args.size, args.size)
    count = max(args.steps, args.eval_batches) * args.batch
    images, labels, source = load_images(min(count, args.images) if args.images else count, args.size_hw)
    if len(labels) < count:                                        # fewer images than asked: repeat them
        images, labels = np.resize(images, (count, *images.shape[1:])), np.resize(labels, count)
    items, normalisation = sides(args, images, labels)
    log(f"bench_train: {len(items)} sides, 1 warm-up + {args.repeats} rounds ...")
    samples = measure(items, args.repeats)
    times = {name: statistics.median(v) for name, v in samples.items()}
    fastest = {name: min(v) for name, v in samples.items()}
    checks = checks_of(times)
    ratios = {key: c["value"] for key, c in checks.items()}
    ratios_nchw = {key: times[TARGETS[key][1]] / times[plain] for key, plain in NCHW.items()}
    cores = os.cpu_count() or 1
    load = {"cpu_count": cores, "loadavg_1min_start": load_start[0], "loadavg_1min_end": os.getloadavg()[0]}
    if max(load["loadavg_1min_start"], load["loadavg_1min_end"]) > cores + 0.5:
        load["warning"] = (f"load average above the {cores} cores: other processes competed for the CPU, "
                           "so times are inflated and ratios less reliable")
    report = {
        "benchmark": "bench_train", "model": f"{ARCH} (random init, seed 0, {NUM_CLASSES} classes)",
        "input": source, "batch": args.batch, "size": list(args.size_hw), "steps": args.steps,
        "eval_batches": args.eval_batches, "repeats": args.repeats, "normalisation": normalisation,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(), "device": "cpu", "machine": platform.machine()},
        "cpu_load": load, "ms_per_step": times, "samples_ms_per_step": samples,
        "images_per_second": {name: args.batch * 1000 / t for name, t in times.items()},
        "ratios": ratios, "ratios_from_fastest": {key: fastest[o] / fastest[p] for key, (_, o, p) in TARGETS.items()},
        "ratios_to_nchw_plain": ratios_nchw, "checks": checks,
        "all_pass": all(c["pass"] for c in checks.values()),
    }
    if args.profile:
        report["profile_ours_train"] = profile_ours(items["a_ours_train"][0])
    return report


def print_table(report: dict) -> None:
    env, load, t = report["environment"], report["cpu_load"], report["ms_per_step"]
    print(f"bench_train: {report['model']}, {report['input']}, batch {report['batch']}, "
          f"{report['size'][0]}x{report['size'][1]}, torch {env['torch']} on {env['threads']} threads, CPU")
    print(f"median of {report['repeats']} rounds ({report['steps']} training steps, {report['eval_batches']} "
          f"inference batches each) after one warm-up; 1-min load average "
          f"{load['loadavg_1min_start']:.2f} at start, {load['loadavg_1min_end']:.2f} at end ({load['cpu_count']} cores)")
    if "warning" in load:
        print(f"WARNING: {load['warning']}")
    rows = [("(a) ours, medxai train's loop", "a_ours_train"), ("(b) plain training loop", "b_plain_train"),
            ("(b') plain, channels-last", "b2_plain_train_channels_last"),
            ("(c) ours, medxai evaluate's inference", "c_ours_eval"), ("(d) plain no-grad loop", "d_plain_eval"),
            ("(d') plain no-grad, channels-last", "d2_plain_eval_channels_last")]
    for label, key in rows:
        print(f"  {label:<40} {t[key]:8.1f} ms/batch  {report['images_per_second'][key]:7.1f} img/s   "
              f"(fastest round {min(report['samples_ms_per_step'][key]):.1f} ms)")
    for key in TARGETS:
        print(f"  {key:<9} ours / plain channels-last = {report['ratios'][key]:.3f}x (fastest rounds "
              f"{report['ratios_from_fastest'][key]:.3f}x); ours / plain NCHW = "
              f"{report['ratios_to_nchw_plain'][key]:.3f}x")
    for check in report["checks"].values():
        print(f"  [{'PASS' if check['pass'] else 'FAIL'}] {check['description']}: {check['value']:.3f}x")
    if "profile_ours_train" in report:
        print(report["profile_ours_train"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (about a minute)")
    parser.add_argument("--steps", type=int, help="training steps per pass (default 3, quick 2)")
    parser.add_argument("--eval-batches", type=int, help="inference batches per pass (default 3, quick 2)")
    parser.add_argument("--repeats", type=int, help="timed rounds (default 5, quick 3)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224, help="square input size (default 224)")
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's default)")
    parser.add_argument("--images", type=int, help="distinct images to decode (default: one per batch slot)")
    parser.add_argument("--profile", action="store_true", help="cProfile one more pass of (a)")
    parser.add_argument("--json", action="store_true", help="print only a JSON object on stdout")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.quick else 3)
    args.eval_batches = args.eval_batches or (2 if args.quick else 3)
    args.repeats = args.repeats or (3 if args.quick else 5)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if args.strict and not report["all_pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
