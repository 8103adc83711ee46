"""The bundled demo model and sample study: what `scripts/run` opens on a new machine."""
from __future__ import annotations

import csv

import pytest

from medxai_desktop.cli import main
from medxai_desktop.core.imaging import discover, read_image
from medxai_desktop.core.models import load_model
from medxai_desktop.core.resources import demo_model_card, sample_study_dir


@pytest.fixture(scope="module")
def demo():
    card = demo_model_card()
    assert card is not None, "resources/models/ must hold the demo model's card"
    return load_model(card, device="cpu")  # checks the checkpoint's sha256 against the card


def test_demo_model_is_small_attributed_and_from_medxai_train(demo):
    assert demo.card.checkpoint_path.stat().st_size <= 25 * 1024 * 1024
    assert "CC BY 4.0" in demo.card.metadata["attribution"]
    assert demo.classes == ["glioma", "meningioma", "no_tumor", "pituitary"]
    meta = demo.card.metadata
    assert meta["validation"]["accuracy"] >= 0.95 and meta["validation"]["macro_f1"] >= 0.93
    assert meta["test"]["accuracy"] >= 0.95 and meta["test"]["n"] > 0   # a split it never chose on
    assert meta["recipe"]["test_fraction"] > 0 and meta["recipe"]["schedule"] == "cosine"


def test_demo_card_carries_the_tuned_proposals(demo):
    meta = demo.card.metadata
    assert meta["crosseai"]["layer"] and meta["crosseai_tuning"]["folds"] == 5
    assert meta["recommended_proposal"] == "crosseai" or meta["recommended_proposal"] in meta["proposals"]


def test_demo_model_reads_the_sample_study(demo):
    found = discover(sample_study_dir())
    assert not found.failures and len(found.images) == 4
    with open(sample_study_dir() / "labels.csv", newline="") as handle:
        truth = {row["image"]: row["label"] for row in csv.DictReader(handle)}
    predicted = {ref.path.name: demo.predict(demo.preprocess(read_image(ref.path))).class_name
                 for ref in found.images}
    assert set(predicted) == set(truth)
    # glioma_1842 (a validation slice) is called pituitary (p 0.59) by the v2 demo model: see docs/RESULTS.md
    assert sum(predicted[k] == truth[k] for k in truth) >= 3, predicted


def test_demo_command_uses_the_bundled_model(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED" not in captured.err
    assert len(list(tmp_path.glob("*/boxes.json"))) == 4


def test_demo_models_default_proposals_find_the_sample_tumours(demo):
    """The card's recommended proposal method (its box head, learned from the training split's
    boxes) on the sample study's three tumour slices, explaining the reference label."""
    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.explain import ExplanationEngine
    from medxai_desktop.core.explain.proposals import explain_and_propose

    engine, found = ExplanationEngine(demo), {}
    with open(sample_study_dir() / "boxes.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            image = read_image(sample_study_dir() / row["image"])
            proposals = explain_and_propose(image, demo, engine, [], target=row["label"], propose="default").boxes
            reference = Box.from_xywh(*(float(row[k]) for k in "xywh"))
            found[row["image"]] = max((p.box.iou(reference) for p in proposals), default=0.0)
    # v3 demo card (box head): meningioma_1 0.57, pituitary_1000 0.65; glioma_1842 (a validation
    # slice the classifier also gets wrong) 0.0
    assert sum(iou >= 0.5 for iou in found.values()) >= 2, found
