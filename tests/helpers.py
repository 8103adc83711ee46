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


def pydicom_file(name: str) -> Path:
    """A file of pydicom's test data (the pydicom-data package); skipped when not installed."""
    data = pytest.importorskip("pydicom.data")
    found = data.get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} not installed (pydicom-data)")
    return Path(found)


def load_demo_model(device: str = "cpu"):
    """The bundled demo model (brain MRI ResNet-18); skipped when it is not bundled."""
    from medxai_desktop.core.models import load_model
    from medxai_desktop.core.resources import demo_model_card

    card = demo_model_card()
    if card is None:
        pytest.skip("the demo model is not bundled")
    return load_model(card, device=device)


def brain_mri_image(name: str = "glioma") -> Path:
    folder = shared_data("brain_mri", "images", name)
    return sorted(folder.glob("*.jpg"))[0]


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (benchmarks/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
