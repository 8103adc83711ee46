"""Box exchange formats: lossless round trips (the real NIH chest X-ray boxes and awkward
floats), which boxes an export holds, provenance, negatives, and COCO evaluation."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.exchange import (
    FORMATS, AnnotationSet, BoxRecord, ExportError, ImageRecord, coco_eval, coco_results, detect_format,
    read_coco, read_flat_csv, read_nih_csv, read_voc, read_yolo, select_boxes, write_coco, write_flat_csv,
    write_nih_csv, write_voc, write_yolo,
)
from medxai_desktop.core.exchange.coco import load_pycocotools
from medxai_desktop.core.exchange.nih_csv import NIH_HEADER

CHEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray"


@pytest.fixture(scope="module")
def chest_boxes_csv() -> Path:
    path = CHEST / "boxes.csv"
    if not path.is_file():
        pytest.skip(f"real data not available at {path} (../shared/data beside the repo)")
    return path


def signature(annotations: AnnotationSet, kind: str | None = "reviewed") -> list[tuple]:
    return sorted((b.image_key, b.label, b.box.x0, b.box.y0, b.box.x1, b.box.y1)
                  for b in annotations.boxes if kind is None or b.kind == kind)


def assert_same_boxes(got: AnnotationSet, want: AnnotationSet, tol: float, kind: str | None = "reviewed") -> None:
    a, b = signature(got, kind), signature(want, kind)
    assert [s[:2] for s in a] == [s[:2] for s in b], "image keys / labels differ"
    worst = max((abs(p - q) for s, t in zip(a, b) for p, q in zip(s[2:], t[2:])), default=0.0)
    assert worst <= tol, f"coordinates differ by up to {worst} px"


# ---------------------------------------------------------------------------- the real data

def test_chest_boxes_csv_reads_as_64_boxes_on_30_images_of_1024_px(chest_boxes_csv):
    from medxai_desktop.core.imaging import read_image

    ann = read_nih_csv(chest_boxes_csv)
    assert len(ann.images) == 30 and len(ann.boxes) == 64
    assert {(i.width, i.height) for i in ann.images} == {(1024, 1024)}
    first = ann.boxes[0]
    assert (first.image_key, first.label, first.box) == ("00000100_000.png", "Effusion", Box(12, 705, 285, 847))
    assert first.extra["source"] == "ChestX-Det10_train" and first.kind == "reviewed"
    # The 1024 px space is the images' real size: confirm on one image, and through images_dir.
    assert read_image(CHEST / "images" / first.image_key).shape == (1024, 1024)
    probed = read_nih_csv(chest_boxes_csv, images_dir=CHEST / "images")
    assert {(i.width, i.height) for i in probed.images} == {(1024, 1024)}
    assert all(i.path is not None and i.path.is_file() for i in probed.images)


def _through(fmt: str, ann: AnnotationSet, tmp: Path) -> AnnotationSet:
    if fmt == "coco":
        return read_coco(write_coco(ann, tmp / "boxes.json"))
    if fmt == "voc":
        return read_voc(write_voc(ann, tmp / "voc"))
    if fmt == "yolo":
        return read_yolo(write_yolo(ann, tmp / "yolo"), images_dir=CHEST / "images")
    if fmt == "flat":
        return read_flat_csv(write_flat_csv(ann, tmp / "flat.csv"))
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "flat"])
def test_chest_round_trip_through_format_then_nih_csv(fmt, chest_boxes_csv, tmp_path):
    original = read_nih_csv(chest_boxes_csv)
    middle = _through(fmt, original, tmp_path)
    assert_same_boxes(middle, original, tol=1e-6)
    assert sorted(i.key for i in middle.images) == sorted(i.key for i in original.images)
    assert {(i.width, i.height) for i in middle.images} == {(1024, 1024)}
    back = read_nih_csv(write_nih_csv(middle, tmp_path / "back.csv"))
    assert_same_boxes(back, original, tol=0.01)
    assert_same_boxes(back, original, tol=1e-6)
    # The NIH text itself is the same as writing the original directly.
    direct = write_nih_csv(original, tmp_path / "direct.csv").read_text()
    if fmt != "yolo":  # YOLO's normalised floats differ in the last digits
        assert (tmp_path / "back.csv").read_text() == direct


def test_nih_layout_header_and_columns(chest_boxes_csv, tmp_path):
    ann = read_nih_csv(chest_boxes_csv)
    text = write_nih_csv(ann, tmp_path / "BBox_List_2017.csv").read_text().splitlines()
    assert text[0] == NIH_HEADER == "Image Index,Finding Label,Bbox [x,y,w,h],,,"
    assert text[1] == "00000100_000.png,Effusion,12,705,273,142,,,"
    assert text[2] == "00001369_000.png,Cardiomegaly,337,276.32,553.72,386.84,,,"
    assert len(text) == 65
    # The shared-data layout keeps the source column.
    again = read_nih_csv(write_nih_csv(ann, tmp_path / "boxes.csv", layout="boxes"))
    assert [b.extra.get("source") for b in again.boxes] == [b.extra.get("source") for b in ann.boxes]
    assert_same_boxes(again, ann, tol=0)


def test_nih_csv_reads_six_cell_rows_and_custom_size(tmp_path):
    p = tmp_path / "nih.csv"
    p.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                 "a.png,Atelectasis,225.084745762712,547.019216763771,86.7796610169491,79.1864406779661,,,\n"
                 "b.png,Mass,1,2,3,4\n")
    ann = read_nih_csv(p)
    assert [b.label for b in ann.boxes] == ["Atelectasis", "Mass"]
    assert ann.boxes[0].box.x0 == 225.084745762712
    assert ann.boxes[0].box.width == pytest.approx(86.7796610169491)
    assert read_nih_csv(p, image_size=None).images[0].width == 0  # unknown size


# ---------------------------------------------------------------------------- exactness

AWKWARD = [Box(0.1, 1 / 3, 0.30000000000000004, 2 / 3), Box(0, 0, 64, 48), Box(1e-7, 12.5, 63.999999, 47.9),
           Box(10, 10, 10, 10.25)]


def _awkward_set() -> AnnotationSet:
    images = [ImageRecord("scans/one.png", 64, 48), ImageRecord("two.png", 64, 48)]
    boxes = [BoxRecord("scans/one.png", "Glioma", b) for b in AWKWARD] + [BoxRecord("two.png", "Lung Opacity", AWKWARD[0])]
    return AnnotationSet(images=images, boxes=boxes)


@pytest.mark.parametrize("fmt", ["coco", "voc", "flat"])
def test_float_boxes_round_trip_bit_exactly(fmt, tmp_path):
    ann = _awkward_set()
    if fmt == "coco":
        back = read_coco(write_coco(ann, tmp_path / "a.json"))
    elif fmt == "voc":
        back = read_voc(write_voc(ann, tmp_path / "voc"))
    else:
        back = read_flat_csv(write_flat_csv(ann, tmp_path / "a.csv"))
    assert signature(back) == signature(ann)
    assert [i.key for i in back.images] == ["scans/one.png", "two.png"]


def test_yolo_round_trip_with_image_records(tmp_path):
    ann = _awkward_set()
    folder = write_yolo(ann, tmp_path / "yolo")
    assert (folder / "classes.txt").read_text() == "Glioma\nLung Opacity\n"
    assert (folder / "scans" / "one.txt").is_file()
    back = read_yolo(folder, images=ann.images)
    assert_same_boxes(back, ann, tol=1e-9)
    line = (folder / "two.txt").read_text().split()
    assert line[0] == "1" and float(line[1]) == pytest.approx((0.1 + 0.30000000000000004) / 2 / 64)


def test_voc_uses_one_based_inclusive_corners(tmp_path):
    ann = AnnotationSet([ImageRecord("x.png", 32, 16)], [BoxRecord("x.png", "Mass", Box(0, 0, 10, 16)),
                                                         BoxRecord("x.png", "Mass", Box(2.25, 3, 4.5, 5))])
    folder = write_voc(ann, tmp_path / "voc")
    root = ET.parse(folder / "x.xml").getroot()
    assert root.findtext("filename") == "x.png" and root.findtext("size/width") == "32"
    corners = [[o.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] for o in root.iter("object")]
    assert corners == [["1", "1", "10", "16"], ["3.25", "4", "4.5", "5"]]
    assert signature(read_voc(folder / "x.xml")) == signature(ann)


# ---------------------------------------------------------------------------- which boxes

def _review_set() -> AnnotationSet:
    img = ImageRecord("a.png", 100, 80)
    boxes = [
        BoxRecord("a.png", "Mass", Box(1, 1, 20, 20), kind="proposal", score=0.9, method="crosseai",
                  proposal_id="p1", extra={"model": "resnet50"}),
        BoxRecord("a.png", "Nodule", Box(30, 30, 40, 40), kind="proposal", score=0.4, method="gradcam", proposal_id="p2"),
        BoxRecord("a.png", "Mass", Box(1, 1, 20, 20), reviewer="alice", state="accepted", revision=1, proposal_id="p1"),
        BoxRecord("a.png", "Mass", Box(2, 2, 22, 21), reviewer="bob", state="edited", revision=2, proposal_id="p1"),
        BoxRecord("a.png", "Nodule", Box(30, 30, 40, 40), reviewer="alice", state="rejected", revision=1, proposal_id="p2"),
        BoxRecord("a.png", "Effusion", Box(50, 10, 90, 70), reviewer="alice", state="added", revision=1),
    ]
    return AnnotationSet(images=[img, ImageRecord("negative.png", 100, 80)], boxes=boxes)


def test_which_selects_latest_reviewed_and_never_rejected():
    ann = _review_set()
    reviewed = select_boxes(ann, "reviewed")
    assert [(b.label, b.state, b.revision) for b in reviewed] == [("Mass", "edited", 2), ("Effusion", "added", 1)]
    assert [b.proposal_id for b in select_boxes(ann, "proposals")] == ["p1", "p2"]
    assert len(select_boxes(ann, "both")) == 4
    with pytest.raises(ExportError, match="which must be one of"):
        select_boxes(ann, "all")


@pytest.mark.parametrize("fmt", ["coco", "flat"])
def test_both_keeps_provenance(fmt, tmp_path):
    ann = _review_set()
    if fmt == "coco":
        back = read_coco(write_coco(ann, tmp_path / "both.json", which="both"))
    else:
        back = read_flat_csv(write_flat_csv(ann, tmp_path / "both.csv", which="both"))

    def prov(b):
        return (b.kind, b.label, b.box, b.score, b.method, b.reviewer, b.state, b.revision, b.proposal_id)

    assert [prov(b) for b in back.boxes] == [prov(b) for b in select_boxes(ann, "both")]
    model = [b.extra.get("model") for b in back.boxes if b.kind == "proposal"]
    assert model == ["resnet50", None]
    assert [i.key for i in back.images] == ["a.png", "negative.png"]
    # Reviewed-only export of the same set has no proposals and no rejected box.
    if fmt == "coco":
        only = read_coco(write_coco(ann, tmp_path / "rev.json"))
    else:
        only = read_flat_csv(write_flat_csv(ann, tmp_path / "rev.csv"))
    assert [(b.kind, b.label, b.state) for b in only.boxes] == [("reviewed", "Mass", "edited"),
                                                                ("reviewed", "Effusion", "added")]


@pytest.mark.parametrize("writer", [write_voc, write_yolo, write_nih_csv])
def test_formats_without_provenance_refuse_both(writer, tmp_path):
    with pytest.raises(ExportError, match="cannot hold provenance.*'both' is not supported"):
        writer(_review_set(), tmp_path / "out", which="both")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_proposals_keep_scores_in_voc_and_yolo(fmt, tmp_path):
    ann = _review_set()
    if fmt == "voc":
        back = read_voc(write_voc(ann, tmp_path / "p", which="proposals"))
    else:
        back = read_yolo(write_yolo(ann, tmp_path / "p", which="proposals"), images=ann.images)
    assert [(b.kind, b.label, b.score) for b in back.boxes] == [("proposal", "Mass", 0.9), ("proposal", "Nodule", 0.4)]


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "flat"])
def test_images_without_boxes_survive(fmt, tmp_path):
    ann = _review_set()
    back = {"coco": lambda: read_coco(write_coco(ann, tmp_path / "a.json")),
            "voc": lambda: read_voc(write_voc(ann, tmp_path / "voc")),
            "yolo": lambda: read_yolo(write_yolo(ann, tmp_path / "yolo"), images=ann.images),
            "flat": lambda: read_flat_csv(write_flat_csv(ann, tmp_path / "a.csv"))}[fmt]()
    keys = {i.key: (i.width, i.height) for i in back.images}
    assert keys == {"a.png": (100, 80), "negative.png": (100, 80)}
    assert back.boxes_of("negative.png") == []


def test_exports_refuse_boxes_outside_the_image_and_unknown_sizes(tmp_path):
    outside = AnnotationSet([ImageRecord("a.png", 10, 10)], [BoxRecord("a.png", "Mass", Box(5, 5, 12, 8))])
    for writer in (write_coco, write_voc, write_yolo, write_nih_csv, write_flat_csv):
        with pytest.raises(ExportError, match="outside the 10x10 image"):
            writer(outside, tmp_path / f"{writer.__name__}.out")
    unknown = AnnotationSet([ImageRecord("a.png", 0, 0)], [BoxRecord("a.png", "Mass", Box(5, 5, 12, 8))])
    for writer in (write_coco, write_voc, write_yolo):
        with pytest.raises(ExportError, match="size unknown"):
            writer(unknown, tmp_path / f"{writer.__name__}.unknown")
    # CSV formats do not need the size.
    assert signature(read_flat_csv(write_flat_csv(unknown, tmp_path / "u.csv"))) == signature(unknown)


def test_folder_exports_refuse_a_non_empty_folder_unless_overwrite(tmp_path):
    ann = _review_set()
    folder = write_voc(ann, tmp_path / "voc")
    with pytest.raises(ExportError, match="not empty"):
        write_voc(ann, folder)
    (folder / "stale.xml").write_text("<annotation/>")
    (folder / "notes.md").write_text("keep me")
    write_voc(ann, folder, overwrite=True)
    assert not (folder / "stale.xml").exists() and (folder / "notes.md").read_text() == "keep me"
    assert len(read_voc(folder).boxes) == 2



@pytest.mark.parametrize("writer", [write_voc, write_yolo])
def test_folder_exports_never_write_through_a_linked_sub_folder(writer, tmp_path):
    """Issue 14 defect 7: a folder holding only a directory symlink counted as empty, and the
    per-image files of keys under it went to the link's target."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    ann = AnnotationSet([ImageRecord("sub/a.png", 20, 20)], [BoxRecord("sub/a.png", "Mass", Box(1, 1, 5, 5))])
    for overwrite in (False, True):
        with pytest.raises(ExportError, match="symbolic link|through a link"):
            writer(ann, out, overwrite=overwrite)
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------------------- COCO tools

