"""`medxai tune-boxes`: choose CrossEAI's box parameters by cross-validation."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import (UsageError, default_boxes, progress_bar)


def register(sub) -> None:
    tuner = sub.add_parser("tune-boxes", help="choose CrossEAI's box parameters by k-fold cross-validation "
                                              "on development images with reference boxes")
    tuner.add_argument("data", help="the development images: a folder, or a CSV whose 'image' column lists them")
    tuner.add_argument("--model", required=True, metavar="CARD.json")
    tuner.add_argument("--boxes", help="reference boxes (boxes.csv, NIH CSV, COCO, VOC, YOLO, flat CSV; "
                                       "default: boxes.csv beside DATA)")
    tuner.add_argument("--images", help="folder the box file's image names are relative to (default: its folder)")
    tuner.add_argument("--folds", type=int, default=5)
    tuner.add_argument("--seed", type=int, default=0, help="seed of the fold split")
    tuner.add_argument("--objective", default="overall",
                       help="what is maximised on the tuning folds: overall (mean accuracy over "
                            "T(IoU) 0.1..0.7, default), mean_iou, or acc_iou_T")
    tuner.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    tuner.add_argument("--taus", default="0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    tuner.add_argument("--sigmas", default="0,2,4,8")
    tuner.add_argument("--min-areas", default="0,0.005,0.02,0.05")
    tuner.add_argument("--scores", default="mean,max", help="component scores to try (mean, max)")
    tuner.add_argument("--top-k", default="1", help="boxes kept per image; more boxes always raise "
                                                    "best-of-k accuracy, so keep it fixed (default 1)")
    tuner.add_argument("--layers", help="CAM target layers to try, e.g. layer4,layer3 (default: the card's)")
    tuner.add_argument("--cams", default="gradcam++",
                       help="CAMs tuned alone through the same box step (Grad-CAM++ is also fused)")
    tuner.add_argument("--foreground", default="off", choices=("off", "on", "both"),
                       help="zero each map outside the patient (head, body) before thresholding: "
                            "off, on, or both (try each; the folds choose)")
    tuner.add_argument("--target-class", help="class explained for reference labels the model does not "
                                              "have (a class name, or 'predicted')")
    tuner.add_argument("--cache", help="map cache folder (default OUT/maps); a re-run resumes from it")
    tuner.add_argument("--out", required=True)
    tuner.add_argument("--write-card", nargs="?", const=True, default=None, metavar="COPY.json",
                       help="write the parameters chosen on all images into the card's 'crosseai' "
                            "entry; with COPY.json, into a copy of the card there instead")
    tuner.add_argument("--device", default="auto")
    tuner.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.evaluation.box_tuning import (OBJECTIVES, Grid, MapCache, card_proposals,
                                                           parse_floats, recorded_crosseai_score, tune,
                                                           tuned_crosseai, write_card_proposals,
                                                           write_tuning_outputs)
    from medxai_desktop.core.evaluation.localisation import references_from_files
    from medxai_desktop.core.models import load_model

    if args.objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}")
    boxes = args.boxes or default_boxes(args.data)
    model = load_model(args.model, device=args.device)
    references, _ = references_from_files(boxes, args.images, args.data)
    grid = Grid(alphas=parse_floats(args.alphas), taus=parse_floats(args.taus),
                sigmas=parse_floats(args.sigmas), min_areas=parse_floats(args.min_areas),
                scores=tuple(v.strip() for v in args.scores.split(",") if v.strip()),
                top_ks=tuple(int(v) for v in parse_floats(args.top_k)),
                layers=tuple(v.strip() for v in (args.layers or model.target_layer).split(",") if v.strip()),
                cams=tuple(v.strip() for v in args.cams.split(",") if v.strip()),
                foregrounds={"off": (False,), "on": (True,), "both": (False, True)}[args.foreground])
    out = Path(args.out)
    cache = MapCache(args.cache or out / "maps", model)
    result, scores = tune(cache, references, grid, args.folds, args.seed, args.objective,
                          args.target_class, progress=progress_bar())
    files = write_tuning_outputs(result, scores, out)
    for key, reason in result.skipped.items():
        print(f"skipped {key}: {reason}", file=sys.stderr)
    print(f"{result.n_images} images, {result.n_boxes} boxes, {result.grid_size} grid points, "
          f"{args.folds}-fold cross-validation on {args.objective} (maps: {cache.computed} computed, "
          f"{cache.loaded} from the cache)")
    print(f"held-out folds, mean ± sd:  {'family':<22} {'overall':>13} {'mean IoU':>13} "
          f"{'acc@0.3':>13} {'acc@0.5':>13} {'boxes/img':>9}")
    for row in result.summary():
        cells = [f"{row[m + '_mean']:.3f} ± {row[m + '_sd']:.3f}"
                 for m in ("overall_iou", "mean_iou", "acc_iou_0.3", "acc_iou_0.5")]
        print(f"{'':<27}{row['family']:<22} " + " ".join(f"{c:>13}" for c in cells)
              + f" {row['predicted_per_image_mean']:9.2f}")
    print(f"MaxBoxAccV2 (Choe et al. 2020; every component, best threshold on these images): "
          f"{'family':<40} {'@0.3':>6} {'@0.5':>6} {'@0.7':>6} {'V2':>6}")
    for row in result.max_box_acc:
        print(f"{'':<82}{row['family']:<40} " + " ".join(
            f"{row[k]:6.3f}" for k in ("maxboxacc_0.3", "maxboxacc_0.5", "maxboxacc_0.7", "maxboxacc_v2")))
    if tuned_crosseai(result):
        _crosseai_chosen(args, result, model, boxes)
    elif args.write_card:
        recorded = recorded_crosseai_score(model.card)
        proposals, recommended = card_proposals(result, model.target_layer, recorded)
        written = write_card_proposals(args.model, target_card(args), proposals, recommended)
        print(f"CrossEAI was not tuned in this run; compared with its recorded held-out score "
              f"{'none' if recorded is None else f'{recorded:.3f}'}")
        print(f"wrote the box rules into {written} (recommended proposal method: {recommended})")
    print(f"wrote {files['json'].parent}")
    return 0


def target_card(args):
    return None if args.write_card is True else args.write_card


def _crosseai_chosen(args, result, model, boxes) -> None:
    """Print CrossEAI's parameters chosen on all images and, with --write-card, write them and
    the other methods' rules into the card."""
    from medxai_desktop.core.evaluation.box_tuning import (card_family, card_proposals,
                                                           other_layers_did_better, write_card_defaults)

    family = card_family(result, model.target_layer)
    chosen = result.chosen_all[family]
    held_out = {r["family"]: r for r in result.summary()}
    print(f"chosen on all images ({family}): " + ", ".join(
        f"{k} {chosen[k]}" for k in ("layer", "alpha", "tau", "sigma", "min_area", "top_k", "score",
                                     "foreground")))
    if other_layers_did_better(result, family):
        print(f"note: CrossEAI over all tried layers scored higher held-out than at the card's layer "
              f"{model.target_layer}; the card's target layer decides which one the app uses")
    if args.write_card:
        provenance = {"data": str(args.data), "boxes": str(boxes), "images": result.n_images,
                      "folds": args.folds, "seed": args.seed, "objective": args.objective,
                      "held_out": held_out[family], "chosen_from": family}
        proposals, recommended = card_proposals(result, model.target_layer)
        written = write_card_defaults(args.model, chosen, provenance, target_card(args),
                                      {"proposals": proposals, "recommended_proposal": recommended})
        print(f"wrote the chosen defaults into {written} (crosseai; recommended proposal method: {recommended})")
