"""Classification evaluation (core.evaluation): metrics and McNemar's test against numbers
worked out by hand, the files `medxai evaluate` writes, `medxai compare-models`, and the
alignment of data and model classes. Models are trained for one epoch on tiny generated data."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.evaluation.classification import (classification_metrics, mcnemar,
                                                            write_metrics)
from medxai_desktop.core.evaluation.model_evaluation import (Predictions, compare_models,
                                                             evaluate_model, predict_dataset)
from medxai_desktop.core.models import load_card, load_model
from medxai_desktop.core.models.datasets import LabelledImages, find_labelled_images

from .test_training import CLASSES, add_corrupt_images, make_dataset

# --- A small example worked out by hand ---------------------------------------------------------
#
# 3 classes, 10 images.        confusion (rows true, columns predicted):
#   true      0 0 0 0 1 1 1 2 2 2        a  b  c
#   predicted 0 0 1 2 1 1 0 2 2 1    a [2, 1, 1]   support 4
#                                    b [1, 2, 0]   support 3
#                                    c [0, 1, 2]   support 3
#                                      3  4  3  <- predicted per class
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
PROBS = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1],
         [0.2, 0.6, 0.2], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5], [0.1, 0.5, 0.4]]
NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see test_training: a shared 2-core machine
    yield
    torch.set_num_threads(threads)


def test_metrics_of_the_hand_worked_example():
    m = classification_metrics(Y_TRUE, Y_PRED, PROBS, NAMES)
    assert m.n == 10 and m.classes == NAMES
    assert m.confusion.tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert m.accuracy == pytest.approx(0.6)                    # (2 + 2 + 2) / 10
    per_class = {row["class"]: row for row in m.per_class}
    assert [per_class[c]["support"] for c in NAMES] == [4, 3, 3]
    # precision = diagonal / column sum
    assert per_class["a"]["precision"] == pytest.approx(0.666667, abs=1e-6)  # 2 / 3
    assert per_class["b"]["precision"] == pytest.approx(0.5)                 # 2 / 4
    assert per_class["c"]["precision"] == pytest.approx(0.666667, abs=1e-6)  # 2 / 3
    # recall = diagonal / row sum
    assert per_class["a"]["recall"] == pytest.approx(0.5)                    # 2 / 4
    assert per_class["b"]["recall"] == pytest.approx(0.666667, abs=1e-6)     # 2 / 3
    assert per_class["c"]["recall"] == pytest.approx(0.666667, abs=1e-6)     # 2 / 3
    # F1 = 2 TP / (2 TP + FP + FN)
    assert per_class["a"]["f1"] == pytest.approx(0.571429, abs=1e-6)         # 4 / (4 + 1 + 2) = 4/7
    assert per_class["b"]["f1"] == pytest.approx(0.571429, abs=1e-6)         # 4 / (4 + 2 + 1) = 4/7
    assert per_class["c"]["f1"] == pytest.approx(0.666667, abs=1e-6)         # 4 / (4 + 1 + 1) = 2/3
    assert m.macro_precision == pytest.approx(0.611111, abs=1e-6)  # (2/3 + 1/2 + 2/3) / 3 = 11/18
    assert m.macro_recall == pytest.approx(0.611111, abs=1e-6)     # (1/2 + 2/3 + 2/3) / 3 = 11/18
    assert m.macro_f1 == pytest.approx(0.603175, abs=1e-6)         # (4/7 + 4/7 + 2/3) / 3 = 38/63
    # one-vs-rest AUC = correctly ordered (positive, negative) pairs, ties count 1/2:
    #   a: positives .7 .6 .3 .2 vs negatives .1 .2 .5 .1 .2 .1 -> 6 + 6 + 5 + (3 + 2/2) = 21 / 24
    #   b: positives .8 .6 .4 vs negatives .2 .3 .5 .2 .1 .3 .5 -> 7 + 7 + 5 = 19 / 21
    #   c: positives .8 .5 .4 vs negatives .1 .1 .2 .6 .1 .2 .1 -> 7 + 6 + 6 = 19 / 21
    assert m.roc_auc_ovr == pytest.approx(0.894841, abs=1e-6)      # (21/24 + 19/21 + 19/21) / 3


def test_two_class_roc_auc_counts_ordered_pairs():
    # negatives score .1 .4 .6, positives .35 .8 .9 .4: 3 x 4 = 12 pairs, correctly ordered
    # .35 -> 1 (> .1), .8 -> 3, .9 -> 3, .4 -> 1 + 1/2 (tie with .4) => 8.5 / 12
    scores = [0.1, 0.4, 0.6, 0.35, 0.8, 0.9, 0.4]
    y_true = [0, 0, 0, 1, 1, 1, 1]
    y_pred = [int(s > 0.5) for s in scores]
    m = classification_metrics(y_true, y_pred, [[1 - s, s] for s in scores], ["neg", "pos"])
    assert m.roc_auc_ovr == pytest.approx(0.708333, abs=1e-6)      # 8.5 / 12
    assert m.accuracy == pytest.approx(0.571429, abs=1e-6)         # (2 + 2) / 7
    assert m.confusion.tolist() == [[2, 1], [2, 2]]


def test_no_roc_auc_when_a_class_has_no_images():
    m = classification_metrics([0, 0, 1, 1], [0, 2, 1, 1], [[.8, .1, .1], [.2, .2, .6],
                                                           [.1, .8, .1], [.3, .6, .1]], NAMES)
    assert m.roc_auc_ovr is None and m.accuracy == 0.75
    assert [row["support"] for row in m.per_class] == [2, 2, 0]


# --- McNemar ------------------------------------------------------------------------------------

def paired(a_only: int, b_only: int, both: int = 20, neither: int = 5):
    """Correct/incorrect flags of two models on the same images."""
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


def test_mcnemar_exact_binomial():
    result = mcnemar(*paired(3, 9), "A", "B")
    assert (result.model_a, result.model_b) == ("A", "B")
    assert (result.a_right_b_wrong, result.a_wrong_b_right) == (3, 9)
    assert result.method == "exact binomial" and result.statistic == 3
    # two-sided: 2 * P(X <= 3), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66 + 220) / 4096 = 598 / 4096
    assert result.p_value == pytest.approx(0.14599609375, rel=1e-12)
    assert mcnemar(*paired(9, 3)).p_value == pytest.approx(0.14599609375, rel=1e-12)


def test_mcnemar_chi_square_with_continuity_correction():
    result = mcnemar(*paired(30, 10))
    assert result.method == "chi-square, continuity corrected"
    assert result.statistic == pytest.approx(9.025)                # (|30 - 10| - 1)^2 / 40
    # chi2(1).sf(x) = erfc(sqrt(x / 2)) = erfc(2.124264...)
    assert result.p_value == pytest.approx(0.002663119259138554, rel=1e-9)


def test_mcnemar_switches_to_chi_square_at_25_discordant_pairs():
    below = mcnemar(*paired(12, 12))  # 24 discordant: exact, P(X <= 12 | 24) * 2 capped at 1
    assert below.method == "exact binomial" and below.p_value == 1.0
    at = mcnemar(*paired(20, 5))      # 25 discordant: (|20 - 5| - 1)^2 / 25 = 196 / 25
    assert at.method.startswith("chi-square") and at.statistic == pytest.approx(7.84)


def test_mcnemar_equal_discordant_counts_give_p_one():
    # the continuity correction shrinks |b - c| towards 0, never past it: 15 vs 15 -> 0
    result = mcnemar(*paired(15, 15))
    assert result.method.startswith("chi-square")
    assert result.statistic == 0.0 and result.p_value == 1.0


def test_mcnemar_without_discordant_pairs():
    result = mcnemar(*paired(0, 0))
    assert result.p_value == 1.0 and result.statistic == 0.0
    assert (result.a_right_b_wrong, result.a_wrong_b_right) == (0, 0)


def test_mcnemar_needs_the_same_images():
    with pytest.raises(ValueError, match="same images"):
        mcnemar([True, False], [True, False, True])


def test_compare_models_pairs_images_by_path():
    """Predictions in different orders, one image unreadable for one model only."""
    paths = [Path(f"/d/{n}.png") for n in "pqrst"]

    def predictions(order, correct):
        y_true = np.zeros(len(order), int)
        y_pred = np.where(correct, 0, 1)
        return Predictions([paths[i] for i in order], y_true, y_pred, np.zeros((len(order), 2)), [])

    # by image:      p      q      r      s      t
    # model x:       right  right  right  wrong  right
    # model y:       wrong  wrong  right  right  (unreadable)
    x = predictions([0, 1, 2, 3, 4], [True, True, True, False, True])
    y = predictions([3, 2, 0, 1], [True, True, False, False])  # s, r, p, q
    (result,) = compare_models({"x": x, "y": y})
    assert (result.model_a, result.model_b) == ("x", "y")
    assert (result.a_right_b_wrong, result.a_wrong_b_right) == (2, 1)  # p, q ; s   (t left out)


def test_write_metrics_files(tmp_path):
    m = classification_metrics(Y_TRUE, Y_PRED, PROBS, NAMES)
    write_metrics(tmp_path, m, {"model": "card.json"})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(0.6) and saved["n"] == 10 and saved["model"] == "card.json"
    assert saved["confusion_matrix"] == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert saved["macro_f1"] == pytest.approx(38 / 63)
    with open(tmp_path / "per_class.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["class"] for r in rows] == NAMES and [r["support"] for r in rows] == ["4", "3", "3"]
    assert float(rows[1]["precision"]) == pytest.approx(0.5)
    assert (tmp_path / "confusion_matrix.csv").read_text().splitlines() == [
        "true \\ predicted,a,b,c", "a,2,1,1", "b,1,2,0", "c,0,1,2"]
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- Trained models through the CLI ---------------------------------------------------------------

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """DATA (3 classes x 8 images + a text file named .jpg) and two one-epoch models A, B."""
    base = tmp_path_factory.mktemp("evaluation")
    data = make_dataset(base / "data")
    broken = add_corrupt_images(data)
    runs = {}
    for name, seed in [("A", 0), ("B", 1)]:
        code, out, err = cli_run(["train", data, "--arch", "resnet18", "--epochs", "1", "--size",
                                  "48", "--batch", "4", "--seed", str(seed), "--device", "cpu",
                                  "--out", base / name])
        runs[name] = (code, out, err)
    return base, data, broken, runs


def cli_run(args) -> tuple[int, str, str]:
    """Run `medxai ARGS` in this process (one torch import for the whole file): exit code,
    stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(record=True):  # the "skipping unreadable image" warnings
        code = medxai([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_cli_train_prints_the_kept_epoch_and_what_it_skipped(setup):
    base, data, (truncated, text), runs = setup
    for name, (code, out, err) in runs.items():
        assert code == 0, err
        assert "epoch   1  loss" in out and "kept epoch 1: validation accuracy" in out
        assert str(base / name / "model.json") in out
        assert f"skipped {truncated}: corrupt or truncated PNG file" in err
        assert f"skipped {text}: not an image" in err
    assert (base / "A" / "model.pt").read_bytes() != (base / "B" / "model.pt").read_bytes()


def test_python_m_cli_train_exits_0_and_repeats_the_seeded_run_exactly(setup, tmp_path):
    """`python -m medxai_desktop.cli train` in a fresh process: same seed, same checkpoint."""
    base, data, _, _ = setup
    run = subprocess.run(
        [sys.executable, "-m", "medxai_desktop.cli", "train", str(data), "--arch", "resnet18",
         "--epochs", "1", "--size", "48", "--batch", "4", "--seed", "0", "--device", "cpu",
         "--out", str(tmp_path / "again")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert "kept epoch 1: validation accuracy" in run.stdout
    again = load_card(tmp_path / "again" / "model.json")
    first = load_card(base / "A" / "model.json")
    assert again.sha256 == first.sha256
    assert again.metadata["validation"] == first.metadata["validation"]


def test_cli_evaluate_writes_metrics_tables_and_plot(setup):
    base, data, (truncated, text), _ = setup
    out = base / "eval"
    code, stdout, err = cli_run(["evaluate", "--model", base / "A" / "model.json", data,
                                 "--out", out, "--device", "cpu"])
    assert code == 0, err
    assert f"skipped {text}: not an image" in err
    assert "n=24  accuracy" in stdout and f"wrote {out / 'metrics.json'}" in stdout
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n"] == 24 and saved["classes"] == list(CLASSES)
    assert len(saved["skipped"]) == 2
    assert any(s.startswith(f"{truncated}: ") for s in saved["skipped"])
    assert any(s.startswith(f"{text}: ") for s in saved["skipped"])
    with open(out / "confusion_matrix.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["true \\ predicted", *CLASSES] and [r[0] for r in rows[1:]] == list(CLASSES)
    confusion = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    assert confusion.tolist() == saved["confusion_matrix"]
    assert confusion.sum(1).tolist() == [8, 8, 8]
    assert saved["accuracy"] == pytest.approx(np.trace(confusion) / 24)
    with open(out / "per_class.csv", newline="") as handle:
        per_class = list(csv.DictReader(handle))
    for i, row in enumerate(per_class):
        assert row["class"] == CLASSES[i] and int(row["support"]) == 8
        assert float(row["recall"]) == pytest.approx(confusion[i, i] / 8)
        predicted = confusion[:, i].sum()
        assert float(row["precision"]) == pytest.approx(confusion[i, i] / predicted if predicted else 0)
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same numbers as the library call
    with pytest.warns(UserWarning):
        metrics, predictions = evaluate_model(load_model(base / "A" / "model.json", device="cpu"), data)
    assert metrics.accuracy == saved["accuracy"] and metrics.macro_f1 == saved["macro_f1"]
    assert saved["accuracy"] == pytest.approx(predictions.correct.mean())


def test_cli_evaluate_csv_with_root(setup):
    base, data, _, _ = setup
    table = base / "lists" / "test.csv"
    table.parent.mkdir(exist_ok=True)
    images = [p for p in sorted(data.rglob("*_0[0-3].*"))]  # 4 per class, all readable
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([("image", "label")] + [
            (p.relative_to(data).as_posix(), p.parent.name) for p in images])
    code, stdout, err = cli_run(["evaluate", "--model", base / "A" / "model.json", table,
                                 "--root", data, "--out", base / "eval_csv", "--device", "cpu"])
    assert code == 0, err
    saved = json.loads((base / "eval_csv" / "metrics.json").read_text())
    assert saved["n"] == 12 and saved["skipped"] == [] and "n=12" in stdout
    assert [row["support"] for row in saved["per_class"]] == [4, 4, 4]


def test_cli_compare_models_prints_the_table_and_mcnemar(setup):
    base, data, _, _ = setup
    cards = [base / "A" / "model.json", base / "B" / "model.json"]
    code, stdout, err = cli_run(["compare-models", data, "--models", *cards, "--device", "cpu",
                                 "--out", base / "compare"])
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].split() == ["model", "accuracy", "precision", "recall", "F1"]
    with pytest.warns(UserWarning):
        predictions = {c.parent.name: predict_dataset(load_model(c, device="cpu"), data) for c in cards}
    for line, name in zip(lines[1:3], ["A", "B"]):
        m = classification_metrics(predictions[name].y_true, predictions[name].y_pred,
                                   predictions[name].probabilities, list(CLASSES))
        assert line.split() == [name, *(f"{v:.4f}" for v in (m.accuracy, m.macro_precision,
                                                              m.macro_recall, m.macro_f1))]
    a, b = predictions["A"].correct, predictions["B"].correct
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    assert lines[3].startswith(f"McNemar A vs B: {a_only} vs {b_only} discordant, p = ")
    saved = json.loads((base / "compare" / "comparison.json").read_text())
    assert [row["model"] for row in saved["models"]] == ["A", "B"]
    assert saved["mcnemar"][0]["a_right_b_wrong"] == a_only
    assert saved["mcnemar"][0]["p_value"] == pytest.approx(mcnemar(a, b).p_value)


def test_cli_compare_models_keeps_models_with_the_same_folder_name_apart(setup):
    base, data, _, _ = setup
    copy = base / "other" / "A"
    shutil.copytree(base / "A", copy)
    code, stdout, err = cli_run(["compare-models", data, "--models", base / "A" / "model.json",
                                 copy / "model.json", "--device", "cpu"])
    assert code == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 4 and lines[1].split()[1:] == lines[2].split()[1:]
    assert lines[1].split()[0] != lines[2].split()[0]
    assert "McNemar" in lines[3] and ": 0 vs 0 discordant, p = 1 (no discordant pairs)" in lines[3]


def test_cli_evaluate_refuses_a_class_the_model_does_not_know(setup):
    base, data, _, _ = setup
    other = base / "unknown_class"
    for name in ["alpha", "delta"]:
        (other / name).mkdir(parents=True)
        for p in sorted((data / "alpha").glob("*.png"))[:2]:
            shutil.copy(p, other / name / p.name)
    code, stdout, err = cli_run(["evaluate", "--model", base / "A" / "model.json", other,
                                 "--out", base / "eval_unknown", "--device", "cpu"])
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1
    assert "delta" in err and "alpha, beta, gamma" in err
    assert not (base / "eval_unknown" / "metrics.json").exists()


def test_predictions_follow_the_models_class_order(setup):
    """Data whose class list is in another order (or a subset) is relabelled, not misread."""
    base, data, _, _ = setup
    model = load_model(base / "A" / "model.json", device="cpu")
    ordered = find_labelled_images(data)
    reverse = list(reversed(ordered.classes))
    shuffled = LabelledImages(ordered.paths, [reverse.index(ordered.classes[y]) for y in ordered.labels],
                              reverse, ordered.source)
    with pytest.warns(UserWarning):
        first = predict_dataset(model, ordered)
    with pytest.warns(UserWarning):
        second = predict_dataset(model, shuffled)
    assert np.array_equal(first.y_true, second.y_true) and np.array_equal(first.y_pred, second.y_pred)
    assert first.y_true.tolist() == [0] * 8 + [1] * 8 + [2] * 8
