"""Imports in short transactions (issue 14 defect 4): a long import never keeps a reviewer's
edit waiting for long, and stays all-or-nothing to every reader -- a failed, interrupted or
killed import leaves nothing behind, on SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.store import ReviewStore, StoreError, imports
from medxai_desktop.core.store.schema import imports as imports_table
from medxai_desktop.core.store.schema import utcnow


class _Card:
    """Enough of a ModelCard for add_model (the real one would import torch)."""
    arch, sha256, card_hash = "resnet18", None, "c" * 64

    def to_dict(self):
        return {"arch": self.arch}


def _existing(store: ReviewStore) -> int:
    """A store in use: an image with proposals, an edit, a drawn box, an earlier import."""
    image_id = store.add_image(ImageRecord("known.png", 100, 100))
    run_id = store.record_run(store.add_model(_Card()), "crosseai")
    [box_id] = store.add_proposals(image_id, run_id, [BoxProposal(Box(1, 1, 9, 9), 0.5, "x", "crosseai")])
    store.accept(box_id, "ann", 0)
    store.add_box(image_id, Box(2, 2, 8, 8), "Mass", "ann")
    store.import_annotations(AnnotationSet([ImageRecord("earlier.png", 50, 50)],
                                           [BoxRecord("earlier.png", "Nodule", Box(1, 2, 3, 4))]),
                             "ann", "earlier.csv")
    return image_id


def _new_set(n_boxes: int = 4, broken: bool = False) -> AnnotationSet:
    """New images (one with DICOM UIDs: a new study and series), the known image, boxes on all;
    ``broken``: a last box naming an image nobody knows."""
    images = [ImageRecord("new-a.png", 64, 64), ImageRecord("known.png", 100, 100),
              ImageRecord("new-b.dcm", 64, 64, study_uid="1.2.9", series_uid="1.2.9.1", sop_uid="1.2.9.1.1")]
    boxes = [BoxRecord(images[i % 3].key, "Mass", Box(i, i, i + 5, i + 5)) for i in range(n_boxes)]
    if broken:
        boxes.append(BoxRecord("nowhere.png", "Mass", Box(1, 1, 2, 2)))
    return AnnotationSet(images, boxes)


def _seen(store: ReviewStore) -> tuple:
    """Everything a reader, a report or an export sees."""
    both = store.both_annotations()
    return (store.images(), [(b.image_key, b.label, b.box, b.kind, b.state) for b in both.boxes],
            [(e.id, e.action) for e in store.audit_log()],
            [store.latest_boxes(i.id) for i in store.images()])


@pytest.fixture
def every_item_a_batch(monkeypatch):
    """Each image and box of an import its own transaction; ``at_pause[n]`` runs between the
    n-th and the next (outside any transaction)."""
    monkeypatch.setattr(imports, "BATCH_SECONDS", 0.0)
    at_pause: dict[int, callable] = {}
    calls = [0]
    original = imports._pause

    def pause(engine):
        calls[0] += 1
        if calls[0] in at_pause:
            at_pause[calls[0]]()
        original(engine)
    monkeypatch.setattr(imports, "_pause", pause)
    return at_pause


def test_a_successful_import_is_shown_whole(store, every_item_a_batch):
    _existing(store)
    before = _seen(store)
    with ReviewStore(store.url, upgrade=False) as reader:
        midway = []
        every_item_a_batch[5] = lambda: midway.append(_seen(reader))
        summary = store.import_annotations(_new_set(), "newcomer", "new.csv")
    assert midway == [before]  # 5 batches committed, nothing of them shown
    assert (summary.images_added, summary.images_matched, summary.boxes_added) == (2, 1, 4)
    reference = store.reference_annotations()
    assert sum(b.extra["source"] == "new.csv" for b in reference.boxes) == 4
    assert len(store.images()) == 4
    [entry] = store.audit_log(action="annotations.import")[1:]
    assert entry.entity_id is not None and entry.details["boxes_added"] == 4
    assert len(store.audit_log(action="box.import")) == 5
    with store.engine.connect() as c:
        assert c.execute(select(imports_table.c.state)).scalars().all() == ["committed"] * 2


@pytest.mark.parametrize("failure", ["error", "interrupt"])
def test_an_import_failing_part_way_leaves_the_database_as_it_was(store, every_item_a_batch, failure):
    _existing(store)
    before, counts = _seen(store), store.info()["counts"]
    with ReviewStore(store.url, upgrade=False) as reader:
        midway = []
        every_item_a_batch[6] = lambda: midway.append((_seen(reader), reader.info()["counts"]))
        if failure == "error":  # the last box names an unknown image, after 7 committed batches
            with pytest.raises(StoreError, match="nowhere.png"):
                store.import_annotations(_new_set(broken=True), "newcomer", "broken.csv")
        else:  # Ctrl-C between two batches
            def interrupt():
                raise KeyboardInterrupt
            every_item_a_batch[7] = interrupt
            with pytest.raises(KeyboardInterrupt):
                store.import_annotations(_new_set(), "newcomer", "broken.csv")
    [(seen_midway, counts_midway)] = midway
    assert seen_midway == before
    assert counts_midway["boxes"] > counts["boxes"]  # rows were written, in batches...
    assert _seen(store) == before                     # ...and none of them is left
    assert store.info()["counts"] == counts           # (imports, reviewers, studies, series too)
    assert store.import_annotations(_new_set(), "newcomer", "again.csv").boxes_added == 4


def test_rows_somebody_else_uses_meanwhile_stay_when_the_import_fails(store, every_item_a_batch):
    image_id = _existing(store)
    with ReviewStore(store.url, upgrade=False) as other:
        def meanwhile():  # the importer's new image, study and reviewer, used by another writer
            uses = other.add_image(ImageRecord("new-b.dcm", 64, 64, study_uid="1.2.9",
                                               series_uid="1.2.9.1", sop_uid="1.2.9.1.1"))
            other.add_box(uses, Box(0, 0, 4, 4), "Mass", "newcomer")
            other.set_status(image_id, "in_review", "newcomer")
        every_item_a_batch[6] = meanwhile
        with pytest.raises(StoreError, match="nowhere.png"):
            store.import_annotations(_new_set(broken=True), "newcomer", "broken.csv")
    keys = [i.key for i in store.images()]
    assert keys == ["known.png", "earlier.png", "new-b.dcm"]
    [kept] = [i for i in store.images() if i.key == "new-b.dcm"]
    assert (kept.study_uid, kept.series_uid) == ("1.2.9", "1.2.9.1")
    assert [(b.label, b.reviewer, b.origin) for b in store.latest_boxes(kept.id)] == [("Mass", "newcomer", "drawn")]
    assert store.status(image_id).reviewer == "newcomer"


def test_a_committed_import_is_final_and_its_history_append_only(store):
    _existing(store)
    for statement in ("DELETE FROM box_revisions", "DELETE FROM audit_log", "DELETE FROM imports",
                      "UPDATE imports SET state = 'failed'"):
        with pytest.raises(DBAPIError, match="append-only|final"):
            with store.engine.begin() as connection:
                connection.execute(text(statement))


def _pending(store: ReviewStore, host: str, pid: int, age: timedelta) -> int:
    with store.engine.begin() as c:
        return c.execute(insert(imports_table).values(
            state="pending", source="x.csv", host=host, pid=pid, started_at=utcnow() - age,
            heartbeat_at=utcnow() - age)).inserted_primary_key[0]


def test_only_imports_of_gone_or_silent_processes_are_cleaned_up(store):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    fresh, old = timedelta(seconds=5), imports.STALE_AFTER + timedelta(minutes=1)
    running = _pending(store, imports.HOST, os.getpid(), fresh)      # this process: importing
    kept = {running, _pending(store, "elsewhere", 12345, fresh)}    # another machine, alive
    _pending(store, "elsewhere", 12345, old)                         # another machine, silent
    _pending(store, imports.HOST, int(finished.stdout), fresh)       # a process that is gone
    _pending(store, imports.HOST, os.getpid(), fresh)                # this process, given up (issue 23)
    imports._running.add((str(store.engine.url), running))
    try:
        ReviewStore(store.url, upgrade=False).close()
    finally:
        imports._running.discard((str(store.engine.url), running))
    with store.engine.connect() as c:
        assert set(c.execute(select(imports_table.c.id)).scalars()) == kept


# -- a process killed part-way ------------------------------------------------------------------

IMPORTER = r'''
import sys
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.store import ReviewStore, imports

url, n, batch_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
imports.BATCH_SECONDS = batch_seconds
images = [ImageRecord(f"big-{i}.png", 1024, 1024) for i in range(max(1, n // 10))]
boxes = [BoxRecord(images[i // 10].key, "Mass", Box(i % 10, 0, 20 + i % 10, 20)) for i in range(n)]
with ReviewStore(url, upgrade=False) as store:
    print("importing", flush=True)
    summary = store.import_annotations(AnnotationSet(images, boxes), "importer", "big.csv")
    print("imported", summary.boxes_added, flush=True)
'''


def _importer(url: str, n: int, batch_seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", IMPORTER, url, str(n), str(batch_seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "importing"
    return process


def _marked_boxes(store: ReviewStore) -> int:
    with store.engine.connect() as c:
        return c.execute(text("SELECT COUNT(*) FROM boxes WHERE import_id IS NOT NULL")).scalar_one()


def test_a_killed_import_is_invisible_and_removed_at_the_next_open(store):
    _existing(store)
    before, counts = _seen(store), store.info()["counts"]
    process = _importer(store.url, 2000, 0.01)
    deadline = time.monotonic() + 60
    while _marked_boxes(store) < 1 + 50 and time.monotonic() < deadline:  # (1: the earlier import's)
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert _marked_boxes(store) > 50 and _seen(store) == before  # written, but not shown
    ReviewStore(store.url, upgrade=False).close()                # the next open cleans up
    assert store.info()["counts"] == counts and _seen(store) == before


# -- a long import and a reviewer's edit at the same time (SQLite's one write lock) --------------

def _longest_lock_hold(path, stop: threading.Event, result: list) -> None:
    """How long, at most, the write lock was held: BEGIN IMMEDIATE tried every 5 ms, no waiting."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as connection:
        longest, since = 0.0, None
        while not stop.is_set():
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                if since is not None:
                    longest, since = max(longest, time.monotonic() - since), None
            except sqlite3.OperationalError:
                since = since or time.monotonic()
            time.sleep(0.005)
    result.append(longest)


