"""`medxai compare-models`: compare classifiers on the same images (McNemar tests)."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    compare = sub.add_parser("compare-models", help="the paper's table for several models + McNemar tests")
    compare.add_argument("data")
    compare.add_argument("--models", nargs="+", required=True, metavar="CARD.json")
    compare.add_argument("--root")
    compare.add_argument("--out")
    compare.add_argument("--device", default="auto")
    compare.set_defaults(func=run)


def run(args) -> int:
    import json

    from medxai_desktop.core.evaluation.classification import classification_metrics
    from medxai_desktop.core.evaluation.model_evaluation import compare_models, model_name, predict_dataset
    from medxai_desktop.core.models import load_model

    results, table = {}, []
    for card in args.models:
        model = load_model(card, device=args.device)
        name = model_name(card, results)
        predictions = predict_dataset(model, args.data, args.root)
        m = classification_metrics(predictions.y_true, predictions.y_pred, predictions.probabilities,
                                   model.classes)
        results[name] = predictions
        table.append({"model": name, "arch": model.card.arch, "n": m.n, "accuracy": m.accuracy,
                      "precision": m.macro_precision, "recall": m.macro_recall, "f1": m.macro_f1})
    print(f"{'model':<28} {'accuracy':>9} {'precision':>9} {'recall':>9} {'F1':>9}")
    for row in table:
        print(f"{row['model']:<28} {row['accuracy']:9.4f} {row['precision']:9.4f} "
              f"{row['recall']:9.4f} {row['f1']:9.4f}")
    tests = compare_models(results) if len(results) > 1 else []
    for t in tests:
        print(f"McNemar {t.model_a} vs {t.model_b}: {t.a_right_b_wrong} vs {t.a_wrong_b_right} "
              f"discordant, p = {t.p_value:.4g} ({t.method})")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "comparison.json").write_text(json.dumps(
            {"models": table, "mcnemar": [t.__dict__ for t in tests]}, indent=2) + "\n")
    return 0
