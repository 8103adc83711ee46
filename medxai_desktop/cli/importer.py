"""`medxai import`: import reference boxes."""
from __future__ import annotations

import os
from pathlib import Path

from .common import (FORMAT_CHOICES)


def register(sub) -> None:
    importer = sub.add_parser("import", help="import reference boxes into the review database")
    importer.add_argument("format", choices=FORMAT_CHOICES)
    importer.add_argument("file", help="the annotation file (VOC/YOLO: a folder)")
    importer.add_argument("--images", help="folder of the images the file names (sizes, paths)")
    importer.add_argument("--reviewer", default=os.environ.get("USER") or "importer",
                          help="who the imported boxes are attributed to (default: $USER)")
    importer.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.exchange import FORMATS
    from medxai_desktop.core.store import ReviewStore, default_db_url

    reader, _ = FORMATS[args.format]
    annotations = reader(args.file, images_dir=args.images)
    with ReviewStore(args.db or default_db_url()) as store:
        summary = store.import_annotations(annotations, reviewer=args.reviewer,
                                           source=f"{args.format}:{Path(args.file).resolve()}")
    print(f"imported {summary.boxes_added} reference boxes on {summary.images_added} new and "
          f"{summary.images_matched} known images from {args.file}; skipped "
          f"{summary.duplicates_skipped} already imported, {summary.proposals_skipped} proposals, "
          f"{summary.rejected_skipped} rejected")
    return 0
