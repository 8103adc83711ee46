"""Bad input to every importer: an ExchangeError naming the file, the line or record, and the
reason; never a partial AnnotationSet."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from medxai_desktop.core.exchange import (
    ExchangeError, ImageRecord, read_coco, read_dicom_sr, read_flat_csv, read_nih_csv, read_voc,
    read_yolo,
)


def expect_error(call, path: Path, where: str | None, reason: str) -> ExchangeError:
    with pytest.raises(ExchangeError) as info:
        call()
    err = info.value
    assert err.path == path, f"error names {err.path}, not {path}"
    assert err.where == where, f"where={err.where!r}, wanted {where!r} ({err})"
    assert reason in err.reason, f"reason {err.reason!r} lacks {reason!r}"
    assert str(path) in str(err) and (where is None or where in str(err))
    return err


# ---------------------------------------------------------------------------- COCO

def _coco(**changes) -> dict:
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b.png", "width": 50, "height": 50}],
        "categories": [{"id": 1, "name": "Mass"}, {"id": 2, "name": "Nodule"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
                        {"id": 7, "image_id": 2, "category_id": 2, "bbox": [10, 10, 5, 5], "area": 25, "iscrowd": 0}],
    }
    for key, value in changes.items():
        if key.startswith("ann7_"):
            field = key[5:]
            if value is None:
                del data["annotations"][1][field]
            else:
                data["annotations"][1][field] = value
        elif key.startswith("img2_"):
            data["images"][1][key[5:]] = value
        else:
            data[key] = value
    return data


COCO_CASES = [
    ("missing bbox", _coco(ann7_bbox=None), "annotation id 7", "missing 'bbox'"),
    ("unknown image", _coco(ann7_image_id=9), "annotation id 7", "unknown image_id 9"),
    ("unknown category", _coco(ann7_category_id=3), "annotation id 7", "unknown category_id 3"),
    ("negative size", _coco(ann7_bbox=[10, 10, -5, 5]), "annotation id 7", "negative box size"),
    ("non-numeric", _coco(ann7_bbox=[10, "ten", 5, 5]), "annotation id 7", "bbox y is not a number"),
    ("nan", _coco(ann7_bbox=[10, 10, 5, float("nan")]), "annotation id 7", "not a finite number"),
    ("short bbox", _coco(ann7_bbox=[10, 10, 5]), "annotation id 7", "list [x, y, w, h] of 4 numbers"),
    ("outside", _coco(ann7_bbox=[40, 10, 20, 5]), "annotation id 7", "outside the 50x50 image"),
    ("bad score", _coco(ann7_score="high"), "annotation id 7", "score is not a number"),
    ("bad kind", _coco(ann7_kind="truth"), "annotation id 7", "kind must be"),
    ("negative width", _coco(img2_width=-50), "image id 2", "width must be positive"),
    ("fractional height", _coco(img2_height=50.5), "image id 2", "whole number"),
    # issue 14 defect 5: OverflowError on SQLite, "integer out of range" on PostgreSQL before
    ("huge width", _coco(img2_width=1e30), "image id 2", "width must be at most 1,048,576 pixels"),
    ("int64 width", _coco(img2_width=2 ** 63), "image id 2", "width must be at most"),
    # issue 14 defect 9: accepted silently before (and "." could not be exported again)
    ("dot file_name", _coco(img2_file_name="."), "image id 2", "not a relative file name"),
    ("dotdot file_name", _coco(img2_file_name="../b.png"), "image id 2", "not a relative file name"),
    ("reserved file_name", _coco(img2_file_name="CON"), "image id 2", "not a relative file name"),
    ("string width", _coco(img2_width="50"), "image id 2", "COCO numbers are JSON numbers"),
    ("string bbox", _coco(ann7_bbox=["10", 10, 5, 5]), "annotation id 7", "COCO numbers are JSON numbers"),
    ("NUL in a category", _coco(categories=[{"id": 1, "name": "Mass"}, {"id": 2, "name": "No\x00dule"}]),
     "category id 2", "control character"),
    ("long category", _coco(categories=[{"id": 1, "name": "Mass"}, {"id": 2, "name": "x" * 300}]),
     "category id 2", "at most 200"),
    ("duplicate annotation id", _coco(annotations=[
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 5, "image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4]}]), "annotation id 5",
     "duplicate annotation id"),
    ("missing file_name", _coco(img2_file_name=""), "image id 2", "file_name must be a non-empty string"),
    ("duplicate image", _coco(images=[{"id": 1, "file_name": "a.png", "width": 1, "height": 1}] * 2),
     "image id 1", "duplicate image id"),
    ("no categories", {"images": [], "annotations": []}, None, "missing 'categories'"),
    ("annotations not a list", _coco(annotations={}), "annotations", "must be a list"),
    ("results list", [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}], None,
     "a COCO results list"),
    ("not an object", "just text", None, "expected a JSON object"),
]


@pytest.mark.parametrize("name,data,where,reason", COCO_CASES, ids=[c[0] for c in COCO_CASES])
def test_coco_rejects(name, data, where, reason, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    expect_error(lambda: read_coco(path), path, where, reason)


def test_coco_rejects_broken_bytes(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b"")
    expect_error(lambda: read_coco(path), path, None, "empty file")
    path.write_bytes(b'{"images": [],\n "categories": [{"id": 1, "name": "caf\xe9"}],\n "annotations": []}')
    expect_error(lambda: read_coco(path), path, "line 2", "not UTF-8 text (byte 0xe9")
    path.write_text('{"images": [],\n"annotations": [}')
    expect_error(lambda: read_coco(path), path, "line 2", "not valid JSON")
    missing = tmp_path / "missing.json"
    expect_error(lambda: read_coco(missing), missing, None, "file not found")


def test_coco_valid_file_reads(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(_coco()))
    ann = read_coco(path)
    assert [(b.image_key, b.label, b.box.xywh()) for b in ann.boxes] == [
        ("a.png", "Mass", (1, 2, 3, 4)), ("b.png", "Nodule", (10, 10, 5, 5))]


# ---------------------------------------------------------------------------- VOC

def _voc(objects: str, size: str = "<size><width>100</width><height>80</height><depth>1</depth></size>") -> str:
    return f"<annotation><filename>a.png</filename>{size}{objects}</annotation>"


GOOD_OBJ = "<object><name>Mass</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>"


def _obj(xmin="1", ymin="1", xmax="10", ymax="10", name="Mass") -> str:
    return (f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


VOC_CASES = [
    ("missing bndbox", _voc(GOOD_OBJ + "<object><name>Mass</name></object>"), "object 2", "missing <bndbox>"),
    ("missing ymax", _voc(GOOD_OBJ + _obj().replace("<ymax>10</ymax>", "")), "object 2", "missing <ymax>"),
    ("non-numeric", _voc(GOOD_OBJ + _obj(xmin="one")), "object 2", "xmin is not a number"),
    ("negative size", _voc(GOOD_OBJ + _obj(xmin="20", xmax="10")), "object 2", "negative box size"),
    ("outside", _voc(GOOD_OBJ + _obj(xmax="101")), "object 2", "outside the 100x80 image"),
    ("zero-based xmin", _voc(_obj(xmin="0")), "object 1", "outside the 100x80 image"),
    ("empty name", _voc(_obj(name="")), "object 1", "<name> is empty"),
    ("long name", _voc(_obj(name="x" * 300)), "object 1", "at most 200"),     # issue 14 defect 6
    ("control character", _voc(_obj(name="Ma\tss")), "object 1", "control character"),
    ("missing size", _voc(GOOD_OBJ, size=""), None, "missing <size>"),
    ("negative width", _voc(GOOD_OBJ, size="<size><width>-5</width><height>80</height></size>"), None,
     "size width must be positive"),
    ("wrong root", "<annotations><object/></annotations>", None, "not <annotation>"),
    ("not XML", "<annotation><filename>a.png</filename>\n<size>", "line 2", "not well-formed XML"),
]


@pytest.mark.parametrize("name,text,where,reason", VOC_CASES, ids=[c[0] for c in VOC_CASES])
def test_voc_rejects(name, text, where, reason, tmp_path):
    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "0_good.xml").write_text(_voc(GOOD_OBJ).replace("a.png", "good.png"))
    path = folder / "a.xml"
    path.write_text(text)
    expect_error(lambda: read_voc(folder), path, where, reason)  # a folder: whole or nothing


def test_voc_rejects_broken_bytes(tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(b"")
    expect_error(lambda: read_voc(path), path, None, "empty file")
    path.write_bytes(b"<annotation>\n<filename>\xff.png</filename></annotation>")
    expect_error(lambda: read_voc(path), path, "line 2", "not UTF-8 text")
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    expect_error(lambda: read_voc(empty_dir), empty_dir, None, "no .xml files")


# ---------------------------------------------------------------------------- YOLO

@pytest.fixture
def yolo_dir(tmp_path) -> Path:
    folder = tmp_path / "yolo"
    folder.mkdir()
    (folder / "classes.txt").write_text("Mass\nNodule\n")
    (folder / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return folder


YOLO_IMAGES = [ImageRecord("good.png", 100, 80), ImageRecord("a.png", 100, 80)]

YOLO_CASES = [
    ("field count", "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n", "line 2", "expected 5 fields"),
    ("class range", "0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n", "line 2", "unknown class id 2"),
    ("class not int", "x 0.5 0.5 0.2 0.2\n", "line 1", "class id 'x' is not an integer"),
    ("non-numeric", "0 0.5 half 0.2 0.2\n", "line 1", "y_center is not a number"),
    ("outside", "0 0.5 0.5 0.2 0.2\n\n1 0.95 0.5 0.2 0.2\n", "line 3", "outside the 100x80 image"),
    ("negative size", "0 0.5 0.5 -0.2 0.2\n", "line 1", "negative box size"),
    ("bad score", "0 0.5 0.5 0.2 0.2 sure\n", "line 1", "score is not a number"),
]


@pytest.mark.parametrize("name,text,where,reason", YOLO_CASES, ids=[c[0] for c in YOLO_CASES])
def test_yolo_rejects(name, text, where, reason, yolo_dir):
    path = yolo_dir / "a.txt"
    path.write_text(text)
    expect_error(lambda: read_yolo(yolo_dir, images=YOLO_IMAGES), path, where, reason)


def test_yolo_rejects_missing_context(yolo_dir, tmp_path):
    expect_error(lambda: read_yolo(yolo_dir), yolo_dir, None, "pass images_dir")
    (yolo_dir / "a.txt").write_bytes(b"0 0.5 0.5 0.2 0.2\n0 0.5\xff 0.5 0.2 0.2\n")
    expect_error(lambda: read_yolo(yolo_dir, images=YOLO_IMAGES), yolo_dir / "a.txt", "line 2", "not UTF-8")
    (yolo_dir / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    expect_error(lambda: read_yolo(yolo_dir, images_dir=images_dir), yolo_dir / "a.txt", None,
                 "no single image named a.*")
    (yolo_dir / "classes.txt").write_text("Mass\n\nNodule\n")
    expect_error(lambda: read_yolo(yolo_dir, images=YOLO_IMAGES), yolo_dir / "classes.txt", "line 2",
                 "empty class name")
    (yolo_dir / "classes.txt").write_text("Mass\n" + "x" * 300 + "\n")            # issue 14 defect 6
    expect_error(lambda: read_yolo(yolo_dir, images=YOLO_IMAGES), yolo_dir / "classes.txt", "line 2",
                 "at most 200")
    (yolo_dir / "classes.txt").unlink()
    expect_error(lambda: read_yolo(yolo_dir, images=YOLO_IMAGES), yolo_dir / "classes.txt", None,
                 "classes.txt not found")


def test_yolo_reads_sizes_from_images_dir(yolo_dir, tmp_path):
    from PIL import Image

    images_dir = tmp_path / "images"
    images_dir.mkdir()
    Image.new("L", (100, 80)).save(images_dir / "good.png")
    Image.new("L", (200, 40)).save(images_dir / "a.jpg")
    (yolo_dir / "a.txt").write_text("1 0.5 0.5 1 1\n")
    ann = read_yolo(yolo_dir, images_dir=images_dir)
    assert {i.key: (i.width, i.height) for i in ann.images} == {"good.png": (100, 80), "a.jpg": (200, 40)}
    assert [(b.image_key, b.label) for b in ann.boxes] == [("a.jpg", "Nodule"), ("good.png", "Mass")]
    assert ann.boxes_of("good.png")[0].box.xywh() == pytest.approx((40, 32, 20, 16))
    assert ann.boxes_of("a.jpg")[0].box.xywh() == (0, 0, 200, 40)


# ---------------------------------------------------------------------------- NIH CSV

NIH = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
BOXES = "image,source,label,x,y,w,h\n"

NIH_CASES = [
    ("unknown header", "file,what,x,y\na.png,Mass,1,2\n", "line 1", "unknown header"),
    ("non-numeric", NIH + "a.png,Mass,1,2,3,4,,,\nb.png,Mass,1,two,3,4,,,\n", "line 3", "y is not a number"),
    ("negative size", NIH + "a.png,Mass,1,2,-3,4,,,\n", "line 2", "negative box size"),
    ("outside", NIH + "a.png,Mass,1000,2,30,4,,,\n", "line 2", "outside the 1024x1024 image"),
    ("too few columns", NIH + "a.png,Mass,1,2,3\n", "line 2", "expected 6 columns"),
    ("missing label", NIH + "a.png,,1,2,3,4,,,\n", "line 2", "finding label is missing"),
    ("junk after box", NIH + "a.png,Mass,1,2,3,4,5,,\n", "line 2", "unexpected values after the box"),
    ("boxes layout non-numeric", BOXES + "a.png,x,Mass,1,2,3,\n", "line 2", "h is missing"),
    ("boxes layout width", BOXES + "a.png,x,Mass,1,2,3,4,5\n", "line 2", "expected 7 columns"),
    ("quote", NIH + 'a.png,"Mass,1,2,3,4\n', "line 2", "malformed CSV"),
]


@pytest.mark.parametrize("name,text,where,reason", NIH_CASES, ids=[c[0] for c in NIH_CASES])
def test_nih_csv_rejects(name, text, where, reason, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    expect_error(lambda: read_nih_csv(path), path, where, reason)


def test_nih_csv_rejects_broken_bytes_and_missing_images(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"")
    expect_error(lambda: read_nih_csv(path), path, None, "empty file")
    path.write_bytes(NIH.encode() + b"a.png,Mass,1,2,3,4,,,\nb\xe9.png,Mass,1,2,3,4,,,\n")
    expect_error(lambda: read_nih_csv(path), path, "line 3", "not UTF-8 text (byte 0xe9")
    path.write_text(NIH + "a.png,Mass,1,2,3,4,,,\n")
    images = tmp_path / "images"
    expect_error(lambda: read_nih_csv(path, images_dir=images), path, None, "images folder not found")
    images.mkdir()
    expect_error(lambda: read_nih_csv(path, images_dir=images), path, "line 2", "image a.png not found")
    (images / "a.png").write_bytes(b"not a png")
    expect_error(lambda: read_nih_csv(path, images_dir=images), path, "line 2", "cannot read the size")


# ---------------------------------------------------------------------------- flat CSV

HEAD = "image,label,x0,y0,x1,y1,kind,score,method,reviewer,state,revision,proposal_id,image_width,image_height\n"
ROW = "a.png,Mass,1,2,3,4,reviewed,,,,,,,100,80\n"

FLAT_CASES = [
    ("missing columns", "image,label,x,y\n", "line 1", "missing column(s) x0, y0, x1, y1"),
    ("non-numeric", HEAD + ROW + "a.png,Mass,1,2,three,4,reviewed,,,,,,,100,80\n", "line 3", "x1 is not a number"),
    ("negative size", HEAD + "a.png,Mass,5,2,3,4,reviewed,,,,,,,100,80\n", "line 2", "negative box size"),
    ("outside", HEAD + "a.png,Mass,1,2,3,81,reviewed,,,,,,,100,80\n", "line 2", "outside the 100x80 image"),
    ("bad kind", HEAD + "a.png,Mass,1,2,3,4,truth,,,,,,,100,80\n", "line 2", "kind must be"),
    ("bad revision", HEAD + "a.png,Mass,1,2,3,4,reviewed,,,,,two,,100,80\n", "line 2", "revision is not an integer"),
    ("bad score", HEAD + "a.png,Mass,1,2,3,4,proposal,0.x,,,,,,100,80\n", "line 2", "score is not a number"),
    ("column count", HEAD + "a.png,Mass,1,2,3,4\n", "line 2", "expected 15 columns, got 6"),
    ("negative image size", HEAD + "a.png,Mass,1,2,3,4,reviewed,,,,,,,-100,80\n", "line 2",
     "image_width must be positive"),
    ("missing label", HEAD + "a.png,,1,2,3,4,reviewed,,,,,,,100,80\n", "line 2", "label is missing"),
    ("size conflict", HEAD + ROW + "a.png,Mass,1,2,3,4,reviewed,,,,,,,90,80\n", "line 3", "given as 90x80 here"),
]


@pytest.mark.parametrize("name,text,where,reason", FLAT_CASES, ids=[c[0] for c in FLAT_CASES])
def test_flat_csv_rejects(name, text, where, reason, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    expect_error(lambda: read_flat_csv(path), path, where, reason)


def test_flat_csv_rejects_broken_bytes(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"  \n\n")
    expect_error(lambda: read_flat_csv(path), path, None, "empty file")
    path.write_bytes(HEAD.encode() + ROW.encode() + ROW.encode() + b"\x80a.png,Mass,1,2,3,4,reviewed,,,,,,,100,80\n")
    expect_error(lambda: read_flat_csv(path), path, "line 4", "not UTF-8 text (byte 0x80")


def test_flat_csv_minimal_columns_read(tmp_path):
    path = tmp_path / "min.csv"
    path.write_text("image,label,x0,y0,x1,y1\na.png,Mass,1,2,3,4\n")
    ann = read_flat_csv(path)
    assert [(b.kind, b.box.xywh()) for b in ann.boxes] == [("reviewed", (1, 2, 2, 2))]
    assert (ann.images[0].width, ann.images[0].height) == (0, 0)  # unknown


# ---------------------------------------------------------------------------- DICOM SR

def test_dicom_sr_rejects_non_sr_files(tmp_path):
    from pydicom.data import get_testdata_file

    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    expect_error(lambda: read_dicom_sr(empty), empty, None, "empty file")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all" * 20)
    expect_error(lambda: read_dicom_sr(junk), junk, None, "not a DICOM file")
    ct = Path(get_testdata_file("CT_small.dcm", download=False))
    expect_error(lambda: read_dicom_sr(ct), ct, None, "not a DICOM SR document")



def test_deeply_nested_json_is_one_error_not_a_recursion_traceback(tmp_path, monkeypatch):
    """Issue 14 defect 5: COCO, a model card and plugins.json nested 100,000 deep."""
    from medxai_desktop.core.errors import InputFileError
    from medxai_desktop.core.models import load_card
    from medxai_desktop.core.plugins import state

    deep = '{"images": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "deep.json"
    path.write_text(deep)
    expect_error(lambda: read_coco(path), path, None, "nested too deeply")
    with pytest.raises(InputFileError, match="deep.json: model card is not valid JSON .*nested too deeply"):
        load_card(path)
    settings = tmp_path / "plugins.json"
    settings.write_text(deep)
    monkeypatch.setattr(state, "state_path", lambda: settings)
    with pytest.raises(InputFileError, match="plugins.json: plugin settings are not valid JSON .*nested too deeply"):
        state.enabled_names()


@pytest.mark.parametrize("reader, header", [(read_flat_csv, "image,label,x0,y0,x1,y1\n"),
                                            (read_nih_csv, "image,label,x,y,w,h\n")])
def test_csv_labels_with_a_nul_byte_or_too_long_are_refused(reader, header, tmp_path):
    """Issue 14 defects 6 and 9: accepted silently by SQLite, refused by PostgreSQL before."""
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((50, 50), np.uint8))
    for label, reason in (("Ma\x00ss", "control character"), ("x" * 300, "at most 200")):
        path = tmp_path / "bad.csv"
        path.write_text(header + f"a.png,{label},1,1,5,5\n")
        expect_error(lambda: reader(path, tmp_path), path, "line 2", reason)


# ---------------------------------------------------------------------------- issue 23 defects 5 and 7

READ_IN_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))   # the old reader would take all memory
from medxai_desktop.core.exchange import read_flat_csv
from medxai_desktop.core.errors import InputFileError
try:
    read_flat_csv(sys.argv[1])
    print("read")
except InputFileError as exc:
    print(exc)
"""


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
def test_importing_a_device_or_a_fifo_is_refused_before_anything_is_read(kind, tmp_path):
    """`import csv /dev/zero` was OOM-killed at 21 GB; a FIFO waited for a writer forever."""
    import subprocess
    import sys

    from tests.special_files import make_special

    path = make_special(kind, tmp_path / "boxes.csv")
    try:
        run = subprocess.run([sys.executable, "-c", READ_IN_CHILD, str(path)], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {kind} still going after 60 s")
    assert run.stdout.strip() == f"{path}: not a regular file but " + (
        "a character device; not read" if kind == "/dev/zero" else "a named pipe (FIFO); not read"), run.stderr


def test_an_annotation_file_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "flat.csv"
    path.write_text("image,label,x0,y0,x1,y1\n" + "a.png,Mass,0,0,1,1\n" * 100)
    monkeypatch.setenv("MEDXAI_MAX_ANNOTATION_BYTES", "1000")
    expect_error(lambda: read_flat_csv(path), path, None, "bytes is larger than the limit of 1,000 for annotation")


@pytest.fixture
def outside(tmp_path) -> tuple[Path, Path]:
    """An images folder, and an image beside it (outside it) that a key must not reach."""
    import cv2
    import numpy as np

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((20, 30), np.uint8))
    cv2.imwrite(str(images / "in.png"), np.zeros((20, 30), np.uint8))
    return images, tmp_path / "x.png"


