"""The worklist by uncertainty: entropy and the ranking (N following it in the app: tests/test_app_review.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from medxai_desktop.core.models.loaded_model import Prediction
from medxai_desktop.core.resources import sample_study_dir
from medxai_desktop.core.review.worklist import predictive_entropy, rank_by_uncertainty


def test_entropy_is_zero_when_certain_and_one_when_uniform():
    assert predictive_entropy({"a": 1.0, "b": 0.0, "c": 0.0}) == 0.0
    assert predictive_entropy({"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}) == pytest.approx(1.0)
    half = predictive_entropy({"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0})
    assert half == pytest.approx(math.log(2) / math.log(4))
    assert predictive_entropy({"only": 1.0}) == 0.0


@dataclass
class _Ref:
    path: Path
    frame: int = 0


class _Model:
    """Probabilities from the image's mean brightness: darker is less certain."""

    def preprocess(self, image):
        return float(image.pixels.mean()) / 255

    def predict(self, brightness):
        p = min(max(brightness * 2, 0.26), 0.97)
        rest = (1 - p) / 3
        return Prediction(0, "a", {"a": p, "b": rest, "c": rest, "d": rest})


def test_ranking_is_most_uncertain_first_and_unreadable_last(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    refs = [_Ref(p) for p in sorted(sample_study_dir().glob("*.jpg"))] + [_Ref(bad)]
    seen = []
    ranked = rank_by_uncertainty(_Model(), refs, progress=seen.append)
    entropies = [u.entropy for u in ranked[:-1]]
    assert entropies == sorted(entropies, reverse=True) and len(entropies) == 4
    assert ranked[-1].ref.path == bad and ranked[-1].entropy is None and "broken.png" in ranked[-1].error
    assert seen[-1].done == seen[-1].total == 5


def test_disagreement_is_one_minus_the_iou_of_the_top_boxes():
    from medxai_desktop.core.boxes import Box, BoxProposal
    from medxai_desktop.core.review.worklist import top_box_disagreement

    a = [BoxProposal(Box(0, 0, 10, 10), 0.2, "x", "m"), BoxProposal(Box(0, 0, 20, 20), 0.9, "x", "m")]
    b = [BoxProposal(Box(10, 0, 30, 20), 0.5, "x", "n")]
    assert top_box_disagreement(a, b) == pytest.approx(1 - 200 / 600)   # the 0.9 box against b's
    assert top_box_disagreement(a, a[1:]) == 0.0
    assert top_box_disagreement(a, []) == 1.0 and top_box_disagreement([], b) == 1.0


def test_ranking_by_proposal_disagreement_with_the_demo_model():
    from medxai_desktop.core.errors import MedXAIError
    from medxai_desktop.core.models import load_model
    from medxai_desktop.core.resources import demo_model_card
    from medxai_desktop.core.review.worklist import disagreement_methods

    model = load_model(demo_model_card(), device="cpu")
    assert disagreement_methods(model) == (model.card.metadata["recommended_proposal"], "crosseai")
    refs = [_Ref(p) for p in sorted(sample_study_dir().glob("*.jpg"))]
    ranked = rank_by_uncertainty(model, refs, disagreement=True)
    assert all(0 <= u.disagreement <= 1 and u.score == pytest.approx((u.entropy + u.disagreement) / 2)
               for u in ranked)
    assert [u.score for u in ranked] == sorted((u.score for u in ranked), reverse=True)
    assert len({u.disagreement for u in ranked}) > 1
    model.card.metadata.update(recommended_proposal="crosseai", proposals={"layercam": {}, "xgradcam": {}})
    assert disagreement_methods(model) == ("crosseai", "layercam")
    model.card.metadata["proposals"] = {}
    assert disagreement_methods(model) is None
    with pytest.raises(MedXAIError, match="one proposal method"):
        rank_by_uncertainty(model, refs, disagreement=True)
