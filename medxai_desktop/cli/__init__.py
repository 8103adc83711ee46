"""`medxai`: the headless front end over the same core calls as the desktop app. One module per
command, each with ``register(subparsers)`` and ``run(args)``; shared arguments in :mod:`.common`."""
from __future__ import annotations

import argparse
import os
import sys

from medxai_desktop.core.errors import MedXAIError
from medxai_desktop.core.text_limits import ESCAPE_ERRORS, printable

from . import (compare_models, db, deid, demo, evaluate, explain, export, importer, pacs, plugins, report,
               road, self_test, train, tune_boxes)
from .common import UsageError, load_model_from_args  # noqa: F401 (the CLI's public names)

COMMANDS = (explain, train, evaluate, compare_models, demo, importer, export, db, plugins, self_test,
            tune_boxes, road, report, deid, pacs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medxai", description="MedXAI Desktop, headless.")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="review database: sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB "
                             "(default: $MEDXAI_DB, else reviews.sqlite3 in the user's data folder)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _printable_output() -> None:
    """A file name whose bytes are not UTF-8 (Python holds them as lone surrogates) is printed
    with those bytes escaped, never as an encoding error instead of the command's output."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=ESCAPE_ERRORS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _printable_output()
    try:
        return args.func(args)
    except (MedXAIError, ValueError) as exc:
        # MedXAIError: a bad file (named in the message); ValueError: a bad option value
        # (unknown method, class, architecture, device). MEDXAI_DEBUG=1 shows the traceback.
        if os.environ.get("MEDXAI_DEBUG"):
            raise
        print(f"medxai: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"medxai: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
