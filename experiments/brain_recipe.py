"""The brain-MRI training recipe, one change at a time (issue 13 part 1), through `medxai train`'s
code path (core.models.training.train).

    .venv/bin/python experiments/brain_recipe.py ablation [--out out/experiments/recipe]
    .venv/bin/python experiments/brain_recipe.py final [--epochs 30]
    .venv/bin/python experiments/brain_recipe.py --list

Splits (fixed, stratified by class, seed 0): 15 % of the 3,194 images are a test split set
aside first and never used to choose anything; 20 % of the rest is the validation split that
chooses the kept epoch and, across the ablation runs, the recipe. Ablations run at 128 px and
12 epochs (the CPU budget); the final recipe at 224 px. Each run's validation and test numbers,
wall time and recipe go to experiments/results/brain_recipe.json (committed).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "brain_mri" / "images"
RESULTS = REPO / "experiments" / "results" / "brain_recipe.json"

from medxai_desktop.core.models.card import load_card  # noqa: E402
from medxai_desktop.core.models.training import TrainConfig, train  # noqa: E402

BASE = dict(arch="resnet18", batch_size=32, seed=0, device="cpu", test_fraction=0.15, val_fraction=0.2)
PAPER = dict(lr=1e-3, schedule="constant")                      # METHODS.md §1
STRONG = dict(lr=0.05, schedule="cosine", warmup_epochs=1)
ABLATION = {   # name -> changes over the paper's recipe, each adding one thing to the one before
    "a_paper": dict(PAPER),
    "b_lr0.05_cosine_warmup": dict(STRONG),
    "c_+label_smoothing": dict(STRONG, label_smoothing=0.1),
    "d_+ema": dict(STRONG, label_smoothing=0.1, ema_decay=0.99),
    "e_+balanced": dict(STRONG, label_smoothing=0.1, class_weights="balanced"),
}


def run_one(name: str, changes: dict, size: int, epochs: int, out: Path) -> dict:
    config = TrainConfig(**{**BASE, **changes, "input_size": (size, size), "epochs": epochs})
    card_path = out / name / "model.json"
    start = time.perf_counter()
    if _finished(card_path, config):   # a finished run of this recipe: recorded, not trained again
        wall = None
    else:
        train(DATA, out / name, config,
              on_epoch=lambda r: print(f"{name} epoch {r.epoch:2d} val acc {r.val_accuracy:.3f} "
                                       f"F1 {r.val_macro_f1:.3f} {r.seconds:.0f} s", flush=True))
        wall = round(time.perf_counter() - start, 1)
    card = load_card(card_path).metadata
    test = card["test"]
    row = {"name": name, "changes": changes, "input_size": size, "epochs": epochs,
           "wall_seconds": wall, "epoch_seconds": [round(h["seconds"], 1) for h in card["history"]],
           "best_epoch": card["validation"]["best_epoch"],
           "validation": card["validation"],
           "test": {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
                    "f1": {c["class"]: c["f1"] for c in test["per_class"]}},
           "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
           "card": str(card_path.relative_to(REPO)) if card_path.is_relative_to(REPO) else str(card_path)}
    _record(row)
    return row


def _finished(card_path: Path, config: TrainConfig) -> bool:
    if not card_path.exists():
        return False
    card = load_card(card_path).metadata
    recipe = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    return (card.get("recipe") == recipe and not card.get("interrupted")
            and len(card.get("history", [])) == config.epochs and "test" in card)


def _record(row: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows = [r for r in rows if (r["name"], r["input_size"], r["epochs"]) !=
            (row["name"], row["input_size"], row["epochs"])] + [row]
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"== {row['name']}: val acc {row['validation']['accuracy']:.4f} F1 {row['validation']['macro_f1']:.4f}"
          f" | test acc {row['test']['accuracy']:.4f} F1 {row['test']['macro_f1']:.4f} "
          f"meningioma {row['test']['f1'].get('meningioma', float('nan')):.3f} | {row['wall_seconds']:.0f} s",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=("ablation", "final"))
    parser.add_argument("--out", default=str(REPO / "out" / "experiments" / "recipe"))
    parser.add_argument("--only", help="comma-separated ablation names")
    parser.add_argument("--recipe", default="c_+label_smoothing", help="the ablation row the final run uses")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list or args.what is None:
        for name, changes in ABLATION.items():
            print(f"{name}: {changes}")
        return 0
    import torch

    torch.set_num_threads(2)
    out = Path(args.out)
    if args.what == "ablation":
        names = args.only.split(",") if args.only else list(ABLATION)
        for name in names:
            run_one(name, ABLATION[name], 128, 12, out)
    else:
        run_one(f"final_{args.recipe}", ABLATION[args.recipe], args.size, args.epochs, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
