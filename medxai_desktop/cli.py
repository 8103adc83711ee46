"""`medxai`: the headless front end over the same core calls as the desktop app."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from medxai_desktop.core.errors import MedXAIError

DEFAULT_METHODS = "gradcam++,xgradcam,eigengradcam,layercam,ablationcam"


class UsageError(MedXAIError):
    pass


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
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


def cmd_explain(args) -> int:
    from medxai_desktop.core.explain import ExplanationEngine, canonical_name
    from medxai_desktop.core.imaging import read_image

    methods = [canonical_name(m) for m in args.methods.split(",") if m.strip()]
    image = read_image(args.image, frame=args.frame)
    model = load_model_from_args(args)
    return _explain_and_write(image, model, ExplanationEngine(model), methods, args, Path(args.out))


def _explain_and_write(image, model, engine, methods, args, out: Path) -> int:
    from medxai_desktop.core.explain.crosseai import (CROSSEAI_METHODS, CrossEAIParams,
                                                      crosseai_boxes, crosseai_map)
    from medxai_desktop.core.explain.outputs import write_explanations

    if args.boxes:
        methods = methods + [m for m in CROSSEAI_METHODS if m not in methods]
    result = engine.explain(model.preprocess(image), methods, target=args.target)
    boxes = fused = box_seconds = None
    if args.boxes:
        params = CrossEAIParams.from_dict(model.card.metadata.get("crosseai"))
        overrides = {k: getattr(args, k) for k in ("alpha", "tau", "sigma", "min_area", "top_k")
                     if getattr(args, k, None) is not None}
        params = params.with_(**overrides)
        t0 = time.perf_counter()
        boxes = crosseai_boxes(result, params, image_size=image.shape)
        box_seconds = time.perf_counter() - t0
        fused = crosseai_map(result, params)
    info = {"path": str(Path(image.source).resolve()), "frame": image.frame,
            "content_sha256": image.content_hash, "height": image.shape[0], "width": image.shape[1]}
    write_explanations(out, result, image.display(), info, boxes, fused, box_seconds)
    probs = ", ".join(f"{c} {p:.3f}" for c, p in result.prediction.probabilities.items())
    print(f"{Path(image.source).name}: predicted {result.prediction.class_name} ({probs}); "
          f"explained class {result.target_name} on {model.device}")
    for name, explanation in result.explanations.items():
        print(f"  {name:<13} {explanation.seconds * 1000:8.1f} ms (+ shared pass "
              f"{result.shared_pass_seconds * 1000:.1f} ms)")
    if boxes is not None:
        print(f"  crosseai boxes: {len(boxes)} " + " ".join(
            f"[{p.box.x0:.0f},{p.box.y0:.0f},{p.box.x1:.0f},{p.box.y1:.0f} score {p.score:.2f}]" for p in boxes))
    print(f"wrote {out}")
    return 0


def cmd_demo(args) -> int:
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
    options = argparse.Namespace(boxes="crosseai", target="predicted")
    for ref in refs:
        image = read_image(ref.path, frame=ref.frame)
        _explain_and_write(image, model, engine, methods, options, Path(args.out) / Path(ref.path).stem)
    for failure in found.failures:
        print(f"skipped {failure}", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from medxai_desktop.core.models.training import TrainConfig, train

    size = tuple(int(v) for v in args.size.split("x")) if "x" in args.size else (int(args.size),) * 2
    config = TrainConfig(arch=args.arch, epochs=args.epochs, input_size=size,
                         batch_size=args.batch, lr=args.lr, schedule=args.schedule,
                         class_weights=args.class_weights, augment=not args.no_augment,
                         val_fraction=args.val_fraction, seed=args.seed,
                         init_checkpoint=args.init_checkpoint, normalisation=args.normalisation,
                         target_layer=args.layer, fp16_checkpoint=not args.fp32, device=args.device)
    bars: dict[str, tqdm] = {}

    def progress(p) -> None:
        key = f"{p.stage}{p.info.get('epoch', '')}"
        if key not in bars:
            label = "decoding" if p.stage == "decode" else f"epoch {p.info['epoch']}/{config.epochs}"
            bars[key] = tqdm(total=p.total, desc=label, unit="img" if p.stage == "decode" else "batch",
                             leave=False, dynamic_ncols=True, disable=None)
        bar = bars[key]
        bar.update(p.done - bar.n)
        if "loss" in p.info:
            bar.set_postfix(loss=f"{p.info['loss']:.3f}", acc=f"{p.info['accuracy']:.3f}")
        if p.finished:
            bar.close()

    def on_epoch(r) -> None:
        print(f"epoch {r.epoch:3d}  loss {r.train_loss:.4f}  acc {r.train_accuracy:.3f}  |  val loss "
              f"{r.val_loss:.4f}  acc {r.val_accuracy:.3f}  macro-F1 {r.val_macro_f1:.3f}  "
              f"{r.seconds:5.0f} s{'  * best' if r.best else ''}", flush=True)

    metadata = {"attribution": args.attribution} if args.attribution else None
    result = train(args.data, args.out, config, root=args.root, progress=progress,
                   on_epoch=on_epoch, card_metadata=metadata)
    for skipped in result.dataset.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    best = result.history[result.best_epoch - 1]
    state = "interrupted; kept" if result.interrupted else "kept"
    print(f"{state} epoch {result.best_epoch}: validation accuracy {best.val_accuracy:.4f}, "
          f"macro-F1 {best.val_macro_f1:.4f} -> {result.card_path}")
    return 0


def cmd_evaluate(args) -> int:
    from medxai_desktop.core.evaluation.classification import write_metrics
    from medxai_desktop.core.evaluation.model_evaluation import evaluate_model
    from medxai_desktop.core.models import load_model

    model = load_model(args.model, device=args.device)
    metrics, predictions = evaluate_model(model, args.data, args.root)
    write_metrics(args.out, metrics, {"model": str(Path(args.model).resolve()), "data": str(args.data),
                                      "skipped": predictions.skipped})
    for skipped in predictions.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    auc = "n/a" if metrics.roc_auc_ovr is None else f"{metrics.roc_auc_ovr:.4f}"
    print(f"n={metrics.n}  accuracy {metrics.accuracy:.4f}  macro precision {metrics.macro_precision:.4f}  "
          f"recall {metrics.macro_recall:.4f}  F1 {metrics.macro_f1:.4f}  ROC AUC (OvR) {auc}")
    for row in metrics.per_class:
        print(f"  {row['class']:<14} precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
              f"F1 {row['f1']:.3f}  n={row['support']}")
    print(f"wrote {Path(args.out) / 'metrics.json'}")
    return 0


def cmd_compare_models(args) -> int:
    import json

    from medxai_desktop.core.evaluation.classification import classification_metrics
    from medxai_desktop.core.evaluation.model_evaluation import compare_models, predict_dataset
    from medxai_desktop.core.models import load_model

    results, table = {}, []
    for card in args.models:
        model = load_model(card, device=args.device)
        name = Path(card).stem if Path(card).stem != "model" else Path(card).parent.name
        base, copy = name, 1
        while name in results:  # cards in folders of the same name (or one card twice): keep apart
            copy += 1
            name = f"{base}#{copy}"
        predictions = predict_dataset(model, args.data, args.root)
        m = classification_metrics(predictions.y_true, predictions.y_pred, predictions.probabilities,
                                   model.classes)
        results[name] = predictions
        table.append({"model": name, "arch": model.card.arch, "n": m.n, "accuracy": m.accuracy,
                      "precision": m.macro_precision, "recall": m.macro_recall, "f1": m.macro_f1})
    print(f"{'model':<28} {'accuracy':>9} {'precision':>9} {'recall':>9} {'F1':>9}")
    for row in table:
        print(f"{row['model']:<28} {row['accuracy']:9.4f} {row['precision']:9.4f} "
              f"{row['recall']:9.4f} {row['f1']:9.4f}")
    tests = compare_models(results) if len(results) > 1 else []
    for t in tests:
        print(f"McNemar {t.model_a} vs {t.model_b}: {t.a_right_b_wrong} vs {t.a_wrong_b_right} "
              f"discordant, p = {t.p_value:.4g} ({t.method})")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "comparison.json").write_text(json.dumps(
            {"models": table, "mcnemar": [t.__dict__ for t in tests]}, indent=2) + "\n")
    return 0


def cmd_db(args) -> int:
    from medxai_desktop.core.store import ReviewStore, StoreError, default_db_url, mask_url

    url = args.db or default_db_url()
    if args.db_command == "upgrade":
        with ReviewStore(url, upgrade=False) as store:
            before, after = store.upgrade()
        print(f"{mask_url(url)}: schema " + (f"upgraded from {before or 'empty'} to {after}"
                                             if before != after else f"already at {after}"))
        return 0
    if url.startswith("sqlite:///"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and not Path(database).expanduser().exists():
            raise StoreError(f"no database at {database}: create it with `medxai --db URL db upgrade`")
    with ReviewStore(url, upgrade=False) as store:
        info = store.info()
    revision = info["schema_revision"] or "none (empty database: run `medxai db upgrade`)"
    print(f"database  {info['url']} ({info['backend']})")
    print(f"schema    {revision} (this version of MedXAI Desktop: {info['head_revision']})")
    for table, count in info["counts"].items():
        print(f"  {table:<16} {count:>8}")
    return 0


def cmd_import(args) -> int:
    from medxai_desktop.core.exchange import FORMATS
    from medxai_desktop.core.store import ReviewStore, default_db_url

    reader, _ = FORMATS[args.format]
    annotations = reader(args.file, images_dir=args.images)
    with ReviewStore(args.db or default_db_url()) as store:
        summary = store.import_annotations(annotations, reviewer=args.reviewer,
                                           source=f"{args.format}:{Path(args.file).resolve()}")
    print(f"imported {summary.boxes_added} reference boxes on {summary.images_added} new and "
          f"{summary.images_matched} known images from {args.file}; skipped "
          f"{summary.duplicates_skipped} already imported, {summary.proposals_skipped} proposals, "
          f"{summary.rejected_skipped} rejected")
    return 0


def cmd_export(args) -> int:
    from medxai_desktop.core.exchange.export import export_store
    from medxai_desktop.core.store import ReviewStore, default_db_url

    with ReviewStore(args.db or default_db_url()) as store:
        result = export_store(store, args.format, args.out, args.which, deidentify=args.deidentify)
    for key in result.skipped:
        print(f"not a DICOM source, no SR written: {key}", file=sys.stderr)
    print(result.summary)
    return 0


def _enabled_plugin_names(kind: str) -> list[str]:
    """Names of the enabled plugins of ``kind``, from their declarations (none is imported)."""
    from medxai_desktop.core.plugins import statuses

    return [s.info.name for s in statuses() if s.enabled and s.info.kind == kind]


def cmd_plugins(args) -> int:
    import json

    from medxai_desktop.core import plugins

    if args.plugins_command == "enable":
        status = plugins.enable(args.name)
        info = status.info
        if status.error:
            print(f"medxai: enabled plugin {info.name!r}, but it cannot be used: {status.error}", file=sys.stderr)
            return 2
        print(f"enabled {info.kind} plugin {info.name} {info.version} ({info.source})")
        return 0
    if args.plugins_command == "disable":
        plugins.disable(args.name)
        print(f"disabled plugin {args.name}")
        return 0
    rows = [s.as_row() for s in plugins.load_enabled()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'kind':<13} {'name':<16} {'version':<9} {'enabled':<8} {'state':<9} source")
    for row in rows:
        print(f"{row['kind']:<13} {row['name']:<16} {row['version']:<9} {'yes' if row['enabled'] else 'no':<8} "
              f"{row['state']:<9} {row['source']}")
        if row["error"]:
            print(f"{'':<13} error: {row['error']}")
    if not rows:
        print("(no plugins found)")
    print(f"settings: {plugins.state_path()}")
    print("folders:  " + os.pathsep.join(str(p) for p in plugins.plugin_folders()) + " (and entry points "
          f"in the group {plugins.GROUP})")
    return 0


def cmd_self_test(args) -> int:
    from medxai_desktop.self_test import main as self_test

    return self_test(args.out, args.device)


def _progress_bar(unit: str = "img"):
    """A tqdm bar per stage for core progress callbacks (done, total, message)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int, message: str = "") -> None:
        stage = message.split(" ", 1)[0] if " " in message else "images"
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit, leave=False,
                                     dynamic_ncols=True, disable=None)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def cmd_tune_boxes(args) -> int:
    from medxai_desktop.core.evaluation.box_tuning import (OBJECTIVES, Grid, MapCache, parse_floats,
                                                           tune, write_card_defaults,
                                                           write_tuning_outputs)
    from medxai_desktop.core.evaluation.localisation import references_from_files
    from medxai_desktop.core.models import load_model

    if args.objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}")
    boxes = args.boxes or _default_boxes(args.data)
    model = load_model(args.model, device=args.device)
    references, _ = references_from_files(boxes, args.images, args.data)
    grid = Grid(alphas=parse_floats(args.alphas), taus=parse_floats(args.taus),
                sigmas=parse_floats(args.sigmas), min_areas=parse_floats(args.min_areas),
                scores=tuple(v.strip() for v in args.scores.split(",") if v.strip()),
                top_ks=tuple(int(v) for v in parse_floats(args.top_k)),
                layers=tuple(v.strip() for v in (args.layers or model.target_layer).split(",") if v.strip()),
                cams=tuple(v.strip() for v in args.cams.split(",") if v.strip()))
    out = Path(args.out)
    cache = MapCache(args.cache or out / "maps", model)
    result, scores = tune(cache, references, grid, args.folds, args.seed, args.objective,
                          args.target_class, progress=_progress_bar())
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
    # The app and `explain --boxes` compute Grad-CAM++ at the card's target layer: the card
    # gets the best CrossEAI at that layer when it was tried.
    family = f"crosseai@{model.target_layer}"
    family = family if family in result.chosen_all else "crosseai"
    chosen = result.chosen_all[family]
    held_out = {r["family"]: r for r in result.summary()}
    print(f"chosen on all images ({family}): " + ", ".join(
        f"{k} {chosen[k]}" for k in ("layer", "alpha", "tau", "sigma", "min_area", "top_k", "score")))
    if family != "crosseai" and held_out["crosseai"]["overall_iou_mean"] > held_out[family]["overall_iou_mean"]:
        print(f"note: CrossEAI over all tried layers scored higher held-out than at the card's layer "
              f"{model.target_layer}; the card's target layer decides which one the app uses")
    if args.write_card:
        provenance = {"data": str(args.data), "boxes": str(boxes), "images": result.n_images,
                      "folds": args.folds, "seed": args.seed, "objective": args.objective,
                      "held_out": held_out[family], "chosen_from": family}
        target = None if args.write_card is True else args.write_card
        written = write_card_defaults(args.model, chosen, provenance, target)
        print(f"wrote the chosen defaults into {written} (crosseai)")
    print(f"wrote {files['json'].parent}")
    return 0


