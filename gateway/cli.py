"""The `schoolgate` command: serve, scan, quarantine, config. Errors are one clear line, never a traceback."""
from __future__ import annotations

import argparse
import asyncio
import email.policy
import gc
import getpass
import json
import logging
import os
import signal
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Sequence

from config.loader import ConfigError, add_config_arguments, masked_url, settings_from_args, store_location
from config.schema import Settings
from filters.errors import SchoolgateError
from gateway.logs import adopt_library_handlers, event, setup_logging
from quarantine.report_cli import add_report_commands
from quarantine.trust_report_cli import add_trust_report_commands
from gateway.directory_cli import add_directory_commands
from quarantine.db_cli import add_db_commands
from quarantine.users_cli import add_user_commands

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class CliError(SchoolgateError):
    """A problem the user can fix; printed as one line, exit 1."""


log = logging.getLogger("schoolgate")


def _settings(args: argparse.Namespace, overrides: dict[str, Any] | None = None, *,
              check_files: bool = False) -> Settings:
    return settings_from_args(args, overrides=overrides, check_files=check_files)


def _command_logging(settings: Settings, args: argparse.Namespace) -> None:
    """Commands other than serve: their stdout is their output (JSON for scripts), so log to stderr."""
    # a person reads these in a terminal: text, whatever [logging] format says for the service
    setup_logging(settings.logging.level if getattr(args, "verbose", False) else "warning",
                  "text", stream=sys.stderr, verbose=getattr(args, "verbose", False))


def _announce_store(settings: Settings, args: argparse.Namespace) -> None:
    if getattr(args, "verbose", False):
        print(f"schoolgate: store {store_location(settings)} (config {settings.source or 'shipped defaults'})",
              file=sys.stderr, flush=True)


# --- serve -------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.next_hop:
        overrides.setdefault("gateway", {})["next_hop"] = args.next_hop
    if args.listen:
        overrides.setdefault("gateway", {})["listen"] = args.listen
    if args.web_listen:
        overrides.setdefault("web", {})["listen"] = args.web_listen
    # validated once, here, files included (the directory CSV): a bad config never half-starts
    try:
        settings = _settings(args, overrides, check_files=True)
    except ConfigError as exc:  # the log collector hears it too (stdout); main prints the lines on stderr
        setup_logging()
        for line in exc.problems:
            event(log, logging.ERROR, "config_error", line)
        raise
    setup_logging(settings.logging.level, settings.logging.format, verbose=args.verbose)
    _announce_store(settings, args)
    from gateway.workers import WORKER_LISTEN_ENV
    if os.environ.get(WORKER_LISTEN_ENV):  # a replacement worker its supervisor started
        return _serve_replacement(settings, args)
    if settings.gateway.workers > 1:
        return _serve_workers(settings, args)
    return _run_loop(settings, _serve_one(settings, args.grace))


def _serve_replacement(settings: Settings, args: argparse.Namespace) -> int:
    """One worker, started by the supervisor for one that died (gateway/workers.py): the
    shared port and the worker's index from the environment; its own filters."""
    from gateway.workers import SUPERVISOR_PID_ENV, WORKER_LISTEN_ENV, die_with

    parent = int(os.environ.pop(SUPERVISOR_PID_ENV, "0") or 0)
    if parent:  # as a forked worker: it dies with its supervisor (gateway/workers.py _die_with)
        die_with(parent)
    listen = os.environ.pop(WORKER_LISTEN_ENV)
    index = int(os.environ.get("SCHOOLGATE_WORKER", "1"))
    worker_settings = settings.model_copy(update={"gateway": settings.gateway.model_copy(update={"listen": listen})})
    setup_logging(settings.logging.level, settings.logging.format, verbose=args.verbose, static={"worker": index})
    return _run_loop(settings, _serve_one(worker_settings, args.grace, worker=index))


def _run_loop(settings: Settings, coro) -> int:
    """The SMTP path's event loop ([gateway] event_loop: uvloop when installed)."""
    from gateway.event_loop import run
    try:
        return run(coro, settings.gateway.event_loop)
    except RuntimeError as exc:
        if "event_loop" not in str(exc):
            raise
        coro.close()
        return _start_failed(str(exc))


