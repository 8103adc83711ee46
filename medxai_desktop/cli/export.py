"""`medxai export`: export boxes from the review database."""
from __future__ import annotations

import sys

from .common import (FORMAT_CHOICES, UsageError, enabled_plugin_names)


def register(sub) -> None:
    exporter = sub.add_parser("export", help="export boxes from the review database")
    exporter.add_argument("format", choices=FORMAT_CHOICES + ["dicom-sr"] + enabled_plugin_names("exporter"))
    exporter.add_argument("--out", required=True, help="file (COCO, CSV) or folder (VOC, YOLO, DICOM SR)")
    exporter.add_argument("--which", choices=["reviewed", "proposals", "both"], default="reviewed",
                          help="reviewed (the reference, default): signed-off images only, with their "
                               "reviewed boxes (none: a true negative), and images with imported "
                               "reference boxes; images in review or never reviewed are left out. "
                               "both: the same images, with the AI proposals on them too. "
                               "proposals: every image, with its AI proposals")
    exporter.add_argument("--deidentify", action="store_true",
                          help="de-identify (DICOM PS3.15 Basic Profile; pseudonyms keyed by the site "
                               "secret set once with `medxai deid secret init`)")
    exporter.add_argument("--send", metavar="NODE", default=None,
                          help="dicom-sr: also send the SRs to this PACS node (a name from `medxai pacs "
                               "nodes`, AET@host:port or a DICOMweb URL); a revision sent there before "
                               "is not sent again")
    exporter.add_argument("--nodes", metavar="FILE", default=None, help="the PACS node file (see `medxai pacs`)")
    exporter.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.exchange.export import export_store
    from medxai_desktop.core.pacs.send_log import snapshot

    from .pacs import send_export
    from medxai_desktop.core.store import ReviewStore, default_db_url

    if args.send and args.format != "dicom-sr":
        raise UsageError("--send: only DICOM SR (dicom-sr) goes to a PACS")
    with ReviewStore(args.db or default_db_url()) as store:
        before = snapshot(args.out)
        result = export_store(store, args.format, args.out, args.which, deidentify=args.deidentify)
        sent = send_export(store, args, before) if args.send else None
    for key in result.skipped:
        print(f"not a DICOM source, no SR written: {key}", file=sys.stderr)
    print(result.summary)
    if sent is not None:
        print(sent.summary())
    if result.included:
        print(f"included: {result.included}")
    return 0
