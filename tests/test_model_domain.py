"""A model card declares the modality, body part and input statistics it was trained on; an image
that does not match gets a visible warning: in the app (above the prediction, in the log) and
in `medxai explain` (stderr, explanations.json). Real files: pydicom's chest CR (MONOCHROME1, JPEG
2000), the sample study's brain MRI and the NIH chest X-rays of ../shared/data (issue 15 defect 11)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import ModelCardError, load_card
from medxai_desktop.core.models.domain import FEATURES, domain_warning, domain_warnings, fit_input_statistics
from medxai_desktop.core.resources import demo_model_card, sample_study_dir

pydicom_data = pytest.importorskip("pydicom.data")
CHEST_XRAYS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chest_xray" / "images"


@pytest.fixture(scope="module")
def card():
    return load_card(demo_model_card() or pytest.skip("the demo model is not bundled"))


def chest_cr() -> Path:
    return Path(pydicom_data.get_testdata_file("RG1_J2KR.dcm"))     # CR, CHEST, MONOCHROME1, JPEG 2000


def test_the_demo_card_declares_what_it_was_trained_on(card):
    assert card.metadata["modality"] == ["MR"] and card.metadata["body_part"] == ["BRAIN", "HEAD"]
    stats = card.metadata["input_statistics"]
    assert stats["features"] == list(FEATURES) and stats["images"] == card.metadata["data"]["train"]
    assert 0 < stats["threshold"] < 20


def test_a_chest_cr_is_not_what_a_brain_mri_model_knows(card):
    image = read_image(chest_cr())
    assert (image.modality, image.metadata["BodyPartExamined"], image.photometric) == ("CR", "CHEST", "MONOCHROME1")
    reasons = domain_warnings(card, image)
    assert any("modality is CR, the model's MR" in r for r in reasons)
    assert any("body part is CHEST, the model's BRAIN / HEAD" in r for r in reasons)
    assert any("intensity statistics" in r for r in reasons)
    assert domain_warning(card, image).endswith("its prediction may be meaningless.")
    for path in sorted(sample_study_dir().glob("*.jpg")):      # brain MRI without DICOM tags: fine
        assert domain_warnings(card, read_image(path)) == [], path


def test_non_dicom_chest_xrays_are_caught_by_their_statistics(card):
    files = sorted(CHEST_XRAYS.glob("*.png"))[:20]
    if not files:
        pytest.skip("../shared/data/chest_xray is not here")
    warned = [path for path in files if domain_warning(card, read_image(path))]
    assert read_image(files[0]).modality is None
    assert len(warned) >= 18, f"{len(warned)} of {len(files)} chest X-rays warned"


def _card_json(tmp_path, **extra) -> Path:
    data = {"arch": "resnet18", "classes": ["a", "b"], "input_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
            "target_layer": "layer4", "checkpoint": None, "sha256": None, **extra}
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("extra, message", [
    ({"modality": []}, "modality"), ({"modality": [3]}, "modality"), ({"body_part": {"x": 1}}, "body_part"),
    ({"input_statistics": {"features": ["mean"], "mean": [0.1], "covariance": [[1]], "threshold": 2}},
     "input_statistics"),
    ({"input_statistics": {"features": list(FEATURES), "mean": [0.0] * 6, "covariance": [[0.0] * 6] * 6,
                           "threshold": 2}}, "singular"),
    ({"default_label": ""}, "default_label"),
])
def test_card_domain_keys_are_checked(tmp_path, extra, message):
    with pytest.raises(ModelCardError, match=message):
        load_card(_card_json(tmp_path, **extra))


def test_card_domain_keys_are_normalised_and_statistics_fit(tmp_path):
    card = load_card(_card_json(tmp_path, modality="mr", body_part=["brain", " Head "]))
    assert card.metadata["modality"] == ["MR"] and card.metadata["body_part"] == ["BRAIN", "HEAD"]
    rng = np.random.default_rng(0)
    assert fit_input_statistics(rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)) is None   # too few
    stats = fit_input_statistics(rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    assert load_card(_card_json(tmp_path, input_statistics=stats)).metadata["input_statistics"] == stats


def test_medxai_explain_warns_on_stderr_and_in_the_summary(tmp_path, card):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "medxai_desktop.cli", "explain", str(chest_cr()), "--model",
                          str(card.path), "--methods", "gradcam", "--device", "cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "RG1_J2KR.dcm" in warnings[0] and "modality is CR" in warnings[0]
    assert "warning" not in run.stdout
    summary = json.loads((out / "explanations.json").read_text())
    assert "modality is CR" in summary["image"]["domain_warning"]
    brain = subprocess.run([sys.executable, "-m", "medxai_desktop.cli", "explain",
                            str(sorted(sample_study_dir().glob("*.jpg"))[0]), "--model", str(card.path),
                            "--methods", "gradcam", "--device", "cpu", "--out", str(tmp_path / "brain")],
                           capture_output=True, text=True, timeout=600)
    assert brain.returncode == 0 and "warning:" not in brain.stderr, brain.stderr


def test_the_app_warns_above_the_prediction_and_in_the_log(qtbot, tmp_path, card):
    pytest.importorskip("pytestqt")
    from medxai_desktop.core.models import load_model
    from tests.app_helpers import make_window

    window = make_window(qtbot, tmp_path, chest_cr(), model=load_model(card.path, "cpu"))
    banner = window.panel.domain_label
    qtbot.waitUntil(lambda: window.prediction is not None and banner.isVisible(), timeout=30000)
    assert "modality is CR" in banner.text() and "meaningless" in banner.text()
    assert any(level == "warning" and "RG1_J2KR.dcm" in m and "modality is CR" in m
               for level, m in window.log.entries)
    # a brain MRI of the sample study: no warning
    window.open_path(sample_study_dir())
    qtbot.waitUntil(lambda: window.ref is not None and window.ref.path.suffix == ".jpg"
                    and window.prediction is not None, timeout=30000)
    assert not banner.isVisible() and banner.text() == ""
