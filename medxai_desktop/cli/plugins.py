"""`medxai plugins`: list, enable or disable plugins."""
from __future__ import annotations

import argparse
import os
import sys


def register(sub) -> None:
    plugins = sub.add_parser("plugins", help="list, enable or disable plugins (architectures, explainers, exporters)")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugins_sub.add_parser("list", help="kind, name, version, source, enabled, load error")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    plugins_sub.add_parser("enable", help="enable a plugin (it is imported from now on)").add_argument("name")
    plugins_sub.add_parser("disable", help="disable a plugin").add_argument("name")
    # hidden: the child process that imports a plugin before this program does (core.plugins.check)
    plugins_sub.add_parser("_validate", help=argparse.SUPPRESS).add_argument("name")
    plugins.set_defaults(func=run)


def run(args) -> int:
    import json

    from medxai_desktop.core import plugins

    if args.plugins_command == "_validate":
        from medxai_desktop.core.plugins.loader import child_main
        return child_main(args.name)
    if args.plugins_command == "enable":
        status = plugins.enable(args.name)
        info = status.info
        if status.error:
            print(f"medxai: enabled plugin {info.name!r}, but it cannot be used: {status.error}", file=sys.stderr)
            return 2
        print(f"enabled {info.kind} plugin {info.name} {info.version} ({info.source})")
        return 0
    if args.plugins_command == "disable":
        plugins.disable(args.name)
        print(f"disabled plugin {args.name}")
        return 0
    # the declarations and the recorded results of earlier loads: listing imports no plugin
    rows = [s.as_row() for s in plugins.statuses()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'kind':<13} {'name':<16} {'version':<9} {'enabled':<8} {'state':<9} source")
    for row in rows:
        print(f"{row['kind']:<13} {row['name']:<16} {row['version']:<9} {'yes' if row['enabled'] else 'no':<8} "
              f"{row['state']:<9} {row['source']}")
        if row["error"]:
            print(f"{'':<13} error: {row['error']}")
    if not rows:
        print("(no plugins found)")
    print(f"settings: {plugins.state_path()}")
    print("folders:  " + os.pathsep.join(str(p) for p in plugins.plugin_folders()) + " (and entry points "
          f"in the group {plugins.GROUP})")
    return 0
