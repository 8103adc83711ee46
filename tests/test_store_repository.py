"""ReviewStore's API on SQLite and on PostgreSQL (every test runs on both)."""
from __future__ import annotations

from datetime import timezone
from pathlib import Path

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.imaging import MedicalImage
from medxai_desktop.core.models import ModelCard
from medxai_desktop.core.store import (NothingToRedo, NothingToUndo, ReviewStore,
                                       RevisionConflict, StoreError, UnknownEntity, load_map)
from medxai_desktop.core.store.migrate import head_revision


def medical_image(tmp_path: Path, seed: int = 0, name: str = "slice.dcm", frame: int = 0,
                  n_frames: int = 1) -> MedicalImage:
    pixels = np.random.default_rng(seed).normal(100, 20, (48, 64)).astype(np.float32)
    return MedicalImage(pixels, "MONOCHROME2", 100.0, 80.0, tmp_path / name, frame=frame,
                        n_frames=n_frames, study_uid="1.2.3", series_uid="1.2.3.4",
                        sop_uid=f"1.2.3.4.{seed}", modality="MR", study_description="brain")


def card(classes=("glioma", "no_tumor"), sha="ab" * 32) -> ModelCard:
    return ModelCard("resnet18", list(classes), (224, 224), (0.5,) * 3, (0.25,) * 3, "layer4",
                     "model.pt", sha)


@pytest.fixture
def image_with_proposals(store, tmp_path):
    image_id = store.add_image(medical_image(tmp_path))
    model_id = store.add_model(card())
    run_id = store.record_run(model_id, "crosseai", {"alpha": 0.5, "tau": 0.5}, device="cpu",
                              versions={"torch": "2.x"}, seconds=0.25)
    proposals = [BoxProposal(Box(1, 2, 30, 40), 0.8, "glioma", "crosseai", {"tau": 0.5}),
                 BoxProposal(Box(10, 10, 20, 25.5), 0.6, "glioma", "crosseai", {"tau": 0.5})]
    box_ids = store.add_proposals(image_id, run_id, proposals)
    return image_id, run_id, box_ids


# -- images, models, runs, explanations -----------------------------------------------------------

def test_add_image_is_idempotent_on_content_hash_and_path(store, tmp_path):
    first = store.add_image(medical_image(tmp_path, seed=0))
    assert store.add_image(medical_image(tmp_path, seed=0)) == first        # same pixels, same path
    moved = store.add_image(medical_image(tmp_path, seed=0, name="copy.dcm"))
    other = store.add_image(medical_image(tmp_path, seed=1))                  # same path, new pixels
    assert len({first, moved, other}) == 3
    info = store.image(first)
    assert (info.width, info.height, info.key) == (64, 48, "slice.dcm")
    assert info.content_hash == medical_image(tmp_path, seed=0).content_hash
    assert (info.study_uid, info.series_uid, info.sop_uid) == ("1.2.3", "1.2.3.4", "1.2.3.4.0")
    counts = store.info()["counts"]
    assert (counts["images"], counts["studies"], counts["series"]) == (3, 1, 1)
    with pytest.raises(UnknownEntity):
        store.image(999)


def test_image_records_match_images_known_by_pixels_or_by_name(store, tmp_path):
    by_pixels = store.add_image(medical_image(tmp_path, seed=3, name="a.dcm"))
    # A record with the same path is that image, not a new one.
    assert store.add_image(ImageRecord("a.dcm", 64, 48, path=tmp_path / "a.dcm")) == by_pixels
    # A record without a path matches a unique key.
    assert store.add_image(ImageRecord("a.dcm", 64, 48)) == by_pixels
    named = store.add_image(ImageRecord("b.png", 32, 32, path=tmp_path / "b.png"))
    assert store.add_image(ImageRecord("b.png", 32, 32, path=tmp_path / "b.png")) == named
    # The pixels of b.png arrive later: the image known by name is adopted, not duplicated.
    pixels = MedicalImage(np.ones((32, 32), np.float32), "MONOCHROME2", 0.5, 1.0, tmp_path / "b.png")
    assert store.add_image(pixels) == named
    assert store.image(named).content_hash == pixels.content_hash
    assert len(store.images()) == 2


