"""Image bombs (issue 14 defect 1): a file whose header declares more pixels than the limit is
refused from the header, with one clear error naming the file, before anything is decoded; the
readers never let a MemoryError or a decoder assertion escape."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from PIL import Image

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.imaging import ImageReadError, read_image
from medxai_desktop.core.imaging.limits import DEFAULT_MAX_PIXELS

PEAK = """
import json, sys
from medxai_desktop.core.imaging import ImageReadError, read_image
try:
    read_image(sys.argv[1])
    outcome = "decoded"
except ImageReadError as exc:
    outcome = str(exc)
# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
peak_kb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
print(json.dumps({"outcome": outcome, "peak_mb": peak_kb / 1024}))
"""


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    Image.new("1", (30000, 30000)).save(folder / "bomb.png", optimize=True)       # ~110 kB on disk
    Image.new("L", (12000, 12000)).save(folder / "bomb.jpg", quality=10)          # 144 Mpx
    Image.new("L", (20000, 20000)).save(folder / "huge.tiff", compression="tiff_deflate")
    return folder


@pytest.mark.parametrize("name", ["bomb.png", "bomb.jpg", "huge.tiff"])
def test_an_image_bomb_is_refused_from_its_header_with_little_memory(bombs, name):
    path = bombs / name
    run = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=120)
    result = json.loads(run.stdout)
    print(name, path.stat().st_size, "bytes:", result)
    assert name in result["outcome"] and ("larger than the limit" in result["outcome"]
                                          or "pixel limit" in result["outcome"])
    assert result["peak_mb"] < 1024 and run.stderr.strip() == ""


def test_the_cli_stops_with_one_line_on_a_bomb(bombs, tmp_path, capsys):
    code = medxai(["explain", str(bombs / "bomb.png"), "--arch", "resnet18", "--random-init",
                   "--device", "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bomb.png" in err[0] and "Traceback" not in err[0]


def test_a_dicom_frame_larger_than_the_limit_is_refused_before_decoding(tmp_path):
    source = pydicom.examples.ct
    ds = source.copy()
    ds.Rows, ds.Columns = 20000, 20000     # declared, the pixel data stays the small one
    path = tmp_path / "bomb.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match="bomb.dcm.*larger than the limit"):
        read_image(path)


def test_the_limit_can_be_moved_by_the_site(monkeypatch, tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(path)
    assert read_image(path).shape == (100, 100)
    monkeypatch.setenv("MEDXAI_MAX_PIXELS", "5000")
    with pytest.raises(ImageReadError, match="10,000 pixels is larger than the limit of 5,000"):
        read_image(path)
    assert DEFAULT_MAX_PIXELS == 1 << 25


def test_running_out_of_memory_while_decoding_is_one_error_naming_the_file(monkeypatch, tmp_path):
    import medxai_desktop.core.imaging.reader as reader

    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(path)

    def no_memory(*_args, **_kwargs):
        raise MemoryError("cannot allocate 4.6 GiB")

    monkeypatch.setattr(reader, "read_raster", no_memory)
    with pytest.raises(ImageReadError, match="small.png.*not enough memory"):
        read_image(path)


def test_a_broken_file_gives_one_line_on_stderr_and_no_library_warnings(tmp_path):
    """Issue 14 defect 11: OpenCV's log lines and pydicom's warnings came before the error."""
    from pydicom.data import get_testdata_file

    whole = open(get_testdata_file("RG1_J2KR.dcm"), "rb").read()
    (tmp_path / "cut.dcm").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    medxai_exe = [sys.executable, "-m", "medxai_desktop.cli"]
    for name in ("cut.dcm", "bad.png"):
        run = subprocess.run(medxai_exe + ["explain", str(tmp_path / name), "--arch", "resnet18", "--random-init",
                                           "--device", "cpu", "--out", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=300)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and name in lines[0], run.stderr


# ---------------------------------------------------------------------------- issue 23 defect 5

EXPLAIN = [sys.executable, "-m", "medxai_desktop.cli", "explain"]
MODEL = ["--arch", "resnet18", "--random-init", "--device", "cpu"]


def _explain_one_line(path, out, timeout=120):
    """`medxai explain PATH` in a child process, bounded: (exit code, stderr lines, seconds);
    a run still going after ``timeout`` is killed and fails the test."""
    import time

    start = time.monotonic()
    try:
        run = subprocess.run(EXPLAIN + [str(path), *MODEL, "--out", str(out)], capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"explain {path.name} still running after {timeout} s")
    return run.returncode, run.stderr.strip().splitlines(), time.monotonic() - start


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom"])
def test_explain_refuses_what_is_not_a_regular_file_at_once(kind, tmp_path):
    """A FIFO blocked forever, a link to /dev/zero read for 19+ minutes."""
    from tests.special_files import make_special

    path = make_special(kind, tmp_path / "image.png")
    code, err, seconds = _explain_one_line(path, tmp_path / "out", timeout=60)
    print(kind, code, err, f"{seconds:.1f} s")
    assert code == 2 and len(err) == 1 and "image.png: not a regular file" in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("width, height", [(1, 100_000_000), (100_000_000, 1)])
def test_a_png_declaring_a_side_longer_than_the_limit_is_refused_from_its_header(width, height, tmp_path):
    """A 69-byte PNG declaring 1 x 100,000,000 pixels (under the pixel limit) took explain past 60 s."""
    from tests.special_files import png_declaring

    path = png_declaring(tmp_path / "long.png", width, height)
    with pytest.raises(ImageReadError, match=r"long.png: image of .* has a side longer than 32,768 pixels"):
        read_image(path)


def test_explain_on_an_11000_px_png_is_refused_fast_with_one_line(tmp_path):
    """11,000 x 11,000 (just under the old 2^27 limit) ran past 60 s; the limit is now 2^25."""
    from tests.special_files import png_of_size

    path = png_of_size(tmp_path / "big.png", 11000, 11000)
    code, err, seconds = _explain_one_line(path, tmp_path / "out", timeout=60)
    print(f"11000 x 11000: exit {code} in {seconds:.1f} s: {err}")
    assert code == 2 and len(err) == 1 and "big.png: image of 11000 x 11000" in err[0] and "limit" in err[0]


@pytest.mark.parametrize("dims", [(1000, 1000, 1000), (800, 800, 800)])
def test_a_gzipped_nifti_declaring_a_huge_volume_is_refused_with_little_memory(dims, tmp_path):
    """A 2 MB .nii.gz declaring 1000^3 int16 voxels peaked at 4.6 GB; 800^3 int16 (under the
    voxel limit, 1 GB of voxel data) is refused by its bytes."""
    from tests.special_files import nifti_gz_declaring

    path = nifti_gz_declaring(tmp_path / "bomb.nii.gz", dims)
    run = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=300)
    result = json.loads(run.stdout)
    print(dims, path.stat().st_size, "bytes:", result)
    assert "bomb.nii.gz" in result["outcome"] and "larger than the limit" in result["outcome"]
    assert result["peak_mb"] < 1024 and run.stderr.strip() == ""
    if dims == (800, 800, 800):
        assert "1,024,000,000 bytes" in result["outcome"] and "MEDXAI_MAX_VOLUME_BYTES" in result["outcome"]


def test_an_image_larger_than_the_byte_limit_is_refused_before_it_is_read(monkeypatch, tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(path)
    monkeypatch.setenv("MEDXAI_MAX_IMAGE_BYTES", "50")
    with pytest.raises(ImageReadError, match=r"small.png: \d+ bytes is larger than the limit of 50 for image files"):
        read_image(path)


def test_model_cards_checkpoints_and_plugin_sources_have_size_limits(tmp_path, monkeypatch):
    """Every reader of a user file has a size limit, not only the image readers."""
    from medxai_desktop.core.models import CheckpointError, ModelCardError, load_card
    from medxai_desktop.core.models.checkpoint import read_state_dict
    from medxai_desktop.core.plugins.declaration import read_module_declaration
    from tests.special_files import big_sparse

    checkpoint = big_sparse(tmp_path / "huge.pt", 5 << 30)
    with pytest.raises(CheckpointError, match=r"huge.pt: .*5,368,709,120 bytes is larger than the limit"):
        read_state_dict(checkpoint)
    (tmp_path / "card.json").write_text("{}" + " " * 100)
    (tmp_path / "plugin.py").write_text("MEDXAI_PLUGIN = {}\n" + "#" * 100)
    monkeypatch.setenv("MEDXAI_MAX_TEXT_BYTES", "50")
    with pytest.raises(ModelCardError, match=r"card.json: .*bytes is larger than the limit of 50"):
        load_card(tmp_path / "card.json")
    assert "larger than the limit of 50" in read_module_declaration(tmp_path / "plugin.py").error
