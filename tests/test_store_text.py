"""Text the review store keeps (issue 14 defect 6): SQLite and PostgreSQL accept and refuse the
same texts -- a DICOM UID of at most 64 characters, a label of at most 200, no NUL byte anywhere
-- with one error naming the file and the field, checked before the database sees them; and file
or folder names whose bytes are not UTF-8 work everywhere (stored, given back, printed,
exported) instead of ending in "surrogates not allowed"."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from medxai_desktop.cli import main
from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.store import ReviewStore, StoreError
from medxai_desktop.core.text_limits import LABEL_MAX, UID_MAX

posix_names = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                 reason="not applicable here: needs a file system that takes any bytes as a name")
NAME = os.fsdecode(b"\xff\xfe.png")        # what Python makes of such a name: lone surrogates
FOLDER = os.fsdecode(b"dir\xff")


class _Card:
    arch, sha256, card_hash = "resnet18", None, "c" * 64

    def to_dict(self):
        return {"arch": self.arch}


def _png(path: Path, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(size * size) % 251).astype(np.uint8).reshape(size, size)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def _one_box(store: ReviewStore) -> tuple[int, int]:
    image_id = store.add_image(ImageRecord("a.png", 100, 100))
    return image_id, store.add_box(image_id, Box(1, 1, 9, 9), "Mass", "ann").box_id


# -- the same limits on both backends -----------------------------------------------------------

def _uid(n: int) -> str:
    return ("1.2." + "3" * n)[:n]


@pytest.mark.parametrize("field", ["study_uid", "series_uid", "sop_uid"])
def test_an_import_with_a_uid_over_64_characters_is_refused_naming_file_and_field(store, field):
    _one_box(store)
    before = store.info()["counts"]
    uids = {"study_uid": _uid(UID_MAX), "series_uid": _uid(UID_MAX - 1), "sop_uid": _uid(UID_MAX - 2)}
    fine = AnnotationSet([ImageRecord("ok.dcm", 10, 10, **uids)], [BoxRecord("ok.dcm", "Mass", Box(1, 1, 5, 5))])
    assert store.import_annotations(fine, "ann", "coco:/data/fine.json").boxes_added == 1  # 64 fit
    counts = store.info()["counts"]
    bad = AnnotationSet([ImageRecord("long.dcm", 10, 10, **{**uids, field: _uid(100)})],
                        [BoxRecord("long.dcm", "Mass", Box(1, 1, 5, 5))])
    with pytest.raises(StoreError) as refused:
        store.import_annotations(bad, "ann", "coco:/data/long.json")
    assert str(refused.value) == (f"coco:/data/long.json: image 'long.dcm': {field} is 100 characters "
                                  f"long; at most {UID_MAX} are kept")
    assert store.info()["counts"] == counts and counts != before


def test_a_medical_image_with_a_long_uid_is_refused_naming_its_file(store, tmp_path):
    image = read_image(_png(tmp_path / "scan.png"))
    image.sop_uid = _uid(65)
    with pytest.raises(StoreError, match=r"image 'scan.png' \(.*scan.png\): sop_uid is 65 characters long"):
        store.add_image(image)
    assert store.images() == []


@pytest.mark.parametrize("text, problem", [
    ("x" * (LABEL_MAX + 1), f"is {LABEL_MAX + 1} characters long; at most {LABEL_MAX} are kept"),
    ("Ma\x00ss", "holds a NUL byte")])
def test_labels_reviewers_and_comments_over_the_limits_are_refused(store, text, problem):
    image_id, box_id = _one_box(store)
    run_id = store.record_run(store.add_model(_Card()), "crosseai")
    before = store.info()["counts"]
    refused = [
        lambda: store.revise_box(box_id, reviewer="ann", expected_revision=1, label=text),
        lambda: store.add_box(image_id, Box(1, 1, 2, 2), text, "ann"),
        lambda: store.accept(box_id, text, 1),
        lambda: store.add_proposals(image_id, run_id, [BoxProposal(Box(1, 1, 2, 2), 0.5, text, "crosseai")]),
        lambda: store.import_annotations(AnnotationSet(
            [ImageRecord("b.png", 9, 9)], [BoxRecord("b.png", text, Box(1, 1, 2, 2))]), "ann", "csv:/data/boxes.csv")]
    if "\x00" in text:  # comments are free in length, but hold no NUL either
        refused.append(lambda: store.accept(box_id, "ann", 1, comment=text))
    for call in refused:
        with pytest.raises(StoreError, match=problem):
            call()
    assert store.info()["counts"] == before
    with pytest.raises(StoreError, match=r"^csv:/data/boxes.csv: box 1: label"):
        refused[-1 if "\x00" not in text else -2]()
    assert store.add_box(image_id, Box(1, 1, 2, 2), "x" * LABEL_MAX, "ann").label == "x" * LABEL_MAX


def test_a_nul_byte_in_a_name_or_description_is_refused_naming_the_field(store, tmp_path):
    image = read_image(_png(tmp_path / "scan.png"))
    image.study_description = "brain\x00mri"
    with pytest.raises(StoreError, match=r"image 'scan.png' .*: study_description holds a NUL byte"):
        store.add_image(image)
    with pytest.raises(StoreError, match=r"image 'a\\x00.png': key holds a NUL byte"):
        store.add_image(ImageRecord("a\x00.png", 10, 10))
    assert store.images() == []


def test_the_cli_refuses_a_coco_file_with_a_long_uid_in_one_line(db_url, tmp_path, capsys):
    coco = tmp_path / "boxes.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.dcm", "width": 10, "height": 10, "study_uid": _uid(100)}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]}],
        "categories": [{"id": 1, "name": "Mass"}]}))
    assert main(["--db", db_url, "import", "coco", str(coco)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(coco) in line and "image 'a.dcm': study_uid is 100 characters long" in line


# -- names whose bytes are not UTF-8 --------------------------------------------------------------

@posix_names
def test_file_and_folder_names_that_are_not_utf8_are_stored_and_given_back(store, tmp_path):
    odd = read_image(_png(tmp_path / NAME))
    in_folder = _png(tmp_path / FOLDER / "a.png")
    image_id = store.add_image(odd)
    assert store.add_image(read_image(tmp_path / NAME)) == image_id          # found again
    info = store.image(image_id)
    assert info.path == str(tmp_path / NAME) and Path(info.path).is_file()   # the same bytes
    assert info.key == "\\xff\\xfe.png"                                      # printable
    record = ImageRecord("a.png", 64, 64, path=in_folder)
    summary = store.import_annotations(AnnotationSet([record], [BoxRecord("a.png", "Mass", Box(1, 1, 9, 9))]),
                                       os.fsdecode(b"r\xe9viewer"), f"csv:{tmp_path / FOLDER / 'boxes.csv'}")
    [imported] = [i for i in store.images() if i.key == "a.png"]
    assert imported.path == str(in_folder) and store.add_image(record) == imported.id
    [box] = store.reference_annotations().boxes
    assert box.extra["source"].endswith("dir\\xff/boxes.csv") and box.reviewer == "r\\xe9viewer"
    assert summary.boxes_added == 1
    store.add_box(image_id, Box(1, 1, 5, 5), "Mass", "ann")
    json.dumps([b.extra for b in store.reference_annotations().boxes], ensure_ascii=False).encode("utf-8")


@posix_names
def test_the_cli_imports_explains_and_exports_such_names(tmp_path):
    folder = tmp_path / FOLDER
    _png(folder / "a.png", 224)
    shutil.copy(folder / "a.png", folder / NAME)
    (folder / "boxes.csv").write_text("image,label,x0,y0,x1,y1\na.png,Mass,1,2,30,40\n")
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    env = dict(os.environ, PYTHONIOENCODING="utf-8")  # strict, as in a UTF-8 locale

    def medxai(*args):
        return subprocess.run([sys.executable, "-m", "medxai_desktop.cli", *map(str, args)],
                              capture_output=True, env=env, timeout=600)
    done = medxai("--db", db, "import", "csv", folder / "boxes.csv", "--images", folder)
    assert done.returncode == 0, done.stderr
    assert "from " + str(tmp_path) + "/dir\\xff/boxes.csv" in done.stdout.decode("utf-8")
    done = medxai("explain", folder / NAME, "--arch", "resnet18", "--random-init", "--classes", "a,b",
                  "--methods", "gradcam", "--device", "cpu", "--out", folder / "out")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")
    assert text.startswith("\\xff\\xfe.png: predicted") and "wrote " + str(tmp_path) + "/dir\\xff/out" in text
    assert (folder / "out" / "explanations.json").is_file()
    with ReviewStore(db) as store:  # the oddly named image, explained in the app
        store.add_image(read_image(folder / NAME))
    for fmt, out in (("coco", "boxes.json"), ("csv", "boxes.csv"), ("voc", "voc")):
        done = medxai("--db", db, "export", fmt, "--which", "proposals", "--out", tmp_path / out)
        assert done.returncode == 0, done.stderr
    assert "\\\\xff\\\\xfe.png" in (tmp_path / "boxes.json").read_text(encoding="utf-8")
    assert (tmp_path / "voc" / "\\xff\\xfe.xml").is_file()
