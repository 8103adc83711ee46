"""Which slices should the next 100 reviewed boxes come from? (issue 13 part 3, the worklist)

    .venv/bin/python experiments/brain_active_learning.py [--start out/experiments/box_head/random_300]
        [--add 100] [--out out/experiments/active_learning]

The starting point is a box head already trained on 300 random training-split boxes
(experiments/brain_box_head.py --counts 300, its tuned card). From the remaining training-split
tumour slices, ``--add`` more are chosen three ways: at random (seed 0), by the starting card's
predictive entropy, and by entropy and proposal disagreement (1 - IoU of the top boxes of its box
head and of CrossEAI; core.review.worklist), exactly as the app's two worklist orders rank them.
A head is trained on the 300 + ``--add`` boxes of each choice and scored like every other row
(experiments/brain_box_head.py's tune-boxes on the validation tumour slices); rows go to
experiments/results/brain_active_learning.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))
DATA = REPO.parent / "shared" / "data" / "brain_mri"
RESULTS = REPO / "experiments" / "results" / "brain_active_learning.json"

from brain_box_head import overall, score  # noqa: E402
from brain_fewshot import training_boxes  # noqa: E402
from medxai_desktop.core.models import load_card, load_model  # noqa: E402
from medxai_desktop.core.models.box_head_training import HeadRecipe, learn_box_head  # noqa: E402
from medxai_desktop.core.models.box_supervision import BoxFile  # noqa: E402
from medxai_desktop.core.review.worklist import rank_by_uncertainty  # noqa: E402


class Ref:
    def __init__(self, row):
        self.row, self.path, self.frame = row, DATA / row["image"], 0


def pick(pool: list[dict], n: int, how: str, card: Path) -> list[dict]:
    if how == "random":
        return [pool[i] for i in sorted(np.random.default_rng(0).permutation(len(pool))[:n])]
    ranked = rank_by_uncertainty(load_model(card, device="cpu"), [Ref(r) for r in pool],
                                 disagreement=how == "disagreement")
    return [u.ref.row for u in ranked[:n]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", default=str(REPO / "out" / "experiments" / "box_head" / "random_300"))
    parser.add_argument("--add", type=int, default=100)
    parser.add_argument("--out", default=str(REPO / "out" / "experiments" / "active_learning"))
    args = parser.parse_args()
    start, out = Path(args.start), Path(args.out)
    card = start / "localisation" / "tuned_card.json"
    with open(start / "boxes.csv", newline="") as handle:
        seen = {row["image"] for row in csv.DictReader(handle)}
    rows = training_boxes(load_card(card))
    reviewed = [r for r in rows if r["image"] in seen]
    pool = [r for r in rows if r["image"] not in seen]
    results = []
    for how in ("random", "entropy", "disagreement"):
        folder = out / how
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "boxes.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(reviewed + pick(pool, args.add, how, card))
        learned = learn_box_head(card, DATA / "images", BoxFile(folder / "boxes.csv", DATA), folder / "model",
                                 HeadRecipe(), device="cpu")
        row = {"select": how, "start": len(reviewed), "added": args.add, "pool": len(pool),
               "held_out": score(learned.card_path, folder / "localisation")}
        results.append(row)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{how:<13} {len(reviewed)} + {args.add} boxes: held-out mean accuracy over T(IoU) 0.1-0.7 "
              f"{overall(row):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
