"""The `medxai` command, run as a user would (a subprocess), on real files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import random_model

from .helpers import brain_mri_image

CLASSES = "glioma,meningioma,pituitary,no_tumor"


def medxai(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medxai_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    image = brain_mri_image("glioma")
    out = tmp_path_factory.mktemp("explain")
    run = medxai("explain", image, "--arch", "resnet18", "--random-init", "--seed", "5",
                 "--classes", CLASSES, "--methods", "gradcam++,xgradcam,eigengradcam,layercam,ablationcam",
                 "--target", "glioma", "--boxes", "crosseai", "--device", "cpu", "--out", out)
    assert run.returncode == 0, run.stderr
    return image, out, run


def test_explain_writes_every_output(explained):
    image, out, run = explained
    for method in ["gradcam++", "xgradcam", "eigengradcam", "layercam", "ablationcam", "guided"]:
        heatmap = np.load(out / f"{method}.npy")
        assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
        assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1, abs=1e-3)
        assert (out / f"{method}.png").stat().st_size > 1000
    assert "predicted" in run.stdout and "crosseai boxes" in run.stdout


def test_input_and_maps_are_exactly_what_the_core_computes(explained):
    image, out, _ = explained
    model = random_model("resnet18", CLASSES.split(","), seed=5, device="cpu")
    tensor = model.preprocess(read_image(image))
    saved = np.load(out / "input.npy")
    assert saved.shape == (1, 3, 224, 224) and saved.dtype == np.float32
    assert np.array_equal(saved, tensor.numpy())
    result = ExplanationEngine(model).explain(torch.from_numpy(saved), ["layercam"], target="glioma")
    assert np.abs(np.load(out / "layercam.npy") - result["layercam"].map).max() <= 1e-6


def test_explanations_json_has_prediction_provenance_and_seconds(explained):
    image, out, _ = explained
    summary = json.loads((out / "explanations.json").read_text())
    probs = summary["prediction"]["probabilities"]
    assert list(probs) == CLASSES.split(",") and sum(probs.values()) == pytest.approx(1, abs=1e-5)
    assert summary["target"] == {"class": "glioma", "class_index": 0}
    prov = summary["methods"]["gradcam++"]["provenance"]
    assert prov["model"]["arch"] == "resnet18" and prov["target_layer"] == "layer4"
    assert prov["model"]["device"] == "cpu"
    assert len(prov["input_sha256"]) == 64 and prov["versions"]["torch"]
    assert all(v >= 0 for v in summary["seconds"].values())
    assert summary["image"]["path"] == str(Path(image).resolve())


def test_boxes_json_is_in_image_pixels(explained):
    _, out, _ = explained
    boxes = json.loads((out / "boxes.json").read_text())
    assert boxes["image_size"] == {"height": 512, "width": 512}
    assert 1 <= len(boxes["boxes"]) <= 3
    for box in boxes["boxes"]:
        assert 0 <= box["x0"] < box["x1"] <= 512 and 0 <= box["y0"] < box["y1"] <= 512
        assert box["method"] == "crosseai" and box["label"] == "glioma"
        assert set(box["parameters"]) >= {"alpha", "tau", "sigma", "min_area", "top_k"}
    assert (out / "crosseai.png").exists()


def test_model_card_and_checkpoint_paths(tmp_path):
    model = random_model("resnet18", ["normal", "abnormal"], seed=1, device="cpu")
    torch.save(model.module.state_dict(), tmp_path / "weights.pt")
    image = brain_mri_image("pituitary")
    run = medxai("explain", image, "--arch", "resnet18", "--checkpoint", tmp_path / "weights.pt",
                 "--classes", "normal,abnormal", "--methods", "gradcam", "--out", tmp_path / "a")
    assert run.returncode == 0, run.stderr
    card = model.card
    card.checkpoint = "weights.pt"
    from medxai_desktop.core.models import sha256_of_file
    card.sha256 = sha256_of_file(tmp_path / "weights.pt")
    card.save(tmp_path / "card.json")
    run = medxai("explain", image, "--model", tmp_path / "card.json", "--methods", "gradcam",
                 "--out", tmp_path / "b")
    assert run.returncode == 0, run.stderr
    assert np.array_equal(np.load(tmp_path / "a" / "gradcam.npy"), np.load(tmp_path / "b" / "gradcam.npy"))


@pytest.mark.parametrize("case", ["missing", "not_an_image", "truncated_dicom", "bad_card", "pickle"])
def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, case):
    image = brain_mri_image("glioma")
    model_args = ["--arch", "resnet18", "--random-init"]
    if case == "missing":
        bad = image = tmp_path / "nope.png"
    elif case == "not_an_image":
        bad = image = tmp_path / "notes.png"
        image.write_text("this is not a picture")
    elif case == "truncated_dicom":
        from pydicom.data import get_testdata_file
        data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
        bad = image = tmp_path / "cut.dcm"
        image.write_bytes(data[: len(data) // 2])
    elif case == "bad_card":
        bad = tmp_path / "card.json"
        bad.write_text("{ not json")
        model_args = ["--model", bad]
    else:
        import pickle
        bad = tmp_path / "evil.pt"
        bad.write_bytes(pickle.dumps({"fc.weight": Path("x")}))
        model_args = ["--arch", "resnet18", "--checkpoint", bad, "--classes", "a,b"]
    run = medxai("explain", image, *model_args, "--methods", "gradcam", "--out", tmp_path / "out")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_method_and_class_are_usage_errors(tmp_path):
    image = brain_mri_image("glioma")
    for extra in (["--methods", "bogus"], ["--methods", "gradcam", "--target", "fracture"]):
        run = medxai("explain", image, "--arch", "resnet18", "--random-init", "--classes", CLASSES,
                     *extra, "--out", tmp_path)
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr


# ---------------------------------------------------------------------------- issue 23 defect 6

@pytest.fixture
def small_png(tmp_path) -> Path:
    import cv2

    path = tmp_path / "small.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
    return path


EXPLAIN_ARGS = ["--arch", "resnet18", "--random-init", "--device", "cpu", "--methods", "gradcam"]


@pytest.mark.parametrize("case", ["existing file", "link to a folder"])
def test_explain_out_that_is_a_file_or_a_link_is_one_line(small_png, tmp_path, case, capsys):
    """--out naming an existing file was a FileExistsError traceback; a link was followed."""
    from medxai_desktop.cli import main

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    if case == "existing file":
        out.write_text("keep me")
    else:
        elsewhere.mkdir()
        out.symlink_to(elsewhere)
    code = main(["explain", str(small_png), *EXPLAIN_ARGS, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(out) in err[0], err
    assert ("exists and is a file, not a folder" if case == "existing file" else "is a symbolic link") in err[0]
    assert out.read_text() == "keep me" if case == "existing file" else list(elsewhere.iterdir()) == []


def test_explain_past_the_file_size_limit_is_one_line_and_leaves_no_partial_folder(small_png, tmp_path):
    """A full disk (here a 100 kB file-size limit: input.npy is 600 kB) was an OSError traceback."""
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))\n"
              "from medxai_desktop.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "new" / "folders" / "out"
    run = subprocess.run([sys.executable, "-c", script, "explain", str(small_png), *EXPLAIN_ARGS,
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, run.stderr
    assert f"{out}: cannot write (" in err[0] and "nothing was written" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.png"]
