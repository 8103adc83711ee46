"""`medxai train`: train a classifier, or fine-tune one, optionally with reference boxes."""
from __future__ import annotations

import sys


def register(sub) -> None:
    trainer = sub.add_parser("train", help="train a classifier (the overview paper's recipe by default)")
    trainer.add_argument("data", help="folder of class sub-folders, or a CSV with columns image,label")
    trainer.add_argument("--root", help="folder the CSV's image paths are relative to (default: the CSV's)")
    trainer.add_argument("--arch", help="architecture (default: the --init-checkpoint card's, else resnet50)")
    trainer.add_argument("--out", required=True, help="output folder (model.pt + model.json)")
    trainer.add_argument("--epochs", type=int, default=30)
    trainer.add_argument("--size", help="input size, N or HxW (default: the --init-checkpoint card's, "
                                        "else 224)")
    trainer.add_argument("--batch", type=int, default=32)
    trainer.add_argument("--lr", type=float, default=1e-3)
    trainer.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    trainer.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    trainer.add_argument("--no-augment", action="store_true")
    trainer.add_argument("--val-fraction", type=float, default=0.2,
                         help="validation split (chooses the kept epoch): this fraction of what the "
                              "test split leaves")
    trainer.add_argument("--test-fraction", type=float, default=0.0,
                         help="stratified test split set aside first and only reported (default none)")
    trainer.add_argument("--label-smoothing", type=float, default=0.0)
    trainer.add_argument("--warmup", type=float, default=0.0, metavar="EPOCHS",
                         help="linear learning-rate warm-up, in epochs (stepped per batch)")
    trainer.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                         help="validate and keep an exponential moving average of the weights, e.g. 0.998")
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--init-checkpoint", metavar="CARD.json|FILE",
                         help="model card or state_dict to fine-tune from (a card: its weights, class "
                              "order, architecture, size, normalisation and layer are the defaults)")
    trainer.add_argument("--normalisation", choices=["dataset", "imagenet", "card"],
                         help="input mean/std (default: the --init-checkpoint card's, else the "
                              "training set's: dataset)")
    trainer.add_argument("--layer", help="CAM target layer to record in the card (and to supervise "
                                         "with boxes); default: the card's or the architecture's")
    boxes = trainer.add_argument_group("reference boxes as extra supervision (a CAM-in-box loss)")
    source = boxes.add_mutually_exclusive_group()
    source.add_argument("--boxes", metavar="FILE", help="reference boxes of some of DATA's images (COCO, "
                                                        "VOC, YOLO, NIH/boxes CSV, flat CSV)")
    source.add_argument("--from-db", action="store_true",
                        help="the review database's reference boxes (reviewed, not rejected) of "
                             "DATA's images")
    boxes.add_argument("--db", dest="train_db", metavar="URL",
                       help="with --from-db: the database (default: medxai --db, else the user's)")
    boxes.add_argument("--box-images", metavar="DIR",
                       help="folder the --boxes file's image names are relative to (default: its folder)")
    boxes.add_argument("--box-weight", type=float, default=1.0,
                       help="weight of the CAM-in-box loss next to cross-entropy (default 1.0)")
    boxes.add_argument("--box-method", choices=["cam", "head"], default="cam",
                       help="cam: train the network with the CAM-in-box loss (default); head: keep the "
                            "--init-checkpoint card's network frozen and train a localisation head on "
                            "its features (the card's 'boxhead' proposal method; seconds to minutes)")
    boxes.add_argument("--head-steps", type=int, default=800, help="with --box-method head: training steps")
    trainer.add_argument("--fp32", action="store_true", help="store the checkpoint in fp32 (default fp16)")
    trainer.add_argument("--attribution", help="data licence/attribution text for the card")
    trainer.add_argument("--device", default="auto")
    trainer.set_defaults(func=run)