def _no_opening(monkeypatch) -> list:
    """Record every image file the importers open (their header reads)."""
    import medxai_desktop.core.exchange._images as images_module

    opened = []
    real = images_module.read_head

    def read_head(path):
        opened.append(Path(path))
        return real(path)

    monkeypatch.setattr(images_module, "read_head", read_head)
    return opened


def _key_files(tmp_path: Path, key: str) -> dict:
    (tmp_path / "voc").mkdir(exist_ok=True)
    (tmp_path / "voc" / "a.xml").write_text(
        f"<annotation><filename>{key}</filename><size><width>30</width><height>20</height></size></annotation>")
    return {"flat": (tmp_path / "flat.csv", f"image,label,x0,y0,x1,y1\n{key},Mass,0,0,1,1\n", read_flat_csv, "line 2"),
            "nih": (tmp_path / "nih.csv", f"image,label,x,y,w,h\n{key},Mass,0,0,1,1\n", read_nih_csv, "line 2"),
            "voc": (tmp_path / "voc" / "a.xml", None, read_voc, None)}


@pytest.mark.parametrize("fmt", ["flat", "nih", "voc"])
@pytest.mark.parametrize("key", ["../x.png", "ABSOLUTE", "../../../../../../etc/passwd", "sub/../../x.png"])
def test_every_importer_refuses_an_image_key_outside_the_images_folder_before_opening_it(
        fmt, key, outside, tmp_path, monkeypatch):
    """The flat CSV read `../x.png` and absolute paths outside --images, and opened
    ../../etc/passwd before refusing it as not an image; COCO refused them: one rule for all."""
    images, beside = outside
    key = str(beside) if key == "ABSOLUTE" else key
    opened = _no_opening(monkeypatch)
    path, text, reader, where = _key_files(tmp_path, key)[fmt]
    if text is not None:
        path.write_text(text)
    expect_error(lambda: reader(path, images), path, where, "is not a relative file name")
    assert opened == []


def test_a_link_in_the_images_folder_to_a_file_outside_is_not_followed(outside, monkeypatch):
    from medxai_desktop.core.exchange._images import ImageFinder

    images, beside = outside
    (images / "link.png").symlink_to(beside)
    opened = _no_opening(monkeypatch)
    finder = ImageFinder(images)
    assert finder.find("link.png") is None and finder.find("in.png") == images / "in.png"
    assert finder.record("link.png") is None and opened == []
