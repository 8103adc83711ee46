"""Write the validation split `medxai train` used (same data order, seed and fraction) as a CSV
(image,label), so `medxai evaluate` can report per-class numbers on exactly those images.

    .venv/bin/python experiments/validation_split.py DATA_FOLDER_OR_CSV OUT.csv [--seed 0] [--fraction 0.2]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from medxai_desktop.core.models.datasets import find_labelled_images  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--root")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.2)
    args = parser.parse_args()
    data = find_labelled_images(args.data, args.root)
    labels = np.asarray(data.labels)
    # Same call as training (which decodes first; every image of these sets decodes, so the
    # order and the split are the same).
    _, val = train_test_split(np.arange(len(labels)), test_size=args.fraction,
                              random_state=args.seed, stratify=labels)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        for i in sorted(val):
            writer.writerow([str(data.paths[i].resolve()), data.classes[data.labels[i]]])
    print(f"{len(val)} validation images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
