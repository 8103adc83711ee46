"""``medxai-desktop [PATH] [--db URL] [--model CARD] [--device DEV] [--reviewer NAME] [--settings INI]``:
the desktop application."""
from __future__ import annotations

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

    from .settings import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    settings = open_settings(args.settings)
    reserve_gui_core()
    reviewer = resolve_reviewer(args, settings)
    store, store_error = open_store(args.db)
    window = create_window(args, store, store_error, settings, reviewer)
    window.resize(1400, 900)     # the saved geometry, if any, replaces this when shown
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