def test_models_runs_and_explanations_with_cached_maps(store, tmp_path):
    from medxai_desktop.core.explain.engine import Explanation
    from medxai_desktop.core.explain.provenance import cache_key

    image_id = store.add_image(medical_image(tmp_path))
    model_id = store.add_model(card())
    assert store.add_model(card()) == model_id                       # same card + checkpoint
    assert store.add_model(card(sha="cd" * 32)) != model_id           # another checkpoint
    heatmap = np.random.default_rng(0).random((7, 9)).astype(np.float32)
    provenance = {"model": {"card_sha256": card().card_hash, "device": "cpu"}, "method": "gradcam",
                  "parameters": {"relu": True}, "target_class": 1, "versions": {"torch": "2.x"},
                  "seconds": 0.01, "created": "2026-01-02T03:04:05+00:00"}
    explanation = Explanation("gradcam", "Grad-CAM", heatmap, heatmap, 1, "no_tumor", 0.01, provenance)
    run_id, explanation_id = store.record_explanation(image_id, model_id, explanation)
    [stored] = store.explanations(image_id)
    assert (stored.id, stored.run_id, stored.method, stored.target_class, stored.target_name) == \
        (explanation_id, run_id, "gradcam", 1, "no_tumor")
    assert stored.cache_key == cache_key(provenance) == explanation.cache_key
    assert Path(stored.map_path).is_file()
    loaded = store.load_explanation_map(stored)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, heatmap)
    assert np.array_equal(load_map(tmp_path / "maps", explanation.cache_key), heatmap)
    # metadata only (map elsewhere), via a separate run
    other_run = store.record_run(model_id, "layercam", {}, device="cpu")
    second = store.add_explanation(other_run, image_id, target_class=0, cache_key="0f" * 32,
                                   map_path="/elsewhere/x.npz")
    assert [e.id for e in store.explanations(image_id)] == [explanation_id, second]
    with pytest.raises(UnknownEntity):
        store.record_run(999, "gradcam")
    with pytest.raises(UnknownEntity):
        store.add_explanation(other_run, 999, target_class=0, cache_key="0f" * 32)


# -- proposals and revisions ----------------------------------------------------------------------

def test_proposals_start_unreviewed_at_revision_zero(store, image_with_proposals):
    image_id, _, box_ids = image_with_proposals
    boxes = store.latest_boxes(image_id)
    assert [b.box_id for b in boxes] == box_ids
    assert [(b.state, b.revision, b.origin, b.score) for b in boxes] == \
        [("proposed", 0, "proposal", 0.8), ("proposed", 0, "proposal", 0.6)]
    assert boxes[1].box == Box(10, 10, 20, 25.5) and boxes[1].method == "crosseai"
    assert store.history(box_ids[0]) == []
    with pytest.raises(UnknownEntity):
        store.history(999)
    with pytest.raises(UnknownEntity):
        store.add_proposals(999, 1, [])


def test_each_edit_is_a_new_revision_and_the_proposal_never_changes(store, image_with_proposals):
    image_id, _, (box_id, _) = image_with_proposals
    r1 = store.accept(box_id, "ann", expected_revision=0)
    r2 = store.revise_box(box_id, reviewer="bob", expected_revision=1, box=Box(2, 3, 28, 39),
                          comment="tighter")
    r3 = store.revise_box(box_id, reviewer="ann", expected_revision=2, label="meningioma")
    r4 = store.reject(box_id, "ann", expected_revision=3, comment="artefact")
    assert [(r.revision, r.state, r.reviewer) for r in (r1, r2, r3, r4)] == \
        [(1, "accepted", "ann"), (2, "edited", "bob"), (3, "edited", "ann"), (4, "rejected", "ann")]
    assert r3.box == Box(2, 3, 28, 39) and r4.label == "meningioma" and r2.comment == "tighter"
    assert store.history(box_id) == [r1, r2, r3, r4]
    assert all(r.created_at.tzinfo is not None and r.created_at.utcoffset().total_seconds() == 0
               for r in store.history(box_id))
    latest = store.latest_boxes(image_id)[0]
    assert (latest.state, latest.revision, latest.reviewer, latest.label) == \
        ("rejected", 4, "ann", "meningioma")
    [proposal] = [b for b in store.proposals_annotations().boxes if b.extra["box_id"] == box_id]
    assert proposal.box == Box(1, 2, 30, 40) and proposal.label == "glioma"


