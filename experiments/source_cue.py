"""Is the classifier a tumour detector or a source detector? (issue 13 part 1)

    .venv/bin/python experiments/source_cue.py CARD.json [--test-fraction 0.15] [--seed 0]

The no_tumor slices come from Br35H (other sizes and aspect ratios), the tumour slices from
figshare (512 x 512). This takes the test split's no_tumor slices (the split `medxai train
--test-fraction` set aside: same data order, seed and fraction), removes the source cue (each
made grayscale, zero-padded to a square like the figshare slices and resized to 512 x 512), and
classifies them as they are and with the cue removed. A tumour detector still calls them
no_tumor; a source detector changes its mind. Also reports the tumour slices of the test split
given the no_tumor slices' look (stretched to a random Br35H aspect ratio).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "brain_mri" / "images"

from medxai_desktop.core.imaging import read_image  # noqa: E402
from medxai_desktop.core.models import load_model  # noqa: E402
from medxai_desktop.core.models.datasets import find_labelled_images  # noqa: E402
from medxai_desktop.core.models.training import split_indices  # noqa: E402


def square_512(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    side = max(h, w)
    canvas = np.zeros((side, side), gray.dtype)
    canvas[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = gray
    return cv2.resize(canvas, (512, 512), interpolation=cv2.INTER_AREA)


def stretched(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    aspect = rng.uniform(0.6, 1.6)
    return cv2.resize(gray, (int(round(512 * aspect)), 512), interpolation=cv2.INTER_AREA)


def predict(model, gray: np.ndarray) -> str:
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    rgb = (rgb - rgb.min()) / max(float(rgb.max() - rgb.min()), 1e-6)
    from medxai_desktop.core.models.preprocessing import to_model_tensor

    tensor = to_model_tensor(rgb, model.card.input_size, model.card.mean, model.card.std)
    return model.predict(tensor).class_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card")
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the counts here")
    args = parser.parse_args()
    model = load_model(args.card, device="cpu")
    data = find_labelled_images(DATA)
    labels = np.asarray(data.labels)
    _, _, test_idx = split_indices(labels, 0.2, args.test_fraction, args.seed)
    rng = np.random.default_rng(0)
    counts: dict[str, Counter] = {k: Counter() for k in ("no_tumor as is", "no_tumor, cue removed",
                                                         "tumour as is", "tumour, stretched like Br35H")}
    for i in test_idx:
        path, label = data.paths[i], data.classes[labels[i]]
        gray = read_image(path).pixels.astype(np.float32)
        gray = gray.mean(-1) if gray.ndim == 3 else gray
        if label == "no_tumor":
            counts["no_tumor as is"][predict(model, gray)] += 1
            counts["no_tumor, cue removed"][predict(model, square_512(gray))] += 1
        else:
            counts["tumour as is"]["tumour" if predict(model, gray) != "no_tumor" else "no_tumor"] += 1
            counts["tumour, stretched like Br35H"]["tumour" if predict(model, stretched(gray, rng)) != "no_tumor"
                                                    else "no_tumor"] += 1
    for name, counter in counts.items():
        total = sum(counter.values())
        print(f"{name:32s} n={total:4d}  " + ", ".join(f"{k} {v} ({v / total:.1%})" for k, v in counter.most_common()))
    if args.json:
        Path(args.json).write_text(json.dumps({k: dict(v) for k, v in counts.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
