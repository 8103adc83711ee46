"""Record on a model card the domain it was trained on: modality, body part and the input
statistics of its training split (core.models.domain; ``medxai train`` records the statistics
itself for new cards). For the bundled demo model:

    .venv/bin/python experiments/card_domain.py resources/models/brain_mri_resnet18.json \
        ../shared/data/brain_mri/images --modality MR --body-part BRAIN HEAD

The training split is made again as ``train`` made it (the card's recipe: val_fraction,
test_fraction, seed, input_size), so only training images enter the statistics. Prints how
many held-out images (validation + test) the threshold flags, and the chest X-rays of
../shared/data/chest_xray it flags, if that folder is there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medxai_desktop.core.models import load_card  # noqa: E402
from medxai_desktop.core.models.datasets import find_labelled_images, load_resized  # noqa: E402
from medxai_desktop.core.models.domain import _mahalanobis, fit_input_statistics, input_features  # noqa: E402
from medxai_desktop.core.models.training import split_indices  # noqa: E402


def flagged(stats, images) -> float:
    """The fraction of ``images`` (N x H x W x 3 uint8) beyond the threshold."""
    features = np.array([input_features(image) for image in images])
    return float((_mahalanobis(features, stats["mean"], stats["covariance"]) > stats["threshold"]).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("card")
    parser.add_argument("data", help="the training data (class folders or a CSV), as given to medxai train")
    parser.add_argument("--modality", nargs="+", default=None)
    parser.add_argument("--body-part", nargs="+", default=None)
    args = parser.parse_args(argv)
    card = load_card(args.card)
    recipe = card.metadata.get("recipe") or {}
    dataset = find_labelled_images(args.data, classes=card.classes)
    images, labels, dataset = load_resized(dataset, tuple(card.input_size))
    train_idx, val_idx, test_idx = split_indices(labels, recipe.get("val_fraction", 0.2),
                                                 recipe.get("test_fraction", 0.0), recipe.get("seed", 0))
    stats = fit_input_statistics(images[train_idx])
    held_out = np.concatenate([val_idx, test_idx])
    print(f"{len(train_idx)} training images; threshold {stats['threshold']:.2f}; held-out images flagged "
          f"{flagged(stats, images[held_out]):.1%}")
    chest = REPO.parent / "shared" / "data" / "chest_xray" / "images"
    if chest.is_dir():
        from medxai_desktop.core.imaging import read_image
        from medxai_desktop.core.models.preprocessing import resize_rgb01

        xrays = [resize_rgb01(read_image(p).as_rgb01(), tuple(card.input_size)) for p in sorted(chest.glob("*.png"))]
        print(f"chest X-rays flagged: {flagged(stats, xrays):.1%} of {len(xrays)}")
    card.metadata["input_statistics"] = stats
    if args.modality:
        card.metadata["modality"] = [m.upper() for m in args.modality]
    if args.body_part:
        card.metadata["body_part"] = [b.upper() for b in args.body_part]
    card.save(args.card)
    print(f"wrote {args.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