def test_stale_expected_revision_raises_conflict_and_writes_nothing(store, image_with_proposals):
    _, _, (box_id, _) = image_with_proposals
    mine = store.accept(box_id, "ann", expected_revision=0)
    with pytest.raises(RevisionConflict) as caught:
        store.revise_box(box_id, reviewer="bob", expected_revision=0, box=Box(0, 0, 5, 5))
    assert caught.value.current == mine and caught.value.current_revision == 1
    assert caught.value.expected == 0 and "revision 1" in str(caught.value)
    with pytest.raises(RevisionConflict):
        store.undo(box_id, "bob", expected_revision=7)
    assert store.history(box_id) == [mine]
    assert [e.action for e in store.audit_log(entity="box", entity_id=box_id)] == ["box.edit"]


def test_invalid_edits_are_refused(store, image_with_proposals):
    image_id, _, (box_id, _) = image_with_proposals
    with pytest.raises(StoreError, match="reviewer sets"):
        store.revise_box(box_id, reviewer="ann", expected_revision=0, state="added")
    with pytest.raises(StoreError, match="nothing to change"):
        store.revise_box(box_id, reviewer="ann", expected_revision=0)
    with pytest.raises(StoreError, match="reviewer must be named"):
        store.accept(box_id, "  ", expected_revision=0)
    with pytest.raises(StoreError, match="needs a label"):
        store.add_box(image_id, Box(1, 1, 2, 2), "", "ann")
    with pytest.raises(UnknownEntity):
        store.accept(999, "ann", expected_revision=0)
    with pytest.raises(UnknownEntity):
        store.add_box(999, Box(1, 1, 2, 2), "glioma", "ann")
    assert store.history(box_id) == []
    assert store.info()["counts"]["boxes"] == 2


def test_drawn_box_is_a_box_without_proposal_first_revision_added(store, image_with_proposals):
    image_id, _, _ = image_with_proposals
    added = store.add_box(image_id, Box(5, 6, 15, 16), "pituitary", "ann", comment="missed")
    assert (added.revision, added.state, added.action) == (1, "added", "add")
    drawn = [b for b in store.latest_boxes(image_id) if b.box_id == added.box_id][0]
    assert (drawn.origin, drawn.proposal_id, drawn.state, drawn.box) == \
        ("drawn", None, "added", Box(5, 6, 15, 16))
    accepted = store.accept(added.box_id, "bob", expected_revision=1)
    assert accepted.box == Box(5, 6, 15, 16) and accepted.label == "pituitary"


def test_undo_and_redo_are_new_revisions_and_a_new_edit_clears_redo(store, image_with_proposals):
    image_id, _, (box_id, _) = image_with_proposals
    r1 = store.accept(box_id, "ann", 0)
    r2 = store.revise_box(box_id, reviewer="ann", expected_revision=1, box=Box(3, 3, 9, 9))
    u1 = store.undo(box_id, "ann")                      # back to r1's state
    assert (u1.revision, u1.action, u1.target_revision, u1.state, u1.box) == \
        (3, "undo", 2, "accepted", r1.box)
    u2 = store.undo(box_id, "ann")                      # back to the unreviewed proposal
    assert (u2.revision, u2.target_revision, u2.state, u2.box) == (4, 1, "proposed", Box(1, 2, 30, 40))
    with pytest.raises(NothingToUndo):
        store.undo(box_id, "ann")
    d1 = store.redo(box_id, "ann")                      # r1 again
    d2 = store.redo(box_id, "ann", expected_revision=5)  # r2 again
    assert [(d.action, d.target_revision, d.state) for d in (d1, d2)] == \
        [("redo", 1, "accepted"), ("redo", 2, "edited")]
    assert d2.box == r2.box
    with pytest.raises(NothingToRedo):
        store.redo(box_id, "ann")
    u3 = store.undo(box_id, "ann")                      # undoes the redo of r2
    assert (u3.target_revision, u3.state, u3.box) == (6, "accepted", r1.box)
    store.revise_box(box_id, reviewer="ann", expected_revision=7, label="meningioma")
    with pytest.raises(NothingToRedo):                  # the new edit cleared the redo chain
        store.redo(box_id, "ann")
    history = store.history(box_id)
    assert [r.revision for r in history] == list(range(1, 9))
    assert history[:2] == [r1, r2]                      # never rewritten
    assert store.latest_boxes(image_id)[0].label == "meningioma"