async def _serve_one(settings: Settings, grace: float, worker: int | None = None, prepared=None) -> int:
    from gateway.service import Gateway, StartupError
    from gateway.workers import tell_ready

    # prepared: the Scanner and Metrics built before the fork (gateway/service.py prepare_workers)
    gateway = Gateway(settings) if prepared is None else prepared.gateway(settings)
    try:
        await gateway.start(primary=not worker)
    except SchoolgateError as exc:  # StartupError, and any of ours raised while starting
        return _start_failed(f"cannot start: {exc}")
    except OSError as exc:
        await gateway.stop(grace=0)
        return _start_failed(f"cannot listen on {settings.gateway.listen}: {exc.strerror}")
    adopt_library_handlers()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    who = "" if worker is None else f"worker {worker}: "
    event(log, logging.INFO, "start",
          f"{who}SMTP on {settings.gateway.listen} (port {gateway.smtp_port}), next hop "
          f"{settings.gateway.next_hop or '(none)'}, quarantine {store_location(settings)}",
          version=_version(), listen=settings.gateway.listen, port=gateway.smtp_port,
          next_hop=settings.gateway.next_hop, store=store_location(settings),
          config=str(settings.source or "shipped defaults"))
    # Everything built at start (filters, lexicons, models, pattern database) is
    # long-lived: out of the collector's sight, so no full collection walks it again
    # (and a forked worker's shared pages are not dirtied by the collector's marks).
    gc.collect()
    gc.freeze()
    # what the start-up freed (self-tests, the store's schema check) back to the system at once,
    # not at the first HeapTrimmer tick a minute after the first mail (gateway/memory.py)
    from gateway.memory import trim_heap
    trim_heap()
    tell_ready()
    await stop.wait()
    event(log, logging.INFO, "stopping", "shutting down: finishing in-flight messages", grace=grace)
    await gateway.stop(grace=grace)
    event(log, logging.INFO, "stop", "stopped")
    return EXIT_OK


def _start_failed(text: str) -> int:
    """A log line for the collector (stdout) and one plain line for the person at the terminal."""
    event(log, logging.ERROR, "start_failed", text)
    print(f"schoolgate: {text}", file=sys.stderr, flush=True)
    return EXIT_FAIL


def _serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    """[gateway] workers > 1: a supervisor forks that many gateways sharing the port."""
    from gateway.service import open_store
    from gateway.workers import Supervisor

    try:  # create the tables once, here, so workers never race to create them
        open_store(settings).open_sync().close_sync()
    except Exception as exc:
        return _start_failed(f"cannot start: quarantine store at {store_location(settings)} cannot be opened: {exc}")

    from filters.registry import preload
    from gateway.service import StartupError, prepare_workers
    preload(settings.filters.chain)
    try:  # the filters, built once here, are shared by every worker's pages
        prepared = prepare_workers(settings)
    except StartupError as exc:
        return _start_failed(f"cannot start: {exc}")
    # what was loaded before the fork is shared by every worker: keep the collector off it
    gc.collect()
    gc.freeze()

    def run_worker(index: int, listen: str) -> int:
        worker_settings = settings.model_copy(update={"gateway": settings.gateway.model_copy(
            update={"listen": listen})})
        # say which worker wrote each line
        setup_logging(settings.logging.level, settings.logging.format, verbose=args.verbose,
                      static={"worker": index})
        return _run_loop(settings, _serve_one(worker_settings, args.grace, worker=index, prepared=prepared))

    try:
        # restart_argv: once its workers listen the supervisor re-executes itself small (issue 19's
        # memory); a worker that dies later is replaced by `schoolgate <these arguments>` in worker mode
        return Supervisor(settings.gateway.workers, settings.gateway.listen, run_worker,
                          restart_argv=list(getattr(args, "argv", None) or ["serve"])).run()
    except OSError as exc:
        return _start_failed(f"cannot listen on {settings.gateway.listen}: {exc.strerror}")


