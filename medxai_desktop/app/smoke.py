"""``medxai-desktop --smoke-gui``: the window starts, opens a study, shows the first image and
its prediction, and quits; used by packaging/smoke on the frozen bundle and by the tests."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from medxai_desktop.self_test import forbid_network, process_age


def smoke_gui(args=None, timeout: float = 120.0) -> int:
    """Start the desktop app with ``args`` (``medxai-desktop`` options; default: none), open the
    sample study (or ``args.path``), wait until the first image is shown and predicted, print
    the times, quit. 0 on success, 1 on timeout. Offscreen when there is no display. Unless
    given, the review store and the settings are temporary files and the reviewer is "smoke
    test", so a smoke run asks nothing and changes nothing of the user's."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.environ.get("MEDXAI_FORBID_NETWORK") == "1":
        forbid_network()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .dock_layout import fit_to_screen
    from .settings import APPLICATION, ORGANISATION
    from .startup import build_parser, create_window, open_settings, open_store, reserve_gui_core

    args = args if args is not None else build_parser().parse_args([])
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    reserve_gui_core()   # as medxai-desktop does
    scratch = tempfile.TemporaryDirectory(prefix="medxai-smoke-")
    settings = open_settings(args.settings or str(Path(scratch.name) / "settings.ini"))
    store, store_error = open_store(args.db or f"sqlite:///{Path(scratch.name) / 'reviews.sqlite3'}")
    window = create_window(args, store, store_error, settings=settings, reviewer=args.reviewer or "smoke test")
    fit_to_screen(window)
    window.show()
    app.processEvents()
    shown = process_age()
    print(f"window shown {shown:.2f} s after the process started (Qt platform {app.platformName()})",
          flush=True)
    outcome: dict = {}
    deadline = shown + timeout

    def poll() -> None:
        elapsed = process_age()
        if "image" not in outcome and window.image is not None:
            outcome["image"] = elapsed
            print(f"first image shown after {elapsed:.2f} s: {window.ref.path.name}", flush=True)
        if "image" in outcome and window.prediction is not None:
            outcome["prediction"] = elapsed
            print(f"prediction shown after {elapsed:.2f} s: {window.prediction.class_name}", flush=True)
            app.quit()
        elif elapsed > deadline:
            app.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    app.exec()
    timer.stop()
    window.close()
    scratch.cleanup()
    if "prediction" not in outcome:
        waiting = "first image" if "image" not in outcome else "prediction"
        print(f"medxai-desktop --smoke-gui: FAILED: no {waiting} after {timeout:.0f} s", file=sys.stderr)
        return 1
    print(f"GUI smoke PASSED: window {shown:.2f} s, first image {outcome['image']:.2f} s, "
          f"prediction {outcome['prediction']:.2f} s after the process started", flush=True)
    return 0
