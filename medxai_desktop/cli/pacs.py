"""`medxai pacs`: verify, find, retrieve from and send to a PACS (DIMSE or DICOMweb).

NODE is a name from the node file (``medxai pacs nodes``), or ad hoc ``AET@host:port`` or a
DICOMweb URL. Passwords come from $MEDXAI_PACS_PASSWORD_<NODE>, the OS keyring or the prompt.
"""
from __future__ import annotations

import getpass
import json
import os
import sys

FILTERS = (("patient_id", "--patient-id"), ("patient_name", "--patient-name"),
           ("modality", "--modality"), ("accession", "--accession"), ("description", "--description"),
           ("study_uid", "--study"))


def register(sub) -> None:
    parser = sub.add_parser("pacs", help="verify, find, retrieve from and send to a PACS")
    parser.add_argument("--nodes", metavar="FILE", default=None,
                        help="the node file (default: $MEDXAI_PACS_NODES, else pacs_nodes.json in the "
                             "user's configuration folder)")
    parser.add_argument("--calling-ae", metavar="AET", default=None, help="our AE title (default: the node's, MEDXAI)")
    commands = parser.add_subparsers(dest="pacs_command", required=True)
    echo = commands.add_parser("echo", help="C-ECHO, or a QIDO-RS request for a DICOMweb node")
    echo.add_argument("node")
    echo.set_defaults(func=run, action=_echo)
    find = commands.add_parser("find", help="studies or series matching the filters")
    find.add_argument("node")
    find.add_argument("--level", choices=["study", "series"], default="study")
    for _, flag in FILTERS:
        find.add_argument(flag, default="", help="wildcards * and ? allowed" if flag == "--patient-name" else None)
    find.add_argument("--date", default="", metavar="FROM-TO", help="study date YYYYMMDD, or a range "
                                                                    "YYYYMMDD-YYYYMMDD (either end may be left open)")
    find.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    find.set_defaults(func=run, action=_find)
    _register_retrieve_send(commands)
    _register_nodes(commands)


def _register_retrieve_send(commands) -> None:
    from medxai_desktop.core.pacs import VIAS

    retrieve = commands.add_parser("retrieve", help="a study or series into the cache, instance by instance")
    retrieve.add_argument("node")
    retrieve.add_argument("--study", required=True, metavar="UID")
    retrieve.add_argument("--series", default=None, metavar="UID")
    retrieve.add_argument("--via", choices=VIAS, default=None, help="get (default for DIMSE), move (to our "
                                                                    "store_port) or wado (DICOMweb)")
    retrieve.add_argument("--out", default=None, metavar="DIR",
                          help="the cache folder (files go to DIR/<study UID>/<SOP UID>.dcm; default: "
                               "$MEDXAI_PACS_CACHE or the user's cache folder)")
    retrieve.set_defaults(func=run, action=_retrieve)
    send = commands.add_parser("send", help="DICOM files by C-STORE or STOW-RS (logged in the review database)")
    send.add_argument("node")
    send.add_argument("files", nargs="+", metavar="FILE")
    send.add_argument("--sent-by", default=os.environ.get("USER") or None, help="who sends (default: $USER)")
    send.set_defaults(func=run, action=_send)


def _register_nodes(commands) -> None:
    nodes = commands.add_parser("nodes", help="list, add or remove the nodes of the node file")
    nodes.add_argument("change", nargs="?", choices=["add", "remove"])
    nodes.add_argument("name", nargs="?")
    nodes.add_argument("spec", nargs="?", help="add: AET@host:port or an http(s):// URL")
    nodes.add_argument("--store-port", type=int, default=None, help="our storage port for C-MOVE")
    nodes.add_argument("--listen-address", default=None, metavar="IP",
                       help="the address our C-MOVE storage SCP binds (default 127.0.0.1)")
    nodes.add_argument("--auth", choices=["none", "basic", "bearer"], default=None)
    nodes.add_argument("--username", default=None)
    nodes.add_argument("--timeout", type=float, default=None, help="seconds (default 10)")
    nodes.set_defaults(func=run, action=_nodes)
    password = commands.add_parser("password", help="keep a node's password or token in the OS keyring")
    password.add_argument("node")
    password.set_defaults(func=run, action=_password)


def run(args) -> int:
    return args.action(args)