def test_undoing_a_drawn_box_removes_it_and_redo_restores_it(store, image_with_proposals):
    image_id, _, _ = image_with_proposals
    added = store.add_box(image_id, Box(5, 6, 15, 16), "pituitary", "ann")
    removed = store.undo(added.box_id, "ann")
    assert removed.state == "removed"
    assert added.box_id not in [b.box_id for b in store.latest_boxes(image_id)]
    assert added.box_id in [b.box_id for b in store.latest_boxes(image_id, include_removed=True)]
    with pytest.raises(StoreError, match="removed"):
        store.accept(added.box_id, "ann", expected_revision=2)
    assert store.redo(added.box_id, "ann").state == "added"
    assert added.box_id in [b.box_id for b in store.latest_boxes(image_id)]


def test_review_status_per_image(store, image_with_proposals):
    image_id, _, _ = image_with_proposals
    assert store.status(image_id).status == "unread"
    store.set_status(image_id, "in_review", "ann")
    signed = store.set_status(image_id, "signed_off", "bob")
    now = store.status(image_id)
    assert (now.status, now.reviewer) == ("signed_off", "bob") and now.updated_at == signed.updated_at
    with pytest.raises(StoreError, match="review status"):
        store.set_status(image_id, "done", "bob")
    with pytest.raises(UnknownEntity):
        store.set_status(999, "in_review", "bob")
    entries = store.audit_log(action="status.set")
    assert [(e.actor, e.details) for e in entries] == [
        ("ann", {"from": "unread", "to": "in_review"}), ("bob", {"from": "in_review", "to": "signed_off"})]


def test_audit_log_has_every_change_in_order(store, image_with_proposals):
    image_id, run_id, (box_id, _) = image_with_proposals
    store.accept(box_id, "ann", 0)
    store.undo(box_id, "ann")
    store.add_box(image_id, Box(1, 1, 4, 4), "glioma", "bob")
    actions = [e.action for e in store.audit_log()]
    assert actions == ["schema.upgrade", "image.add", "model.add", "run.record", "proposals.add",
                       "box.edit", "box.undo", "box.add"]
    entries = store.audit_log()
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert all(e.at.tzinfo is not None for e in entries)
    assert [e.action for e in store.audit_log(actor="bob")] == ["box.add"]
    assert [e.action for e in store.audit_log(limit=2)] == ["box.undo", "box.add"]
    assert store.audit_log(entity="box", entity_id=box_id)[0].details["state"] == "accepted"
    assert store.audit_log(action="proposals.add")[0].details["run_id"] == run_id
    assert not [m for m in dir(store) if m.startswith(("delete", "remove", "update", "clear"))]


# -- annotation sets ------------------------------------------------------------------------------

def test_reference_and_proposal_annotations(store, image_with_proposals):
    image_id, _, (first, second) = image_with_proposals
    store.revise_box(first, reviewer="ann", expected_revision=0, box=Box(2, 2, 29, 39))
    store.reject(second, "ann", 0)
    drawn = store.add_box(image_id, Box(40, 5, 60, 20), "pituitary", "bob")
    undone = store.add_box(image_id, Box(0, 0, 3, 3), "glioma", "bob")
    store.undo(undone.box_id, "bob")
    reference = store.reference_annotations()
    assert [i.key for i in reference.images] == ["slice.dcm"]
    assert reference.images[0].width == 64 and reference.images[0].study_uid == "1.2.3"
    assert [(b.kind, b.state, b.label, b.box, b.reviewer) for b in reference.boxes] == [
        ("reviewed", "edited", "glioma", Box(2, 2, 29, 39), "ann"),
        ("reviewed", "added", "pituitary", Box(40, 5, 60, 20), "bob")]
    assert reference.boxes[0].proposal_id is not None and reference.boxes[1].proposal_id is None
    assert reference.boxes[1].extra["box_id"] == drawn.box_id
    assert reference.labels == ["glioma", "pituitary"]
    proposals = store.proposals_annotations()
    assert [(b.kind, b.score, b.method, b.box) for b in proposals.boxes] == [
        ("proposal", 0.8, "crosseai", Box(1, 2, 30, 40)), ("proposal", 0.6, "crosseai", Box(10, 10, 20, 25.5))]
    assert proposals.boxes[0].extra["parameters"] == {"tau": 0.5}
    both = store.both_annotations()
    assert [b.kind for b in both.boxes] == ["reviewed", "reviewed", "proposal", "proposal"]


