"""ROAD faithfulness before and after box fine-tuning (issue 13 part 3).

    .venv/bin/python experiments/brain_road_before_after.py PARENT.json FINE_TUNED.json
        [--methods gradcam++,xgradcam,layercam] [--per-class 40] [--out out/experiments/road_ba]

Both cards are scored by `medxai road` (ROADCombined, percentiles 20/40/60/80, the label's
class explained, imputation noise seed 0) on the same images: the first ``--per-class`` images
of each class of the validation split of experiments/brain_recipe.py (seed 0, test 15 % first).
Per method, the images' ROADCombined of the two cards are paired and tested (scipy's paired
t-test, Holm over the methods); a positive difference (after - before) means the fine-tuned
model's maps are more faithful. Rows go to experiments/results/brain_road_before_after.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "brain_mri"
RESULTS = REPO / "experiments" / "results" / "brain_road_before_after.json"

from medxai_desktop.core.evaluation.paired_tests import holm_adjust, paired_t_test  # noqa: E402


def road(card: Path, images: Path, methods: str, per_class: int, out: Path) -> dict[tuple[str, str], float]:
    """(image, method) -> ROADCombined of ``card``'s maps."""
    subprocess.run([str(REPO / ".venv" / "bin" / "medxai"), "road", str(images), "--model", str(card),
                    "--methods", methods, "--per-class", str(per_class), "--target", "label",
                    "--out", str(out)], check=True)
    with open(out / "scores.csv", newline="") as handle:
        return {(row["image"], row["method"]): float(row["combined"]) for row in csv.DictReader(handle)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parent")
    parser.add_argument("fine_tuned")
    parser.add_argument("--methods", default="gradcam++,xgradcam,layercam")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--out", default=str(REPO / "out" / "experiments" / "road_before_after"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = out / "validation.csv"
    subprocess.run([sys.executable, str(REPO / "experiments" / "validation_split.py"), str(DATA / "images"),
                    str(images), "--test-fraction", "0.15"], check=True)
    before = road(Path(args.parent), images, args.methods, args.per_class, out / "before")
    after = road(Path(args.fine_tuned), images, args.methods, args.per_class, out / "after")
    rows = []
    for method in sorted({m for _, m in before}):
        keys = sorted(k for k in before if k[1] == method and k in after)
        test = paired_t_test([after[k] for k in keys], [before[k] for k in keys], names=("after", "before"))
        rows.append({"method": method, **test.to_dict()})
    for row, p in zip(rows, holm_adjust([r["p"] for r in rows])):
        row["p_holm"], row["significant_holm"] = p, bool(p < 0.05)
    result = {"parent": Path(args.parent).name, "fine_tuned": str(args.fine_tuned), "per_class": args.per_class,
              "percentiles": [20, 40, 60, 80], "target": "label", "tests": rows}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    for row in rows:
        print(f"{row['method']:<12} n={row['n']} before {row['mean_b']:.4f} after {row['mean_a']:.4f} "
              f"diff {row['mean_difference']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] "
              f"p={row['p']:.3g} p_holm={row['p_holm']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