# --- scan (a fixed contract) ---------------------------------------------------
def _scan_case(scanner, raw: bytes, mail_from: str, rcpts: Sequence[str], case_id: str):
    from filters.message import Envelope

    async def one() -> dict:
        result = await scanner.scan(raw, Envelope(mail_from, tuple(rcpts), "127.0.0.1", "scan"))
        return {"id": case_id, **result.verdict.as_dict(), "signals_off": scanner.signals_off}
    return one()


def cmd_scan(args: argparse.Namespace) -> int:
    from filters.scanner import Scanner

    settings = _settings(args)
    _command_logging(settings, args)
    if args.manifest is None and args.message is None:
        raise CliError("give MESSAGE.eml (with --mail-from and --rcpt) or --manifest CASES.jsonl")
    if args.manifest is not None and args.message is not None:
        raise CliError("give either MESSAGE.eml or --manifest, not both")

    async def run() -> int:
        scanner = Scanner(settings)  # filters and models load once for the whole run
        try:
            if args.message is not None:
                if not args.mail_from and args.mail_from != "":
                    raise CliError("--mail-from is required with MESSAGE.eml")
                if not args.rcpt:
                    raise CliError("at least one --rcpt is required with MESSAGE.eml")
                raw = _read_bytes(Path(args.message))
                out = await _scan_case(scanner, raw, args.mail_from, args.rcpt, Path(args.message).name)
                print(json.dumps(out), flush=True)
                return EXIT_OK
            return await _scan_manifest(scanner, Path(args.manifest))
        finally:
            await scanner.close()

    return asyncio.run(run())


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None


async def _scan_manifest(scanner, manifest: Path) -> int:
    """Streams: a bounded window of cases in flight, results printed in input order."""
    base = manifest.resolve().parent
    try:
        handle = open(manifest, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{manifest}: {exc.strerror}") from None
    pending: list[asyncio.Task] = []
    window = 16
    status = EXIT_OK

    async def flush(keep: int) -> None:
        while len(pending) > keep:
            print(json.dumps(await pending.pop(0)), flush=True)

    async def failed(case_id: Any, message: str) -> dict:
        return {"id": case_id, "error": message}

    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
                case_id = case.get("id", line_no)
                path = (base / case["file"])
                rcpts = case["rcpt_to"]
                if isinstance(rcpts, str):
                    rcpts = [rcpts]
                raw = path.read_bytes()
                coro = _scan_case(scanner, raw, case.get("mail_from", ""), rcpts, case_id)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                status = EXIT_FAIL
                coro = failed(line_no, f"line {line_no}: not a valid case: {exc}")
            except OSError as exc:
                status = EXIT_FAIL
                coro = failed(case.get("id", line_no), f"{exc.filename}: {exc.strerror}")
            pending.append(asyncio.ensure_future(coro))
            await flush(window)
        await flush(0)
    return status


# --- quarantine -------------------------------------------------------------------
def _store_exists(settings: Settings) -> bool:
    """Reading commands never create a store: an empty new one where the server's store was
    expected would show nothing and hide the mistake (a wrong [quarantine] path or --data-dir)."""
    if settings.quarantine.database_url and not settings.quarantine.database_url.startswith("sqlite"):
        return True  # the index is in the database server; held mail may be on another node
    if settings.quarantine.database_url:
        db = settings.quarantine.database_url.partition(":///")[2]
        return bool(db) and Path(db).exists()
    return (settings.quarantine.path / "index.sqlite3").exists()


def _open_store_sync(settings: Settings, args: argparse.Namespace | None = None):
    from gateway.service import open_store

    if args is not None:
        _announce_store(settings, args)
    if not _store_exists(settings):
        where = settings.source or "shipped defaults"
        raise CliError(f"no quarantine store at {store_location(settings)} (config {where}); "
                       f"give the --config (and --data-dir) the server runs with")
    return open_store(settings).open_sync()


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")


def _parse_since(text: str | None) -> float | None:
    if not text:
        return None
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:] in units and text[:-1].isdigit():
        return time.time() - int(text[:-1]) * units[text[-1]]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since: give a date (2026-11-01) or an age (7d, 12h), not {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = _open_store_sync(settings, args)
    try:
        rows = store.list_sync(status=args.status, category=args.category, sender=args.sender,
                               recipient=args.recipient, since=_parse_since(args.since), limit=args.limit)
    finally:
        store.close_sync()
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=None))
        return EXIT_OK
    if not rows:
        print("No messages match.")
        return EXIT_OK
    print(f"{'ID':<26} {'RECEIVED':<16} {'STATUS':<10} {'DIR':<8} {'FROM':<28} {'TO':<28} CODES")
    for r in rows:
        to = ", ".join(r.recipients)
        print(f"{r.id:<26} {_fmt_time(r.received_at):<16} {r.status:<10} {r.direction:<8} "
              f"{r.mail_from[:28]:<28} {to[:28]:<28} {' '.join(r.codes)}")
    return EXIT_OK


