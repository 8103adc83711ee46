"""Starting the desktop app (issue 15 defects 10 and 12): the database it opens ($MEDXAI_DB, as
the CLI), the system libraries Qt's xcb plugin needs named before Qt could abort, and the window
painted before torch is imported."""
from __future__ import annotations

import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from medxai_desktop.app import platform_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_app_opens_the_database_named_by_medxai_db(qtbot, tmp_path, monkeypatch):
    from medxai_desktop.app.startup import create_window, open_store

    url = f"sqlite:///{tmp_path / 'from_env.sqlite3'}"
    monkeypatch.setenv("MEDXAI_DB", url)
    store, error = open_store(None)                      # no --db: the environment decides
    assert error is None and store.url == url and (tmp_path / "from_env.sqlite3").exists()
    args = Namespace(path=None, device="cpu", model=None)
    monkeypatch.setattr("medxai_desktop.core.resources.demo_model_card", lambda: None)
    window = create_window(args, store, None, None, "Dr Test")
    qtbot.addWidget(window)
    assert any(str(tmp_path / "from_env.sqlite3") in m for _, m in window.log.entries)
    store.close()


def test_the_cli_reads_medxai_db_too(tmp_path, monkeypatch, capsys):
    from medxai_desktop.cli import main

    monkeypatch.setenv("MEDXAI_DB", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    main(["db", "info"])     # refuses to create a missing database, naming the one it would open
    assert str(tmp_path / "cli.sqlite3") in capsys.readouterr().err


LDD_MISSING = """\
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x2)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
"""


def test_missing_xcb_libraries_are_named_with_their_packages(monkeypatch):
    assert platform_check.missing_sonames(LDD_MISSING) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setattr(platform_check.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, LDD_MISSING, ""))
    message = platform_check.problem({"DISPLAY": ":0"})
    if platform_check.xcb_plugin() is None or not sys.platform.startswith("linux"):
        pytest.skip("no xcb plugin in this PySide6 build")
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in message
    assert platform_check.problem({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}) is None


def test_medxai_desktop_says_what_is_missing_instead_of_a_qt_abort(tmp_path):
    """The real entry point with an ldd that reports two libraries missing: one line, exit 1."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldd").write_text(f"#!/bin/sh\ncat <<'X'\n{LDD_MISSING}X\n")
    (fake / "ldd").chmod(0o755)
    if platform_check.xcb_plugin() is None or not sys.platform.startswith("linux"):
        pytest.skip("no xcb plugin in this PySide6 build")
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "DISPLAY": ":99", "QT_QPA_PLATFORM": ""}
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "medxai_desktop.app.main"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert "missing system libraries libxcb-icccm.so.4, libxcb-keysyms.so.1" in done.stderr
    assert "Aborted" not in done.stderr and "Traceback" not in done.stderr


GUARD = """
import importlib.abc, sys, threading
from pathlib import Path
MAIN, MARKS = threading.get_ident(), Path(sys.argv[1])
class TorchOnTheGuiThreadBeforePaint(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "torchvision") and threading.get_ident() == MAIN and \\
                "painted" not in (MARKS.read_text() if MARKS.exists() else ""):
            print(f"GUARD: {name} imported on the GUI thread before the window was painted", file=sys.stderr)
            raise ImportError(name)
sys.meta_path.insert(0, TorchOnTheGuiThreadBeforePaint())
from medxai_desktop.app.main import main
main(sys.argv[2:])
"""


def test_the_window_paints_before_torch_is_imported_and_quits_at_once(tmp_path):
    """The real entry point: the GUI thread must not import torch before the window is painted
    with the sample study listed (torch loads on the model worker), the model still loads and
    predicts, and quitting when idle ends the process (timed in benchmarks/bench_gui.py)."""
    import json
    import time

    marks = tmp_path / "marks.jsonl"
    env = {**os.environ, "MEDXAI_STARTUP_PROBE": str(marks), "MEDXAI_STARTUP_PROBE_QUIT": "idle",
           "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", GUARD, str(marks), "--db", f"sqlite:///{tmp_path / 'r.sqlite3'}",
                           "--settings", str(tmp_path / "s.ini"), "--reviewer", "Dr Test", "--device", "cpu"],
                          env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    end = time.time()
    assert "GUARD" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    events = {e["event"]: e["time"] for e in map(json.loads, marks.read_text().splitlines())}
    assert list(events) == ["painted", "idle", "close"] and done.returncode == 0
    assert events["painted"] < events["idle"] and end - events["close"] < 20   # generous: a loaded CI machine
