"""Screenshots of the desktop application for the README (run under a display or xvfb-run):

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Opens the sample study, shows the prediction, runs Grad-CAM++ and LayerCAM and saves
main_window.png, explanations.png and wl_preset.png, then the review, comparison, cine (series
thumbnails) and measurement shots (``--only measurements``: that one alone, on a CT). Without a bundled demo model it uses an
UNTRAINED seeded resnet18 (the window says so): the maps show the pipeline, not medicine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def wait_until(app, condition, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def review_state(app, window, out: Path) -> None:
    """crosseai_preview.png: the live preview of the card's recommended proposal method (the demo
    card's box head; CrossEAI for a card without one) with the card's rule: its map, dash-dot
    boxes; review.png: the proposals stored, the best resized by its handles onto the reference
    box of the sample study (ghost of the proposal + IoU), the next rejected and accepted, if any."""
    import csv

    from PySide6.QtCore import Qt

    from tests.app_helpers import send_mouse

    review, canvas = window.review, window.canvas
    canvas.apply_preset(0)
    window.panel.set_checked_methods(["gradcam++"])
    window.panel.maps_list.setCurrentRow(0)
    window.crosseai_dock.raise_()
    panel = review.crosseai_panel
    panel.defaults_button.click()   # the model card's tuned rule, as a reader would start
    panel.preview_box.setChecked(True)
    wait_until(app, lambda: review.preview, timeout=120, what="the CrossEAI preview")
    app.processEvents()
    window.grab().save(str(out / "crosseai_preview.png"))
    count = len(review.preview)
    panel.propose_button.click()
    wait_until(app, lambda: len(review.views) == count, what="the proposals")
    with open(window.ref.path.parent / "boxes.csv", newline="") as f:
        reference = next((r for r in csv.DictReader(f) if r["image"] == window.ref.path.name), None)
    ids = sorted(review.views, key=lambda i: -review.views[i].score)

    def drag(start, end):
        viewport = canvas.viewport()
        send_mouse(viewport, "press", start)
        for i in range(1, 6):
            send_mouse(viewport, "move", start + (end - start) * (i / 5), buttons=Qt.MouseButton.LeftButton)
        send_mouse(viewport, "release", end)
        app.processEvents()

    # the best proposal, corrected by its corner handles onto the reference box
    edited = ids[0]
    box = review.views[edited].box
    review.editor.select(edited)
    if reference is not None:
        x, y, w, h = (float(reference[k]) for k in ("x", "y", "w", "h"))
        drag(canvas.viewportTransform().map(_point(box.x0, box.y0)),
             canvas.viewportTransform().map(_point(x, y)))
        box = review.views[edited].box
        drag(canvas.viewportTransform().map(_point(box.x1, box.y1)),
             canvas.viewportTransform().map(_point(x + w, y + h)))
    for box_id, verdict in zip(ids[1:], (review.reject_selected, review.accept_selected)):
        review.editor.select(box_id)
        verdict()
    review.editor.select(edited)
    window.panel.opacity_slider.setValue(35)
    app.processEvents()
    window.grab().save(str(out / "review.png"))


def comparison_state(app, window, out: Path) -> None:
    """comparison_grid.png: every map of the image side by side (Grad-CAM and the paper's five
    methods, plus the CrossEAI step's Guided Backprop), zoomed in together (View > Comparison
    grid; one cell zoomed and panned, the others follow)."""
    from medxai_desktop.core.explain import PAPER_METHODS

    methods = ["gradcam", *PAPER_METHODS]
    window.tabs.setCurrentWidget(window.canvas)
    window.panel.set_checked_methods(methods)
    window.run_explanations(methods)
    wait_until(app, lambda: set(methods) <= set(window.explanations) and window.panel.run_button.isEnabled(),
               timeout=300, what="the six maps")
    window.panel.threshold_slider.setValue(30)
    window.show_comparison()
    app.processEvents()
    h, w = window.image.shape
    first = window.grid.views()[0]
    first.zoom_by(1.5)
    first.centerOn(w * 0.5, h * 0.45)
    app.processEvents()
    window.grab().save(str(out / "comparison_grid.png"))
    window.tabs.setCurrentWidget(window.canvas)


def cine_state(app, window, out: Path) -> None:
    """cine.png: pydicom's 10-frame MR (emri_small.dcm), a CT and another MR, each series row with
    its thumbnail (the middle image, of the multi-frame MR its middle frame), cine playing the
    MR's frames at 10 per second."""
    import shutil

    from PySide6.QtCore import Qt
    from pydicom.data import get_testdata_file

    from medxai_desktop.app.thumbnails import STATE_ROLE

    folder = Path(tempfile.mkdtemp(prefix="medxai-series-"))
    for name in ("emri_small.dcm", "CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name, download=False), folder / name)
    window.tabs.setCurrentWidget(window.canvas)
    window.resizeDocks([window.browser_dock, window.review_dock], [340, 460], Qt.Orientation.Vertical)
    window.open_path(folder)
    wait_until(app, lambda: window.image is not None and window.image.source.parent == folder, what="the series")
    names = [r.path.name for r in window.browser.image_refs()]
    window.browser.select_index(names.index("emri_small.dcm"))
    wait_until(app, lambda: window.image.source.name == "emri_small.dcm", what="the multi-frame MR")
    for row in window.thumbnails.series_rows(visible_only=False):
        row.setExpanded(row.child(0).text(0).startswith("emri_small"))   # the MR's file row, the others folded
    wait_until(app, lambda: len(rows := window.thumbnails.series_rows()) == 3 and all(
        row.data(0, STATE_ROLE) == "shown" for row in rows), what="three series thumbnails")
    window.cine.rate_box.setValue(10)
    window.cine.play()
    wait_until(app, lambda: window.image.frame >= 4, what="cine at the fifth frame")
    window.grab().save(str(out / "cine.png"))
    window.cine.pause()


def measurements_state(app, window, out: Path) -> None:
    """measurements.png: a CT (pydicom's CT_small.dcm, PixelSpacing 0.66 mm) with a length and an
    ellipse and a rectangle ROI, each drawn by its tool and a mouse drag: mm through the spacing,
    HU statistics beside each shape and in the Measurements list."""
    import shutil

    from PySide6.QtCore import Qt
    from pydicom.data import get_testdata_file

    from tests.app_helpers import send_mouse

    folder = Path(tempfile.mkdtemp(prefix="medxai-ct-"))
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), folder / "CT_small.dcm")
    window.tabs.setCurrentWidget(window.canvas)
    window.open_path(folder)
    wait_until(app, lambda: window.image is not None and window.image.source.parent == folder
               and window.measure.loaded, what="the CT and its measurements")
    canvas = window.canvas
    soft = [i for i, preset in enumerate(canvas.presets) if preset.name == "Soft tissue"]
    if soft:
        canvas.apply_preset(soft[0])
    for kind, start, end in (("length", (18, 64), (58, 40)), ("ellipse", (84, 80), (112, 102)),
                             ("rectangle", (20, 90), (44, 106))):
        window.measure.arm(kind)
        a, b = (canvas.viewportTransform().map(_point(*p)) for p in (start, end))
        send_mouse(canvas.viewport(), "press", a)
        for i in range(1, 6):
            send_mouse(canvas.viewport(), "move", a + (b - a) * (i / 5), buttons=Qt.MouseButton.LeftButton)
        send_mouse(canvas.viewport(), "release", b)
        app.processEvents()
    wait_until(app, lambda: len(window.measure.shown()) == 3, what="the three measurements")
    window.measure.dock.raise_()
    window.measure.editor.select(window.measure.shown()[1].measurement_id)
    app.processEvents()
    window.grab().save(str(out / "measurements.png"))


