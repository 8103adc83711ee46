"""What the `medxai` commands share: the model and ROAD arguments, loading a model from them,
progress bars, and the usage error."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medxai_desktop.core.errors import MedXAIError

DEFAULT_METHODS = "gradcam++,xgradcam,eigengradcam,layercam,ablationcam"
FORMAT_CHOICES = ["coco", "voc", "yolo", "nih-csv", "csv"]


class UsageError(MedXAIError):
    pass


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (a card, or an architecture with a checkpoint)")
    group.add_argument("--model", metavar="CARD.json", help="model card (JSON)")
    group.add_argument("--arch", help="architecture name (resnet18, resnet50, densenet121, vgg16, efficientnet_b0)")
    group.add_argument("--checkpoint", metavar="FILE", help="state_dict of --arch")
    group.add_argument("--classes", help="comma-separated class names, in output order")
    group.add_argument("--random-init", action="store_true", help="untrained weights (tests, benchmarks)")
    group.add_argument("--seed", type=int, default=0, help="seed for --random-init (default 0)")
    group.add_argument("--layer", help="target layer (default: the card's or the architecture's)")
    group.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda[:N], mps")


def load_model_from_args(args):
    from medxai_desktop.core.models import load_model, model_from_checkpoint, random_model
    if args.model:
        if args.arch or args.checkpoint or args.random_init:
            raise UsageError("give either --model CARD.json or --arch with --checkpoint/--random-init, not both")
        model = load_model(args.model, device=args.device)
    elif args.arch:
        classes = [c.strip() for c in (args.classes or "").split(",") if c.strip()]
        if args.random_init:
            model = random_model(args.arch, classes or ["class_0", "class_1"], seed=args.seed,
                                 device=args.device)
        elif args.checkpoint:
            if len(classes) < 2:
                raise UsageError("--checkpoint needs --classes A,B,... (at least two)")
            model = model_from_checkpoint(args.arch, args.checkpoint, classes, device=args.device)
        else:
            raise UsageError("--arch needs --checkpoint FILE or --random-init")
    else:
        raise UsageError("no model: give --model CARD.json, or --arch with --checkpoint or --random-init")
    if args.layer:
        model.card.target_layer = args.layer
    return model


def enabled_plugin_names(kind: str) -> list[str]:
    """Names of the enabled plugins of ``kind``, from their declarations (none is imported)."""
    from medxai_desktop.core.plugins import statuses

    return [s.info.name for s in statuses() if s.enabled and s.info.kind == kind]


def progress_bar(unit: str = "img"):
    """A core ProgressFn that keeps one tqdm bar per stage (maps, grid, decode ...)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(p) -> None:
        stage = p.stage or "images"
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=p.total, desc=stage, unit=unit, leave=False,
                                     dynamic_ncols=True, disable=None)
        bar.update(p.done - bar.n)
        if p.finished:
            bar.close()

    return progress


def default_boxes(data) -> Path:
    base = Path(data) if Path(data).is_dir() else Path(data).parent
    if not (base / "boxes.csv").is_file():
        raise UsageError(f"no --boxes given and no boxes.csv in {base}")
    return base / "boxes.csv"


def road_progress():
    """A tqdm bar for core.evaluation.road_run progress (done, total, image key, status)."""
    from tqdm import tqdm

    state: dict = {"computed": 0, "reused": 0, "skipped": 0}

    def progress(p) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=p.total, desc="ROAD", unit="img", dynamic_ncols=True, disable=None)
        state[p.info["status"]] += 1
        bar.update(p.done - bar.n)
        bar.set_postfix(computed=state["computed"], reused=state["reused"], skipped=state["skipped"])
        if p.finished:
            bar.close()

    return progress


def add_road_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated (default {DEFAULT_METHODS})")
    parser.add_argument("--percentiles", default="20,40,60,80", help="ROAD percentiles (default 20,40,60,80)")
    parser.add_argument("--labels", metavar="CSV", help="labels (image,label) of a folder's images, "
                                                        "matched by path, else by file name")
    parser.add_argument("--only-labels", metavar="A,B", help="score only images with one of these labels")
    parser.add_argument("--per-class", type=int, metavar="N", help="score only the first N images of each label")
    parser.add_argument("--target", choices=["predicted", "label"], default="predicted",
                        help="class explained and scored: the predicted one (default) or the image's label")
    parser.add_argument("--noise-seed", type=int, default=0, help="seed of the imputation noise (default 0)")
    parser.add_argument("--noise", type=float, default=0.01, help="imputation noise sigma (default 0.01)")
    parser.add_argument("--batch", type=int, default=32, help="imputed images per forward pass (default 32)")
    parser.add_argument("--no-resume", action="store_true", help="recompute images that already have a "
                                                                 "road.json with the same parameters")


def run_road_from_args(args, source, out) -> list:
    """`medxai road` (and `report road --data`): score the images, write road.json files and
    the summary; returns the records."""
    from medxai_desktop.core.evaluation import road_run
    from medxai_desktop.core.explain import canonical_name

    try:
        percentiles = [float(p) for p in args.percentiles.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"--percentiles must be comma-separated numbers, got {args.percentiles!r}") from None
    methods = [canonical_name(m) for m in args.methods.split(",") if m.strip()]
    only = [c.strip() for c in args.only_labels.split(",") if c.strip()] if args.only_labels else None
    model = load_model_from_args(args)
    inputs, skipped = road_run.road_inputs(source, args.labels, only, args.per_class)
    run = road_run.run_road(model, inputs, out, methods, percentiles, args.target, args.noise_seed, args.noise,
                   args.batch, progress=road_progress(), resume=not args.no_resume)
    skipped += run.skipped
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    if not run.records:
        raise UsageError(f"no image could be scored ({len(skipped)} skipped)")
    summary = road_run.write_summary(out, run.records, methods, skipped)
    print(f"{len(run.records)} images ({run.computed} computed, {run.reused} reused from an earlier run, "
          f"{len(skipped)} skipped) on {model.device}")
    print_road_summary(summary)
    return run.records


def print_road_summary(summary: dict) -> None:
    print(f"{'method':<14} {'n':>5} {'ROADCombined':>13} {'sd':>7} {'MoRF':>8} {'LeRF':>8}   per class: "
          + ", ".join(summary["classes"]))
    for row in summary["per_method"]:
        per_class = [r["mean"] for name in summary["classes"] for r in summary["per_class"]
                     if r["class"] == name and r["method"] == row["method"]]
        print(f"{row['method']:<14} {row['n']:5d} {row['mean']:+13.4f} {row['sd']:7.4f} {row['morf_mean']:+8.4f} "
              f"{row['lerf_mean']:+8.4f}   " + " ".join(f"{v:+.4f}" for v in per_class))
    for test in summary["paired_tests"]:
        print(f"  {test['method_a']} - {test['method_b']}: {test['mean_difference']:+.4f} "
              f"[{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], p {test['p']:.3g}, Holm {test['p_holm']:.3g}"
              f"{' *' if test['significant_holm'] else ''}")
