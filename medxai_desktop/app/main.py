"""``medxai-desktop [PATH] [--db URL] [--model CARD] [--device DEV] [--reviewer NAME] [--settings INI]``:
the desktop application."""
from __future__ import annotations

import os
import sys

from .startup import (  # noqa: F401 (the start-up API, re-exported for scripts and benchmarks)
    ask_reviewer,
    build_parser,
    create_window,
    open_settings,
    open_store,
    reserve_gui_core,
    resolve_reviewer,
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test or args.smoke_gui:
        if args.self_test:
            from medxai_desktop import self_test

            return self_test.main(args.report_dir, args.device)
        from .smoke import smoke_gui

        return smoke_gui(args)
    from .platform_check import problem

    missing = problem()
    if missing:
        print(missing, file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from .dock_layout import fit_to_screen
    from .settings import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    settings = open_settings(args.settings)
    reviewer = resolve_reviewer(args, settings)
    store, store_error = open_store(args.db)
    window = create_window(args, store, store_error, settings, reviewer)
    # torch is imported on the model worker, after the window is painted (benchmarks/bench_gui.py)
    window.jobs.submit("reserve a core for the GUI", lambda progress, cancelled: reserve_gui_core(), model=True)
    fit_to_screen(window)     # the saved geometry, if any, replaces this when shown
    window.show()
    from .startup_probe import install

    probe = install(window)  # noqa: F841 (kept alive with the window)
    code = app.exec()
    # Settings are synced and the store closed (MainWindow.closeEvent). A computation that could
    # not stop at once (importing torch, one long forward pass) would hold Qt's exit, and the
    # interpreter's teardown of torch takes seconds: leave now (quit < 1 s, bench_gui.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
