"""The box head's few-shot curve (issue 13 part 3): a localisation head on the frozen classifier
trained on 10, 30, 100, 300 or all of the training split's tumour boxes, chosen at random or by
the model's uncertainty, each scored on the validation split's tumour slices.

    .venv/bin/python experiments/brain_box_head.py CARD.json [--counts 10,30,100,300,all]
        [--select random|uncertainty] [--out out/experiments/box_head]

The splits are experiments/brain_recipe.py's (test 15 % first, validation 20 % of the rest, seed
0); the boxes come from the training split only (core.models.box_head_training.learn_box_head
enforces it). Each new card is scored by `medxai tune-boxes` on the validation tumour slices:
the head's box rule (tau, min area, score, top-1 or top-3) chosen on 4 folds and scored on the
fifth, 5 times; rows go to experiments/results/brain_box_head.json. The classifier is frozen, so
its accuracy and its CAMs are the parent's by construction (the script checks the checkpoint).
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))
DATA = REPO.parent / "shared" / "data" / "brain_mri"
RESULTS = REPO / "experiments" / "results" / "brain_box_head.json"

from brain_fewshot import choose, training_boxes  # noqa: E402
from medxai_desktop.core.models import load_card  # noqa: E402
from medxai_desktop.core.models.box_head_training import HeadRecipe, learn_box_head  # noqa: E402
from medxai_desktop.core.models.box_supervision import BoxFile  # noqa: E402

TUNE = ["--layers", "layer4", "--cams", "boxhead", "--alphas", "0", "--sigmas", "0", "--top-k", "1,3",
        "--folds", "5"]


def score(card_path: Path, out: Path) -> list[dict]:
    """tune-boxes' held-out summary of the card's box head on the validation tumour slices."""
    out.mkdir(parents=True, exist_ok=True)
    split = out.parent / "validation.csv"
    if not split.exists():
        subprocess.run([sys.executable, str(REPO / "experiments" / "validation_split.py"), str(DATA / "images"),
                        str(split), "--test-fraction", "0.15"], check=True)
    subprocess.run([str(REPO / ".venv" / "bin" / "medxai"), "tune-boxes", str(split), "--model", str(card_path),
                    "--boxes", str(DATA / "boxes.csv"), *TUNE, "--cache", str(out / "maps"),
                    "--out", str(out / "tune"), "--write-card", str(out / "tuned_card.json")], check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads((out / "tune" / "tuning.json").read_text())["held_out_summary"]


def run(card_path: Path, n: int | str, how: str, out: Path, recipe: HeadRecipe) -> dict:
    rows = training_boxes(load_card(card_path))
    chosen = rows if n == "all" else choose(rows, int(n), how, card_path)
    name = f"{how}_{len(chosen)}"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "boxes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    learned = learn_box_head(card_path, DATA / "images", BoxFile(folder / "boxes.csv", DATA), folder / "model",
                             recipe, device="cpu")
    parent, child = load_card(card_path), load_card(learned.card_path)
    assert parent.sha256 == child.sha256, "the classifier must stay the parent's"
    held_out = score(learned.card_path, folder / "localisation")
    row = {"name": name, "boxes": len(chosen), "select": how, "train_s": round(learned.training.seconds),
           "recipe": recipe.to_dict(), "held_out": held_out}
    rows_out = [r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else []) if r["name"] != name]
    RESULTS.write_text(json.dumps(rows_out + [row], indent=1) + "\n")
    return row


def overall(row: dict, family: str = "boxhead@layer4") -> float:
    return next(h["overall_iou_mean"] for h in row["held_out"] if h["family"] == family)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card")
    parser.add_argument("--counts", default="10,30,100,300,all")
    parser.add_argument("--select", choices=["random", "uncertainty"], default="random")
    parser.add_argument("--steps", type=int, default=HeadRecipe.steps)
    parser.add_argument("--out", default=str(REPO / "out" / "experiments" / "box_head"))
    args = parser.parse_args()
    recipe = HeadRecipe(steps=args.steps)
    for n in [c.strip() for c in args.counts.split(",") if c.strip()]:
        row = run(Path(args.card), n if n == "all" else int(n), args.select, Path(args.out), recipe)
        print(f"{row['name']:<18} held-out mean accuracy over T(IoU) 0.1-0.7: {overall(row):.3f} "
              f"(train {row['train_s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
