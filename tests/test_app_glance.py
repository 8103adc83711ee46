"""Review at a glance with the real widgets (pytest-qt, offscreen; issue 25 parts 2 and 3):
proposals made when an image opens, Enter accepts them, signs off and opens the next unread
image, keys for Propose, Sign off, Reveal AI and the overlay, click-to-box (the C tool and
Ctrl+click) and blinded-first review with proposals made on open. Every user action is a real
key or mouse event on the real widgets, and they are counted."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, Qt

from medxai_desktop.app.box_items import is_ai, rect_box
from medxai_desktop.app.settings import AppSettings
from medxai_desktop.core.resources import sample_study_dir
from medxai_desktop.core.review.session import ref_key
from medxai_desktop.core.store import ReviewStore
from tests.test_app_blinded import leaks, screen_texts
from tests.test_app_review import demo_model  # noqa: F401 (a fixture)
from tests.test_app_review import drag, view_point, wait_review
from tests.test_click_box import map_peak

pytest.importorskip("pytestqt")

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton


class Reader:
    """Real key and mouse events on the window's canvas, counted."""

    def __init__(self, qtbot, window):
        self.qtbot, self.window, self.canvas, self.events = qtbot, window, window.canvas, 0

    def key(self, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        self.events += 1
        self.canvas.setFocus()
        self.qtbot.keyClick(self.canvas, key, modifiers)

    def click(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        self.events += 1
        self.qtbot.mouseClick(self.canvas.viewport(), LEFT, modifiers, view_point(self.canvas, x, y))

    def drag(self, start: QPoint, end: QPoint) -> None:
        self.events += 1
        drag(self.canvas, start, end)


def open_glance(qtbot, tmp_path, model, blinded=False, owned=True):
    """A window whose settings propose when an image opens, the sample study open (``owned``:
    qtbot closes it after the test)."""
    from medxai_desktop.app.main_window import MainWindow

    settings = AppSettings()
    settings.set_propose_on_open(True)
    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    window = MainWindow(store, device="cpu", reviewer="alice", settings=settings)
    if owned:
        qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    if blinded:
        window.review.blinded_action.trigger()
    window.set_model(model, "demo")
    window.open_path(sample_study_dir())
    wait_review(qtbot, window)
    return window


def ai_views(window):
    return [v for v in window.review.views.values() if is_ai(v)]


def wait_proposals(qtbot, window):
    qtbot.waitUntil(lambda: bool(ai_views(window)) and not window.explaining(), timeout=60000)
    window.canvas.setFocus()


def test_a_right_proposal_costs_one_event_an_edited_one_two_plus_one_per_edge(qtbot, tmp_path, demo_model):  # noqa: F811
    window = open_glance(qtbot, tmp_path, demo_model)
    review, panel = window.review, window.review.crosseai_panel
    # the method and rule are shown before any run
    assert "Propose" in panel.plan.text() and panel.method.currentText() in panel.plan.text()
    assert "Click" in panel.plan.text()
    reader = Reader(qtbot, window)

    # image 1: proposed as it opened, on the model worker; Enter accepts, signs off, goes on
    wait_proposals(qtbot, window)
    assert window.model_thread_idents and all(v.state == "proposed" for v in ai_views(window))
    first_id, proposed = window.image_id, {v.box_id: v.box for v in ai_views(window)}
    # the next unread image's proposals are made in the background and stored
    second_ref = window.browser.image_refs()[1]
    qtbot.waitUntil(lambda: ref_key(second_ref) in review.flow.prefetch.done, timeout=60000)
    second_id = review.statuses.ids[ref_key(second_ref)]
    prefetched = {v.box_id: v.box for v in window.store.latest_boxes(second_id)}
    assert prefetched and all(v.origin == "proposal" for v in window.store.latest_boxes(second_id))
    reader.key(Qt.Key.Key_Return)
    assert reader.events == 1
    assert {v.box_id: (v.box, v.state) for v in window.store.latest_boxes(first_id) if v.origin == "proposal"} \
        == {i: (b, "accepted") for i, b in proposed.items()}
    assert window.store.status(first_id).status == "signed_off"
    wait_review(qtbot, window, 1)

    # image 2 opens with them: no map computed for it in the window, nothing proposed again
    wait_proposals(qtbot, window)
    assert window.image_id == second_id and window.explanations == {}
    assert {v.box_id: v.box for v in ai_views(window)} == prefetched

    # select a proposal (click), drag its right edge, Enter: 2 + 1 events
    reader.events = 0
    view = max(ai_views(window), key=lambda v: v.score or 0)
    box = view.box
    reader.click((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
    assert review.editor.selected == view.box_id
    handle = view_point(window.canvas, box.x1, (box.y0 + box.y1) / 2)
    reader.drag(handle, handle + QPoint(-12, 0))
    edited = review.views[view.box_id].box
    assert edited.x1 < box.x1 and (edited.x0, edited.y0, edited.y1) == (box.x0, box.y0, box.y1)
    reader.key(Qt.Key.Key_Return)
    assert reader.events == 2 + 1
    final = {v.box_id: v for v in window.store.latest_boxes(second_id)}
    assert final[view.box_id].state == "accepted" and final[view.box_id].box == edited
    assert window.store.status(second_id).status == "signed_off"
    wait_review(qtbot, window, 2)
    assert window.log.errors() == []


def test_keys_and_the_shortcut_editor(qtbot, tmp_path, demo_model):  # noqa: F811
    from medxai_desktop.app.shortcuts import ShortcutsDialog

    window = open_glance(qtbot, tmp_path, demo_model)
    wait_proposals(qtbot, window)
    reader = Reader(qtbot, window)
    dialog = ShortcutsDialog(window.shortcuts, window)
    for action_id in ("review.propose", "review.sign_off", "review.reveal", "view.overlay", "review.finish",
                      "review.click_box"):
        assert dialog.editable(action_id), action_id
    dialog.reject()

    # O: the overlay off and on again
    window.panel.set_checked_methods(["gradcam++"])
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: "gradcam++" in window.explanations and window.panel.run_button.isEnabled(),
                    timeout=30000)
    assert window.canvas.overlay_item.isVisible()
    reader.key(Qt.Key.Key_O)
    assert not window.canvas.overlay_item.isVisible()
    reader.key(Qt.Key.Key_O)
    assert window.canvas.overlay_item.isVisible()

    # Shift+P proposes again (the panel's method): a second set of proposals
    before = len(ai_views(window))
    reader.key(Qt.Key.Key_P, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: len(ai_views(window)) == 2 * before, timeout=30000)

    # S signs off without leaving the image
    reader.key(Qt.Key.Key_S)
    assert window.store.status(window.image_id).status == "signed_off"
    assert window.browser.current_index() == 0

    # Enter in the label field is the label's, not the image's
    window.review.panel.label_combo.lineEdit().setFocus()
    qtbot.keyClicks(window.review.panel.label_combo.lineEdit(), "lesion")
    qtbot.keyClick(window.review.panel.label_combo.lineEdit(), Qt.Key.Key_Return)
    assert window.browser.current_index() == 0


def test_click_to_box_with_the_tool_and_ctrl_click(qtbot, tmp_path, demo_model):  # noqa: F811
    from medxai_desktop.core.explain import ExplanationEngine
    from medxai_desktop.core.explain.click_box import card_click_rule, click_map, click_maps, propose_at

    window = open_glance(qtbot, tmp_path, demo_model)
    review = window.review
    wait_proposals(qtbot, window)
    # the next image's proposals are made on the model worker: the test's own run below waits for them
    qtbot.waitUntil(lambda: not review.flow.prefetch.in_flight, timeout=60000)
    reader = Reader(qtbot, window)
    rule = card_click_rule(demo_model.card)
    result = ExplanationEngine(demo_model).explain(demo_model.preprocess(window.image), click_maps(rule))
    heatmap = click_map(result, demo_model, rule)
    centre = map_peak(heatmap, window.image.shape)   # on the map's strongest component
    expected = propose_at(heatmap, centre, window.image.shape, rule).box

    # Ctrl+click: the box of the component there is shown (its maps come from the model worker, once)
    reader.click(*centre, CTRL)
    qtbot.waitUntil(lambda: len(review.editor.previews) == 1, timeout=30000)
    shown = rect_box(review.editor.previews[0].rect())
    assert (shown.x0, shown.y0, shown.x1, shown.y1) == pytest.approx(
        (expected.x0, expected.y0, expected.x1, expected.y1), abs=1e-3)
    drawn_before = [v for v in review.views.values() if v.origin == "drawn"]
    reader.key(Qt.Key.Key_Return)      # Enter adds it (the image stays open)
    qtbot.waitUntil(lambda: len([v for v in review.views.values() if v.origin == "drawn"]) == 1, timeout=5000)
    assert drawn_before == [] and review.editor.previews == [] and window.browser.current_index() == 0
    added = next(v for v in review.views.values() if v.origin == "drawn")
    assert added.box == pytest.approx(expected) or (added.box.x0, added.box.x1) == pytest.approx(
        (expected.x0, expected.x1), abs=1)
    assert reader.events == 2

    # C arms the tool: a plain click proposes; a click on a flat part of the map is refused
    reader.key(Qt.Key.Key_C)
    reader.click(3, 3)
    assert review.editor.previews == []
    assert "no map component under the click" in review.panel.message_label.text()
    reader.key(Qt.Key.Key_C)
    reader.click(*centre)
    assert len(review.editor.previews) == 1
    reader.key(Qt.Key.Key_Escape)       # Escape drops it
    assert review.editor.previews == []
    reader.key(Qt.Key.Key_Z, CTRL)       # one undo takes the click box back
    qtbot.waitUntil(lambda: not [v for v in review.views.values() if v.origin == "drawn" and v.state != "removed"],
                    timeout=5000)


def test_blinded_review_keeps_proposals_made_on_open_hidden_until_reveal(qtbot, tmp_path, demo_model):  # noqa: F811
    window = open_glance(qtbot, tmp_path, demo_model, blinded=True)
    review, session = window.review, window.session
    qtbot.waitUntil(lambda: session.prediction is not None, timeout=20000)
    # the proposals are made and stored on open, and nothing of them is shown
    qtbot.waitUntil(lambda: any(v.origin == "proposal" for v in window.store.latest_boxes(window.image_id))
                    and not window.explaining(), timeout=60000)
    qtbot.waitUntil(lambda: bool(ai_views(window)), timeout=10000)
    assert review.ai_hidden() and review.panel.rows() == []
    assert not any(item.isVisible() for item in review.editor.items.values())
    assert leaks(screen_texts(window), session.prediction, demo_model.classes, window.browser.image_refs()) == []
    reader = Reader(qtbot, window)
    # a click box is AI output too: refused while hidden
    reader.click(317, 128, CTRL)
    assert review.editor.previews == [] and "Reveal AI" in review.panel.message_label.text()
    # V reveals: the proposals made on open are there
    reader.key(Qt.Key.Key_V)
    assert not review.ai_hidden()
    assert review.panel.rows() and all(r[1] == "AI" for r in review.panel.rows())


def test_closing_the_window_while_proposals_are_made_raises_nothing(qtbot, tmp_path, demo_model):  # noqa: F811
    """Proposals on open start explanations by themselves: a window closed and deleted while one
    runs must not have its ends call widgets that are gone (RuntimeError in the event loop)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window = open_glance(qtbot, tmp_path, demo_model, owned=False)
    qtbot.waitUntil(window.explaining, timeout=20000)
    jobs = window.jobs
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.waitUntil(lambda: not jobs._active, timeout=60000)
    qtbot.wait(50)
