"""`schoolgate db upgrade|status`: the quarantine database's schema (quarantine/schema.py)."""
from __future__ import annotations

import argparse
import json

EXIT_OK = 0
EXIT_BEHIND = 1


def _store(args: argparse.Namespace):
    from config.loader import settings_from_args
    from quarantine.store import QuarantineStore

    return QuarantineStore.for_settings(settings_from_args(args).quarantine)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate to this release's schema, under the same lock the nodes take at start."""
    before, after = _store(args).upgrade_sync()
    if args.json:
        print(json.dumps({"from": before, "to": after}))
    elif before == after:
        print(f"The quarantine database is already at schema {after}.")
    else:
        print(f"The quarantine database is now at schema {after} (was {before or 'new or pre-migration'}).")
    return EXIT_OK


def cmd_db_status(args: argparse.Namespace) -> int:
    """Say the stamped and the wanted schema; exit 1 when an upgrade is needed."""
    from sqlalchemy import create_engine

    from quarantine.schema import current, head, is_empty

    store = _store(args)
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            empty = is_empty(conn)
            have = None if empty else current(conn)
    finally:
        engine.dispose()
    want = head()
    state = "new" if empty else ("current" if have == want else "upgrade needed")
    if args.json:
        print(json.dumps({"schema": have, "release": want, "state": state}))
    else:
        print(f"schema {have or '-'}; this release needs {want}: {state}"
              + (" (run `schoolgate db upgrade`)" if state == "upgrade needed" else ""))
    return EXIT_BEHIND if state == "upgrade needed" else EXIT_OK


def add_db_commands(subparsers) -> None:
    from config.loader import add_config_arguments as with_config

    db = subparsers.add_parser("db", help="the quarantine database's schema")
    dsub = db.add_subparsers(dest="dbcommand", metavar="ACTION", required=True)
    up = with_config(dsub.add_parser("upgrade", help="migrate the database to this release's schema"))
    up.add_argument("--json", action="store_true")
    up.set_defaults(func=cmd_db_upgrade)
    status = with_config(dsub.add_parser("status", help="the database's schema and this release's"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_db_status)
