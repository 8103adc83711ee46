"""A reference export is signed-off work only (issue 15, defect 3): the store's export set and
scope on SQLite and PostgreSQL, and `medxai export` saying what it included."""
from __future__ import annotations

import json

import pytest

from medxai_desktop.cli import main
from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.store import ReviewStore, StoreError
from tests.test_store_repository import card, medical_image


def _study(store, tmp_path) -> dict[str, int]:
    """Five images: signed off with a box, signed off without (a negative), in review with a
    box, opened only (never reviewed), and one with boxes imported from a reference file."""
    ids = {name: store.add_image(medical_image(tmp_path, seed=n, name=f"{name}.dcm"))
           for n, name in enumerate(("signed", "negative", "in_review", "scrolled"))}
    run_id = store.record_run(store.add_model(card()), "crosseai", {"tau": 0.5})
    (proposal,) = store.add_proposals(ids["signed"], run_id, [BoxProposal(Box(1, 1, 9, 9), 0.9, "glioma", "crosseai")])
    store.add_proposals(ids["in_review"], run_id, [BoxProposal(Box(2, 2, 8, 8), 0.7, "glioma", "crosseai")])
    store.accept(proposal, "ann", 0)
    store.add_box(ids["signed"], Box(20, 20, 30, 30), "glioma", "ann")
    store.set_status(ids["signed"], "signed_off", "ann")
    store.set_status(ids["negative"], "signed_off", "ann")
    store.add_box(ids["in_review"], Box(5, 5, 15, 15), "glioma", "ann")
    store.set_status(ids["in_review"], "in_review", "ann")
    store.import_annotations(AnnotationSet(
        [ImageRecord("nih.png", 64, 48)], [BoxRecord("nih.png", "Mass", Box(3, 3, 13, 13))]), "importer", "nih.csv")
    ids["imported"] = next(i.id for i in store.images() if i.key == "nih.png")
    return ids


def test_a_reference_export_holds_signed_off_images_only(store, tmp_path):
    _study(store, tmp_path)
    reference, scope = store.export_set("reviewed")
    assert sorted(i.key for i in reference.images) == ["negative.dcm", "nih.png", "signed.dcm"]
    assert sorted((b.image_key, b.kind) for b in reference.boxes) == [
        ("nih.png", "reviewed"), ("signed.dcm", "reviewed"), ("signed.dcm", "reviewed")]
    assert (scope.signed_off, scope.negatives, scope.imported, scope.in_review, scope.unreviewed) == (2, 1, 1, 1, 1)
    assert scope.describe("reviewed") == (
        "2 signed-off images (1 without boxes), 1 image with imported reference boxes: 3 reviewed boxes; "
        "not included: 1 image in review, 1 image not reviewed")

    both, _ = store.export_set("both")
    assert sorted(i.key for i in both.images) == sorted(i.key for i in reference.images)
    assert sorted(b.kind for b in both.boxes) == ["proposal", "reviewed", "reviewed", "reviewed"]
    assert scope.describe("both").endswith("3 reviewed boxes and 1 AI proposal; not included: "
                                           "1 image in review, 1 image not reviewed")
    proposals, _ = store.export_set("proposals")
    assert len(proposals.images) == 5 and [b.kind for b in proposals.boxes] == ["proposal", "proposal"]
    assert scope.describe("proposals") == "2 AI proposals on all 5 images (an image without proposals is not a negative)"
    with pytest.raises(StoreError, match="reviewed / proposals / both"):
        store.export_set("everything")


def test_an_edit_after_sign_off_takes_the_image_out_until_signed_off_again(store, tmp_path):
    ids = _study(store, tmp_path)
    store.set_status(ids["signed"], "in_review", "bob")          # what the app does on an edit
    assert sorted(i.key for i in store.export_set("reviewed")[0].images) == ["negative.dcm", "nih.png"]
    store.add_box(ids["imported"], Box(30, 30, 40, 40), "Mass", "bob")   # own work over an import
    assert [i.key for i in store.export_set("reviewed")[0].images] == ["negative.dcm"]
    assert store.export_scope().in_review == 3
    store.set_status(ids["imported"], "signed_off", "bob")
    reference, scope = store.export_set("reviewed")
    assert [b.image_key for b in reference.boxes] == ["nih.png", "nih.png"]
    assert (scope.signed_off, scope.imported) == (2, 0)


