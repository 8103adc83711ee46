"""Write the validation split `medxai train` used (same data order, seed and fraction) as a CSV
(image,label), so `medxai evaluate` can report per-class numbers on exactly those images.

    .venv/bin/python experiments/validation_split.py DATA_FOLDER_OR_CSV OUT.csv [--seed 0] [--fraction 0.2]
        [--test-fraction 0.15 [--which validation|test]]

With --test-fraction (as `medxai train --test-fraction`), the test split is set aside first and
the validation split is --fraction of the rest; --which test writes the test split instead.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from medxai_desktop.core.models.datasets import find_labelled_images  # noqa: E402
from medxai_desktop.core.models.training import split_indices  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--root")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--test-fraction", type=float, default=0.0)
    parser.add_argument("--which", choices=("validation", "test"), default="validation")
    args = parser.parse_args()
    data = find_labelled_images(args.data, args.root)
    labels = np.asarray(data.labels)
    # Same call as training (which decodes first; every image of these sets decodes, so the
    # order and the split are the same).
    if args.which == "test" and args.test_fraction <= 0:
        parser.error("--which test needs --test-fraction")
    _, val, test = split_indices(labels, args.fraction, args.test_fraction, args.seed)
    if args.which == "test":
        val = test
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        for i in sorted(val):
            writer.writerow([str(data.paths[i].resolve()), data.classes[data.labels[i]]])
    print(f"{len(val)} {args.which} images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
