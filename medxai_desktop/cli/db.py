"""`medxai db`: the review database's schema and contents."""
from __future__ import annotations


def register(sub) -> None:
    db = sub.add_parser("db", help="the review database: create/upgrade its schema, show what it holds")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create the schema, or upgrade it to this version's")
    db_sub.add_parser("info", help="rows per table, schema revision, URL (password masked)")
    db.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core.store import (ReviewStore, StoreError, default_db_url, mask_url,
                                           missing_sqlite_file)

    url = args.db or default_db_url()
    if args.db_command == "upgrade":
        with ReviewStore(url, upgrade=False) as store:
            before, after = store.upgrade()
        print(f"{mask_url(url)}: schema " + (f"upgraded from {before or 'empty'} to {after}"
                                             if before != after else f"already at {after}"))
        return 0
    database = missing_sqlite_file(url)
    if database is not None:
        raise StoreError(f"no database at {database}: create it with `medxai --db URL db upgrade`")
    with ReviewStore(url, upgrade=False) as store:
        info = store.info()
    revision = info["schema_revision"] or "none (empty database: run `medxai db upgrade`)"
    print(f"database  {info['url']} ({info['backend']})")
    print(f"schema    {revision} (this version of MedXAI Desktop: {info['head_revision']})")
    for table, count in info["counts"].items():
        print(f"  {table:<16} {count:>8}")
    return 0
