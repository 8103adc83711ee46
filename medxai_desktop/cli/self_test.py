"""`medxai self-test`: the offline self-test of this installation."""
from __future__ import annotations


def register(sub) -> None:
    self_test = sub.add_parser("self-test", help="offline check of this installation: demo model, sample "
                                                 "study, five CAMs + CrossEAI, HTML report; exit 0 if it works")
    self_test.add_argument("--out", help="report folder (default: a new temporary folder)")
    self_test.add_argument("--device", default="auto")
    self_test.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.self_test import main as self_test

    return self_test(args.out, args.device)