def test_an_edit_during_a_20000_box_import_waits_well_under_the_busy_timeout(tmp_path):
    path = tmp_path / "reviews.sqlite3"
    url = f"sqlite:///{path}"
    with ReviewStore(url) as store:
        image_id = store.add_image(ImageRecord("being-read.png", 100, 100))
        mine = store.add_box(image_id, Box(0, 0, 5, 5), "Mass", "reviewer")
    stop, hold = threading.Event(), []
    prober = threading.Thread(target=_longest_lock_hold, args=(path, stop, hold))
    process = _importer(url, 20_000, imports.BATCH_SECONDS)
    prober.start()
    latencies, revision = [], mine.revision
    try:
        with ReviewStore(url, upgrade=False) as store:
            while process.poll() is None:
                started = time.monotonic()
                revision = store.revise_box(mine.box_id, reviewer="reviewer", expected_revision=revision,
                                            box=Box(0, 0, 5, 5 + revision % 7)).revision
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)
    finally:
        stop.set()
        prober.join()
        process.wait(300)
    assert process.returncode == 0 and process.stdout.read().split() == ["imported", "20000"]
    print(f"edits during the import: {len(latencies)}, longest edit {max(latencies):.2f} s, "
          f"longest write-lock hold {hold[0]:.2f} s")
    assert len(latencies) >= 3
    assert max(latencies) < 5.0    # SQLite's busy timeout (30 s) is far away
    assert hold[0] < 3.0           # batches of about BATCH_SECONDS
    with ReviewStore(url) as store:
        assert len(store.history(mine.box_id)) == revision
        assert len(store.reference_annotations().boxes) == 20_001


