"""`medxai demo`: explain the bundled sample study with the bundled demo model."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import (DEFAULT_METHODS, UsageError)
from .explain import explain_and_write


def register(sub) -> None:
    demo = sub.add_parser("demo", help="explain the bundled sample study with the bundled demo model")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--methods", default=DEFAULT_METHODS)
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=run)


def run(args) -> int:
    """Explain every image of the bundled sample study with the bundled demo model."""
    from medxai_desktop.core.explain import ExplanationEngine, canonical_name
    from medxai_desktop.core.imaging import discover, read_image
    from medxai_desktop.core.models import load_model, random_model
    from medxai_desktop.core.resources import demo_model_card, sample_study_dir

    card = demo_model_card()
    study = sample_study_dir()
    found = discover(study)
    refs = [ref for s in found.studies for series in s.series for ref in series.images]
    if not refs:
        raise UsageError(f"no readable images in the sample study at {study}")
    if card is not None:
        model = load_model(card, device=args.device)
    else:
        print("medxai demo: no demo model is bundled yet; using an UNTRAINED resnet18 "
              "(the maps show the pipeline working, not medical meaning)", file=sys.stderr)
        model = random_model("resnet18", ["glioma", "meningioma", "pituitary", "no_tumor"],
                             device=args.device)
    engine = ExplanationEngine(model)
    methods = [canonical_name(m) for m in args.methods.split(",") if m.strip()]
    for ref in refs:
        image = read_image(ref.path, frame=ref.frame)
        explain_and_write(image, model, engine, methods, Path(args.out) / Path(ref.path).stem, propose="default")
    for failure in found.failures:
        print(f"skipped {failure}", file=sys.stderr)
    return 0
