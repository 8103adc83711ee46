"""`medxai deid`: the site secret behind pseudonyms, and de-identified copies of DICOM files."""
from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    deid = sub.add_parser("deid", help="de-identification (DICOM PS3.15 Basic Profile): site secret, files")
    deid_sub = deid.add_subparsers(dest="deid_command", required=True)
    secret = deid_sub.add_parser("secret", help="the site secret that keys every pseudonym (set once)")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True)
    secret_sub.add_parser("init", help="create a new random site secret (refuses to replace one)")
    secret_sub.add_parser("import", help="install your site's existing secret from a file").add_argument("file")
    secret_sub.add_parser("show", help="where the secret is and its fingerprint (never the secret)")
    files = deid_sub.add_parser("files", help="write de-identified copies of DICOM files (same pseudonyms and "
                                              "UIDs as de-identified exports)")
    files.add_argument("inputs", nargs="+", help="DICOM files or folders")
    files.add_argument("--out", required=True, help="folder for the copies (OUT/<new SOP Instance UID>.dcm; an existing file is never overwritten)")
    deid.set_defaults(func=run)


def run(args) -> int:
    from medxai_desktop.core import deidentification as deid

    if args.deid_command == "files":
        return _files(args)
    if args.secret_command == "init":
        value = deid.init_secret()
        print(f"created the site secret {deid.secret_path()} (fingerprint {deid.fingerprint(value)}); "
              "copy it to every workstation of the site with `medxai deid secret import`")
    elif args.secret_command == "import":
        value = deid.import_secret(Path(args.file))
        print(f"site secret installed at {deid.secret_path()} (fingerprint {deid.fingerprint(value)})")
    else:
        print(f"{deid.secret_path()}: fingerprint {deid.fingerprint(deid.load_secret())}")
    return 0


def _files(args) -> int:
    from medxai_desktop.core.deidentification import Deidentifier
    from medxai_desktop.core.deidentification.files import deidentify_files

    written, refused = deidentify_files([Path(p) for p in args.inputs], Path(args.out),
                                        Deidentifier.from_site_secret())
    for path, reason in refused:
        print(f"medxai: not de-identified: {path}: {reason}", file=sys.stderr)
    print(f"wrote {len(written)} de-identified file(s) to {args.out}")
    return 2 if refused else 0
