"""What starting the desktop application takes: its command line, the GUI's reserved core,
the review store, the settings, the reviewer's name and the main window. Shared by
``medxai-desktop`` (app/main.py) and its GUI smoke test (app/smoke.py)."""
from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medxai-desktop", description="MedXAI Desktop (not for clinical use)")
    parser.add_argument("path", nargs="?", help="a folder, DICOMDIR or image file (default: the sample study)")
    parser.add_argument("--db", help="review database URL (default: $MEDXAI_DB, else SQLite in the user's data folder)")
    parser.add_argument("--model", help="model card JSON (default: the bundled demo model, if any)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps")
    parser.add_argument("--reviewer", help="the reviewer's name, recorded with every review (saved; "
                                           "default: the saved name, asked on first start)")
    parser.add_argument("--settings", metavar="INI", help="settings file (default: the user's MedXAI Desktop settings)")
    checks = parser.add_argument_group("installation checks (exit 0 when they pass)")
    checks.add_argument("--self-test", action="store_true",
                        help="headless: demo model, sample study, five CAMs + CrossEAI, HTML report")
    checks.add_argument("--smoke-gui", action="store_true",
                        help="start the window (offscreen without a display), open the study, wait for the "
                             "first image and prediction, quit")
    checks.add_argument("--report-dir", metavar="DIR", help="--self-test: report folder (default: a temporary one)")
    return parser


def reserve_gui_core() -> int:
    """Leave one CPU core to the GUI thread: torch's intra-op threads spin on every core they
    have, and on a small machine the event loop then stalls (benchmarks/bench_gui.py measures
    it). Returns torch's new thread count."""
    import os

    import torch

    threads = max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1))
    torch.set_num_threads(threads)
    return threads


def open_store(url: str | None):
    """The review store, or (None, reason) when it cannot be opened: the viewer still works."""
    from medxai_desktop.core.store import ReviewStore, default_db_url

    try:
        return ReviewStore(url or default_db_url()), None
    except Exception as exc:  # noqa: BLE001 - shown in the log, not a crash
        return None, f"review store not available ({exc}); reviews will not be saved"


def open_settings(path: str | None = None):
    from .settings import AppSettings

    return AppSettings.at(path) if path else AppSettings.user()


def resolve_reviewer(args, settings, ask=None) -> str:
    """``--reviewer`` (saved), else the saved name, else ask once (saved); the OS user name
    when the question is cancelled (asked again next start)."""
    if args.reviewer and args.reviewer.strip():
        settings.reviewer = args.reviewer
        return settings.reviewer
    if settings.reviewer:
        return settings.reviewer
    from .main_window import os_user

    name = (ask or ask_reviewer)(os_user())
    if name and name.strip():
        settings.reviewer = name
        settings.sync()
        return settings.reviewer
    return os_user()


def ask_reviewer(suggestion: str) -> str | None:
    from PySide6.QtWidgets import QInputDialog

    name, ok = QInputDialog.getText(None, "MedXAI Desktop - reviewer",
                                    "Your name, recorded with every box you review:", text=suggestion)
    return name if ok else None


def create_window(args, store=None, store_error=None, settings=None, reviewer: str = ""):
    """The main window, opening ``args.path`` (else the sample study) and the model card."""
    from medxai_desktop.core.resources import demo_model_card, sample_study_dir

    from .main_window import MainWindow

    window = MainWindow(store, device=args.device, settings=settings, reviewer=reviewer)
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
    if args.path:
        window.open_path(args.path)
    elif not window.resume.resume():       # where the reviewer left off, else the sample study
        window.open_path(sample_study_dir(), remember=False)
    return window
