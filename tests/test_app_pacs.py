"""The PACS dock against a real Orthanc: search, Retrieve in the background (the window stays
live), the study opening in the browser, Export > Send boxes to PACS, errors in the notice."""
from __future__ import annotations

import pytest

from tests import orthanc_server as orth
from tests.app_helpers import CLASSES  # noqa: F401 (sets QT_QPA_PLATFORM before Qt starts)

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    yield from orth.running_orthanc(tmp_path_factory)


@pytest.fixture
def window(qtbot, tmp_path, orthanc, monkeypatch):
    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.core.pacs import Node, save_nodes
    from medxai_desktop.core.store import ReviewStore

    monkeypatch.setenv("MEDXAI_PACS_NODES", str(tmp_path / "nodes.json"))
    monkeypatch.setenv("MEDXAI_PACS_CACHE", str(tmp_path / "cache"))
    save_nodes({"hospital": Node("hospital", ae_title=orth.ORTHANC_AET, host="127.0.0.1",
                                 port=orthanc.dicom_port, calling_ae=orth.OUR_AET, timeout=5)})
    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    window = MainWindow(store, device="cpu")
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.pacs_dock.show()
    window.pacs_dock.raise_()
    errors: list[str] = []
    monkeypatch.setattr(window, "error", errors.append)
    window.errors = errors
    yield window
    window.jobs.cancel_all()
    window.jobs.wait(5000)
    store.close()


def test_dock_finds_retrieves_opens_and_sends_boxes_back(qtbot, window, orthanc):
    from medxai_desktop.app.pacs_dock import send_boxes_to_pacs
    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.store import SIGNED_OFF
    from medxai_desktop.core.store.pacs_log import sent_log, sources_of

    panel = window.pacs
    assert panel.node_combo.currentText() == "hospital"
    panel.fields["accession"].setText("ACC-SYN")
    panel.search()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=10000)
    assert [panel.table.item(0, c).text() for c in (0, 5)] == ["Synthetic Study", "6"]
    panel.retrieve()
    assert panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.image is not None, timeout=20000)
    assert not window.errors and panel.progress.value() == 100
    image_path = window.ref.path
    assert [s.node for s in sources_of(window.store, image_path.stem)] == ["hospital"]
    window.store.add_box(window.image_id, Box(4, 4, 30, 30), "nodule", window.reviewer)
    window.store.set_status(window.image_id, SIGNED_OFF, window.reviewer)
    handle = send_boxes_to_pacs(window, "hospital")
    qtbot.waitUntil(lambda: handle.done, timeout=20000)
    assert not window.errors
    [sent] = sent_log(window.store, "hospital")
    assert sent.kind == "sr" and sent.sent_by == window.reviewer


def test_dock_errors_go_to_the_notice(qtbot, window):
    panel = window.pacs
    panel.node_combo.setCurrentText("nowhere")
    panel.search()
    assert window.errors and "unknown PACS node 'nowhere'" in window.errors[-1]
    panel.node_combo.setCurrentText(f"STRANGER@127.0.0.1:{orth.free_port()}")
    panel.test()
    qtbot.waitUntil(lambda: len(window.errors) == 2, timeout=10000)
    assert "refused" in window.errors[-1]
