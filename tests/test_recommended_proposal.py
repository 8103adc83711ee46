"""`explain --boxes default` follows the card's recommended proposal method; tune-boxes picks it."""
from __future__ import annotations

import json
import shutil

import pytest

from medxai_desktop.core.evaluation.box_tuning import FoldResult, TuningResult, card_proposals
from medxai_desktop.core.resources import demo_model_card, sample_study_dir


def _card_copy(tmp_path, **metadata):
    source = demo_model_card()
    data = json.loads(source.read_text())
    data.update(metadata)
    shutil.copy(source.parent / data["checkpoint"], tmp_path / data["checkpoint"])
    if data.get("box_head"):   # the head lives beside its card
        shutil.copy(source.parent / data["box_head"]["file"], tmp_path / data["box_head"]["file"])
    card = tmp_path / "model.json"
    card.write_text(json.dumps(data))
    return card


@pytest.mark.parametrize("boxes, method", [("default", "layercam"), ("crosseai", "crosseai")])
def test_explain_boxes_default_uses_the_recommended_method(tmp_path, capsys, boxes, method):
    from medxai_desktop.cli import main

    rule = {"alpha": 0.0, "tau": 0.5, "sigma": 0.0, "min_area": 0.0, "top_k": 2, "score": "max",
            "foreground": True, "layer": "layer4"}
    card = _card_copy(tmp_path, recommended_proposal="layercam", proposals={"layercam": rule})
    image = sample_study_dir() / "glioma_1842.jpg"
    assert main(["explain", str(image), "--model", str(card), "--methods", "gradcam",
                 "--boxes", boxes, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"  {method} boxes:" in out
    if method == "layercam":
        assert "layercam" in out.split("boxes:")[0] and out.count("[") <= 2


def test_the_demo_card_proposes_with_its_box_head_by_default(tmp_path, capsys):
    from medxai_desktop.cli import main
    from medxai_desktop.core.models import load_card

    card = load_card(demo_model_card())
    if not card.metadata.get("box_head"):
        pytest.skip("the demo model has no box head")
    assert card.metadata["recommended_proposal"] == "boxhead"
    image = sample_study_dir() / "meningioma_1.jpg"
    assert main(["explain", str(image), "--model", str(card.path), "--methods", "gradcam",
                 "--boxes", "default", "--out", str(tmp_path / "out")]) == 0
    assert "  boxhead boxes:" in capsys.readouterr().out


def _result(held_out: dict) -> TuningResult:
    folds = [FoldResult(f, family, {}, 0.0, {"overall_iou": value}) for f in range(2)
             for family, value in held_out.items()]
    chosen = {family: {"cam": family.partition("@")[0], "layer": family.partition("@")[2] or "layer4",
                       "alpha": 0.0, "tau": 0.4, "sigma": 0.0, "min_area": 0.0, "top_k": 1, "score": "mean"}
              for family in held_out}
    return TuningResult("overall", 2, 0, 4, 4, folds, chosen, 1)


def test_the_recommended_method_is_the_best_held_out_at_the_card_layer():
    result = _result({"crosseai": 0.10, "crosseai@layer4": 0.11, "layercam@layer4": 0.12, "layercam@layer3": 0.30,
                      "xgradcam@layer4": 0.05, "gradcam++@layer4": 0.2})
    proposals, recommended = card_proposals(result, "layer4")
    assert recommended == "layercam" and set(proposals) == {"layercam", "xgradcam"}
    assert proposals["layercam"]["layer"] == "layer4" and proposals["layercam"]["tau"] == 0.4
    # a tie goes to CrossEAI
    assert card_proposals(_result({"crosseai": 0.2, "layercam@layer4": 0.2}), "layer4")[1] == "crosseai"
