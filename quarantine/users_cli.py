"""`schoolgate user add|passwd|disable|list`: local review accounts. Passwords come from stdin."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

EXIT_OK = 0


def _read_password(confirm: bool = True) -> str:
    """One line from stdin (scripts: `echo pw | schoolgate user add ...`); asks twice on a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise SystemExit("schoolgate: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _with_users(args: argparse.Namespace, fn) -> int:
    """fn(accounts) -> (message, audit action). UserError and ConfigError (SchoolgateError) reach
    gateway/cli.py's main, which prints them as one line, exit 1."""
    from config.loader import settings_from_args, store_location
    from quarantine.review_store import ReviewStore, WebAction
    from quarantine.store import QuarantineStore
    from quarantine.users import UserStore

    settings = settings_from_args(args)
    if args.verbose:
        print(f"schoolgate: store {store_location(settings)} (config {settings.source or 'shipped defaults'})",
              file=sys.stderr)
    # the same store serve opens; accounts may be made before the first start, so it may be created
    store = QuarantineStore.for_settings(settings.quarantine).open_sync()
    try:
        accounts = UserStore.for_settings(store.engine, settings.web)
        message, action = fn(accounts)
        actor = f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"
        if action is not None:
            ReviewStore(store).audit(actor, getattr(WebAction, action), None, message, {"user": args.name})
    finally:
        store.close_sync()
    print(message)
    return EXIT_OK


def cmd_user_add(args: argparse.Namespace) -> int:
    schools = _schools(args)
    password = _read_password()
    return _with_users(args, lambda accounts: (
        f"Added {accounts.add(args.name, args.role, password, args.email or '', schools).name} "
        f"({args.role}{', ' + ' '.join(schools) if schools else ''}).", "USER_ADD"))


def _schools(args: argparse.Namespace) -> list[str]:
    """--schools a,b (repeatable): the [[schools]] ids a school-level account sees (docs/trust.md);
    an id the config does not know is a UserError (one line)."""
    from config.loader import settings_from_args
    from filters.tenancy import Tenancy
    from quarantine.users import UserError

    ids = [s.strip() for item in (getattr(args, "schools", None) or []) for s in item.split(",") if s.strip()]
    if ids:
        known = Tenancy.from_settings(settings_from_args(args)).ids
        unknown = [s for s in ids if s not in known]
        if unknown:
            raise UserError(f"unknown school {unknown[0]!r}; the config's schools are {', '.join(known)}")
    return ids


def cmd_user_schools(args: argparse.Namespace) -> int:
    schools = _schools(args)

    def change(accounts):
        user = accounts.set_schools(args.name, schools)
        return f"{user.name} now sees: {', '.join(user.schools) or 'no school'}.", "USER_ROLE"
    return _with_users(args, change)


def cmd_user_passwd(args: argparse.Namespace) -> int:
    password = _read_password()

    def change(accounts):
        accounts.set_password(args.name, password)
        return f"Password changed for {args.name}.", "USER_PASSWD"
    return _with_users(args, change)


def cmd_user_disable(args: argparse.Namespace) -> int:
    def disable(accounts):
        accounts.set_disabled(args.name, True)
        return f"Disabled {args.name}.", "USER_DISABLE"
    return _with_users(args, disable)


def cmd_user_list(args: argparse.Namespace) -> int:
    args.name = ""

    def listing(accounts):
        rows = [f"{u.name:<24} {u.role:<9} {'disabled' if u.disabled else 'active':<9} {u.email}"
                for u in accounts.list()]
        return "\n".join(rows) or "No users.", None
    return _with_users(args, listing)


def cmd_user_token(args: argparse.Namespace) -> int:
    """A local token for `quarantine ... --as NAME` (SCHOOLGATE_TOKEN): the password once, not each time."""
    password = _read_password(confirm=False)

    def make(accounts):
        if accounts.authenticate(args.name, password) is None:
            from quarantine.users import UserError
            raise UserError(f"that password does not match an active account {args.name}")
        token = accounts.make_token(args.name, args.hours)
        return (f"{token}\n(for {args.name}, {args.hours:g} hours: export SCHOOLGATE_TOKEN=... "
                f"and use --as {args.name})"), "USER_TOKEN"
    return _with_users(args, make)


def add_user_commands(subparsers) -> None:
    """Adds `user add NAME --role ROLE`, `user passwd NAME`, `user disable NAME`, `user list`."""
    from config.loader import add_config_arguments as with_config
    from quarantine.users import Role

    user = subparsers.add_parser("user", help="local accounts for the review web UI")
    usub = user.add_subparsers(dest="ucommand", metavar="ACTION", required=True)

    add = with_config(usub.add_parser("add", help="create an account; the password is read from stdin"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--email", help="where notifications for this role go (DSL alerts, digests)")
    add.add_argument("--schools", action="append", metavar="ID[,ID]",
                     help="in a trust: the schools this account sees (trust_* roles see every school)")
    add.set_defaults(func=cmd_user_add)
    sch = with_config(usub.add_parser("schools", help="set the schools an account sees (a trust)"))
    sch.add_argument("name")
    sch.add_argument("--schools", action="append", metavar="ID[,ID]", default=[], help="none given: no school")
    sch.set_defaults(func=cmd_user_schools)
    passwd = with_config(usub.add_parser("passwd", help="set a new password, read from stdin"))
    passwd.add_argument("name")
    passwd.set_defaults(func=cmd_user_passwd)
    disable = with_config(usub.add_parser("disable", help="stop an account logging in (kept for the audit)"))
    disable.add_argument("name")
    disable.set_defaults(func=cmd_user_disable)
    tok = with_config(usub.add_parser("token", help="a local token for `quarantine --as NAME`; "
                                                    "the password is read from stdin"))
    tok.add_argument("name")
    tok.add_argument("--hours", type=float, default=8.0, help="how long it works (default 8)")
    tok.set_defaults(func=cmd_user_token)
    listing = with_config(usub.add_parser("list", help="accounts and roles"))
    listing.set_defaults(func=cmd_user_list)
