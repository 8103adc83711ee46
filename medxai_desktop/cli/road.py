"""`medxai road`: ROAD faithfulness of each method's maps."""
from __future__ import annotations

from pathlib import Path

from .common import (add_model_arguments, add_road_arguments,
                     run_road_from_args)


def register(sub) -> None:
    road = sub.add_parser("road", help="ROAD faithfulness (MoRF, LeRF, ROADCombined) of each method's maps, "
                                       "per image, with a summary and paired t-tests")
    road.add_argument("source", help="an image, a folder of images, or a CSV (image,label)")
    add_model_arguments(road)
    add_road_arguments(road)
    road.add_argument("--out", required=True, help="output folder (images/*/road.json, summary.json/.csv)")
    road.set_defaults(func=run)


def run(args) -> int:
    run_road_from_args(args, args.source, Path(args.out))
    print(f"wrote {Path(args.out) / 'summary.json'}, summary.csv, scores.csv and images/*/road.json")
    return 0