def test_written_coco_loads_in_pycocotools(chest_boxes_csv, tmp_path):
    path = write_coco(read_nih_csv(chest_boxes_csv), tmp_path / "chest.json")
    coco = load_pycocotools(path)
    assert len(coco.getImgIds()) == 30 and len(coco.getAnnIds()) == 64
    cats = {c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert {"Effusion", "Lung Opacity", "Nodule"} <= cats
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert ann["bbox"] == [12, 705, 273, 142] and ann["area"] == 273 * 142 and ann["iscrowd"] == 0
    data = json.loads(path.read_text())
    assert data["images"][0] == {"id": 1, "file_name": "00000100_000.png", "width": 1024, "height": 1024}


def _with_proposals(ann: AnnotationSet, shift: float) -> AnnotationSet:
    props = [BoxRecord(b.image_key, b.label, Box(b.box.x0 + shift, b.box.y0, min(b.box.x1 + shift, 1024), b.box.y1),
                       kind="proposal", score=0.5 + 0.001 * n, method="crosseai")
             for n, b in enumerate(ann.boxes)]
    return AnnotationSet(images=ann.images, boxes=list(ann.boxes) + props, labels=ann.labels)


def test_coco_eval_of_proposals_against_reviewed_boxes(chest_boxes_csv, tmp_path):
    ann = read_nih_csv(chest_boxes_csv)
    ref = write_coco(ann, tmp_path / "reviewed.json")
    perfect = write_coco(_with_proposals(ann, 0.0), tmp_path / "perfect.json", which="proposals")
    stats = coco_eval(ref, perfect)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    assert stats["n_reference_boxes"] == 64 and stats["n_proposals"] == 64 and stats["proposals_ignored"] == 0
    # Shifted proposals score lower; a "both" export evaluates against itself.
    both = write_coco(_with_proposals(ann, 25.0), tmp_path / "both.json", which="both")
    shifted = coco_eval(both)
    assert 0 <= shifted["AP"] < 0.9 and shifted["AP"] < stats["AP"]
    assert shifted["n_reference_boxes"] == 64
    # A COCO results list in the reference's ids gives the same numbers as the dataset file.
    results = coco_results(_with_proposals(ann, 25.0), which_ids="reviewed")
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert coco_eval(ref, tmp_path / "results.json")["AP"] == pytest.approx(shifted["AP"])
    # No proposals at all: AP 0, not a crash.
    none = coco_eval(ref, ref)
    assert none["n_proposals"] == 0 and none["AP"] <= 0


def test_coco_eval_ignores_unknown_images_and_labels(tmp_path):
    ann = _review_set()
    ref = write_coco(ann, tmp_path / "ref.json")
    other = AnnotationSet([ImageRecord("elsewhere.png", 100, 80), ImageRecord("a.png", 100, 80)],
                          [BoxRecord("elsewhere.png", "Mass", Box(1, 1, 5, 5), kind="proposal", score=0.3),
                           BoxRecord("a.png", "Hernia", Box(1, 1, 5, 5), kind="proposal", score=0.3),
                           BoxRecord("a.png", "Mass", Box(2, 2, 22, 21), kind="proposal", score=0.8)])
    stats = coco_eval(ref, write_coco(other, tmp_path / "other.json", which="proposals"))
    assert stats["proposals_ignored"] == 2 and stats["n_proposals"] == 1


def test_detect_format_and_registry(tmp_path):
    ann = _review_set()
    written = {
        "coco": write_coco(ann, tmp_path / "a.json"),
        "voc": write_voc(ann, tmp_path / "voc"),
        "yolo": write_yolo(ann, tmp_path / "yolo"),
        "nih-csv": write_nih_csv(ann, tmp_path / "nih.csv"),
        "csv": write_flat_csv(ann, tmp_path / "flat.csv"),
    }
    for fmt, path in written.items():
        assert detect_format(path) == fmt
        reader, writer = FORMATS[fmt]
        assert writer.__name__.startswith("write_") and reader.__name__.startswith("read_")


@pytest.mark.parametrize("writer, reader", [(write_flat_csv, read_flat_csv),
                                            (write_nih_csv, read_nih_csv)])
def test_csv_cells_that_would_run_as_formulas_are_neutralised_and_read_back(writer, reader, tmp_path):
    """Issue 14 defect 8: a label =HYPERLINK(...) was written verbatim (OWASP CSV injection)."""
    import csv

    labels = ['=HYPERLINK("http://x.example","click")', "+1+1", "-cmd", "@SUM(A1)", "plain", "-2"]
    images = [ImageRecord(f"img{i}.png", 100, 100) for i in range(len(labels))]
    boxes = [BoxRecord(img.key, label, Box(10, 10, 50, 50)) for img, label in zip(images, labels)]
    import cv2
    import numpy as np

    for img in images:   # the NIH layout has no image size: the reader takes it from the files
        cv2.imwrite(str(tmp_path / img.key), np.zeros((100, 100), np.uint8))
    path = writer(AnnotationSet(images=images, boxes=boxes, labels=labels), tmp_path / "boxes.csv")
    with open(path, newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@")) or (c.startswith("-") and c != "-2")]
    assert "'=HYPERLINK(\"http://x.example\",\"click\")" in cells and "-2" in cells
    got = reader(path, tmp_path)
    assert sorted(b.label for b in got.boxes) == sorted(labels)      # the import undoes it


def test_a_folder_holding_only_a_linked_folder_is_not_empty(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ExportError, match="holds a symbolic link \\(link\\)"):
        write_voc(_review_set(), out, overwrite=True)
    assert list(elsewhere.iterdir()) == []
