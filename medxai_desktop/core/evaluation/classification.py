"""Classification metrics as the overview paper reports them, plus paired model comparison."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score


@dataclass
class ClassificationMetrics:
    classes: list[str]
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    roc_auc_ovr: float | None
    per_class: list[dict]
    confusion: np.ndarray       # rows = true class, columns = predicted class
    n: int

    def to_dict(self) -> dict:
        return {"classes": self.classes, "n": self.n, "accuracy": self.accuracy,
                "macro_precision": self.macro_precision, "macro_recall": self.macro_recall,
                "macro_f1": self.macro_f1, "roc_auc_ovr": self.roc_auc_ovr,
                "per_class": self.per_class, "confusion_matrix": self.confusion.tolist()}


def macro_f1(y_true, y_pred, n_classes: int) -> float:
    """Macro F1 over the classes that have images: the number training selects epochs by
    and evaluation reports, computed the same way in both places."""
    _, _, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(n_classes)), zero_division=0)
    return float(np.mean(f1[support > 0]))


def classification_metrics(y_true, y_pred, probabilities, classes: list[str]) -> ClassificationMetrics:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i in labels if support[i] > 0]
    auc = None
    probabilities = np.asarray(probabilities, np.float64)
    if len(present) == len(classes) and len(classes) >= 2:
        if len(classes) == 2:
            auc = float(roc_auc_score(y_true, probabilities[:, 1]))
        else:
            auc = float(roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro",
                                      labels=labels))
    per_class = [{"class": c, "precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(support[i])} for i, c in enumerate(classes)]
    return ClassificationMetrics(
        list(classes), float((y_true == y_pred).mean()), float(np.mean(precision[present])),
        float(np.mean(recall[present])), float(np.mean(f1[present])), auc, per_class,
        confusion_matrix(y_true, y_pred, labels=labels), len(y_true))


@dataclass
class McNemarResult:
    model_a: str
    model_b: str
    a_right_b_wrong: int
    a_wrong_b_right: int
    statistic: float
    p_value: float
    method: str


def mcnemar(correct_a, correct_b, name_a: str = "A", name_b: str = "B") -> McNemarResult:
    """McNemar's test on the same images: exact binomial below 25 discordant pairs, else
    chi-square with continuity correction."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError("McNemar needs both models' results on the same images")
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    discordant = n01 + n10
    if discordant == 0:
        return McNemarResult(name_a, name_b, n01, n10, 0.0, 1.0, "no discordant pairs")
    if discordant < 25:
        p = stats.binomtest(min(n01, n10), discordant, 0.5).pvalue
        return McNemarResult(name_a, name_b, n01, n10, float(min(n01, n10)), float(p), "exact binomial")
    # Edwards' correction moves |n01 - n10| towards 0 by 1, never past it: equal counts
    # give 0 (p = 1), not (0 - 1)^2 / n, which would fake a difference between the models.
    statistic = max(abs(n01 - n10) - 1, 0) ** 2 / discordant
    return McNemarResult(name_a, name_b, n01, n10, float(statistic),
                         float(stats.chi2.sf(statistic, 1)), "chi-square, continuity corrected")


def write_metrics(out_dir: str | Path, metrics: ClassificationMetrics, extra: dict | None = None) -> Path:
    """metrics.json, per_class.csv, confusion_matrix.csv and confusion_matrix.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({**metrics.to_dict(), **(extra or {})}, indent=2) + "\n")
    with open(out / "per_class.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["class", "precision", "recall", "f1", "support"])
        writer.writeheader()
        writer.writerows(metrics.per_class)
    with open(out / "confusion_matrix.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true \\ predicted", *metrics.classes])
        for name, row in zip(metrics.classes, metrics.confusion):
            writer.writerow([name, *row.tolist()])
    plot_confusion(metrics, out / "confusion_matrix.png")
    return out


def plot_confusion(metrics: ClassificationMetrics, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(metrics.classes)
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.2 * n + 2))
    ax.imshow(metrics.confusion, cmap="Blues")
    ax.set_xticks(range(n), metrics.classes, rotation=45, ha="right")
    ax.set_yticks(range(n), metrics.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = metrics.confusion.max() or 1
    for i in range(n):
        for j in range(n):
            value = metrics.confusion[i, j]
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > peak / 2 else "black")
    ax.set_title(f"accuracy {metrics.accuracy:.3f}, macro-F1 {metrics.macro_f1:.3f} (n={metrics.n})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
