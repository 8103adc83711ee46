"""`medxai report`: HTML reports (localisation, ROAD)."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import (UsageError, add_model_arguments, add_road_arguments,
                     default_boxes, load_model_from_args, print_road_summary,
                     progress_bar, run_road_from_args)


def register(sub) -> None:
    report = sub.add_parser("report", help="HTML reports with CSV/JSON of every number")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    localization = report_sub.add_parser(
        "localization", aliases=["localisation"],
        help="how well each explainer's boxes and maps agree with reference boxes (IoU, IoBB, "
             "false positives, energy, pointing game)")
    add_model_arguments(localization)
    localization.add_argument("--data", help="the images to evaluate: a folder, or a CSV whose 'image' "
                                             "column lists them (default: every boxed image)")
    localization.add_argument("--boxes", help="reference boxes file (default: the review database's "
                                              "reviewed boxes)")
    localization.add_argument("--images", help="folder the box file's image names are relative to")
    localization.add_argument("--db", dest="report_db", metavar="URL",
                              help="review database to take reviewed boxes and proposals from "
                                   "(default: the global --db)")
    localization.add_argument("--methods", help="comma-separated: crosseai, crosseai-defaults, any CAM "
                                                "(name or name@layer), guided, wang, fixed-box, stored "
                                                "(default: crosseai and the paper's CAMs, gradcam, "
                                                "guided, wang, fixed-box)")
    localization.add_argument("--target-class", help="class explained for reference labels the model "
                                                     "does not have (a class name, or 'predicted')")
    localization.add_argument("--compare-with", action="append", metavar="CARD.json",
                              help="another version of the model (e.g. the parent of a box-trained card): "
                                   "each version's report in OUT/<name>/ and OUT/comparison.html with "
                                   "their rows side by side; repeatable (default methods: recommended, "
                                   "crosseai, fixed-box; 'recommended' is each card's own)")
    localization.add_argument("--cache", help="map cache folder (default OUT/maps); a re-run resumes")
    localization.add_argument("--examples", type=int, default=8, help="example images in the report")
    localization.add_argument("--out", required=True)
    localization.set_defaults(func=run_localization)
    road_report = report_sub.add_parser(
        "road", help="ROAD faithfulness report: per-method and per-class ROADCombined, ROAD curves, "
                     "box plots, paired t-tests with Holm, examples")
    road_report.add_argument("--from", dest="from_dir", metavar="DIR", help="output folder of `medxai road`")
    road_report.add_argument("--data", help="or: score these images first (an image, a folder or a CSV), "
                                            "with the model arguments")
    road_report.add_argument("--work", metavar="DIR", help="with --data: where the per-image results go "
                                                           "(default: OUT without its suffix)")
    add_model_arguments(road_report)
    add_road_arguments(road_report)
    road_report.add_argument("--examples", type=int, default=4, help="example images in the report (default 4)")
    road_report.add_argument("--out", required=True, metavar="REPORT.html")
    road_report.set_defaults(func=run_road)


def run_localization(args) -> int:
    from medxai_desktop.core.evaluation.localisation import references_from_files
    from medxai_desktop.core.reports.localisation_report import (DEFAULT_METHODS, build_localisation_report,
                                                                 build_store_localisation_report)

    if args.compare_with:
        return run_comparison(args)
    methods = [m for m in (args.methods or ",".join(DEFAULT_METHODS)).split(",") if m.strip()]
    model = load_model_from_args(args) if (args.model or args.arch) else None
    options = dict(cache_dir=args.cache, fallback_target=args.target_class, examples=args.examples,
                   progress=progress_bar())
    db_url = args.report_db or args.db
    if args.boxes or (args.data and not db_url):
        references, fractions = references_from_files(args.boxes or default_boxes(args.data),
                                                      args.images, args.data)
        result = build_localisation_report(references, args.out, model, methods,
                                           fixed_fractions=fractions, **options)
    else:
        from medxai_desktop.core.store import ReviewStore, default_db_url

        with ReviewStore(db_url or default_db_url()) as store:
            result = build_store_localisation_report(store, args.out, model,
                                                     methods if args.methods else None, **options)
    for key, reason in result.skipped.items():
        print(f"skipped {key}: {reason}", file=sys.stderr)
    print(f"{'method':<24} {'boxes/img':>9} {'mean IoU':>9} " + " ".join(f"{'@' + str(t):>6}" for t in
                                                                        (0.1, 0.3, 0.5, 0.7)) + f" {'AFP@0.5':>8}")
    for row in result.summary:
        print(f"{row['method']:<24} {row['predicted_per_image']:9.2f} {row['mean_iou']:9.3f} "
              + " ".join(f"{row[f'acc_iou_{t}']:6.3f}" for t in (0.1, 0.3, 0.5, 0.7))
              + f" {row['afp_iou_0.5']:8.2f}")
    print(f"wrote {result.files['html']}")
    return 0


def run_comparison(args) -> int:
    """`report localization --model CARD --compare-with OTHER ...`: versions side by side."""
    from medxai_desktop.core.evaluation.localisation import references_from_files
    from medxai_desktop.core.evaluation.model_evaluation import model_name
    from medxai_desktop.core.models import load_model
    from medxai_desktop.core.reports.version_comparison import compare_versions

    if not args.model or not (args.boxes or args.data):
        raise UsageError("--compare-with compares model cards on reference boxes: give --model CARD.json "
                         "and --boxes FILE (or --data with its boxes.csv)")
    versions, names = [], []
    for card in [args.model, *args.compare_with]:
        names.append(model_name(card, names))
        versions.append((names[-1], load_model(card, device=args.device)))
    references, fractions = references_from_files(args.boxes or default_boxes(args.data), args.images, args.data)
    methods = (args.methods or "recommended,crosseai,fixed-box").split(",")
    result = compare_versions(references, args.out, versions, methods, cache_dir=args.cache,
                              fallback_target=args.target_class, fixed_fractions=fractions,
                              progress=progress_bar())
    print(f"{result.images} images; mean accuracy over T(IoU) 0.1-0.7 ('*': the version's recommended method)")
    for row in result.rows:
        print(f"{row['version']:<24} {row['method'] + ('*' if row['proposes'] else ''):<24} "
              f"{row['overall_iou']:.3f}  mean IoU {row['mean_iou']:.3f}  boxes/img {row['predicted_per_image']:.2f}")
    print(f"wrote {result.files['html']}")
    return 0


def run_road(args) -> int:
    from medxai_desktop.core.evaluation.road_run import load_records
    from medxai_desktop.core.reports.road_report import build_road_report

    if bool(args.from_dir) == bool(args.data):
        raise UsageError("give either --from DIR (the output of `medxai road`) or --data IMAGES with a model")
    if args.data:
        work = Path(args.work) if args.work else Path(args.out).with_suffix("")
        run_road_from_args(args, args.data, work)
        records = load_records(work)
    else:
        records = load_records(args.from_dir)
    result = build_road_report(records, args.out, examples=args.examples)
    if not args.data:
        print_road_summary(result.summary)
    print(f"wrote {result.files['html']} (+ {', '.join(p.name for k, p in result.files.items() if k != 'html')})")
    return 0