def _default_boxes(data) -> Path:
    base = Path(data) if Path(data).is_dir() else Path(data).parent
    if not (base / "boxes.csv").is_file():
        raise UsageError(f"no --boxes given and no boxes.csv in {base}")
    return base / "boxes.csv"


def cmd_report_localization(args) -> int:
    from medxai_desktop.core.evaluation.localisation import references_from_files
    from medxai_desktop.core.reports.localisation_report import (DEFAULT_METHODS, build_localisation_report,
                                                                 build_store_localisation_report)

    methods = [m for m in (args.methods or ",".join(DEFAULT_METHODS)).split(",") if m.strip()]
    model = load_model_from_args(args) if (args.model or args.arch) else None
    options = dict(cache_dir=args.cache, fallback_target=args.target_class, examples=args.examples,
                   progress=_progress_bar())
    db_url = args.report_db or args.db
    if args.boxes or (args.data and not db_url):
        references, fractions = references_from_files(args.boxes or _default_boxes(args.data),
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


def _road_progress():
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


def _run_road_from_args(args, source, out) -> list:
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
                   args.batch, progress=_road_progress(), resume=not args.no_resume)
    skipped += run.skipped
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    if not run.records:
        raise UsageError(f"no image could be scored ({len(skipped)} skipped)")
    summary = road_run.write_summary(out, run.records, methods, skipped)
    print(f"{len(run.records)} images ({run.computed} computed, {run.reused} reused from an earlier run, "
          f"{len(skipped)} skipped) on {model.device}")
    _print_road_summary(summary)
    return run.records


