"""Where the bundled resources (sample study, demo model card, colour maps) live."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """$MEDXAI_RESOURCES, else the frozen bundle's copy, else the source tree's `resources/`."""
    if os.environ.get("MEDXAI_RESOURCES"):
        return Path(os.environ["MEDXAI_RESOURCES"])
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def sample_study_dir() -> Path:
    return resources_dir() / "sample_study"


def demo_model_card() -> Path | None:
    """The bundled demo model's card, if the bundle has one."""
    cards = sorted((resources_dir() / "models").glob("*.json"))
    return cards[0] if cards else None