def _sign_in(args: argparse.Namespace, store: Any, settings: Settings):
    """`--as NAME`: the review account behind this command (quarantine/access.py Actor), or None.
    The password is asked for (or read from stdin), unless SCHOOLGATE_TOKEN holds a live
    token of that account (`schoolgate user token NAME`)."""
    from quarantine.access import Actor, with_school_rules
    from quarantine.review_store import ReviewStore, WebAction
    from quarantine.users import UserStore
    from quarantine.users_cli import _read_password

    name = getattr(args, "as_user", None)
    if not name:
        return None
    accounts = UserStore.for_settings(store.engine, settings.web)
    token = os.environ.get("SCHOOLGATE_TOKEN", "").strip()
    if token:
        user = accounts.token_user(name, token)
        if user is None:
            raise CliError(f"--as {name}: SCHOOLGATE_TOKEN is not a live token of that account "
                           f"(make one with: schoolgate user token {name})")
    else:
        user = accounts.authenticate(name, _read_password(confirm=False))
        if user is None:
            ReviewStore(store).audit(name, WebAction.LOGIN_FAILED, None, "", {"via": "cli"})
            raise CliError(f"--as {name}: that password does not match an active account")
    return Actor(with_school_rules(user, settings.web), "cli")


def _guard(args: argparse.Namespace, store: Any, settings: Settings, held: Any, *, deciding: bool):
    """The access rule (quarantine/access.py) for one CLI command on `held`.
    Returns (who for the audit, detail, full content allowed)."""
    from quarantine.access import AccessDenied, AccessRule, Need
    from quarantine.review_store import ReviewStore, is_safeguarding

    actor = _sign_in(args, store, settings)
    sg = is_safeguarding(held.categories)
    reason = (getattr(args, "reason", None) or "").strip()
    if actor is None:
        if sg and deciding:
            raise CliError(f"{held.id} is a safeguarding hold: only a DSL decides it, with "
                           f"--as DSL-ACCOUNT --reason WHY (both are audited with your name)")
        return _actor(args), {"via": "cli"}, not sg
    from filters.tenancy import Tenancy

    rule = AccessRule(settings.web, ReviewStore(store), Tenancy.from_settings(settings))
    key = rule.cli_key()
    try:
        rule.check(actor, held, Need.METADATA, key)
        if sg and reason:
            rule.open(actor, held, reason, key)
        if deciding:
            if sg and not reason:
                raise CliError(f"{held.id} is a safeguarding hold: --reason WHY is needed (audited)")
            rule.check(actor, held, Need.DECIDE, key)
        full = rule.opened(actor, held, key)
    except AccessDenied as exc:
        raise CliError(f"--as {actor.name} ({actor.role}): {exc}") from None
    return actor.name, actor.detail(), full


def _metadata(held: Any) -> dict[str, Any]:
    """What anyone at the console may see of a safeguarding hold: no subject, text or evidence."""
    return {"id": held.id, "received_at": held.received_at, "status": held.status, "direction": held.direction,
            "sender_role": held.sender_role, "mail_from": held.mail_from, "recipients": held.recipients,
            "codes": list(held.codes), "categories": list(held.categories), "size": held.size,
            "sha256": held.sha256,
            "content": "withheld: a safeguarding hold opens only with --as DSL-ACCOUNT --reason WHY"}


