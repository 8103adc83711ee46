"""`medxai train`: train a classifier."""
from __future__ import annotations

import sys


def register(sub) -> None:
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
    trainer.add_argument("--init-checkpoint", help="state_dict to fine-tune from")
    trainer.add_argument("--normalisation", choices=["dataset", "imagenet"], default="dataset")
    trainer.add_argument("--layer", help="CAM target layer to record in the card")
    trainer.add_argument("--fp32", action="store_true", help="store the checkpoint in fp32 (default fp16)")
    trainer.add_argument("--attribution", help="data licence/attribution text for the card")
    trainer.add_argument("--device", default="auto")
    trainer.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.models.card import load_card
    from medxai_desktop.core.models.training import TrainConfig, train

    size = tuple(int(v) for v in args.size.split("x")) if "x" in args.size else (int(args.size),) * 2
    config = TrainConfig(arch=args.arch, epochs=args.epochs, input_size=size,
                         batch_size=args.batch, lr=args.lr, schedule=args.schedule,
                         class_weights=args.class_weights, augment=not args.no_augment,
                         val_fraction=args.val_fraction, seed=args.seed,
                         init_checkpoint=args.init_checkpoint, normalisation=args.normalisation,
                         target_layer=args.layer, fp16_checkpoint=not args.fp32, device=args.device,
                         test_fraction=args.test_fraction, label_smoothing=args.label_smoothing,
                         warmup_epochs=args.warmup, ema_decay=args.ema)
    progress = training_progress_bars(config.epochs)

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
    test = load_card(result.card_path).metadata.get("test")
    if test:
        f1 = ", ".join(f"{c['class']} {c['f1']:.3f}" for c in test["per_class"])
        print(f"test split ({test['n']} images, never used to choose): accuracy {test['accuracy']:.4f}, "
              f"macro-F1 {test['macro_f1']:.4f}; F1 {f1}")
    return 0


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
            bar.set_postfix(loss=f"{p.info['loss']:.3f}", acc=f"{p.info['accuracy']:.3f}")
        if p.finished:
            bar.close()

    return progress
