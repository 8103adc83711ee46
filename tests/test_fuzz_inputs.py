"""Fuzzing every reader of user files (issue 14): real files, mutated (bytes flipped, cut,
inserted, JSON nested), go through the importers, the image readers, the model-card reader and
the plugin-declaration reader. Each either reads cleanly or fails with one InputFileError that
names the file; never a traceback of another kind. A refused import leaves the database as it
was. Hypothesis runs a fixed, derandomised budget of examples per reader, so CI is repeatable
and fast (the counts are printed with -s and asserted at the end)."""
from __future__ import annotations

import json
import shutil
import signal
import time
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
from tests.special_files import SPECIAL, make_special

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


# ------------------------------------------------------------------------------ special files (issue 23)

SPECIAL_COUNTS: dict[str, dict] = {}
SPECIAL_SECONDS = 20          # a reader that takes longer on one of these files hangs
SPECIAL_PEAK_MB = 1024        # ... or that needs more memory than this above where it started


def special_files():
    """Files that are not what they say: a FIFO, links to /dev/zero and /dev/urandom, headers
    declaring huge images (PNG, DICOM, NIfTI), a gzip bomb, a 4 GB (sparse) file."""
    return st.sampled_from(SPECIAL)


class _Hang(BaseException):
    """Raised by the alarm: a BaseException, so no reader's ``except Exception`` can turn it into an error."""


def _alarm(_signum, _frame):
    raise _Hang


def _memory_kb(field: str) -> int:
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1])


def check_special(reader_name: str, kind: str, path: Path, read) -> None:
    """``read`` a special file: one InputFileError naming it (or a clean read of nothing), within
    SPECIAL_SECONDS and SPECIAL_PEAK_MB above the memory in use before; counted."""
    counts = SPECIAL_COUNTS.setdefault(reader_name, {"cases": 0, "clear errors": 0, "read": 0, "tracebacks": 0,
                                                     "hangs": 0, "peak MB": 0.0, "kinds": set()})
    counts["cases"] += 1
    counts["kinds"].add(kind)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")           # VmHWM starts again from the memory in use now
    before = _memory_kb("VmRSS")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SPECIAL_SECONDS)
    try:
        result = read()
        counts["read"] += 1
    except InputFileError as exc:
        assert path.name in str(exc) and "\n" not in str(exc).strip(), str(exc)
        counts["clear errors"] += 1
        result = None
    except _Hang:
        counts["hangs"] += 1
        raise AssertionError(f"{reader_name} on {kind}: still reading after {SPECIAL_SECONDS} s") from None
    except Exception:
        counts["tracebacks"] += 1
        raise
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    peak = (_memory_kb("VmHWM") - before) / 1024
    counts["peak MB"] = max(counts["peak MB"], round(peak, 1))
    assert peak < SPECIAL_PEAK_MB, f"{reader_name} on {kind}: {peak:.0f} MB"
    return result


def _special_readers(seeds, folder: Path) -> dict:
    """Each reader of a user file, given the special file at the path it reads."""
    root = seeds["root"]

    def yolo_labels(path):
        shutil.copyfile(seeds["yolo"].parent / "classes.txt", folder / "classes.txt")
        return read_yolo(folder, root)

    def named_image(path):        # an annotation file naming the special file as its image
        images = folder / "images"
        images.mkdir(exist_ok=True)
        path.rename(images / path.name)
        (folder / "flat.csv").write_text(f"image,label,x0,y0,x1,y1\n{path.name},Mass,0,0,1,1\n")
        return read_flat_csv(folder / "flat.csv", images)

    return {"coco": ("boxes.json", lambda p: read_coco(p, root)), "flat csv": ("flat.csv", read_flat_csv),
            "nih csv": ("nih.csv", read_nih_csv), "voc": ("a.xml", lambda p: read_voc(p, root)),
            "yolo label": ("a.txt", yolo_labels), "yolo classes": ("classes.txt",
                                                                   lambda p: read_yolo(folder, root)),
            "image .png": ("s.png", read_image), "image .dcm": ("s.dcm", read_image),
            "image .nii.gz": ("s.nii.gz", read_image), "model card": ("card.json", load_card),
            "image named by an import": ("s.png", named_image)}


SPECIAL_READERS = ("coco", "flat csv", "nih csv", "voc", "yolo label", "yolo classes", "image .png", "image .dcm",
                   "image .nii.gz", "model card", "image named by an import")


@pytest.mark.parametrize("reader_name", SPECIAL_READERS)
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=special_files())
def test_special_files_are_refused_by_every_reader(seeds, tmp_path, reader_name, kind):
    folder = tmp_path / f"case{time.monotonic_ns()}"
    folder.mkdir()
    name, read = _special_readers(seeds, folder)[reader_name]
    path = make_special(kind, folder / name)
    check_special(reader_name, kind, path, lambda: read(path))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=special_files())
def test_special_files_as_plugin_declarations_are_reported(tmp_path, kind):
    folder = tmp_path / f"case{time.monotonic_ns()}"
    folder.mkdir()
    path = make_special(kind, folder / "plugin.py")
    info = check_special("plugin declaration", kind, path, lambda: read_module_declaration(path))
    assert info.error and Path(info.path) == path, info


def test_zz_every_reader_ran_its_budget():
    """Runs last in this file: the counts (see -s)."""
    print(json.dumps(COUNTS, indent=1))
    total = sum(c["cases"] for c in COUNTS.values())
    print(f"fuzz cases: {total}, clear errors: {sum(c['clear errors'] for c in COUNTS.values())}, tracebacks: 0")
    assert all(c["cases"] >= EXAMPLES for c in COUNTS.values()) and len(COUNTS) >= 11
    special = {name: {**c, "kinds": len(c["kinds"])} for name, c in SPECIAL_COUNTS.items()}
    print(json.dumps(special, indent=1))
    print(f"special files: {sum(c['cases'] for c in special.values())} cases, "
          f"{sum(c['clear errors'] for c in special.values())} clear errors, "
          f"{sum(c['read'] for c in special.values())} read (nothing in them), "
          f"{sum(c['tracebacks'] for c in special.values())} tracebacks, "
          f"{sum(c['hangs'] for c in special.values())} hangs, "
          f"peak {max(c['peak MB'] for c in special.values())} MB")
    assert len(special) == len(SPECIAL_READERS) + 1
    assert all(c["kinds"] == len(SPECIAL) and c["tracebacks"] == c["hangs"] == 0 for c in special.values())
