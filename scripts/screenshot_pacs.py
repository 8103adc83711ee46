"""docs/screenshots/pacs.png: the PACS dock with search results from a test Orthanc (run under a
display or xvfb-run; needs Debian's orthanc and orthanc-dicomweb, as the PACS tests):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot_pacs.py [--out docs/screenshots]

Starts Orthanc in a temporary folder with pydicom's sample files and a synthetic 6-instance
study (tests/orthanc_server.py), searches every study, retrieves the synthetic one into a
temporary cache and opens it, then saves the window.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args()
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.core.pacs import Node, save_nodes
    from medxai_desktop.core.store import ReviewStore
    from scripts.screenshots import wait_until
    from tests import orthanc_server as orth

    scratch = Path(tempfile.mkdtemp(prefix="medxai-shot-"))
    os.environ["MEDXAI_PACS_NODES"] = str(scratch / "nodes.json")
    os.environ["MEDXAI_PACS_CACHE"] = str(scratch / "cache")
    server = orth.OrthancServer()
    server.start()
    try:
        for path in orth.sample_files().values():
            server.upload(path)
        for path in orth.synthetic_study(scratch / "study", 6)[1]:
            server.upload(path)
        save_nodes({"hospital-pacs": Node("hospital-pacs", ae_title=orth.ORTHANC_AET, host="127.0.0.1",
                                          port=server.dicom_port, calling_ae=orth.OUR_AET)})
        app = QApplication.instance() or QApplication([])
        store = ReviewStore(f"sqlite:///{scratch / 'reviews.sqlite3'}", cache_dir=scratch / "maps")
        window = MainWindow(store, device="cpu")
        window.resize(1500, 900)
        window.show()
        window.pacs_dock.raise_()
        panel = window.pacs
        panel.search()
        wait_until(app, lambda: panel.table.rowCount() >= 5, what="search results")
        row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == "Synthetic Study")
        panel.table.selectRow(row)
        panel.retrieve()
        wait_until(app, lambda: window.image is not None and panel.handle is None, what="the retrieved study")
        window.pacs_dock.raise_()
        window.resizeDocks([window.pacs_dock], [620], Qt.Orientation.Horizontal)
        wait_until(app, lambda: True)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out / "pacs.png"))
        print(out / "pacs.png")
        window.jobs.wait(30000)
        window.close()
        store.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
