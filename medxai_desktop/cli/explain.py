"""`medxai explain`: explain one image: heatmaps, prediction, CrossEAI boxes."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from .common import (DEFAULT_METHODS, add_model_arguments, load_model_from_args)


def register(sub) -> None:
    explain = sub.add_parser("explain", help="explain one image: heatmaps, prediction, CrossEAI boxes")
    explain.add_argument("image", help="DICOM, PNG/JPEG/BMP/TIFF, NIfTI/MHA/NRRD file")
    explain.add_argument("--frame", type=int, default=None, help="frame (multi-frame DICOM) or slice (volume)")
    add_model_arguments(explain)
    explain.add_argument("--methods", default=DEFAULT_METHODS,
                         help=f"comma-separated methods (default {DEFAULT_METHODS}); also gradcam, "
                              "hirescam, eigencam, scorecam, guided")
    explain.add_argument("--target", default="predicted", help="class name or index to explain, or 'predicted'")
    explain.add_argument("--boxes", choices=["default", "crosseai", "click"],
                         help="also propose boxes: 'default' with the model card's recommended proposal "
                              "method (tune-boxes --write-card measures it), 'crosseai' with pure CrossEAI, "
                              "'click' the one box of the map's component under --click")
    explain.add_argument("--click", type=parse_click, default=None, metavar="X,Y",
                         help="with --boxes click: the click in image pixels (x, y from the top left)")
    for name, kind, text in [("--alpha", float, "weight of Guided Backprop in the fusion"),
                             ("--tau", float, "threshold as a fraction of the fused map's maximum"),
                             ("--sigma", float, "Gaussian smoothing of the guided map (model pixels)"),
                             ("--min-area", float, "smallest box as a fraction of the image area"),
                             ("--top-k", int, "boxes kept (0 = all)")]:
        explain.add_argument(name, type=kind, default=None, help=f"CrossEAI: {text}")
    explain.add_argument("--out", required=True, help="output folder")
    explain.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.atomic_files import check_output
    from medxai_desktop.core.explain import ExplanationEngine, canonical_name
    from medxai_desktop.core.imaging import read_image

    check_output(args.out, folder=True)   # before any work: a file or a link there is one line
    methods = [canonical_name(m) for m in args.methods.split(",") if m.strip()]
    image = read_image(args.image, frame=args.frame)
    model = load_model_from_args(args)
    overrides = {k: getattr(args, k) for k in ("alpha", "tau", "sigma", "min_area", "top_k")
                 if getattr(args, k) is not None}
    if args.click is not None and args.boxes != "click":
        raise ValueError("--click is used with --boxes click only")
    return explain_and_write(image, model, ExplanationEngine(model), methods, Path(args.out), args.target,
                             propose=args.boxes or False, overrides=overrides, click=args.click)


def parse_click(text: str) -> tuple[float, float]:
    """"X,Y" -> (x, y); argparse turns the ValueError into a one-line usage error."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--click wants X,Y (image pixels), got {text!r}")
    x, y = (float(p) for p in parts)
    if not all(math.isfinite(v) and v >= 0 for v in (x, y)):
        raise ValueError(f"--click wants two finite pixel coordinates >= 0, got {text!r}")
    return x, y


def explain_and_write(image, model, engine, methods, out: Path, target="predicted", propose: bool | str = False,
                      overrides: dict | None = None, click: tuple[float, float] | None = None) -> int:
    """Explain one image (core), write the maps, boxes and summary to ``out`` and print them.
    An image unlike the model's training images (its card's modality, body part or input
    statistics: core.models.domain) is a warning on stderr and in the summary."""
    from medxai_desktop.core.explain.outputs import write_explanations
    from medxai_desktop.core.explain.click_box import explain_and_click
    from medxai_desktop.core.explain.proposals import explain_and_propose
    from medxai_desktop.core.models.domain import domain_warning

    warning = domain_warning(model.card, image)
    if warning:
        print(f"warning: {Path(image.source).name}: {warning}", file=sys.stderr)
    done = (explain_and_click(image, model, engine, methods, target, click) if propose == "click"
            else explain_and_propose(image, model, engine, methods, target, propose, overrides))
    result, boxes = done.result, done.boxes
    info = {"path": str(Path(image.source).resolve()), "frame": image.frame,
            "content_sha256": image.content_hash, "height": image.shape[0], "width": image.shape[1],
            **({"domain_warning": warning} if warning else {})}
    write_explanations(out, result, image.display(), info, boxes, done.fused, done.box_seconds)
    probs = ", ".join(f"{c} {p:.3f}" for c, p in result.prediction.probabilities.items())
    print(f"{Path(image.source).name}: predicted {result.prediction.class_name} ({probs}); "
          f"explained class {result.target_name} on {model.device}")
    for name, explanation in result.explanations.items():
        print(f"  {name:<13} {explanation.seconds * 1000:8.1f} ms (+ shared pass "
              f"{result.shared_pass_seconds * 1000:.1f} ms)")
    if boxes is not None:
        method = boxes[0].method if boxes else "crosseai"
        print(f"  {method} boxes: {len(boxes)} " + " ".join(
            f"[{p.box.x0:.0f},{p.box.y0:.0f},{p.box.x1:.0f},{p.box.y1:.0f} score {p.score:.2f}]" for p in boxes))
    print(f"wrote {out}")
    return 0
