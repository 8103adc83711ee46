"""Fuzzing every reader of user files (issue 14): real files, mutated (bytes flipped, cut,
inserted, JSON nested), go through the importers, the image readers, the model-card reader and
the plugin-declaration reader. Each either reads cleanly or fails with one InputFileError that
names the file; never a traceback of another kind. A refused import leaves the database as it
was. Hypothesis runs a fixed, derandomised budget of examples per reader, so CI is repeatable
and fast (the counts are printed with -s and asserted at the end)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.exchange import (AnnotationSet, BoxRecord, ImageRecord, read_coco, read_flat_csv,
                                          read_nih_csv, read_voc, read_yolo, write_coco, write_flat_csv,
                                          write_nih_csv, write_voc, write_yolo)
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import load_card
from medxai_desktop.core.plugins.declaration import read_module_declaration
from medxai_desktop.core.resources import demo_model_card
from medxai_desktop.core.store import ReviewStore

EXAMPLES = 150
COUNTS: dict[str, dict[str, int]] = {}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """``data`` changed the ways broken files are broken: flipped bytes, cut, inserted junk,
    a byte range repeated, or (for text) wrapped in brackets."""
    kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "nest"]))
    n = len(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, n - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "cut":
        return data[: draw(st.integers(0, n - 1))]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return data[:i] + draw(st.binary(min_size=1, max_size=64)) + data[i:]
    if kind == "repeat":
        i = draw(st.integers(0, n - 1))
        j = draw(st.integers(i, min(n, i + 256)))
        return data[:j] + data[i:j] * draw(st.integers(2, 50)) + data[j:]
    depth = draw(st.integers(1, 100_000))
    return b"[" * depth + data + b"]" * depth


def check(reader_name: str, path: Path, read) -> object | None:
    """Run ``read``; a clean result or an InputFileError naming ``path``, counted."""
    counts = COUNTS.setdefault(reader_name, {"cases": 0, "read": 0, "clear errors": 0})
    counts["cases"] += 1
    try:
        result = read()
    except InputFileError as exc:
        assert path.name in str(exc) and "\n" not in str(exc).strip(), str(exc)
        counts["clear errors"] += 1
        return None
    counts["read"] += 1
    return result


# ------------------------------------------------------------------------------ seeds

def _annotations() -> AnnotationSet:
    images = [ImageRecord("a.png", 64, 48), ImageRecord("sub/b.png", 32, 32)]
    boxes = [BoxRecord("a.png", "Mass", Box(2, 3, 20, 30)), BoxRecord("sub/b.png", "Nodule", Box(1, 1, 9, 9)),
             BoxRecord("a.png", "Nodule", Box(10.5, 4.25, 40, 41))]
    return AnnotationSet(images=images, boxes=boxes, labels=["Mass", "Nodule"])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seeds")
    (root / "sub").mkdir()
    cv2.imwrite(str(root / "a.png"), np.random.default_rng(0).integers(0, 255, (48, 64), np.uint8))
    cv2.imwrite(str(root / "sub" / "b.png"), np.zeros((32, 32), np.uint8))
    cv2.imwrite(str(root / "c.jpg"), np.random.default_rng(1).integers(0, 255, (40, 40, 3), np.uint8))
    ann = _annotations()
    from pydicom.data import get_testdata_file

    shutil.copyfile(get_testdata_file("CT_small.dcm"), root / "ct.dcm")
    return {"coco": write_coco(ann, root / "boxes.json"), "flat": write_flat_csv(ann, root / "flat.csv"),
            "nih": write_nih_csv(ann, root / "nih.csv"), "voc": write_voc(ann, root / "voc") / "a.xml",
            "yolo": write_yolo(ann, root / "yolo") / "a.txt", "root": root}


def _mutant(seeds, tmp_path: Path, source: Path, data: bytes) -> Path:
    path = tmp_path / source.name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------ the readers

@pytest.mark.parametrize("fmt", ["coco", "flat", "nih"])
@FUZZ
@given(data=st.data())
def test_annotation_files_read_or_fail_cleanly(seeds, tmp_path, fmt, data):
    source = seeds[fmt]
    path = _mutant(seeds, tmp_path, source, data.draw(mutations(source.read_bytes())))
    readers = {"coco": read_coco, "flat": read_flat_csv, "nih": read_nih_csv}
    check(fmt, path, lambda: readers[fmt](path, seeds["root"]))


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
@FUZZ
@given(data=st.data())
def test_per_image_annotation_files_read_or_fail_cleanly(seeds, tmp_path, fmt, data):
    source = seeds[fmt]
    folder = tmp_path / fmt
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source.parent, folder)
    path = folder / source.name
    path.write_bytes(data.draw(mutations(source.read_bytes())))
    read = (lambda: read_voc(folder, seeds["root"])) if fmt == "voc" else (lambda: read_yolo(folder, seeds["root"]))
    check(fmt, path if fmt == "voc" else folder, read)


@pytest.mark.parametrize("name", ["a.png", "c.jpg", "ct.dcm"])
@FUZZ
@given(data=st.data())
def test_images_read_or_fail_cleanly(seeds, tmp_path, name, data):
    source = seeds["root"] / name
    path = _mutant(seeds, tmp_path, source, data.draw(mutations(source.read_bytes())))
    check(f"image {Path(name).suffix}", path, lambda: read_image(path))


@FUZZ
@given(data=st.data())
def test_model_cards_read_or_fail_cleanly(tmp_path, data):
    source = demo_model_card()
    path = _mutant(None, tmp_path, source, data.draw(mutations(source.read_bytes())))
    check("model card", path, lambda: load_card(path))


@FUZZ
@given(data=st.data())
def test_plugin_declarations_never_raise(tmp_path, data):
    source = Path(__file__).resolve().parents[1] / "plugins" / "occlusion.py"
    path = _mutant(None, tmp_path, source, data.draw(mutations(source.read_bytes())))
    counts = COUNTS.setdefault("plugin declaration", {"cases": 0, "read": 0, "clear errors": 0})
    counts["cases"] += 1
    info = read_module_declaration(path)          # a broken plugin is reported, never raised
    counts["clear errors" if info.error else "read"] += 1


@FUZZ
@given(data=st.data())
def test_a_refused_import_leaves_the_database_unchanged(seeds, tmp_path, data):
    from medxai_desktop.cli import main as medxai

    db = tmp_path / "reviews.sqlite3"
    url = f"sqlite:///{db}"
    if not db.exists():
        assert medxai(["--db", url, "import", "coco", str(seeds["coco"]), "--images", str(seeds["root"])]) == 0
    with ReviewStore(url) as store:
        before = store.info()["counts"]
    path = _mutant(seeds, tmp_path, seeds["coco"], data.draw(mutations(seeds["coco"].read_bytes())))
    code = medxai(["--db", url, "import", "coco", str(path), "--images", str(seeds["root"])])
    counts = COUNTS.setdefault("import into the database", {"cases": 0, "read": 0, "clear errors": 0})
    counts["cases"] += 1
    if code == 2:
        counts["clear errors"] += 1
        with ReviewStore(url) as store:
            assert store.info()["counts"] == before
    else:
        assert code == 0
        counts["read"] += 1


def test_zz_every_reader_ran_its_budget():
    """Runs last in this file: the counts (see -s)."""
    print(json.dumps(COUNTS, indent=1))
    total = sum(c["cases"] for c in COUNTS.values())
    print(f"fuzz cases: {total}, clear errors: {sum(c['clear errors'] for c in COUNTS.values())}, tracebacks: 0")
    assert all(c["cases"] >= EXAMPLES for c in COUNTS.values()) and len(COUNTS) >= 11