def prompt(node) -> str | None:
    """Ask on the terminal (never echoed); None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"{'token' if node.auth == 'bearer' else 'password'} for {node.username or ''}"
                           f"{'@' if node.username else ''}{node.name}: ") or None


def node_of(args, name: str | None = None):
    from medxai_desktop.core.pacs import resolve_node

    return resolve_node(name or args.node, getattr(args, "nodes", None), getattr(args, "calling_ae", None))


def send_export(store, args, before):
    """``medxai export dicom-sr --send NODE``: the SRs the export just wrote, to the node, those
    of revisions sent there before left out."""
    from pathlib import Path

    from medxai_desktop.core.pacs.send_log import changed_since, send_logged

    node = node_of(args, args.send)
    progress, bar = progress_bar()
    try:
        return send_logged(store, node, changed_since(Path(args.out), before), os.environ.get("USER") or None,
                           skip_sent=True, progress=progress, prompt=prompt)
    finally:
        bar.close()


def _echo(args) -> int:
    from medxai_desktop.core.pacs import verify

    node = node_of(args)
    seconds = verify(node, prompt)
    print(f"{node.name} ({node.describe()}): answered in {seconds * 1000:.0f} ms")
    return 0


def _find(args) -> int:
    from medxai_desktop.core.pacs import Query, find

    date_from, _, date_to = args.date.partition("-") if "-" in args.date else (args.date, "", args.date)
    query = Query(level=args.level, date_from=date_from, date_to=date_to,
                  **{field: getattr(args, flag[2:].replace("-", "_")) for field, flag in FILTERS})
    matches = find(node_of(args), query, prompt)
    if args.json:
        print(json.dumps([m.to_json() for m in matches], indent=2))
        return 0
    columns = ["patient_name", "patient_id", "date", "description", "modalities", "instances",
               "series_uid" if args.level == "series" else "study_uid"]
    rows = [[str(getattr(m, c) if getattr(m, c) is not None else "") for c in columns] for m in matches]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"{len(matches)} {args.level if len(matches) == 1 else args.level.replace('y', 'ie') + 's'}",
          file=sys.stderr)
    return 0


def progress_bar():
    """A tqdm bar whose total follows the job's (a retrieve learns it as it goes)."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="inst", leave=False, dynamic_ncols=True, disable=None)

    def progress(p) -> None:
        if p.total != bar.total:
            bar.total = p.total
        bar.update(p.done - bar.n)

    return progress, bar


def _retrieve(args) -> int:
    from medxai_desktop.core.pacs import InstanceCache, retrieve
    from medxai_desktop.core.store import ReviewStore, default_db_url
    from medxai_desktop.core.store.pacs_log import record_retrieved

    node = node_of(args)
    progress, bar = progress_bar()
    try:
        result = retrieve(node, args.study, args.series, via=args.via, cache=InstanceCache(args.out),
                          progress=progress, prompt=prompt)
    finally:
        bar.close()
    with ReviewStore(args.db or default_db_url()) as store:
        record_retrieved(store, node.name, result.provenance())
    print(result.summary())
    for sop_uid, why in result.refused:
        print(f"refused {sop_uid}: {why}")
    print(result.folder)
    return 0


def _send(args) -> int:
    from pathlib import Path

    from medxai_desktop.core.pacs.send_log import send_logged
    from medxai_desktop.core.store import ReviewStore, default_db_url

    node = node_of(args)
    progress, bar = progress_bar()
    with ReviewStore(args.db or default_db_url()) as store:
        try:
            result = send_logged(store, node, [Path(f) for f in args.files], args.sent_by, skip_sent=False,
                                 progress=progress, prompt=prompt)
        finally:
            bar.close()
    print(result.summary())
    return 0


def _nodes(args) -> int:
    from dataclasses import replace

    from medxai_desktop.core.pacs import load_nodes, nodes_file, parse_ad_hoc, save_nodes
    from medxai_desktop.core.pacs.errors import NodeConfigError

    nodes = load_nodes(args.nodes)
    if args.change and not args.name:
        raise NodeConfigError(f"pacs nodes {args.change}: give the node's name")
    if args.change == "remove":
        if nodes.pop(args.name, None) is None:
            raise NodeConfigError(f"no PACS node {args.name!r} in {args.nodes or nodes_file()}")
        save_nodes(nodes, args.nodes)
    elif args.change == "add":
        if not args.spec:
            raise NodeConfigError("pacs nodes add NAME SPEC: give AET@host:port or a URL")
        node = replace(parse_ad_hoc(args.spec, args.calling_ae), name=args.name)
        extra = {k: getattr(args, k) for k in ("store_port", "listen_address", "auth", "username", "timeout") if getattr(args, k) is not None}
        nodes[args.name] = replace(node, **extra)
        save_nodes(nodes, args.nodes)
    for name, node in sorted(nodes.items()):
        print(f"{name}: {node.describe()}{f' (our AE {node.calling_ae})' if node.kind == 'dimse' else ''}")
    print(f"{len(nodes)} node(s) in {args.nodes or nodes_file()}", file=sys.stderr)
    return 0


def _password(args) -> int:
    from medxai_desktop.core.pacs import store_password
    from medxai_desktop.core.pacs.errors import NodeConfigError

    node = node_of(args)
    if node.auth == "none":
        raise NodeConfigError(f"PACS node {node.name!r} uses no authentication")
    secret = prompt(node)
    if not secret:
        raise NodeConfigError("no password given (a terminal is needed to type it)")
    store_password(node, secret)
    print(f"kept in the OS keyring for {node.name}")
    return 0
