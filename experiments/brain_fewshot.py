"""The few-shot curve of learning from boxes (issue 13 part 3), and uncertainty vs random.

    .venv/bin/python experiments/brain_fewshot.py CARD.json [--counts 0,10,30,100,300,all]
        [--select random|uncertainty] [--epochs 5] [--out out/experiments/fewshot]

For each count n, n reference boxes of the *training* split's tumour slices (the splits of
experiments/brain_recipe.py: test 15 % first, validation 20 % of the rest; seed 0) are given
to a fine-tune of CARD (core.models.fine_tune: the parent's splits, 5 epochs, box weight 0.5);
n = 0 is the same fine-tune without boxes, the control. ``--select uncertainty`` takes the n
slices the parent is least sure of (core.review.worklist), ``random`` a seeded sample. Each
fine-tuned card is then scored by experiments/brain_localisation.sh's tune-boxes on the
validation split's tumour slices (held-out folds; a smaller grid than brain_localisation.sh:
CrossEAI, Grad-CAM++ and LayerCAM at layer4 and layer3, no foreground mask, which was never
chosen for the parent) and its validation classification; rows go to
experiments/results/brain_fewshot.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "brain_mri"
RESULTS = REPO / "experiments" / "results" / "brain_fewshot.json"

from medxai_desktop.core.models import load_card, load_model  # noqa: E402
from medxai_desktop.core.models.box_supervision import BoxFile  # noqa: E402
from medxai_desktop.core.models.datasets import find_labelled_images  # noqa: E402
from medxai_desktop.core.models.fine_tune import fine_tune_config  # noqa: E402
from medxai_desktop.core.models.training import split_indices, train  # noqa: E402


def training_boxes(card) -> list[dict]:
    """The boxes.csv rows of the card's training split."""
    recipe = card.metadata["recipe"]
    data = find_labelled_images(DATA / "images")
    labels = np.asarray(data.labels)
    train_idx, _, _ = split_indices(labels, recipe["val_fraction"], recipe["test_fraction"], recipe["seed"])
    names = {str(Path(data.paths[i]).resolve()) for i in train_idx}
    with open(DATA / "boxes.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if str((DATA / row["image"]).resolve()) in names]


def choose(rows: list[dict], n: int, how: str, card_path: Path) -> list[dict]:
    if n >= len(rows):
        return rows
    if how == "random":
        pick = np.random.default_rng(0).permutation(len(rows))[:n]
        return [rows[i] for i in sorted(pick)]
    from medxai_desktop.core.review.worklist import rank_by_uncertainty

    class Ref:
        def __init__(self, row):
            self.row, self.path, self.frame = row, DATA / row["image"], 0

    ranked = rank_by_uncertainty(load_model(card_path, device="cpu"), [Ref(r) for r in rows])
    return [u.ref.row for u in ranked[:n]]


def localise(card_path: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    py = REPO / ".venv" / "bin" / "python"
    split = [str(py), str(REPO / "experiments" / "validation_split.py"), str(DATA / "images"),
             str(out / "validation.csv"), "--test-fraction", "0.15"]
    subprocess.run(split, check=True)
    subprocess.run([str(REPO / ".venv" / "bin" / "medxai"), "tune-boxes", str(out / "validation.csv"),
                    "--model", str(card_path), "--boxes", str(DATA / "boxes.csv"),
                    "--layers", "layer4,layer3", "--cams", "gradcam++,layercam", "--top-k", "1,3",
                    "--folds", "5", "--cache", str(out / "maps"), "--out", str(out / "tune"),
                    "--write-card", str(out / "tuned_card.json")], check=True)


def run(card_path: Path, n: int | str, how: str, epochs: int, out: Path) -> dict:
    card = load_card(card_path)
    rows = training_boxes(card)
    count = len(rows) if n == "all" else int(n)
    name = f"{how}_{count}"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    boxes = None
    if count > 0:
        chosen = choose(rows, count, how, card_path)
        with open(folder / "boxes.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, list(chosen[0]))
            writer.writeheader()
            writer.writerows(chosen)
        boxes = BoxFile(folder / "boxes.csv", DATA)
    config = fine_tune_config(card_path, epochs=epochs, device="cpu", box_weight=0.5 if count else 0.0)
    started = time.perf_counter()
    result = train(DATA / "images", folder / "model", config, boxes=boxes)
    train_s = time.perf_counter() - started
    localise(result.card_path, folder / "localisation")
    held_out = json.loads((folder / "localisation" / "tune" / "tuning.json").read_text())["held_out_summary"]
    meta = load_card(result.card_path).metadata
    row = {"name": name, "boxes": count, "select": how, "epochs": epochs, "train_s": round(train_s),
           "validation": meta["validation"], "held_out": held_out,
           "recommended": load_card(folder / "localisation" / "tuned_card.json").metadata.get("recommended_proposal")}
    rows_out = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([r for r in rows_out if r["name"] != name] + [row], indent=1) + "\n")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card")
    parser.add_argument("--counts", default="0,10,30,100,300,all")
    parser.add_argument("--select", choices=("random", "uncertainty"), default="random")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "out" / "experiments" / "fewshot"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    for n in args.counts.split(","):
        run(Path(args.card), n if n == "all" else int(n), args.select, args.epochs, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
