"""Two reviewers = two processes on one database: no edit is lost, conflicts are reported.

Each worker reports what the store told it: the revisions it committed and the conflicts it
was refused. Afterwards every committed revision must be in the database exactly as reported,
and the revisions of each box must be 1..n without gaps (nothing overwritten, nothing lost).
"""
from __future__ import annotations

import multiprocessing
import queue as queue_module

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import ImageRecord
from medxai_desktop.core.store import ReviewStore, RevisionConflict

OWN_EDITS = 40      # per worker, on its own box
ROUNDS = 12         # lock-step rounds on the shared box: both write on the same revision
FREE_EDITS = 25     # per worker, on the shared box, as fast as they can


def _setup(url: str) -> tuple[int, list[int]]:
    with ReviewStore(url) as store:
        image_id = store.add_image(ImageRecord("shared.png", 100, 100))
        model_id = store.add_model(_card())
        run_id = store.record_run(model_id, "crosseai")
        proposals = [BoxProposal(Box(i, i, i + 10, i + 10), 0.5, "x", "crosseai") for i in range(3)]
        return image_id, store.add_proposals(image_id, run_id, proposals)


class _Card:
    """Enough of a ModelCard for add_model (importing the real one would import torch)."""
    arch, sha256, card_hash = "resnet18", None, "c" * 64

    def to_dict(self):
        return {"arch": self.arch, "classes": ["x", "y"]}


def _card():
    return _Card()


def _latest(store: ReviewStore, box_id: int) -> int:
    history = store.history(box_id)
    return history[-1].revision if history else 0


def _worker(url: str, name: str, own_box: int, shared_box: int, barrier, results) -> None:
    committed, conflicts = [], []
    with ReviewStore(url, upgrade=False) as store:
        seen = _latest(store, own_box)
        for i in range(OWN_EDITS):  # different boxes, both processes writing at once
            revision = store.revise_box(own_box, reviewer=name, expected_revision=seen,
                                        box=Box(0, 0, 10 + i, 10), comment=f"{name}:own:{i}")
            committed.append((revision.id, own_box, revision.revision, revision.comment))
            seen = revision.revision
        for i in range(ROUNDS):  # the same box, both writing on the same revision number
            barrier.wait(timeout=60)
            seen = _latest(store, shared_box)
            barrier.wait(timeout=60)
            try:
                revision = store.revise_box(shared_box, reviewer=name, expected_revision=seen,
                                            label=f"{name}-{i}", comment=f"{name}:round:{i}")
                committed.append((revision.id, shared_box, revision.revision, revision.comment))
            except RevisionConflict as conflict:
                conflicts.append(("round", i, seen, conflict.current_revision))
            barrier.wait(timeout=60)
        seen = _latest(store, shared_box)
        done = 0
        while done < FREE_EDITS:  # the same box, free-for-all: retry on conflict
            try:
                revision = store.revise_box(shared_box, reviewer=name, expected_revision=seen,
                                            box=Box(0, 0, 5, 5 + done), comment=f"{name}:free:{done}")
            except RevisionConflict as conflict:
                conflicts.append(("free", done, seen, conflict.current_revision))
                seen = conflict.current_revision
                continue
            committed.append((revision.id, shared_box, revision.revision, revision.comment))
            seen, done = revision.revision, done + 1
    results.put((name, committed, conflicts))


def test_two_processes_never_lose_an_edit_and_conflicts_are_reported(db_url):
    image_id, (box_a, box_b, shared) = _setup(db_url)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_worker, args=(db_url, name, own, shared, barrier, results))
               for name, own in (("ann", box_a), ("bob", box_b))]
    for w in workers:
        w.start()
    reports = {}
    try:
        for _ in workers:
            name, committed, conflicts = results.get(timeout=240)
            reports[name] = (committed, conflicts)
    except queue_module.Empty:
        raise AssertionError(f"a worker did not report; exit codes {[w.exitcode for w in workers]}")
    finally:
        for w in workers:
            w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]

    with ReviewStore(db_url) as store:
        stored = {box: {r.id: r for r in store.history(box)} for box in (box_a, box_b, shared)}
        for name, (committed, _) in reports.items():
            for revision_id, box_id, number, comment in committed:
                row = stored[box_id].get(revision_id)
                assert row is not None, f"{name}'s committed revision {revision_id} is missing"
                assert (row.revision, row.comment, row.reviewer) == (number, comment, name)
        for box_id, rows in stored.items():  # 1..n, no gaps, nobody else's
            assert sorted(r.revision for r in rows.values()) == list(range(1, len(rows) + 1))
        assert len(stored[box_a]) == len(stored[box_b]) == OWN_EDITS
        all_committed = sum(len(c) for c, _ in reports.values())
        assert all_committed == sum(len(rows) for rows in stored.values())

        # Lock-step rounds: each round exactly one writer won and the other was told.
        round_conflicts = [c for _, cs in reports.values() for c in cs if c[0] == "round"]
        round_wins = [c for cs, _ in reports.values() for c in cs if ":round:" in c[3]]
        assert len(round_wins) == ROUNDS and len(round_conflicts) == ROUNDS
        assert sorted(c[1] for c in round_conflicts) == list(range(ROUNDS))
        for _, i, seen, current in round_conflicts:
            assert current == seen + 1  # the winner's revision, which the loser had not seen
        free = [c for cs, _ in reports.values() for c in cs if ":free:" in c[3]]
        assert len(free) == 2 * FREE_EDITS
        assert len(stored[shared]) == ROUNDS + 2 * FREE_EDITS
        # the audit log has one entry per committed edit and none for the refused ones
        assert len(store.audit_log(action="box.edit")) == all_committed