def test_medxai_export_says_what_it_included(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    with ReviewStore(db, cache_dir=tmp_path / "maps") as store:
        _study(store, tmp_path)
    out = tmp_path / "reference.json"
    assert main(["--db", db, "export", "coco", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("included: 2 signed-off images (1 without boxes), 1 image with imported reference boxes: "
            "3 reviewed boxes; not included: 1 image in review, 1 image not reviewed") in printed
    coco = json.loads(out.read_text())
    assert sorted(i["file_name"].rsplit("/", 1)[-1] for i in coco["images"]) == ["negative.dcm", "nih.png", "signed.dcm"]
    assert len(coco["annotations"]) == 3
    assert main(["--db", db, "export", "csv", "--which", "proposals", "--out", str(tmp_path / "p.csv")]) == 0
    assert "included: 2 AI proposals on all 5 images" in capsys.readouterr().out


def test_a_dicom_sr_export_with_nothing_signed_off_says_why(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    with ReviewStore(db, cache_dir=tmp_path / "maps") as store:
        image_id = store.add_image(medical_image(tmp_path))
        store.add_box(image_id, Box(1, 1, 9, 9), "glioma", "ann")
        store.set_status(image_id, "in_review", "ann")
    assert main(["--db", db, "export", "dicom-sr", "--out", str(tmp_path / "sr")]) == 2
    assert "no image to write an SR for: 0 signed-off images (0 without boxes): 0 reviewed boxes; " \
           "not included: 1 image in review" in capsys.readouterr().err


def _imported_image(store, boxes: int = 2) -> tuple[int, list]:
    """An image known only from a reference file, with ``boxes`` imported boxes."""
    store.import_annotations(AnnotationSet(
        [ImageRecord("nih.png", 64, 48)],
        [BoxRecord("nih.png", "Mass", Box(3 + 10 * n, 3, 13 + 10 * n, 13)) for n in range(boxes)]),
        "importer", "nih.csv")
    image_id = next(i.id for i in store.images() if i.key == "nih.png")
    return image_id, store.latest_boxes(image_id)


@pytest.mark.parametrize("edited", ["box", "measurement"])
def test_an_imported_image_put_in_review_by_an_edit_is_left_out(store, edited):
    image_id, (box, _) = _imported_image(store)
    assert [i.key for i in store.export_set("reviewed")[0].images] == ["nih.png"]
    if edited == "box":       # a measurement's edit revises no box: only the status says so
        store.revise_box(box.box_id, reviewer="bob", expected_revision=box.revision, box=Box(4, 4, 14, 14))
    store.set_status(image_id, "in_review", "bob")                 # what the app does on an edit
    reference, scope = store.export_set("reviewed")
    assert (reference.images, reference.boxes) == ([], [])
    assert (scope.imported, scope.in_review, scope.reviewed_boxes) == (0, 1, 0)


@pytest.mark.parametrize("change", ["edit", "reject", "accept"])
def test_own_work_over_an_import_is_left_out_until_signed_off_whatever_the_status_says(store, change):
    """The edit and the status change are two writes: a status not saved (or a client that
    edits without one) must not turn this store's unsigned work into reference."""
    image_id, (box, other) = _imported_image(store)
    if change == "edit":
        store.revise_box(box.box_id, reviewer="bob", expected_revision=box.revision, box=Box(4, 4, 14, 14))
    else:
        getattr(store, change)(box.box_id, "bob", box.revision)
    assert store.status(image_id).status == "unread"
    reference, scope = store.export_set("reviewed")
    assert (reference.images, scope.imported, scope.in_review) == ([], 0, 1)
    store.set_status(image_id, "signed_off", "bob")
    reference, scope = store.export_set("reviewed")
    kept = 1 if change == "reject" else 2
    assert (len(reference.boxes), scope.signed_off, scope.reviewed_boxes) == (kept, 1, kept)


def test_counts_and_words_when_nothing_is_left_out(store, tmp_path):
    """One signed-off image without reviewed boxes but two proposals: counted by hand."""
    image_id = store.add_image(medical_image(tmp_path, seed=0, name="a.dcm"))
    run_id = store.record_run(store.add_model(card()), "crosseai", {"tau": 0.5})
    store.add_proposals(image_id, run_id, [BoxProposal(Box(1, 1, 9, 9), 0.9, "glioma", "crosseai"),
                                           BoxProposal(Box(20, 20, 30, 30), 0.8, "glioma", "crosseai")])
    store.set_status(image_id, "signed_off", "ann")
    scope = store.export_scope()
    assert (scope.proposals, scope.proposals_included, scope.negatives, scope.images) == (2, 2, 1, 1)
    assert scope.describe() == scope.describe("reviewed") == "1 signed-off image (1 without boxes): 0 reviewed boxes"
    assert scope.describe("both") == "1 signed-off image (1 without boxes): 0 reviewed boxes and 2 AI proposals"


def test_plurals():
    from medxai_desktop.core.store.export_scope import _n

    assert [_n(1, "box"), _n(2, "box"), _n(2, "class"), _n(0, "image")] == ["1 box", "2 boxes", "2 classes", "0 images"]


def test_an_image_in_review_without_any_box_is_in_review_and_an_undone_drawing_too(store, tmp_path):
    measured = store.add_image(medical_image(tmp_path, seed=0, name="measured.dcm"))
    store.set_status(measured, "in_review", "ann")        # a measurement's first edit: no box
    drawn = store.add_image(medical_image(tmp_path, seed=1, name="drawn.dcm"))
    added = store.add_box(drawn, Box(1, 1, 9, 9), "glioma", "ann")
    store.undo(added.box_id, "ann", expected_revision=1)  # drawn, then undone: work here all the same
    store.add_image(medical_image(tmp_path, seed=2, name="listed.dcm"))
    scope = store.export_scope()
    assert (scope.in_review, scope.unreviewed, scope.image_ids) == (2, 1, frozenset())
