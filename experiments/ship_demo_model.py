"""Copy a trained brain-MRI model into resources/models/ as the bundled demo model.

    .venv/bin/python experiments/ship_demo_model.py out/experiments/brain-resnet18/model.json

Checks the checkpoint's hash and size (<= 25 MB), renames the checkpoint (and the card's box
head, if it has one), and adds the data attribution and a not-for-clinical-use notice to the card.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medxai_desktop.core.models import load_card, sha256_of_file  # noqa: E402

NAME = "brain_mri_resnet18"
LIMIT = 25 * 1024 * 1024
ATTRIBUTION = (
    "Trained by `medxai train` on the brain MRI development data: figshare brain-tumour dataset "
    "(Jun Cheng, 2017, doi:10.6084/m9.figshare.1512427; Cheng et al., PLoS ONE 2015), CC BY 4.0, "
    "and Br35H no-tumour slices (Hamada 2020). Redistributed with attribution under CC BY 4.0.")


def main(card_path: str) -> int:
    card = load_card(card_path)
    checkpoint = card.checkpoint_path
    if sha256_of_file(checkpoint) != card.sha256:
        raise SystemExit(f"{checkpoint}: sha256 does not match its card")
    if checkpoint.stat().st_size > LIMIT:
        raise SystemExit(f"{checkpoint}: {checkpoint.stat().st_size / 2**20:.1f} MB is over the 25 MB limit")
    target = REPO / "resources" / "models"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, target / f"{NAME}.pt")
    card.checkpoint = f"{NAME}.pt"
    head = card.metadata.get("box_head")
    if head:  # the learned box head goes beside the card under the model's name
        source = Path(card_path).resolve().parent / head["file"]
        if sha256_of_file(source) != head["sha256"]:
            raise SystemExit(f"{source}: sha256 does not match its card's box_head entry")
        shutil.copyfile(source, target / f"{NAME}.box_head.pt")
        head["file"] = f"{NAME}.box_head.pt"
    card.metadata.update(
        name="Brain MRI tumour classifier (demo)",
        attribution=ATTRIBUTION,
        intended_use="Demonstration and research only. Not for clinical use.",
    )
    card.metadata.get("data", {}).pop("source", None)  # a path on the training machine
    card.save(target / f"{NAME}.json")
    print(f"shipped {target / NAME}.json ({checkpoint.stat().st_size / 2**20:.1f} MB checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
