"""Faults of the database under the store (issue 23, "not yet tried"):

- the PostgreSQL server stops in the middle of an edit and of an import: the call fails with one
  line naming the database and the reason, nothing committed before is lost, the half-done
  change is nowhere, and the same store works again once the server is back (it reconnects);
- two writers on one box on SQLite: the second gets a clear conflict, neither edit is lost or
  overwritten.

The PostgreSQL tests run a server of their own (stopping the session's would disturb others).
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import event, text

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.store import DatabaseUnavailable, ReviewStore, RevisionConflict, StoreError

from .conftest import PostgresServer, _postgres_bin


class _Card:
    """Enough of a ModelCard for add_model (the real one would import torch)."""
    arch, sha256, card_hash = "resnet18", None, "c" * 64

    def to_dict(self):
        return {"arch": self.arch}


@pytest.fixture(scope="module")
def own_server():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL fault tests SKIPPED: initdb/pg_ctl not found")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_store(own_server, tmp_path):
    url = own_server.url(own_server.new_database(), password="not-a-secret-pw")
    with ReviewStore(url, cache_dir=tmp_path / "maps") as store:
        yield store, own_server


def _one_box(store: ReviewStore) -> tuple[int, int]:
    image_id = store.add_image(ImageRecord("fault.png", 100, 100))
    run_id = store.record_run(store.add_model(_Card()), "crosseai")
    (box_id,) = store.add_proposals(image_id, run_id, [BoxProposal(Box(1, 1, 20, 20), 0.5, "x", "crosseai")])
    return image_id, box_id


def _halt_on(store: ReviewStore, server: PostgresServer, statement: str, after: int = 1) -> list[int]:
    """Stop the server just before the ``after``-th statement starting with ``statement`` is sent."""
    seen = [0]

    def before(_conn, _cursor, sql, *_args):
        if sql.lstrip().upper().startswith(statement):
            seen[0] += 1
            if seen[0] == after:
                server.halt()

    event.listen(store.engine, "before_cursor_execute", before)
    return seen


def _assert_one_line_naming_the_database(error: StoreError, store: ReviewStore, what: str) -> None:
    message = str(error)
    assert isinstance(error, DatabaseUnavailable), message
    assert "\n" not in message and len(message) < 400, message
    assert what in message and "127.0.0.1" in message and "not-a-secret-pw" not in message, message
    assert f"{what}: the database postgresql+psycopg://postgres:***@127.0.0.1:" in message, message
    assert "is unreachable (" in message and "what was saved before is kept" in message, message


@pytest.mark.postgresql
def test_postgres_stopped_in_the_middle_of_an_edit(pg_store):
    store, server = pg_store
    image_id, box_id = _one_box(store)
    first = store.revise_box(box_id, reviewer="ann", expected_revision=0, box=Box(2, 2, 30, 30))
    accepted = store.accept(box_id, "ann", expected_revision=first.revision)
    _halt_on(store, server, "INSERT INTO BOX_REVISIONS")
    try:
        with pytest.raises(StoreError) as caught:
            store.revise_box(box_id, reviewer="ann", expected_revision=accepted.revision, box=Box(3, 3, 40, 40))
        _assert_one_line_naming_the_database(caught.value, store, "revise_box")
        with pytest.raises(StoreError) as again:  # while it is down: the same clear error, at once
            store.latest_boxes(image_id)
        _assert_one_line_naming_the_database(again.value, store, "latest_boxes")
    finally:
        server.start_again()
    # nothing committed lost, the edit cut short nowhere, and the same store goes on
    assert [r.revision for r in store.history(box_id)] == [1, 2]
    (box,) = store.latest_boxes(image_id)
    assert (box.revision, box.state, box.box) == (2, "accepted", Box(2, 2, 30, 30))
    third = store.revise_box(box_id, reviewer="ann", expected_revision=2, box=Box(3, 3, 40, 40))
    assert third.revision == 3 and store.latest_boxes(image_id)[0].box == Box(3, 3, 40, 40)


def _annotations(n: int, tag: str) -> AnnotationSet:
    keys = [f"{tag}-{i}.png" for i in range(4)]
    boxes = [BoxRecord(keys[i % 4], "Mass", Box(i % 50, i // 50, 60 + i % 50, 60 + i // 50)) for i in range(n)]
    return AnnotationSet([ImageRecord(k, 100, 100) for k in keys], boxes)


@pytest.mark.postgresql
def test_postgres_stopped_in_the_middle_of_an_import(pg_store, monkeypatch):
    from medxai_desktop.core.store import imports

    store, server = pg_store
    image_id, box_id = _one_box(store)
    store.revise_box(box_id, reviewer="ann", expected_revision=0, state="accepted")
    store.import_annotations(_annotations(50, "kept"), "imp", "kept.csv")
    monkeypatch.setattr(imports, "BATCH_SECONDS", 0.0)   # a transaction per box: the stop lands between
    _halt_on(store, server, "INSERT INTO BOXES", after=120)
    try:
        with pytest.raises(StoreError) as caught:
            store.import_annotations(_annotations(300, "cut"), "imp", "cut.csv")
        _assert_one_line_naming_the_database(caught.value, store, "import_annotations")
    finally:
        server.start_again()
    assert [r.revision for r in store.history(box_id)] == [1]
    assert _imported(store) == {"kept.csv": 50}   # the cut import is nowhere
    assert _box_rows(store) > 51                    # (its rows are there, unseen, until cleaned up)
    summary = store.import_annotations(_annotations(300, "cut"), "imp", "cut.csv")   # again, whole
    assert summary.boxes_added == 300 and _imported(store) == {"kept.csv": 50, "cut.csv": 300}
    assert _box_rows(store) == 351                  # and what the cut one wrote is gone


def _imported(store: ReviewStore) -> dict[str, int]:
    return dict(Counter(b.extra["source"] for b in store.reference_annotations().boxes
                        if b.extra.get("origin") == "import"))


def _box_rows(store: ReviewStore) -> int:
    with store.engine.connect() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM boxes")).scalar()


def test_two_writers_on_one_box_on_sqlite_neither_edit_is_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'two.sqlite3'}"
    with ReviewStore(url) as setup:
        image_id, box_id = _one_box(setup)
    first, second = ReviewStore(url, upgrade=False), ReviewStore(url, upgrade=False)
    try:
        barrier, results = threading.Barrier(2), {}

        def write(name: str, store: ReviewStore, box: Box) -> None:
            barrier.wait(timeout=30)
            try:
                results[name] = store.revise_box(box_id, reviewer=name, expected_revision=0, box=box)
            except RevisionConflict as exc:
                results[name] = exc

        threads = [threading.Thread(target=write, args=("ann", first, Box(1, 1, 11, 11))),
                   threading.Thread(target=write, args=("bob", second, Box(2, 2, 22, 22)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        won = [name for name, r in results.items() if not isinstance(r, Exception)]
        lost = [r for r in results.values() if isinstance(r, RevisionConflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert str(lost[0]) == (f"box {box_id} is at revision 1 by {won[0]} (edited), not 0: "
                                "reload it and apply the change again")
        # the loser reloads and applies its change again: both edits are in the history
        loser = "bob" if won == ["ann"] else "ann"
        store = second if loser == "bob" else first
        store.revise_box(box_id, reviewer=loser, expected_revision=1, box=Box(5, 5, 55, 55))
        history = first.history(box_id)
        assert [(r.revision, r.reviewer) for r in history] == [(1, won[0]), (2, loser)]
        assert first.latest_boxes(image_id)[0].box == Box(5, 5, 55, 55)
    finally:
        first.close()
        second.close()


@pytest.mark.postgresql
def test_the_app_goes_on_while_postgres_is_down_and_reconnects(qtbot, own_server, tmp_path):
    """The desktop app on the stopped server: a refused edit is said in one line naming the
    database, nothing modal, the window goes on; once the server is back the next edit is saved."""
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import Qt

    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.core.resources import sample_study_dir

    from .test_app_review import click, key, stored, wait_review

    url = own_server.url(own_server.new_database(), password="not-a-secret-pw")
    window = MainWindow(ReviewStore(url, cache_dir=tmp_path / "maps"), device="cpu", reviewer="alice")
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.open_path(sample_study_dir())
    wait_review(qtbot, window)
    with ReviewStore(url, upgrade=False) as other:
        run_id = other.record_run(other.add_model(_Card()), "crosseai")
        (box_id,) = other.add_proposals(window.image_id, run_id, [
            BoxProposal(Box(100, 100, 200, 180), 0.8, "glioma", "crosseai")])
    review = window.review
    review.reload()
    qtbot.waitUntil(lambda: box_id in review.editor.items, timeout=10000)
    click(qtbot, window.canvas, 150, 140)
    assert review.editor.selected == box_id

    own_server.halt()
    try:
        key(qtbot, window, Qt.Key.Key_Right)   # nudge: refused, said, nothing modal
        errors = [m for level, m in window.log.entries if level == "error"]
        assert errors and "the database postgresql+psycopg://postgres:***@127.0.0.1:" in errors[0]
        assert "is unreachable" in errors[0] and "\n" not in errors[0]
        assert review.undo_stack.count() == 0 and window.isVisible()
    finally:
        own_server.start_again()
    qtbot.waitUntil(lambda: box_id in review.editor.items, timeout=10000)
    click(qtbot, window.canvas, 150, 140)
    key(qtbot, window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: stored(window)[box_id][0] == Box(101, 100, 201, 180), timeout=10000)
    assert review.undo_stack.count() == 1