def cmd_quarantine_show(args: argparse.Namespace) -> int:
    from quarantine.review_store import ReviewStore, is_safeguarding

    settings = _settings(args)
    store = _open_store_sync(settings, args)
    try:
        held = store.get_sync(args.id)  # an unknown id: StoreError, one line from main()
        who, detail, full = _guard(args, store, settings, held, deciding=False)
        # a locked indecent-image hold: nothing of its content is read out, here either (docs/images.md)
        raw = store.raw_sync(held) if held.path and full and not held.locked else None
        history = store.audit_sync(held.id)
        if full and not (is_safeguarding(held.categories)):  # a safeguarding open is audited by the rule
            store.write_audit_sync(who, _view_action(), held.id, args.reason or "cli show", detail)
        elif not full:
            ReviewStore(store).audit(who, "view_metadata", held.id, args.reason or "cli show", detail)
    finally:
        store.close_sync()
    if not full:
        return _print_metadata(args, held, history)
    if args.json:
        data = held.as_dict()
        data["audit"] = history
        if raw is not None and args.raw:
            data["raw"] = raw.decode("utf-8", "replace")
        print(json.dumps(data))
        return EXIT_OK
    _print_envelope(held)
    print(f"SHA-256:    {held.sha256}\nSize:       {held.size} bytes")
    print("\nFindings:")
    for f in held.findings:
        print(f"  [{f.severity.label}] {f.code} ({f.category}, {f.filter}): {f.reason}")
        for ev in f.evidence[:10]:
            print(f"      evidence: {ev}")
    for failure in held.failures:
        print(f"  filter failure: {failure}")
    if raw is not None:
        from filters.message import decode_header_value
        msg = BytesParser(policy=email.policy.compat32).parsebytes(raw)
        print("\nHeaders:")
        for key in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
            if msg.get(key):
                print(f"  {key}: {decode_header_value(msg.get(key))}")
        from filters.directory import Directory
        from filters.message import Envelope, build_view
        view = build_view(raw, Envelope(held.mail_from, tuple(held.recipients)), Directory(None))
        print("\nText:")
        print(view.body_text[:args.max_chars] or "(no text)")
        for a in view.attachments:
            print(f"  attachment: {a.filename or '(unnamed)'} {a.declared_type} {a.size} bytes")
    elif held.locked:
        print("\n(locked indecent-image hold: content never shown; the web UI's police export has the hashes)")
    else:
        print("\n(content not kept)")
    _print_history(history)
    return EXIT_OK


def _print_history(history: list[dict]) -> None:
    print("\nAudit:")
    for row in history:
        print(f"  {_fmt_time(row['at'])} {row['actor']} {row['action']} {row['reason']}")


def _print_envelope(held: Any) -> None:
    """The lines every `quarantine show` starts with, metadata-only or not."""
    print(f"ID:         {held.id}\nReceived:   {_fmt_time(held.received_at)}\nStatus:     {held.status}")
    print(f"Direction:  {held.direction} (sender is {held.sender_role})\nEnvelope:   {held.mail_from}")
    for address, info in held.recipients.items():
        print(f"  to {address} ({info['role']}): {info['action']}, {info['status']}")


def _print_metadata(args: argparse.Namespace, held: Any, history: list[dict]) -> int:
    data = _metadata(held)
    if args.json:
        data["audit"] = [{k: r[k] for k in ("at", "actor", "action")} for r in history]
        print(json.dumps(data))
        return EXIT_OK
    _print_envelope(held)
    print(f"Codes:      {' '.join(held.codes)}")
    print("\nSafeguarding hold: subject, text, evidence and attachments are for the DSL only.\n"
          "Open it with: schoolgate quarantine show ID --as DSL-ACCOUNT --reason WHY")
    print("\nAudit:")  # who and when, not the reasons (they may name the concern)
    for row in history:
        print(f"  {_fmt_time(row['at'])} {row['actor']} {row['action']}")
    return EXIT_OK


def _view_action():
    from quarantine.store import ReviewAction
    return ReviewAction.VIEW