def _print_road_summary(summary: dict) -> None:
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


def cmd_road(args) -> int:
    _run_road_from_args(args, args.source, Path(args.out))
    print(f"wrote {Path(args.out) / 'summary.json'}, summary.csv, scores.csv and images/*/road.json")
    return 0


def cmd_report_road(args) -> int:
    from medxai_desktop.core.evaluation.road_run import load_records
    from medxai_desktop.core.reports.road_report import build_road_report

    if bool(args.from_dir) == bool(args.data):
        raise UsageError("give either --from DIR (the output of `medxai road`) or --data IMAGES with a model")
    if args.data:
        work = Path(args.work) if args.work else Path(args.out).with_suffix("")
        _run_road_from_args(args, args.data, work)
        records = load_records(work)
    else:
        records = load_records(args.from_dir)
    result = build_road_report(records, args.out, examples=args.examples)
    if not args.data:
        _print_road_summary(result.summary)
    print(f"wrote {result.files['html']} (+ {', '.join(p.name for k, p in result.files.items() if k != 'html')})")
    return 0


def _add_road_arguments(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medxai", description="MedXAI Desktop, headless.")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="review database: sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB "
                             "(default: reviews.sqlite3 in the user's data folder)")
    sub = parser.add_subparsers(dest="command", required=True)

    explain = sub.add_parser("explain", help="explain one image: heatmaps, prediction, CrossEAI boxes")
    explain.add_argument("image", help="DICOM, PNG/JPEG/BMP/TIFF, NIfTI/MHA/NRRD file")
    explain.add_argument("--frame", type=int, default=None, help="frame (multi-frame DICOM) or slice (volume)")
    _add_model_arguments(explain)
    explain.add_argument("--methods", default=DEFAULT_METHODS,
                         help=f"comma-separated methods (default {DEFAULT_METHODS}); also gradcam, "
                              "hirescam, eigencam, scorecam, guided")
    explain.add_argument("--target", default="predicted", help="class name or index to explain, or 'predicted'")
    explain.add_argument("--boxes", choices=["crosseai"], help="also propose CrossEAI boxes")
    for name, kind, text in [("--alpha", float, "weight of Guided Backprop in the fusion"),
                             ("--tau", float, "threshold as a fraction of the fused map's maximum"),
                             ("--sigma", float, "Gaussian smoothing of the guided map (model pixels)"),
                             ("--min-area", float, "smallest box as a fraction of the image area"),
                             ("--top-k", int, "boxes kept (0 = all)")]:
        explain.add_argument(name, type=kind, default=None, help=f"CrossEAI: {text}")
    explain.add_argument("--out", required=True, help="output folder")
    explain.set_defaults(func=cmd_explain)

    trainer = sub.add_parser("train", help="train a classifier (the overview paper's recipe by default)")
    trainer.add_argument("data", help="folder of class sub-folders, or a CSV with columns image,label")
    trainer.add_argument("--root", help="folder the CSV's image paths are relative to (default: the CSV's)")
    trainer.add_argument("--arch", default="resnet50")
    trainer.add_argument("--out", required=True, help="output folder (model.pt + model.json)")
    trainer.add_argument("--epochs", type=int, default=30)
    trainer.add_argument("--size", default="224", help="input size, N or HxW (default 224)")
    trainer.add_argument("--batch", type=int, default=32)
    trainer.add_argument("--lr", type=float, default=1e-3)
    trainer.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    trainer.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    trainer.add_argument("--no-augment", action="store_true")
    trainer.add_argument("--val-fraction", type=float, default=0.2)
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--init-checkpoint", help="state_dict to fine-tune from")
    trainer.add_argument("--normalisation", choices=["dataset", "imagenet"], default="dataset")
    trainer.add_argument("--layer", help="CAM target layer to record in the card")
    trainer.add_argument("--fp32", action="store_true", help="store the checkpoint in fp32 (default fp16)")
    trainer.add_argument("--attribution", help="data licence/attribution text for the card")
    trainer.add_argument("--device", default="auto")
    trainer.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="accuracy, macro P/R/F1, per class, confusion matrix, ROC AUC")
    evaluate.add_argument("--model", required=True, metavar="CARD.json")
    evaluate.add_argument("data", help="folder of class sub-folders, or a CSV with columns image,label")
    evaluate.add_argument("--root", help="folder the CSV's image paths are relative to")
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=cmd_evaluate)

    compare = sub.add_parser("compare-models", help="the paper's table for several models + McNemar tests")
    compare.add_argument("data")
    compare.add_argument("--models", nargs="+", required=True, metavar="CARD.json")
    compare.add_argument("--root")
    compare.add_argument("--out")
    compare.add_argument("--device", default="auto")
    compare.set_defaults(func=cmd_compare_models)

    demo = sub.add_parser("demo", help="explain the bundled sample study with the bundled demo model")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--methods", default=DEFAULT_METHODS)
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=cmd_demo)

    formats = ["coco", "voc", "yolo", "nih-csv", "csv"]
    importer = sub.add_parser("import", help="import reference boxes into the review database")
    importer.add_argument("format", choices=formats)
    importer.add_argument("file", help="the annotation file (VOC/YOLO: a folder)")
    importer.add_argument("--images", help="folder of the images the file names (sizes, paths)")
    importer.add_argument("--reviewer", default=os.environ.get("USER") or "importer",
                          help="who the imported boxes are attributed to (default: $USER)")
    importer.set_defaults(func=cmd_import)

    exporter = sub.add_parser("export", help="export boxes from the review database")
    exporter.add_argument("format", choices=formats + ["dicom-sr"] + _enabled_plugin_names("exporter"))
    exporter.add_argument("--out", required=True, help="file (COCO, CSV) or folder (VOC, YOLO, DICOM SR)")
    exporter.add_argument("--which", choices=["reviewed", "proposals", "both"], default="reviewed",
                          help="reviewed (ground truth, default), proposals, or both with provenance")
    exporter.add_argument("--deidentify", action="store_true",
                          help="DICOM SR: drop patient name/ID/birth date, remap UIDs consistently")
    exporter.set_defaults(func=cmd_export)

    db = sub.add_parser("db", help="the review database: create/upgrade its schema, show what it holds")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create the schema, or upgrade it to this version's")
    db_sub.add_parser("info", help="rows per table, schema revision, URL (password masked)")
    db.set_defaults(func=cmd_db)

    plugins = sub.add_parser("plugins", help="list, enable or disable plugins (architectures, explainers, exporters)")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugins_sub.add_parser("list", help="kind, name, version, source, enabled, load error")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    plugins_sub.add_parser("enable", help="enable a plugin (it is imported from now on)").add_argument("name")
    plugins_sub.add_parser("disable", help="disable a plugin").add_argument("name")
    plugins.set_defaults(func=cmd_plugins)

    self_test = sub.add_parser("self-test", help="offline check of this installation: demo model, sample "
                                                 "study, five CAMs + CrossEAI, HTML report; exit 0 if it works")
    self_test.add_argument("--out", help="report folder (default: a new temporary folder)")
    self_test.add_argument("--device", default="auto")
    self_test.set_defaults(func=cmd_self_test)

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
    tuner.add_argument("--target-class", help="class explained for reference labels the model does not "
                                              "have (a class name, or 'predicted')")
    tuner.add_argument("--cache", help="map cache folder (default OUT/maps); a re-run resumes from it")
    tuner.add_argument("--out", required=True)
    tuner.add_argument("--write-card", nargs="?", const=True, default=None, metavar="COPY.json",
                       help="write the parameters chosen on all images into the card's 'crosseai' "
                            "entry; with COPY.json, into a copy of the card there instead")
    tuner.add_argument("--device", default="auto")
    tuner.set_defaults(func=cmd_tune_boxes)

    road = sub.add_parser("road", help="ROAD faithfulness (MoRF, LeRF, ROADCombined) of each method's maps, "
                                       "per image, with a summary and paired t-tests")
    road.add_argument("source", help="an image, a folder of images, or a CSV (image,label)")
    _add_model_arguments(road)
    _add_road_arguments(road)
    road.add_argument("--out", required=True, help="output folder (images/*/road.json, summary.json/.csv)")
    road.set_defaults(func=cmd_road)

    report = sub.add_parser("report", help="HTML reports with CSV/JSON of every number")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    localization = report_sub.add_parser(
        "localization", aliases=["localisation"],
        help="how well each explainer's boxes and maps agree with reference boxes (IoU, IoBB, "
             "false positives, energy, pointing game)")
    _add_model_arguments(localization)
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
    localization.add_argument("--cache", help="map cache folder (default OUT/maps); a re-run resumes")
    localization.add_argument("--examples", type=int, default=8, help="example images in the report")
    localization.add_argument("--out", required=True)
    localization.set_defaults(func=cmd_report_localization)
    road_report = report_sub.add_parser(
        "road", help="ROAD faithfulness report: per-method and per-class ROADCombined, ROAD curves, "
                     "box plots, paired t-tests with Holm, examples")
    road_report.add_argument("--from", dest="from_dir", metavar="DIR", help="output folder of `medxai road`")
    road_report.add_argument("--data", help="or: score these images first (an image, a folder or a CSV), "
                                            "with the model arguments")
    road_report.add_argument("--work", metavar="DIR", help="with --data: where the per-image results go "
                                                           "(default: OUT without its suffix)")
    _add_model_arguments(road_report)
    _add_road_arguments(road_report)
    road_report.add_argument("--examples", type=int, default=4, help="example images in the report (default 4)")
    road_report.add_argument("--out", required=True, metavar="REPORT.html")
    road_report.set_defaults(func=cmd_report_road)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (MedXAIError, ValueError) as exc:
        # MedXAIError: a bad file (named in the message); ValueError: a bad option value
        # (unknown method, class, architecture, device). MEDXAI_DEBUG=1 shows the traceback.
        if os.environ.get("MEDXAI_DEBUG"):
            raise
        print(f"medxai: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"medxai: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
