"""`medxai import/export` through the review store, on the 30 boxed NIH chest X-rays."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from medxai_desktop.cli import main
from medxai_desktop.core.exchange import read_coco, read_nih_csv

from .helpers import shared_data


def _boxes(path: Path) -> list[tuple]:
    annotations = read_nih_csv(path)
    return sorted((b.image_key, b.label, round(b.box.x0, 2), round(b.box.y0, 2),
                   round(b.box.width, 2), round(b.box.height, 2)) for b in annotations.boxes)


def test_nih_csv_to_store_to_coco_to_store_to_nih_csv_is_lossless(tmp_path, capsys):
    source = shared_data("chest_xray", "boxes.csv")
    images = shared_data("chest_xray", "images")
    first, second = f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
    assert main(["--db", first, "import", "nih-csv", str(source), "--images", str(images)]) == 0
    assert "imported 64 reference boxes on 30 new" in capsys.readouterr().out
    assert main(["--db", first, "export", "coco", "--out", str(tmp_path / "gt.json")]) == 0
    coco = read_coco(tmp_path / "gt.json")
    assert len(coco.images) == 30 and len(coco.boxes) == 64
    assert main(["--db", second, "import", "coco", str(tmp_path / "gt.json"), "--images", str(images)]) == 0
    assert main(["--db", second, "export", "nih-csv", "--out", str(tmp_path / "back.csv")]) == 0
    assert _boxes(tmp_path / "back.csv") == _boxes(source)
    # Importing the same file again adds nothing.
    assert main(["--db", first, "import", "nih-csv", str(source), "--images", str(images)]) == 0
    assert "imported 0 reference boxes" in capsys.readouterr().out


def test_malformed_import_names_the_line_and_imports_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    rows = list(csv.reader(open(shared_data("chest_xray", "boxes.csv"))))
    rows[5][rows[0].index("w")] = "-12"
    with open(bad, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert main(["--db", db, "import", "nih-csv", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "line 6" in err[0]
    assert main(["--db", db, "export", "csv", "--out", str(tmp_path / "all.csv")]) == 0
    assert len(list(csv.reader(open(tmp_path / "all.csv")))) == 1  # header only: nothing imported


def test_dicom_sr_export_from_the_store(tmp_path, capsys, monkeypatch):
    from pydicom.data import get_testdata_file

    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.exchange import read_dicom_sr
    from medxai_desktop.core.imaging import read_image
    from medxai_desktop.core.store import ReviewStore

    path = get_testdata_file("CT_small.dcm", download=False)
    if path is None:
        pytest.skip("pydicom's CT_small.dcm is not available")
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with ReviewStore(db) as store:
        image_id = store.add_image(read_image(path))
        store.add_box(image_id, Box(10, 12, 30, 40), "nodule", "dr_who")
        store.set_status(image_id, "signed_off", "dr_who")   # the reference is signed-off work
    monkeypatch.setenv("MEDXAI_DEID_SECRET_FILE", str(tmp_path / "secret.key"))
    assert main(["--db", db, "export", "dicom-sr", "--out", str(tmp_path / "sr"), "--deidentify"]) == 2
    assert "no de-identification site secret" in capsys.readouterr().err   # nothing written without one
    assert not (tmp_path / "sr").exists()
    assert main(["deid", "secret", "init"]) == 0
    assert main(["--db", db, "export", "dicom-sr", "--out", str(tmp_path / "sr"), "--deidentify"]) == 0
    (sr_file,) = (tmp_path / "sr").glob("*.dcm")
    back = read_dicom_sr(sr_file)
    (box,) = back.boxes
    assert box.box.x0 == pytest.approx(10, abs=1e-3) and box.box.y1 == pytest.approx(40, abs=1e-3)
    assert box.label.lower() == "nodule"
    assert main(["--db", db, "export", "voc", "--out", str(tmp_path / "voc"), "--deidentify"]) == 0
    (xml,) = (tmp_path / "voc").rglob("*.xml")
    assert "CT_small" not in xml.read_text() and "dr_who" not in xml.read_text()


# ---------------------------------------------------------------------------- issue 23 defect 6

FULL_DISK = """
import resource, signal, sys
import medxai_desktop.core.exchange as exchange
from medxai_desktop.cli import main