def cmd_quarantine_release(args: argparse.Namespace) -> int:
    from gateway.release_route import release
    from quarantine.review import ReleaseError

    settings = _settings(args)
    _command_logging(settings, args)
    if not (settings.gateway.next_hop or settings.gateway.outbound_next_hop):
        raise CliError("[gateway] next_hop is not set: nowhere to release to")
    store = _open_store_sync(settings, args)  # the store the server uses, or a clear line
    try:
        held = store.get_sync(args.id)  # an unknown id: StoreError, one line from main()
        who, detail, _ = _guard(args, store, settings, held, deciding=True)
    finally:
        store.close_sync()
    try:
        result = asyncio.run(release(settings, args.id, recipients=args.recipient or None,
                                     actor=who, reason=args.reason or "", detail=detail))
    except ReleaseError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Released {args.id} to {', '.join(result['recipients'])}: next hop said {result['reply']}")
    return EXIT_OK


def cmd_quarantine_delete(args: argparse.Namespace) -> int:

    settings = _settings(args)
    store = _open_store_sync(settings, args)
    try:
        held = store.get_sync(args.id)
        who, _, _ = _guard(args, store, settings, held, deciding=True)
        store.delete_sync(args.id, who, args.reason)
    finally:
        store.close_sync()
    print(json.dumps({"id": args.id, "status": "deleted"}) if args.json else f"Deleted {args.id}.")
    return EXIT_OK


# --- config -------------------------------------------------------------------------
def cmd_config_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data = settings.model_dump(mode="json", exclude={"filter_options"})
    data["filters"]["resolved_chain"] = [
        {"name": name, "options": settings.filter_options[name].model_dump(mode="json")}
        for name in settings.filters.chain]
    data["store"] = store_location(settings)  # what serve and every command here open
    if settings.quarantine.database_url:  # printed configs end up in tickets: no password
        data["quarantine"]["database_url"] = masked_url(settings.quarantine.database_url)
    data["config"] = str(settings.source or "shipped defaults")
    print(json.dumps(data, indent=2))
    return EXIT_OK


def _writable_dir(path: Path) -> bool:
    """Create and drop an unnamed file: proves writes work and leaves nothing behind."""
    try:
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _check_store(settings: Settings) -> tuple[bool, str]:
    """The store serve would open, checked without creating it (no stray data/ next to a config)."""
    path = settings.quarantine.path
    url = settings.quarantine.database_url
    if url and not url.startswith("sqlite"):
        from sqlalchemy import create_engine, text
        try:
            engine = create_engine(url)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:
            return False, f"quarantine database {store_location(settings)}: {type(exc).__name__}: {exc}"
    if path.exists():
        if not path.is_dir():
            return False, f"quarantine store {path}: not a directory"
        if _store_exists(settings):
            try:
                store = _open_store_sync(settings)
                try:
                    store.check_writable()
                finally:
                    store.close_sync()
            except Exception as exc:
                return False, f"quarantine store {store_location(settings)}: {exc}"
            return True, f"quarantine store {store_location(settings)} is writable"
        if not _writable_dir(path):
            return False, f"quarantine store {path}: directory is not writable"
        return True, f"quarantine store {store_location(settings)} is writable (empty: serve creates the index)"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not _writable_dir(parent):
        return False, f"quarantine store {path} does not exist and cannot be created: {parent} is not writable"
    return True, (f"quarantine store {store_location(settings)} does not exist yet; serve will create it "
                  f"({parent} is writable)")


