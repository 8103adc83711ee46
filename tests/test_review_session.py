"""The review rules, headless: ReviewSession without Qt or pytest-qt."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.explain.crosseai import CrossEAIParams
from medxai_desktop.core.explain.engine import Explanation, ExplanationSet
from medxai_desktop.core.review import ReviewSession, merge_explanations
from medxai_desktop.core.explain import crosseai as crosseai_module
from medxai_desktop.core.store.views import IN_REVIEW, SIGNED_OFF, UNREAD


def explanation(method: str, target: int = 0, raw=None) -> Explanation:
    rng = np.random.default_rng(len(method) + target)
    heat = np.zeros((16, 16), np.float32)
    heat[4:9, 5:11] = 1.0
    heat += rng.random((16, 16), dtype=np.float32) * 0.05
    raw = raw if raw is not None else heat
    return Explanation(method, method, heat, raw, target, f"class{target}", 0.0,
                       {"method": method, "target": target})


def result(*methods: str, target: int = 0) -> ExplanationSet:
    exps = {}
    for m in methods:
        raw = np.stack([explanation(m, target).map] * 3) if m == "guided" else None
        exps[m] = explanation(m, target, raw)
    return ExplanationSet(None, target, f"class{target}", None, exps, 0.0)


def opened(blinded: bool = False) -> ReviewSession:
    s = ReviewSession(blinded=blinded)
    s.open("ref-a", np.zeros((32, 32), np.float32), image_id="img-a")
    return s


def test_blinded_first_hides_until_own_box_and_stays_revealed():
    s = opened(blinded=True)
    seen = []
    s.events.connect("ai_hidden", seen.append)
    assert s.ai_hidden()
    s.set_own_box(True)
    assert not s.ai_hidden()
    s.set_own_box(False)             # the box removed again: once seen, AI output stays shown
    assert not s.ai_hidden()
    assert seen == [False]
    s.open("ref-b", None, "img-b")
    assert s.ai_hidden()
    s.reveal()
    assert not s.ai_hidden()
    assert not opened(blinded=False).ai_hidden()


def test_what_the_screen_may_show_is_the_sessions_to_say():
    from medxai_desktop.core.models.loaded_model import Prediction

    s = opened(blinded=True)
    s.set_prediction(Prediction(1, "glioma", {"meningioma": 0.2, "glioma": 0.8}))
    s.add_explanations(result("gradcam"))
    assert s.shown_prediction() is None and s.ai_text("predicted glioma", "hidden") == "hidden"
    assert s.default_label(["meningioma", "glioma"]) == "finding"                # never the prediction
    assert s.default_label(["meningioma", "glioma"], "lesion") == "lesion"       # the card's default
    assert set(s.all_explanations()) == {"gradcam"}
    s.reveal()
    assert s.shown_prediction().class_name == "glioma" and s.ai_text("predicted glioma", "hidden") == "predicted glioma"
    assert s.default_label(["meningioma", "glioma"], "lesion") == "glioma"
    plain = opened()
    assert plain.default_label(["meningioma", "glioma"]) == "meningioma"         # no prediction yet: a class
    assert plain.default_label([]) == "finding"


def test_status_transitions():
    s = opened()
    changes = []
    s.events.connect("status", changes.append)
    s.set_status(UNREAD)
    assert s.first_edit() == IN_REVIEW and not s.reopens(s.status)
    s.set_status(IN_REVIEW)
    assert s.first_edit() is None
    s.set_status(SIGNED_OFF)
    assert s.reopens(s.status) and s.first_edit() == IN_REVIEW
    s.set_status(SIGNED_OFF)         # no change, no event
    assert changes == [UNREAD, IN_REVIEW, SIGNED_OFF]
    assert s.can_edit() and not ReviewSession().can_edit()


def test_explanations_of_one_image_accumulate():
    s = opened()
    fired = []
    s.events.connect("explained", fired.append)
    s.add_explanations(result("gradcam"))
    merged = s.add_explanations(result("gradcam++", "guided"))
    assert isinstance(merged, ExplanationSet)
    assert set(merged.explanations) == {"gradcam", "gradcam++", "guided"}
    assert s.explanations(0) is merged and len(fired) == 2
    other = s.add_explanations(result("gradcam", target=1))
    assert set(other.explanations) == {"gradcam"} and s.explanations(0) is merged
    assert merge_explanations(None, other) is other


def test_preview_caches_and_rethresholds(monkeypatch):
    s = opened()
    assert s.preview(CrossEAIParams()) == ([], None)
    s.add_explanations(result("gradcam++", "guided"))
    calls = []
    real = crosseai_module.guided_map
    monkeypatch.setattr(crosseai_module, "guided_map", lambda *a: calls.append(a) or real(*a))
    shown = []
    s.events.connect("preview", lambda boxes, fused: shown.append(len(boxes)))
    params = CrossEAIParams()
    boxes, fused = s.preview(params)
    assert boxes and fused.shape == (16, 16)
    assert boxes[0].box.x1 >= 32 * 11 / 16 - 2        # scaled to the image's pixels
    s.preview(params.with_(tau=0.9))
    s.preview(params.with_(top_k=1))
    assert len(calls) == 1 and s.preview_computations == 1
    s.preview(params.with_(sigma=params.sigma + 1))
    assert len(calls) == 2
    assert len(shown) == 4


def test_events_disconnect():
    s = ReviewSession()
    got = []
    s.events.connect("predicted", got.append)
    s.open("r")
    s.set_prediction("p")
    s.events.disconnect("predicted", got.append)
    s.set_prediction("q")
    assert got == ["p"]
    s.events.connect("predicted", got.append)
    with pytest.raises(TypeError):
        s.events.emit("predicted")  # fn requires an argument: errors are not swallowed


def test_out_of_domain_image_gets_the_neutral_default_label():
    from medxai_desktop.core.models.loaded_model import Prediction
    from medxai_desktop.core.review.session import HIDDEN_DEFAULT_LABEL

    s = ReviewSession()
    s.open("a.dcm", image_id=1)
    prediction = Prediction(1, "glioma", {"meningioma": 0.2, "glioma": 0.8})
    s.set_prediction(prediction, out_of_domain=True)
    assert s.default_label(["glioma", "meningioma"]) == HIDDEN_DEFAULT_LABEL
    assert s.default_label(["glioma"], "vertebra") == "vertebra"
    s.set_prediction(prediction)                   # the prediction again (with maps): still out of domain
    assert not s.labels_from_prediction()
    s.open("b.dcm", image_id=2)
    s.set_prediction(prediction, out_of_domain=False)
    assert s.default_label(["meningioma"]) == "glioma"
