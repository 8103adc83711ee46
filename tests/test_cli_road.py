"""`medxai road` and `medxai report road` on real brain MRI images with the demo model: the files
they write, that the numbers are road_scores' numbers, resuming, the report, and bad input."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.evaluation.road import road_scores
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import load_model
from medxai_desktop.core.resources import demo_model_card

from .helpers import shared_data

FAST = ["--methods", "gradcampp,layercam", "--percentiles", "20,80", "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a busy 2-core machine each layer of a forward pass waits for the second OpenMP thread;
    one thread keeps these in-process runs fast (the numbers do not depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def card():
    found = demo_model_card()
    if found is None:
        pytest.skip("the demo model is not bundled")
    return str(found)


@pytest.fixture(scope="module")
def images_csv(tmp_path_factory):
    root = shared_data("brain_mri", "images")
    rows = [(sorted((root / c).glob("*.jpg"))[i], c) for c, i in
            [("glioma", 0), ("glioma", 1), ("meningioma", 0)]]
    path = tmp_path_factory.mktemp("road_in") / "images.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        writer.writerows([str(p), label] for p, label in rows)
    return path, rows


@pytest.fixture(scope="module")
def road_out(tmp_path_factory, card, images_csv):
    out = tmp_path_factory.mktemp("road_out")
    assert medxai(["road", str(images_csv[0]), "--model", card, *FAST, "--out", str(out)]) == 0
    return out


def test_writes_per_image_results_and_summary(road_out, images_csv, card):
    _, rows = images_csv
    records = sorted(road_out.rglob("road.json"))
    assert [r.parent.name for r in records] == sorted(p.stem for p, _ in rows)
    first = json.loads((road_out / "images" / "glioma" / rows[0][0].stem / "road.json").read_text())
    assert first["label"] == "glioma" and set(first["scores"]) == {"gradcam++", "layercam"}
    assert first["parameters"]["percentiles"] == [20.0, 80.0] and first["parameters"]["seed"] == 0
    maps = np.load(road_out / "images" / "glioma" / rows[0][0].stem / "maps.npz")
    assert maps["gradcam++"].shape == (224, 224) and maps["gradcam++"].dtype == np.uint8

    # The numbers are road_scores' numbers for the same image, maps and class.
    model = load_model(card, device="cpu")
    tensor = model.preprocess(read_image(rows[0][0]))
    explained = ExplanationEngine(model).explain(tensor, ["gradcam++", "layercam"])
    assert explained.target_index == first["target"]["index"]
    direct = road_scores(model, tensor, {m: e.map for m, e in explained.explanations.items()},
                         explained.target_index, (20, 80), seed=0)
    for method, scores in direct.items():
        np.testing.assert_allclose(first["scores"][method]["morf"], scores.morf, atol=1e-5)
        np.testing.assert_allclose(first["scores"][method]["lerf"], scores.lerf, atol=1e-5)
        assert first["scores"][method]["combined"] == pytest.approx(scores.combined, abs=1e-5)

    summary = json.loads((road_out / "summary.json").read_text())
    assert summary["n_images"] == 3 and summary["classes"] == {"glioma": 2, "meningioma": 1}
    overall = {r["method"]: r for r in summary["per_method"]}
    combined = [json.loads(p.read_text())["scores"]["layercam"]["combined"] for p in records]
    assert overall["layercam"]["mean"] == pytest.approx(np.mean(combined))
    assert len(summary["paired_tests"]) == 1 and summary["paired_tests"][0]["n"] == 3
    with open(road_out / "scores.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 3 * 2
    with open(road_out / "summary.csv") as handle:
        assert {r["class"] for r in csv.DictReader(handle)} == {"all", "glioma", "meningioma"}


def test_report_from_a_run(road_out, tmp_path, capsys):
    html = tmp_path / "road.html"
    assert medxai(["report", "road", "--from", str(road_out), "--out", str(html), "--examples", "2"]) == 0
    text = html.read_text()
    for heading in ("ROADCombined per method", "ROAD curves", "Per-image scores", "Paired t-tests", "Examples"):
        assert heading in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) >= 2 + 2 * 3   # figures + examples
    assert not re.search(r'(src|href)="https?://', text), "the report must be self-contained"
    data = json.loads((tmp_path / "road.json").read_text())
    summary = json.loads((road_out / "summary.json").read_text())
    assert data["summary"]["per_method"] == summary["per_method"]
    for suffix in ("methods", "curves", "tests", "scores"):
        with open(tmp_path / f"road_{suffix}.csv") as handle:
            assert list(csv.DictReader(handle)), suffix
    assert "wrote" in capsys.readouterr().out


def test_resume_skips_what_is_done_and_recomputes_what_changed(road_out, images_csv, card, capsys):
    records = sorted(road_out.rglob("road.json"))
    stamps = {p: p.stat().st_mtime_ns for p in records}
    capsys.readouterr()
    assert medxai(["road", str(images_csv[0]), "--model", card, *FAST, "--out", str(road_out)]) == 0
    assert "0 computed, 3 reused" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in records} == stamps
    records[0].unlink()
    assert medxai(["road", str(images_csv[0]), "--model", card, *FAST, "--out", str(road_out)]) == 0
    assert "1 computed, 2 reused" in capsys.readouterr().out
    before = json.loads(records[1].read_text())["scores"]["gradcam++"]["morf"]
    assert medxai(["road", str(images_csv[0]), "--model", card, *FAST, "--noise-seed", "1",
                   "--out", str(road_out)]) == 0
    assert "3 computed, 0 reused" in capsys.readouterr().out
    after = json.loads(records[1].read_text())
    assert after["parameters"]["seed"] == 1 and after["scores"]["gradcam++"]["morf"] != before


def test_folder_with_labels_and_label_target(card, tmp_path, capsys):
    folder = shared_data("brain_mri", "images", "pituitary")
    labels = shared_data("brain_mri", "labels.csv")
    out = tmp_path / "run"
    assert medxai(["road", str(folder), "--model", card, "--labels", str(labels), "--per-class", "1",
                   "--target", "label", "--methods", "gradcampp", "--percentiles", "50",
                   "--device", "cpu", "--out", str(out)]) == 0
    (record,) = [json.loads(p.read_text()) for p in out.rglob("road.json")]
    assert record["label"] == "pituitary" and record["target"]["name"] == "pituitary"
    assert record["parameters"]["target"] == "label"


def test_report_with_data_runs_road_first(card, tmp_path):
    image = shared_data("brain_mri", "images", "meningioma")
    first = min(image.glob("*.jpg"))
    html = tmp_path / "one.html"
    assert medxai(["report", "road", "--data", str(first), "--model", card, "--methods", "xgradcam",
                   "--percentiles", "50", "--device", "cpu", "--out", str(html)]) == 0
    assert html.is_file() and (tmp_path / "one" / "summary.json").is_file()


def test_bad_input_exits_2_with_one_line(card, tmp_path, images_csv, capsys):
    def error(*args):
        capsys.readouterr()
        assert medxai(list(map(str, args))) == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert message.startswith("medxai: error: ")
        return message

    assert "not found" in error("road", tmp_path / "missing.png", "--model", card, "--out", tmp_path / "o")
    assert "--percentiles" in error("road", images_csv[0], "--model", card, "--percentiles", "a,b",
                                    "--out", tmp_path / "o")
    assert "unknown explanation method" in error("road", images_csv[0], "--model", card, "--methods", "nope",
                                                 "--out", tmp_path / "o")
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text(f"image\n{images_csv[1][0][0]}\n")
    assert "no image could be scored" in error("road", unlabelled, "--model", card, "--target", "label",
                                               "--out", tmp_path / "o", "--device", "cpu")
    assert "either --from" in error("report", "road", "--out", tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    assert "no road.json" in error("report", "road", "--from", tmp_path / "empty", "--out", tmp_path / "r.html")
    broken = tmp_path / "broken" / "images" / "x"
    broken.mkdir(parents=True)
    (broken / "road.json").write_text("{not json")
    assert "unreadable ROAD result" in error("report", "road", "--from", tmp_path / "broken",
                                             "--out", tmp_path / "r.html")