def _point(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--image", default="meningioma_1.jpg", help="sample image to show")
    parser.add_argument("--only", choices=["measurements"], help="take this screenshot only")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.core.models import load_model, random_model
    from medxai_desktop.core.resources import demo_model_card, sample_study_dir
    from medxai_desktop.core.store import ReviewStore

    app = QApplication([sys.argv[0]])
    app.setApplicationName("MedXAI Desktop")
    tmp = Path(tempfile.mkdtemp(prefix="medxai-shots-"))
    store = ReviewStore(f"sqlite:///{tmp / 'reviews.sqlite3'}", cache_dir=tmp / "maps")
    window = MainWindow(store, device="cpu")
    window.resize(1500, 940)
    window.show()
    card = demo_model_card()
    if card is not None:
        window.set_model(load_model(card, "cpu"), str(card))
    else:
        window.set_model(random_model("resnet18", ["glioma", "meningioma", "pituitary", "no_tumor"],
                                      seed=0, device="cpu"))
    if args.only == "measurements":
        measurements_state(app, window, out)
        print(out / "measurements.png")
        window.close()
        return 0
    window.open_path(sample_study_dir())
    wait_until(app, lambda: window.browser.image_refs(), what="the study to be listed")
    from medxai_desktop.app.thumbnails import STATE_ROLE
    wait_until(app, lambda: (rows := window.thumbnails.series_rows()) and all(
        row.data(0, STATE_ROLE) == "shown" for row in rows), what="the series thumbnail")
    names = [r.path.name for r in window.browser.image_refs()]
    window.browser.select_index(names.index(args.image) if args.image in names else 0)
    wait_until(app, lambda: window.image is not None and window.image.source.name == names[
        window.browser.current_index()] and window.prediction is not None, what="the image and prediction")
    # put the cursor readout on a pixel, as a moving mouse would
    from tests.app_helpers import send_mouse
    h, w = window.image.shape
    send_mouse(window.canvas.viewport(), "move", window.canvas.scene_point_to_view(w // 2, h // 3),
               buttons=Qt.MouseButton.NoButton)
    app.processEvents()
    window.grab().save(str(out / "main_window.png"))

    window.panel.set_checked_methods(["gradcam++", "layercam"])
    window.panel.run_button.click()
    wait_until(app, lambda: len(window.explanations) == 2 and window.panel.run_button.isEnabled(),
               timeout=120, what="the explanations")
    window.panel.opacity_slider.setValue(50)
    window.panel.threshold_slider.setValue(40)
    app.processEvents()
    window.grab().save(str(out / "explanations.png"))

    window.panel.maps_list.clearSelection()
    window.canvas.set_heatmap(None)
    for key in (Qt.Key.Key_3,):   # the 5-95 % percentile preset (a JPEG has no CT windows)
        app.sendEvent(window.canvas, QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier))
    app.processEvents()
    window.grab().save(str(out / "wl_preset.png"))

    review_state(app, window, out)
    comparison_state(app, window, out)
    cine_state(app, window, out)
    measurements_state(app, window, out)

    for name in ("main_window.png", "explanations.png", "wl_preset.png", "crosseai_preview.png", "review.png",
                 "comparison_grid.png", "cine.png", "measurements.png"):
        print(out / name)
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