def test_a_database_of_revision_0001_upgrades_with_its_reviews_and_back(db_url):
    from alembic import command

    from medxai_desktop.core.store.database import make_engine
    from medxai_desktop.core.store.migrate import _config, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as c:  # a review made before batched imports
            c.execute(text("INSERT INTO reviewers (name, created_at) VALUES ('ann', CURRENT_TIMESTAMP)"))
            c.execute(text("INSERT INTO images (identity, key, frame, width, height, created_at) "
                           "VALUES ('i', 'old.png', 0, 10, 10, CURRENT_TIMESTAMP)"))
            c.execute(text("INSERT INTO boxes (image_id, origin, created_at) VALUES (1, 'drawn', CURRENT_TIMESTAMP)"))
            c.execute(text("INSERT INTO box_revisions (box_id, revision, x0, y0, x1, y1, label, state, action, "
                           "reviewer_id, created_at) VALUES (1, 1, 0, 0, 5, 5, 'Mass', 'added', 'add', 1, "
                           "CURRENT_TIMESTAMP)"))
        with ReviewStore(db_url) as store:  # upgrades
            assert [(b.label, b.reviewer) for b in store.latest_boxes(1)] == [("Mass", "ann")]
            store.import_annotations(_new_set(), "ann", "new.csv")
            assert len(store.reference_annotations().boxes) == 5
        with engine.begin() as c:  # and down again: the reviews stay, history append-only
            config = _config()
            config.attributes["connection"] = c
            command.downgrade(config, "0001")
        with engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
            assert c.execute(text("SELECT COUNT(*) FROM box_revisions")).scalar() == 5
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as c:
                c.execute(text("DELETE FROM box_revisions"))
        assert upgrade(engine)[0] == "0001"
    finally:
        engine.dispose()
