"""`medxai tune-boxes` and `medxai report localization` on real brain MRI slices and their
tumour boxes, with a small untrained model (the numbers mean nothing; the plumbing is tested)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from medxai_desktop.cli import main

from .helpers import shared_data


def _rows(n: int) -> list[dict]:
    with open(shared_data("brain_mri", "boxes.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows[::300][:n]  # spread over the classes


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """8 boxed slices in a boxes file, 6 of them listed as the development set, a model card."""
    from medxai_desktop.core.models import random_model
    from medxai_desktop.core.models.card import sha256_of_file

    root = tmp_path_factory.mktemp("localisation")
    brain = shared_data("brain_mri")
    rows = _rows(8)
    with open(root / "boxes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "label", "x", "y", "w", "h"])
        writer.writeheader()
        writer.writerows(rows)
    with open(root / "dev.csv", "w", newline="") as handle:
        handle.write("image,label\n" + "".join(f"{brain / r['image']},{r['label']}\n" for r in rows[:6]))
    model = random_model("resnet18", ["glioma", "meningioma", "no_tumor", "pituitary"], seed=2,
                         input_size=(128, 128), device="cpu")
    torch.save(model.module.state_dict(), root / "model.pt")
    model.card.checkpoint, model.card.sha256 = "model.pt", sha256_of_file(root / "model.pt")
    model.card.save(root / "model.json")
    return root, brain, rows


def _tune(workspace, *extra):
    root, brain, _ = workspace
    return main(["tune-boxes", str(root / "dev.csv"), "--model", str(root / "model.json"),
                 "--boxes", str(root / "boxes.csv"), "--images", str(brain), "--folds", "2",
                 "--alphas", "0,0.5", "--taus", "0.4,0.7", "--sigmas", "2", "--min-areas", "0,0.02",
                 "--scores", "mean", "--cache", str(root / "maps"), "--device", "cpu", *extra])


def test_tune_boxes_reports_held_out_folds_writes_the_card_and_resumes(workspace, capsys):
    from medxai_desktop.core.models.card import load_card

    root, _, _ = workspace
    assert _tune(workspace, "--out", str(root / "tuned"), "--write-card") == 0
    out = capsys.readouterr().out
    assert "6 images, 6 boxes, 8 grid points" in out and "6 computed, 0 from the cache" in out
    tuning = json.loads((root / "tuned" / "tuning.json").read_text())
    families = {r["family"] for r in tuning["held_out_summary"]}
    assert families == {"gradcam++@layer4", "crosseai", "fixed box"}
    assert all(r["folds"] == 2 for r in tuning["held_out_summary"])
    assert len(tuning["per_fold"]) == 2 * 3
    with open(root / "tuned" / "grid.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8  # 2 maps x 2 taus x 2 min areas
    card = load_card(root / "model.json")
    chosen = tuning["chosen_on_all_images"]["crosseai"]
    assert card.metadata["crosseai"] == {k: chosen[k] for k in ("alpha", "tau", "sigma", "min_area",
                                                                 "top_k", "score", "foreground", "layer")}
    assert card.metadata["crosseai_tuning"]["folds"] == 2
    # the card changed, its maps did not: the re-run reads every map from the cache
    assert _tune(workspace, "--out", str(root / "again")) == 0
    assert "0 computed, 6 from the cache" in capsys.readouterr().out


def test_report_localization_from_files(workspace, capsys):
    root, brain, rows = workspace
    out = root / "report"
    code = main(["report", "localization", "--model", str(root / "model.json"), "--data", str(root / "dev.csv"),
                 "--boxes", str(root / "boxes.csv"), "--images", str(brain), "--cache", str(root / "maps"),
                 "--methods", "crosseai,gradcam++,guided,wang,fixed-box", "--examples", "2",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") >= 5  # curves, box plot, energy, examples
    with open(out / "summary.csv", newline="") as handle:
        summary = {r["method"]: r for r in csv.DictReader(handle)}
    # the card carries tuned CrossEAI defaults from the test above when run after it
    assert {"crosseai", "gradcam++", "guided", "wang 60/255", "wang 180/255", "fixed box"} <= set(summary)
    assert all(int(r["images"]) == 6 and int(r["boxes"]) == 6 for r in summary.values())
    assert float(summary["fixed box"]["predicted_per_image"]) == 1.0
    report = json.loads((out / "report.json").read_text())
    # the fixed box is the mean of the two boxed images that are not evaluated
    expected = np.mean([[float(r["x"]) / 512, float(r["y"]) / 512, (float(r["x"]) + float(r["w"])) / 512,
                         (float(r["y"]) + float(r["h"])) / 512] for r in rows[6:]], axis=0)
    np.testing.assert_allclose(report["settings"]["fixed_box_fractions"], expected)
    with open(out / "map_summary.csv", newline="") as handle:
        maps = {r["method"]: r for r in csv.DictReader(handle)}
    assert {"crosseai", "gradcam++", "guided"} <= set(maps)
    assert all(0 <= float(r["energy"]) <= 1 and 0 <= float(r["pointing"]) <= 1 for r in maps.values())


def test_report_localization_from_the_review_database(workspace, tmp_path, capsys):
    from medxai_desktop.core.boxes import BoxProposal
    from medxai_desktop.core.evaluation.localisation import read_reference_file
    from medxai_desktop.core.models.card import load_card
    from medxai_desktop.core.store import ReviewStore

    root, brain, _ = workspace
    url = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    annotations = read_reference_file(root / "boxes.csv", brain)
    first = annotations.boxes[0]
    annotations.boxes = annotations.boxes[1:]  # the first image's box comes from a review instead
    with ReviewStore(url, cache_dir=tmp_path / "store-maps") as store:
        store.import_annotations(annotations, reviewer="dr a", source="test")
        image_id = next(i.id for i in store.images() if i.key == first.image_key)
        run = store.record_run(store.add_model(load_card(root / "model.json")), "crosseai")
        (box_id,) = store.add_proposals(image_id, run, [BoxProposal(first.box, 0.9, first.label, "crosseai")])
        store.accept(box_id, "dr a", 0)
    out = tmp_path / "report"
    assert main(["--db", url, "report", "localization", "--out", str(out)]) == 0
    capsys.readouterr()
    with open(out / "summary.csv", newline="") as handle:
        summary = {r["method"]: r for r in csv.DictReader(handle)}
    assert set(summary) == {"stored proposals", "fixed box"}
    # 7 imported boxes and the accepted proposal's final revision are the references
    stored = summary["stored proposals"]
    assert int(stored["boxes"]) == 8 and float(stored["acc_iou_0.7"]) == pytest.approx(1 / 8)
    assert float(stored["predicted_per_image"]) == pytest.approx(1 / 8)
    report = json.loads((out / "report.json").read_text())
    assert report["proposal_summary"]["accepted"] == 1
    assert report["proposal_summary"]["mean_iou_with_final"] == pytest.approx(1.0)


def test_bad_inputs_exit_2_naming_the_file(workspace, tmp_path, capsys):
    root, brain, _ = workspace
    missing = tmp_path / "nowhere.csv"
    assert main(["report", "localization", "--boxes", str(missing), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere.csv" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text(f"image,label\n{brain / 'images/glioma/not_there.jpg'},glioma\n")
    assert main(["tune-boxes", str(other), "--model", str(root / "model.json"), "--boxes",
                 str(root / "boxes.csv"), "--images", str(brain), "--out", str(tmp_path / "t")]) == 2
    assert "no boxed image" in capsys.readouterr().err


def test_crosseai_at_alpha_1_says_it_gives_the_guided_boxes():
    from medxai_desktop.core.explain.crosseai import CrossEAIParams
    from medxai_desktop.core.reports.localisation_report import BoxMethod

    one = BoxMethod("crosseai", "crosseai", layer="layer4", params=CrossEAIParams(alpha=1.0)).describe()
    assert one.startswith("alpha 1 (alpha 1 weighs the Guided Backprop map alone: the boxes of 'guided')")
    half = BoxMethod("crosseai", "crosseai", layer="layer4", params=CrossEAIParams(alpha=0.5)).describe()
    assert "guided" not in half


def test_report_legends_sit_beside_the_curves_not_over_them():
    from medxai_desktop.core.reports.localisation_report import _curve_figure, _energy_figure

    thresholds = [0.1, 0.3, 0.5, 0.7, 0.9]
    rows = [dict({f"acc_{t:g}": 0.9 - 0.05 * n for t in thresholds}, method=f"method {n}", energy=0.5,
                 pointing=0.5, uniform_energy=0.3) for n in range(11)]
    for figure in (_curve_figure(rows, thresholds, "acc", "IoU threshold"), _energy_figure(rows)):
        figure.canvas.draw()
        (axis,) = figure.axes
        legend, plot = axis.get_legend().get_window_extent(), axis.get_window_extent()
        assert legend.x0 >= plot.x1, (legend, plot)
