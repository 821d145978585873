"""`schoolgate report`: make a report for a period as HTML, PDF or CSV; save it, print it or mail it."""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from filters.errors import SchoolgateError
from config.loader import add_config_arguments, settings_from_args, store_location
from quarantine.report_data import PERIODS, custom_period, period_for


class ReportCliError(SchoolgateError):
    """One line for the user, exit 1."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a date as YYYY-MM-DD, not {text!r}") from None


def add_report_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="counts for the Head of Centre and governors (no mail content)",
                              description="Make a report of what the gateway did in a period.")
    add_config_arguments(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--period", choices=PERIODS, help="the last complete day, week, month or term (default week)")
    when.add_argument("--from", dest="date_from", type=_date, metavar="D", help="first day (YYYY-MM-DD), with --to")
    p.add_argument("--to", dest="date_to", type=_date, metavar="D", help="last day included (YYYY-MM-DD)")
    p.add_argument("--current", action="store_true", help="with --period: the one in progress, up to now")
    p.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    p.add_argument("--out", metavar="FILE", help="write here (default: HTML/CSV to stdout; PDF needs --out)")
    p.add_argument("--send", action="store_true", help="mail it to [reports] recipients through the next hop")
    p.add_argument("--to-address", action="append", metavar="ADDR", dest="recipients",
                   help="with --send: these recipients instead (repeatable)")
    p.add_argument("--show-names", action="store_true", help="name top senders (default: by role only)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """ReportCliError, PeriodError and ConfigError are SchoolgateErrors: gateway/cli.py's main
    prints each as one line, exit 1."""
    settings = settings_from_args(args)
    if args.verbose:
        print(f"schoolgate: store {store_location(settings)} (config {settings.source or 'shipped defaults'})",
              file=sys.stderr)
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings) -> int:
    from gateway.service import make_next_hop
    from quarantine.store import QuarantineStore
    from quarantine.reports import build_report, file_name, local_now, render, send_report

    now = local_now(settings)
    if args.date_from or args.date_to:
        if not (args.date_from and args.date_to):
            raise ReportCliError("give both --from and --to")
        period = custom_period(args.date_from, args.date_to, ZoneInfo(settings.reports.timezone))
    else:
        period = period_for(args.period or "week", now, terms=settings.reports.terms, current=args.current)
    if args.format == "pdf" and not args.out and not args.send and sys.stdout.isatty():
        raise ReportCliError("a PDF needs --out FILE (or redirect stdout)")
    recipients = args.recipients or settings.reports.recipients
    if args.send and not recipients:
        raise ReportCliError("--send: no recipients; set [reports] recipients or give --to-address")
    hop = make_next_hop(settings) if args.send else None
    if args.send and hop is None:
        raise ReportCliError("--send: [gateway] next_hop is not set")
    if not settings.quarantine.database_url and not (settings.quarantine.path / "index.sqlite3").exists():
        raise ReportCliError(f"no quarantine store at {store_location(settings)}: nothing to report on; "
                             f"give the --config the server runs with")
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    try:
        data = await build_report(settings, store, period, show_names=args.show_names or None, now=now)
        body = await render(data, args.format)
        if args.out:
            Path(args.out).write_bytes(body)
            print(f"wrote {args.out} ({period.label})", file=sys.stderr)
        elif not args.send:
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
        if args.send:
            assert hop is not None
            try:
                result = await send_report(settings, store, hop, data, recipients=recipients,
                                           attach=args.format if args.format != "html" else "none",
                                           trigger="cli")
            finally:
                await hop.close()
            if not result.ok:
                raise ReportCliError(f"next hop refused the report: {result.code} {result.message}")
            print(f"sent {file_name(data, args.format)} to {', '.join(recipients)}: {result.code} {result.message}",
                  file=sys.stderr)
    finally:
        await store.close()
    return 0