get_format = exchange.get_format


def limited_format(fmt):      # the store is opened (and written) first: the limit starts with the writer
    name, writer = get_format(fmt)

    def write(*args, **kwargs):
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
        return writer(*args, **kwargs)
    return name, write


signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # past the limit a write fails with EFBIG
exchange.get_format = limited_format
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def store_of_300(tmp_path_factory) -> str:
    """A review store holding 300 imported reference boxes (one per image, sizes known)."""
    import json

    folder = tmp_path_factory.mktemp("store300")
    coco = {"images": [{"id": n, "file_name": f"img{n:03d}.png", "width": 100, "height": 100} for n in range(300)],
            "categories": [{"id": 1, "name": "Mass"}],
            "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [1, 2, 30, 40]} for n in range(300)]}
    (folder / "gt.json").write_text(json.dumps(coco))
    db = f"sqlite:///{folder / 'db.sqlite3'}"
    assert main(["--db", db, "import", "coco", str(folder / "gt.json")]) == 0
    return db


def _only_what_was_there(folder: Path, before: set) -> None:
    assert {p.name for p in folder.iterdir()} == before, "a partial output was left"


@pytest.mark.parametrize("fmt, out", [("coco", "gt.json"), ("csv", "all.csv"), ("nih-csv", "nih.csv")])
def test_an_export_past_the_file_size_limit_is_one_line_and_leaves_nothing(store_of_300, tmp_path, fmt, out):
    """A full disk or a file-size limit ended in an OSError traceback."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", FULL_DISK, "8000", "--db", store_of_300, "export", fmt,
                          "--out", str(tmp_path / out)], capture_output=True, text=True, timeout=120)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, run.stderr
    assert f"{tmp_path / out}: cannot write (File too large); nothing was written" in err[0]
    _only_what_was_there(tmp_path, set())


@pytest.mark.parametrize("fmt, existing", [("voc", False), ("yolo", False), ("voc", True)])
def test_a_folder_export_on_a_full_disk_is_one_line_and_leaves_no_partial_folder(
        store_of_300, tmp_path, fmt, existing, monkeypatch, capsys):
    """VOC left a partial folder when the disk filled up part way (here: after 50 files)."""
    import errno

    from medxai_desktop.core import atomic_files

    written = []
    real_fsync = atomic_files.os.fsync

    def fsync_until_full(fd):
        written.append(fd)
        if len(written) > 50:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(atomic_files.os, "fsync", fsync_until_full)
    out = tmp_path / "boxes"
    if existing:
        out.mkdir()
    code = main(["--db", store_of_300, "export", fmt, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{out}: cannot write (No space left on device)" in err[0], err
    assert len(written) == 51
    _only_what_was_there(tmp_path, {"boxes"} if existing else set())
    assert not existing or list(out.iterdir()) == []


@pytest.mark.parametrize("fmt, out", [("voc", "boxes"), ("coco", "gt.json")])
def test_an_export_out_that_is_a_link_is_refused_and_not_followed(store_of_300, tmp_path, fmt, out, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere if fmt == "voc" else elsewhere / "other.json"
    if fmt == "coco":
        target.write_text("precious")
    (tmp_path / out).symlink_to(target)
    code = main(["--db", store_of_300, "export", fmt, "--out", str(tmp_path / out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{tmp_path / out}: is a symbolic link" in err[0], err
    assert (tmp_path / out).is_symlink() and [p.name for p in elsewhere.iterdir()] == (
        [] if fmt == "voc" else ["other.json"])
    assert fmt == "voc" or target.read_text() == "precious"