def run(args) -> int:
    if args.box_method == "head":
        return run_box_head(args)
    from medxai_desktop.core.models.card import load_card
    from medxai_desktop.core.models.lineage import is_card_path
    from medxai_desktop.core.models.training import TrainConfig, train

    parent = load_card(args.init_checkpoint) if is_card_path(args.init_checkpoint) else None
    if args.size:
        size = tuple(int(v) for v in args.size.split("x")) if "x" in args.size else (int(args.size),) * 2
    else:
        size = tuple(parent.input_size) if parent is not None else (224, 224)
    config = TrainConfig(arch=args.arch or (parent.arch if parent else "resnet50"), epochs=args.epochs,
                         input_size=size, batch_size=args.batch, lr=args.lr, schedule=args.schedule,
                         class_weights=args.class_weights, augment=not args.no_augment,
                         val_fraction=args.val_fraction, seed=args.seed,
                         init_checkpoint=args.init_checkpoint,
                         normalisation=args.normalisation or ("card" if parent else "dataset"),
                         target_layer=args.layer, fp16_checkpoint=not args.fp32, device=args.device,
                         test_fraction=args.test_fraction, label_smoothing=args.label_smoothing,
                         warmup_epochs=args.warmup, ema_decay=args.ema, box_weight=args.box_weight)
    progress = training_progress_bars(config.epochs)

    def on_epoch(r) -> None:
        energy = "" if r.val_box_energy is None and r.train_box_energy is None else (
            f"  box energy train {_number(r.train_box_energy)} val {_number(r.val_box_energy)}")
        print(f"epoch {r.epoch:3d}  loss {r.train_loss:.4f}  acc {r.train_accuracy:.3f}  |  val loss "
              f"{r.val_loss:.4f}  acc {r.val_accuracy:.3f}  macro-F1 {r.val_macro_f1:.3f}{energy}  "
              f"{r.seconds:5.0f} s{'  * best' if r.best else ''}", flush=True)

    metadata = {"attribution": args.attribution} if args.attribution else None
    result = train(args.data, args.out, config, root=args.root, progress=progress,
                   on_epoch=on_epoch, card_metadata=metadata, boxes=box_source(args))
    for skipped in result.dataset.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    best = result.history[result.best_epoch - 1]
    state = "interrupted; kept" if result.interrupted else "kept"
    print(f"{state} epoch {result.best_epoch}: validation accuracy {best.val_accuracy:.4f}, "
          f"macro-F1 {best.val_macro_f1:.4f} -> {result.card_path}")
    card = load_card(result.card_path)
    if card.metadata["lineage"]["boxes"]:
        print(_boxes_summary(card.metadata["lineage"]["boxes"]))
    test = card.metadata.get("test")
    if test:
        f1 = ", ".join(f"{c['class']} {c['f1']:.3f}" for c in test["per_class"])
        print(f"test split ({test['n']} images, never used to choose): accuracy {test['accuracy']:.4f}, "
              f"macro-F1 {test['macro_f1']:.4f}; F1 {f1}")
    return 0


def run_box_head(args) -> int:
    """`medxai train --box-method head`: a box head on the --init-checkpoint card's frozen model."""
    from medxai_desktop.core.models.box_head_training import HeadRecipe, learn_box_head
    from medxai_desktop.core.models.lineage import is_card_path

    from .common import UsageError, progress_bar

    if not is_card_path(args.init_checkpoint):
        raise UsageError("--box-method head trains a head on a model card's model: give --init-checkpoint CARD.json")
    source = box_source(args)
    if source is None:
        raise UsageError("--box-method head learns from reference boxes: add --boxes FILE or --from-db")
    learned = learn_box_head(args.init_checkpoint, args.data, source, args.out,
                             HeadRecipe(steps=args.head_steps, seed=args.seed), root=args.root,
                             device=args.device, progress=progress_bar())
    for skipped in learned.training.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    print(f"box head trained on {learned.training.images} image(s) in {learned.training.seconds:.0f} s "
          f"(final loss {learned.training.final_loss:.4f}) -> {learned.card_path}")
    print(_boxes_summary(learned.boxes))
    print("its box rule is a default until measured: medxai tune-boxes ... --cams boxhead --write-card")
    return 0


def _boxes_summary(record: dict) -> str:
    where = record["path"] if record["source"] == "file" else record["url"]
    notes = [f"{record[k]} {text}" for k, text in (("boxes_other_label", "box(es) of another class than "
                                                    "their image's left out"),
                                                   ("images_outside_data", "boxed image(s) outside DATA"))
             if record.get(k)]
    return (f"boxes from {where}: {record['boxes']} on {record['images_with_boxes']} image(s), "
            f"{record['training_images_with_boxes']} of them in the training split"
            + "".join(f"; {n}" for n in notes))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def box_source(args):
    """The reference boxes `medxai train` was given (core.models.box_supervision), or None."""
    from medxai_desktop.core.models.box_supervision import BoxFile, StoreBoxes

    from .common import UsageError

    if args.train_db and not args.from_db:
        raise UsageError("--db URL after the command names the database of --from-db; add --from-db")
    if args.box_images and not args.boxes:
        raise UsageError("--box-images is the folder of a --boxes file's images; add --boxes FILE")
    if args.boxes:
        return BoxFile(args.boxes, args.box_images)
    if args.from_db:
        from medxai_desktop.core.store import default_db_url

        return StoreBoxes(args.train_db or args.db or default_db_url())
    return None


def training_progress_bars(epochs: int):
    """The progress callback `medxai train` gives core.models.training.train: a tqdm bar for
    the decoding and one per epoch (loss and accuracy so far), off when stderr is no terminal."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(p) -> None:
        key = f"{p.stage}{p.info.get('epoch', '')}"
        if key not in bars:
            label = "decoding" if p.stage == "decode" else f"epoch {p.info['epoch']}/{epochs}"
            bars[key] = tqdm(total=p.total, desc=label, unit="img" if p.stage == "decode" else "batch",
                             leave=False, dynamic_ncols=True, disable=None)
        bar = bars[key]
        bar.update(p.done - bar.n)
        if "loss" in p.info:
            energy = {"box": f"{p.info['box_energy']:.3f}"} if "box_energy" in p.info else {}
            bar.set_postfix(loss=f"{p.info['loss']:.3f}", acc=f"{p.info['accuracy']:.3f}", **energy)
        if p.finished:
            bar.close()

    return progress
