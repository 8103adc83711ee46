"""`medxai evaluate`: evaluate a classifier on labelled images."""
from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="accuracy, macro P/R/F1, per class, confusion matrix, ROC AUC")
    evaluate.add_argument("--model", required=True, metavar="CARD.json")
    evaluate.add_argument("data", help="folder of class sub-folders, or a CSV with columns image,label")
    evaluate.add_argument("--root", help="folder the CSV's image paths are relative to")
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.evaluation.classification import write_metrics
    from medxai_desktop.core.evaluation.model_evaluation import evaluate_model
    from medxai_desktop.core.models import load_model

    model = load_model(args.model, device=args.device)
    metrics, predictions = evaluate_model(model, args.data, args.root)
    write_metrics(args.out, metrics, {"model": str(Path(args.model).resolve()), "data": str(args.data),
                                      "skipped": predictions.skipped})
    for skipped in predictions.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    auc = "n/a" if metrics.roc_auc_ovr is None else f"{metrics.roc_auc_ovr:.4f}"
    print(f"n={metrics.n}  accuracy {metrics.accuracy:.4f}  macro precision {metrics.macro_precision:.4f}  "
          f"recall {metrics.macro_recall:.4f}  F1 {metrics.macro_f1:.4f}  ROC AUC (OvR) {auc}")
    for row in metrics.per_class:
        print(f"  {row['class']:<14} precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
              f"F1 {row['f1']:.3f}  n={row['support']}")
    print(f"wrote {Path(args.out) / 'metrics.json'}")
    return 0