def cmd_config_check(args: argparse.Namespace) -> int:
    from gateway.service import make_next_hop

    # every problem in the files (schema, filter options, addresses, actions, the directory CSV)
    # is one ConfigError, printed by main one line each
    settings = _settings(args, check_files=True)
    _command_logging(settings, args)
    where = settings.source or "shipped defaults"
    print(f"ok   {where}: configuration valid; chain: {', '.join(settings.filters.chain) or '(empty)'}")
    if settings.directory.csv is not None:
        print(f"ok   [directory] csv {settings.directory.csv} is readable")
    if settings.schools:  # a trust (docs/trust.md): the problems were ConfigError lines above
        print(f"ok   [[schools]] {len(settings.schools)} schools, no domain in two: "
              f"{', '.join(s.id for s in settings.schools)}")
    problems = 0
    store_ok, line = _check_store(settings)
    print(("ok   " if store_ok else "FAIL ") + line)
    problems += not store_ok

    async def checks() -> int:
        from filters.scanner import Scanner

        failed = 0
        try:
            scanner = Scanner(settings)
        except Exception as exc:  # a list file that cannot be read, a model that will not load
            print(f"FAIL filters: {exc}")
            return 1
        try:
            unfit = 0
            for warning in await scanner.self_test():
                # a warning with fails_check (test-only virus signatures allowed for an
                # evaluation install) lets serve run but is a failure here: exit 1
                unfit += bool(getattr(warning, "fails_check", False))
                print(f"{'FAIL' if getattr(warning, 'fails_check', False) else 'WARN'} {warning}")
            failed += unfit
            if not unfit:
                print("ok   filter self-tests passed")
        except Exception as exc:
            failed += 1
            print(f"FAIL filter self-test: {exc}")
        finally:
            await scanner.close()
        hop = make_next_hop(settings)
        if hop is None:
            print("WARN [gateway] next_hop is not set: nothing can be delivered or released")
        else:
            try:
                await asyncio.wait_for(hop.probe(), 10)
                print(f"ok   next hop {settings.gateway.next_hop} answers")
            except Exception as exc:
                failed += 1
                print(f"FAIL next hop {settings.gateway.next_hop}: {type(exc).__name__}: {exc}")
            finally:
                await hop.close()
        return failed

    problems += asyncio.run(checks())
    return EXIT_OK if problems == 0 else EXIT_FAIL


