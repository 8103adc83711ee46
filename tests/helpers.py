"""Shared helpers for the tests: where the real data lives, small real inputs."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available at {path} (../shared/data beside the repo)")
    return path


def brain_mri_image(name: str = "glioma") -> Path:
    folder = shared_data("brain_mri", "images", name)
    return sorted(folder.glob("*.jpg"))[0]
