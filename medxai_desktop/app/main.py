"""``medxai-desktop [PATH] [--db URL] [--model CARD] [--device DEV]``: the desktop application."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medxai-desktop", description="MedXAI Desktop (not for clinical use)")
    parser.add_argument("path", nargs="?", help="a folder, DICOMDIR or image file (default: the sample study)")
    parser.add_argument("--db", help="review database URL (default: SQLite in the user's data folder)")
    parser.add_argument("--model", help="model card JSON (default: the bundled demo model, if any)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps")
    return parser


def open_store(url: str | None):
    """The review store, or (None, reason) when it cannot be opened: the viewer still works."""
    from medxai_desktop.core.store import ReviewStore, default_db_url

    try:
        return ReviewStore(url or default_db_url()), None
    except Exception as exc:  # noqa: BLE001 - shown in the log, not a crash
        return None, f"review store not available ({exc}); reviews will not be saved"


def create_window(args, store=None, store_error=None):
    """The main window, opening ``args.path`` (else the sample study) and the model card."""
    from medxai_desktop.core.resources import demo_model_card, sample_study_dir

    from .main_window import MainWindow

    window = MainWindow(store, device=args.device)
    if store_error:
        window.error(store_error)
    elif store is not None:
        from medxai_desktop.core.store import mask_url
        window.info(f"review store: {mask_url(store.url)}")
    card = args.model or demo_model_card()
    if card is not None:
        window.load_model_card(card)
    else:
        window.info("no model loaded: File > Open model card... (no demo model is bundled yet)")
    window.open_path(args.path or sample_study_dir())
    return window


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("MedXAI Desktop")
    store, store_error = open_store(args.db)
    window = create_window(args, store, store_error)
    window.resize(1400, 900)
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