# --- dkim -------------------------------------------------------------------------------
def cmd_dkim_keygen(args: argparse.Namespace) -> int:
    from gateway.dkim_signing import DkimSigningError, keygen, write_private_key

    settings = _settings(args)
    domain = args.domain or (settings.school.domains[0] if settings.school.domains else None)
    if not domain:
        raise CliError("give --domain, or set [school] domains")
    try:
        pem, record = keygen(args.selector, domain, args.bits)
        if args.out:
            write_private_key(Path(args.out), pem)
    except DkimSigningError as exc:
        raise CliError(str(exc)) from None
    except FileExistsError:
        raise CliError(f"{args.out} exists; refusing to overwrite a key that may be published") from None
    if args.out:
        print(f"; private key written to {args.out}; set [authentication] signing_selector = "
              f"\"{args.selector}\" and signing_key = \"{args.out}\"", file=sys.stderr)
    else:
        print(pem, file=sys.stderr)
    print(record)
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolgate", description="E-safety mail gateway for schools.")
    parser.add_argument("--version", action="version", version=f"schoolgate {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    with_config = add_config_arguments

    serve = with_config(sub.add_parser("serve", help="run the SMTP gateway and the web UI"))
    serve.add_argument("--next-hop", metavar="HOST:PORT", help="the school's mail server")
    serve.add_argument("--listen", metavar="HOST:PORT", help="SMTP listen address")
    serve.add_argument("--web-listen", metavar="HOST:PORT", help="web UI and /metrics address")
    serve.add_argument("--grace", type=float, default=30.0, help="seconds to finish in-flight mail on stop")
    serve.set_defaults(func=cmd_serve)

    scan = with_config(sub.add_parser("scan", help="run the filters and policy on messages (no SMTP)"))
    scan.add_argument("message", nargs="?", metavar="MESSAGE.eml")
    scan.add_argument("--mail-from", metavar="ADDR")
    scan.add_argument("--rcpt", metavar="ADDR", action="append")
    scan.add_argument("--manifest", metavar="CASES.jsonl")
    scan.set_defaults(func=cmd_scan)

    add_user_commands(sub)
    add_db_commands(sub)
    add_directory_commands(sub)
    add_report_commands(sub)
    add_trust_report_commands(sub)  # docs/trust.md
    q = sub.add_parser("quarantine", help="list, show, release and delete held mail")
    qsub = q.add_subparsers(dest="qcommand", metavar="ACTION", required=True)
    qlist = with_config(qsub.add_parser("list", help="held messages, newest first"))
    qlist.add_argument("--status", choices=["held", "releasing", "released", "partially_released",
                                            "deleted", "rejected"])
    qlist.add_argument("--category")
    qlist.add_argument("--sender")
    qlist.add_argument("--recipient")
    qlist.add_argument("--since", help="date (2026-11-01) or age (7d, 12h)")
    qlist.add_argument("--limit", type=int, default=100)
    qlist.add_argument("--json", action="store_true")
    qlist.set_defaults(func=cmd_quarantine_list)
    qshow = with_config(qsub.add_parser("show", help="one message: headers, text, findings, audit"))
    qshow.add_argument("id")
    qshow.add_argument("--as", dest="as_user", metavar="USER",
                       help="your review account (password asked, or SCHOOLGATE_TOKEN); needed for safeguarding holds")
    qshow.add_argument("--json", action="store_true")
    qshow.add_argument("--raw", action="store_true", help="with --json, include the raw message")
    qshow.add_argument("--reason", help="why you are looking (audited)")
    qshow.add_argument("--max-chars", type=int, default=4000)
    qshow.add_argument("--actor")
    qshow.set_defaults(func=cmd_quarantine_show)
    qrel = with_config(qsub.add_parser("release", help="deliver a held message (filters not re-run)"))
    qrel.add_argument("id")
    qrel.add_argument("--as", dest="as_user", metavar="USER",
                       help="your review account (password asked, or SCHOOLGATE_TOKEN); needed for safeguarding holds")
    qrel.add_argument("--recipient", action="append", metavar="ADDR", help="only these (repeatable)")
    qrel.add_argument("--reason", help="why (audited)")
    qrel.add_argument("--actor", help="who (default: cli:$USER)")
    qrel.add_argument("--json", action="store_true")
    qrel.set_defaults(func=cmd_quarantine_release)
    qdel = with_config(qsub.add_parser("delete", help="delete a held message's content (audited)"))
    qdel.add_argument("id")
    qdel.add_argument("--as", dest="as_user", metavar="USER",
                       help="your review account (password asked, or SCHOOLGATE_TOKEN); needed for safeguarding holds")
    qdel.add_argument("--reason", required=True)
    qdel.add_argument("--actor")
    qdel.add_argument("--json", action="store_true")
    qdel.set_defaults(func=cmd_quarantine_delete)

    d = sub.add_parser("dkim", help="DKIM signing keys for outbound mail")
    dsub = d.add_subparsers(dest="dcommand", metavar="ACTION", required=True)
    keygen_p = with_config(dsub.add_parser("keygen", help="make a key; print the DNS TXT record to publish"))
    keygen_p.add_argument("--selector", required=True)
    keygen_p.add_argument("--domain", help="default: the first [school] domains entry")
    keygen_p.add_argument("--bits", type=int, default=2048)
    keygen_p.add_argument("--out", metavar="FILE", help="write the private key here (mode 600)")
    keygen_p.set_defaults(func=cmd_dkim_keygen)

    c = sub.add_parser("config", help="validate or print the configuration")
    csub = c.add_subparsers(dest="ccommand", metavar="ACTION", required=True)
    with_config(csub.add_parser("check", help="validate and self-test")).set_defaults(func=cmd_config_check)
    with_config(csub.add_parser("show", help="print resolved settings and the chain")).set_defaults(
        func=cmd_config_show)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("schoolgate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # unknown flags: usage + exit 2 (argparse)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # serve's workers restart with these
    try:
        return args.func(args)
    except ConfigError as exc:
        for line in exc.problems:  # every problem found, one line each naming file and key
            print(f"schoolgate: configuration error: {line}", file=sys.stderr)
        return EXIT_FAIL
    except SchoolgateError as exc:  # the root of filters/errors.py's tree: one line, never a traceback
        print(f"schoolgate: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a file given on the command line (--out ...) that cannot be written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"schoolgate: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as exc:  # our bug: still one line; -v shows where it came from
        if getattr(args, "verbose", False):
            logging.getLogger("schoolgate").exception("internal error")
        print(f"schoolgate: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
              file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