def _reference_set() -> AnnotationSet:
    return AnnotationSet(
        images=[ImageRecord("00000100_000.png", 1024, 1024), ImageRecord("00000200_000.png", 1024, 1024)],
        boxes=[BoxRecord("00000100_000.png", "Nodule", Box.from_xywh(10, 20, 30, 40), reviewer="NIH"),
               BoxRecord("00000200_000.png", "Mass", Box.from_xywh(100, 100, 50, 60)),
               BoxRecord("00000200_000.png", "Mass", Box(0, 0, 1, 1), state="rejected"),
               BoxRecord("00000200_000.png", "Mass", Box(5, 5, 9, 9), kind="proposal", score=0.3)],
        labels=["Mass", "Nodule"])


def test_import_annotations_as_reviewed_boxes(store):
    summary = store.import_annotations(_reference_set(), "importer", "nih-bbox-2017.csv")
    assert (summary.images_added, summary.boxes_added, summary.proposals_skipped,
            summary.rejected_skipped) == (2, 2, 1, 1)
    reference = store.reference_annotations()
    assert [(b.image_key, b.label, b.box, b.state, b.method, b.reviewer) for b in reference.boxes] == [
        ("00000100_000.png", "Nodule", Box(10, 20, 40, 60), "added", "import", "importer"),
        ("00000200_000.png", "Mass", Box(100, 100, 150, 160), "added", "import", "importer")]
    assert reference.boxes[0].extra["source"] == "nih-bbox-2017.csv"
    [revision] = store.history(summary.box_ids[0])
    assert revision.action == "import" and "annotator: NIH" in revision.comment
    # Importing the same file again adds nothing; the images are matched by name.
    again = store.import_annotations(_reference_set(), "importer", "nih-bbox-2017.csv")
    assert (again.images_added, again.images_matched, again.boxes_added, again.duplicates_skipped) == \
        (0, 2, 0, 2)
    [entry, _] = store.audit_log(action="annotations.import")
    assert entry.actor == "importer" and entry.details["boxes_added"] == 2


def test_import_is_one_transaction(store):
    before = store.info()["counts"]
    broken = _reference_set()
    broken.boxes.append(BoxRecord("not-there.png", "Mass", Box(1, 1, 2, 2)))
    with pytest.raises(StoreError, match="not-there.png"):
        store.import_annotations(broken, "importer", "broken.csv")
    assert store.info()["counts"] == before          # no image, box, revision, audit entry
    assert store.import_annotations(_reference_set(), "importer", "ok.csv").boxes_added == 2


# -- the database itself --------------------------------------------------------------------------

def test_info_counts_revision_and_masks_the_password(store, db_url, image_with_proposals):
    info = store.info()
    assert info["schema_revision"] == info["head_revision"] == head_revision()  # the newest migration
    assert info["counts"]["boxes"] == 2 and info["counts"]["box_proposals"] == 2
    assert info["backend"] in ("sqlite", "postgresql")
    assert "not-a-secret-pw" not in info["url"] and "not-a-secret-pw" not in repr(store)
    if info["backend"] == "postgresql":
        assert "***" in info["url"]


def test_times_round_trip_as_utc(store, image_with_proposals):
    image_id, _, (box_id, _) = image_with_proposals
    written = store.accept(box_id, "ann", 0)
    [read] = store.history(box_id)
    assert read.created_at == written.created_at
    assert read.created_at.tzinfo is not None and read.created_at.astimezone(timezone.utc) == read.created_at


@pytest.mark.parametrize("url, fragment", [
    ("not a url", "not a database URL"),
    ("mysql://user:pw@host/db", "unsupported database"),
    ("sqlite://", "give a SQLite file"),
    ("postgresql+psycopg://user:hunter2@127.0.0.1:1/db", "cannot open database"),
])
def test_bad_urls_raise_one_line_store_errors(url, fragment):
    with pytest.raises(StoreError) as caught:
        ReviewStore(url)
    message = str(caught.value)
    assert fragment in message and "\n" not in message and "hunter2" not in message
