"""`schoolgate trust-report`: the schools compared, or one school's report, as HTML, PDF or CSV;
saved, printed, or mailed to each school's Head and the trust (docs/trust.md)."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from config.loader import add_config_arguments, settings_from_args
from filters.errors import SchoolgateError
from quarantine.report_data import PERIODS, period_for


class TrustReportError(SchoolgateError):
    """One line for the user, exit 1."""


def add_trust_report_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("trust-report", help="a trust's schools compared, or one school's report")
    add_config_arguments(p)
    p.add_argument("--period", choices=PERIODS, default="week", help="the last complete one (default week)")
    p.add_argument("--current", action="store_true", help="the period in progress, up to now")
    p.add_argument("--school", metavar="ID", help="only this school's report (default: every school and the total)")
    p.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    p.add_argument("--out", metavar="FILE", help="write here (default: HTML/CSV to stdout)")
    p.add_argument("--send", action="store_true", help="mail each school's report to its head_addresses and the "
                                                       "comparison to [trust] report_recipients")
    p.set_defaults(func=cmd_trust_report)


def cmd_trust_report(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args, settings_from_args(args)))


async def _run(args: argparse.Namespace, settings) -> int:
    from filters.tenancy import Tenancy
    from gateway.service import make_next_hop
    from quarantine.reports import local_now
    from quarantine.store import QuarantineStore
    from quarantine.trust_report import gather_trust_sync, render_trust, send_trust_reports

    tenancy = Tenancy.from_settings(settings)
    if args.school and args.school not in tenancy.ids:
        raise TrustReportError(f"--school {args.school}: the config's schools are {', '.join(tenancy.ids)}")
    if args.format == "pdf" and not args.out and not args.send and sys.stdout.isatty():
        raise TrustReportError("a PDF needs --out FILE (or redirect stdout)")
    period = period_for(args.period, local_now(settings), terms=settings.reports.terms, current=args.current)
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    try:
        if args.send:
            hop = make_next_hop(settings)
            if hop is None:
                raise TrustReportError("--send: [gateway] next_hop is not set")
            try:
                sent = await send_trust_reports(
                    store.engine, period, tenancy, hop.deliver, trust_recipients=settings.trust.report_recipients,
                    from_address=settings.reports.from_address or settings.notify.from_address
                    or f"schoolgate@{settings.gateway.hostname}",
                    attach=args.format if args.format != "html" else "none", hostname=settings.gateway.hostname)
            finally:
                await hop.close()
            for label, recipients, result in sent:
                print(f"{label}: {', '.join(recipients)}: {result.code} {result.message}", file=sys.stderr)
            if not sent:
                raise TrustReportError("--send: no [[schools]] head_addresses and no [trust] report_recipients")
            return 0 if all(r.ok for _, _, r in sent) else 1
        report = await asyncio.get_running_loop().run_in_executor(None, lambda: gather_trust_sync(
            store.engine, period, tenancy, schools=[args.school] if args.school else None))
        body = render_trust(report, args.format)
        if args.out:
            Path(args.out).write_bytes(body)
            print(f"wrote {args.out} ({period.label})", file=sys.stderr)
        else:
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
    finally:
        await store.close()
    return 0
