"""`schoolgate directory sync [--dry-run]`: the directory CSV from [directory_sync]'s source."""
from __future__ import annotations

import argparse
import json

from gateway.directory_sync import DirectorySyncError

EXIT_OK = 0


def cmd_directory_sync(args: argparse.Namespace) -> int:
    from config.loader import settings_from_args
    from gateway.directory_sources import source_from_settings
    from gateway.directory_sync import sync

    settings = settings_from_args(args)
    if settings.directory.csv is None:
        raise DirectorySyncError("[directory] csv is not set: say where the synced directory is written")
    source = source_from_settings(settings)
    result = sync(source, settings.directory.csv, grace_days=settings.directory_sync.grace_days,
                  dry_run=args.dry_run)
    if args.json:
        print(json.dumps({
            "dry_run": args.dry_run, "source": source.name, "csv": str(settings.directory.csv),
            "add": [r.email for r in result.adds], "change": [a.email for _, a in result.changes],
            "remove": [r.email for r in result.removals], "kept": [r.email for r, _ in result.kept],
            "people": len(result.result)}))
        return EXIT_OK
    for line in result.lines():
        print(line)
    verb = "would leave" if args.dry_run else "wrote"
    print(f"{source.name}: {result.summary()}; {verb} {settings.directory.csv}"
          + (" (dry run: nothing written)" if args.dry_run else ""))
    return EXIT_OK


def add_directory_commands(subparsers) -> None:
    from config.loader import add_config_arguments as with_config

    directory = subparsers.add_parser("directory", help="the school's directory of staff and pupils")
    dsub = directory.add_subparsers(dest="dircommand", metavar="ACTION", required=True)
    run = with_config(dsub.add_parser("sync", help="update [directory] csv from [directory_sync] source"))
    run.add_argument("--dry-run", action="store_true", help="show adds, changes and removals; write nothing")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_directory_sync)
