"""Click-to-box, map-only (issue 25 part 2): choose the click rule on the validation split by
5-fold cross-validation, then measure it once on the test split.

    PYTHONPATH=$PWD .venv/bin/python experiments/click_box_rule.py [--limit-val N] [--limit-test N]
        [--cache out/click_maps] [--out experiments/results/brain_click_box.json]

The splits are experiments/brain_recipe.py's (test 15 % first, validation 20 % of the rest, seed 0),
tumour slices only (those with an expert box in boxes.csv). The click is the centre of the expert
box; a box counts at IoU >= 0.7 (and >= 0.5). A refused click (no component) counts as a miss.
The maps are the demo card's, for the predicted class (what the app and the CLI use), cached
under --cache (tune-boxes' MapCache). Nothing of the test split is used to choose.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from medxai_desktop.core.boxes import Box  # noqa: E402
from medxai_desktop.core.evaluation.box_tuning import MapCache  # noqa: E402
from medxai_desktop.core.explain.click_box import ClickRule, NoComponentAtClick, propose_at  # noqa: E402
from medxai_desktop.core.explain.crosseai_params import CrossEAIParams  # noqa: E402
from medxai_desktop.core.models import load_model  # noqa: E402
from medxai_desktop.core.models.datasets import find_labelled_images  # noqa: E402
from medxai_desktop.core.models.training import split_indices  # noqa: E402
from medxai_desktop.core.resources import demo_model_card  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "brain_mri"
# (source, alpha, sigma): CrossEAI fused maps (alpha None / sigma None: the card's) and Grad-CAM++
SOURCES = (("crosseai", None, None), ("crosseai", None, 6.0), ("crosseai", None, 12.0),
           ("crosseai", 0.5, None), ("crosseai", 0.5, 6.0), ("crosseai", 0.5, 12.0), ("gradcam++", None, None),
           ("boxhead", None, None))   # the card's learned box head map (not click-conditioned)
FRACTIONS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RADII = (0.0, 0.03, 0.06, 0.1)
FLOOR = 0.1


def expert_boxes() -> dict[str, Box]:
    with open(DATA / "boxes.csv", newline="") as handle:
        return {str((DATA / r["image"]).resolve()): Box(float(r["x"]), float(r["y"]), float(r["x"]) + float(r["w"]),
                                                        float(r["y"]) + float(r["h"])) for r in csv.DictReader(handle)}


def split_tumours(boxes: dict[str, Box]) -> dict[str, list[str]]:
    data = find_labelled_images(DATA / "images")
    _, val, test = split_indices(np.asarray(data.labels), 0.2, 0.15, 0)
    paths = [str(p.resolve()) for p in data.paths]
    return {name: [paths[i] for i in sorted(idx) if paths[i] in boxes] for name, idx in (("validation", val),
                                                                                          ("test", test))}


def subset(paths: list[str], limit: int | None) -> list[str]:
    """An evenly spaced subset (the split is sorted by class, so every class is in it)."""
    if not limit or limit >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]


def source_maps(cache: MapCache, path: str, crosseai: CrossEAIParams, layer: str) -> dict[tuple, np.ndarray]:
    maps = cache.maps(path, path, "predicted", {layer: ["gradcam++", "boxhead"]}, saliency=True)
    out = {}
    for source, alpha, sigma in SOURCES:
        params = crosseai.with_(**{k: v for k, v in (("alpha", alpha), ("sigma", sigma)) if v is not None})
        out[(source, alpha, sigma)] = (maps.crosseai(params, layer) if source == "crosseai"
                                       else maps.cam(source, layer))
    maps.release()
    return out


def ious(maps: dict[str, dict[str, np.ndarray]], boxes: dict[str, Box], paths: list[str],
         sizes: dict[str, tuple[int, int]], rules: list[ClickRule]) -> np.ndarray:
    """(rules, images) IoU of the click box with the expert box (0 when refused)."""
    out = np.zeros((len(rules), len(paths)))
    for j, path in enumerate(paths):
        box = boxes[path]
        centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        for i, rule in enumerate(rules):
            try:
                out[i, j] = propose_at(maps[path][(rule.source, rule.alpha, rule.sigma)], centre, sizes[path], rule).box.iou(box)
            except NoComponentAtClick:
                out[i, j] = 0.0
    return out


def summary(values: np.ndarray) -> dict:
    return {"n": int(values.size), "iou_ge_0.7": float((values >= 0.7).mean()),
            "iou_ge_0.5": float((values >= 0.5).mean()), "mean_iou": float(values.mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-val", type=int, default=None)
    parser.add_argument("--limit-test", type=int, default=None)
    parser.add_argument("--cache", default=str(REPO / "out" / "click_maps"))
    parser.add_argument("--out", default=str(REPO / "experiments" / "results" / "brain_click_box.json"))
    args = parser.parse_args()
    card = demo_model_card()
    model = load_model(card, device="cpu")
    crosseai = CrossEAIParams.from_dict(model.card.metadata.get("crosseai"))
    layer = model.card.metadata.get("crosseai", {}).get("layer") or model.target_layer
    cache = MapCache(args.cache, model)
    boxes = expert_boxes()
    splits = split_tumours(boxes)
    chosen = {"validation": subset(splits["validation"], args.limit_val),
              "test": subset(splits["test"], args.limit_test)}
    start = time.perf_counter()
    maps = {p: source_maps(cache, p, crosseai, layer) for ps in chosen.values() for p in ps}
    sizes = {p: Image.open(p).size[::-1] for p in maps}
    map_seconds = time.perf_counter() - start
    rules = [ClickRule(s[0], f, r, FLOOR, s[1], s[2]) for s, f, r in itertools.product(SOURCES, FRACTIONS, RADII)]
    val = ious(maps, boxes, chosen["validation"], sizes, rules)
    hits = (val >= 0.7)
    # 5-fold cross-validation on the validation tumours: held-out rate of the rule each fold chose
    folds = np.array_split(np.random.default_rng(0).permutation(val.shape[1]), 5)
    held_out = []
    for fold in folds:
        train = np.setdiff1d(np.arange(val.shape[1]), fold)
        best = int(np.argmax(hits[:, train].mean(1) + 1e-6 * val[:, train].mean(1)))
        held_out.append(float(hits[best, fold].mean()))
    best = int(np.argmax(hits.mean(1) + 1e-6 * val.mean(1)))
    rule = rules[best]
    # the chosen rule, and the best rule of each map family (chosen on validation too), on test
    per_source = {s: rules[max((i for i, r in enumerate(rules) if r.source == s),
                               key=lambda i: hits[i].mean() + 1e-6 * val[i].mean())] for s in ("crosseai", "gradcam++", "boxhead")}
    test = {s: summary(ious(maps, boxes, chosen["test"], sizes, [r])[0]) for s, r in per_source.items()}
    test["chosen"] = summary(ious(maps, boxes, chosen["test"], sizes, [rule])[0])
    report = {"card": str(card), "splits": {k: {"tumours": len(splits[k]), "used": len(v)} for k, v in chosen.items()},
              "map_seconds": map_seconds, "maps_computed": cache.computed, "maps_loaded": cache.loaded,
              "chosen_rule": rule.to_dict(), "validation_cv_held_out_iou_ge_0.7": held_out,
              "validation_chosen": summary(val[best]),
              "validation_top5": [dict(rules[i].to_dict(), **summary(val[i])) for i in
                                  np.argsort(-(hits.mean(1) + 1e-6 * val.mean(1)))[:5]],
              "per_source_rule": {s: r.to_dict() for s, r in per_source.items()},
              "test": test}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
