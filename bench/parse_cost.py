"""What parsing costs: ms per message to build views over the corpora (per folder),
stdlib email vs mail-parser on the same bytes, and extraction cost per attachment type.

    .venv/bin/python bench/parse_cost.py [--repeat N] [--no-mailparser]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters import extract  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.extract import AttachmentExtractor  # noqa: E402
from filters.message import Attachment, Envelope, build_view  # noqa: E402
from tests.factories import CORPORA, SCHOOL_DOMAIN  # noqa: E402
from tests.filters import test_extract as fx  # noqa: E402
from tests.filters.test_corpus_parse import corpus_messages  # noqa: E402


def corpus_cost(messages: list[tuple[str, bytes]], repeat: int) -> None:
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    envelope = Envelope("sender@example.com", (f"pupil@{SCHOOL_DOMAIN}",))
    extractor = AttachmentExtractor()
    for _, raw in messages:  # warm-up pass: imports, codec and regex caches
        build_view(raw, envelope, directory, extractor=extractor)
    for label, ext in (("view, no extraction", None), ("view + attachment extraction", extractor)):
        per_folder: dict[str, list[float]] = defaultdict(list)
        errors = 0
        start = time.perf_counter()
        for _ in range(repeat):
            for name, raw in messages:
                t0 = time.perf_counter()
                view = build_view(raw, envelope, directory, extractor=ext)
                per_folder[name.split("/", 1)[0]].append(time.perf_counter() - t0)
                errors += bool(view.parse_error)
        total = time.perf_counter() - start
        count = len(messages) * repeat
        every = [t for times in per_folder.values() for t in times]
        print(f"\n{label}: {count} messages in {total:.2f} s = {1000 * total / count:.2f} ms/message "
              f"(median {1000 * statistics.median(every):.2f}, p99 {1000 * sorted(every)[int(len(every) * .99)]:.1f}, "
              f"max {1000 * max(every):.0f} ms); parse errors: {errors // repeat}")
        for folder, times in sorted(per_folder.items()):
            print(f"  {folder:40s} {len(times) // repeat:5d} msgs  {1000 * statistics.mean(times):6.2f} ms/msg")


def mailparser_cost(messages: list[tuple[str, bytes]]) -> None:
    try:
        import mailparser
    except ImportError:
        print("\nmail-parser not installed; comparison skipped")
        return
    import email
    import email.policy

    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    rows = []
    for label, parse in (("stdlib email (compat32), parse only", lambda b: email.message_from_bytes(
            b, policy=email.policy.compat32)),
                         ("mail-parser 4.x parse_from_bytes", mailparser.parse_from_bytes)):
        failures: list[str] = []
        start = time.perf_counter()
        for name, raw in messages:
            try:
                parse(raw)
            except Exception as exc:  # counting failures is the point
                failures.append(f"{name}: {type(exc).__name__}")
        total = time.perf_counter() - start
        rows.append((label, total, failures))
    print("\nparser comparison on the same bytes:")
    for label, total, failures in rows:
        print(f"  {label:40s} {1000 * total / len(messages):6.2f} ms/msg  exceptions: {len(failures)}")
        for failure in failures[:8]:
            print(f"      {failure}")


def attachment_findings(messages: list[tuple[str, bytes]]) -> None:
    """The attachment filter over the corpora: what it flags (ideally only ClamAV's test programs)."""
    import asyncio
    from collections import Counter

    from filters.attachments import AttachmentFilter
    from filters.base import FilterContext
    from tests.factories import make_settings

    settings = make_settings()
    flt = AttachmentFilter(settings.filter_options["attachments"], FilterContext(settings=settings, directory=None))
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    envelope = Envelope("sender@example.com", (f"pupil@{SCHOOL_DOMAIN}",))
    extractor = AttachmentExtractor()
    codes: Counter[str] = Counter()
    flagged: list[str] = []
    attachments = 0

    async def run() -> None:
        nonlocal attachments
        for name, raw in messages:
            view = build_view(raw, envelope, directory, extractor=extractor)
            attachments += len(view.attachments)
            for finding in await flt.check(view):
                codes[finding.code] += 1
                flagged.append(f"{name}: {finding.code} {finding.evidence[0]}")

    asyncio.run(run())
    print(f"\nattachment filter over the corpora: {attachments} attachments, findings {dict(codes) or 'none'}")
    for line in flagged[:10]:
        print(f"  {line}")


def extraction_cost(repeat: int) -> None:
    cases = {
        "csv (2,000 rows)": ("pupils.csv", "text/csv",
                             "\n".join(f"Pupil {i},5B,2014-01-{i % 28 + 1:02d}" for i in range(2000)).encode()),
        "txt (50 KB)": ("notes.txt", "text/plain", b"Bring a packed lunch on Friday. " * 1600),
        "html (20 KB)": ("page.html", "text/html", b"<p>Menu: fish &amp; chips</p>" * 700),
        "xlsx (500 x 5)": ("register.xlsx", extract.XLSX, fx.make_xlsx(
            [[f"Pupil {i}", "5B", "2014-01-02", "SEN", i] for i in range(500)])),
        "docx (60 paragraphs + table)": ("report.docx", extract.DOCX, fx.make_docx(
            [f"Paragraph {i} about the trip." for i in range(60)], [["Name", "Mark"]] * 20)),
        "pdf (1 page)": ("letter.pdf", "application/pdf", fx.make_pdf(["Dear parents"] * 40)),
        "pdf (password)": ("locked.pdf", "application/pdf", fx.make_encrypted_pdf(["secret"])),
        "zip of 5 pdfs": ("papers.zip", "application/zip", fx.make_zip(
            {f"p{i}.pdf": fx.make_pdf([f"paper {i}"]) for i in range(5)})),
        "zip (nested, exe inside)": ("bundle.zip", "application/zip", fx.make_zip(
            {"inner.zip": fx.make_zip({"run.exe": fx.MZ, "notes.txt": b"hello"})})),
        "zip (password)": ("locked.zip", "application/zip", fx.make_encrypted_zip({"a.csv": b"x" * 1000})),
        "docm (macros)": ("invoice.docm", "application/octet-stream",
                          fx.make_macro_docx()),
        "ole .doc (VBA)": ("old.doc", "application/msword", fx.make_ole(
            {"WordDocument": b"\xec\xa5" + b"\0" * 30, "Macros/VBA/dir": b"\x01"})),
        "exe (MZ)": ("setup.exe", "application/octet-stream", fx.MZ * 100),
        "jpeg": ("photo.jpg", "image/jpeg", fx.JPEG),
    }
    extractor = AttachmentExtractor()
    print("\nextraction cost per attachment type (enrich: sniff + flags + text + members):")
    for label, (name, declared, data) in cases.items():
        attachment = Attachment(filename=name, declared_type=declared, sniffed_type="", size=len(data), data=data)
        extractor.enrich(attachment)  # warm imports
        start = time.perf_counter()
        for _ in range(repeat):
            result = extractor.enrich(attachment)
        ms = 1000 * (time.perf_counter() - start) / repeat
        print(f"  {label:30s} {len(data) / 1024:8.1f} KB  {ms:7.2f} ms  -> {len(result.text):6d} chars"
              f"{'  encrypted' if result.encrypted else ''}{'  macros' if result.has_macros else ''}"
              f"{'  ' + str(len(result.members)) + ' members' if result.members else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="passes over the corpus")
    parser.add_argument("--no-mailparser", action="store_true")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if CORPORA.is_dir():
        messages = list(corpus_messages())
        print(f"corpus: {len(messages)} messages, {sum(len(r) for _, r in messages) / 1e6:.1f} MB from {CORPORA}")
        corpus_cost(messages, args.repeat)
        if not args.no_mailparser:
            mailparser_cost(messages)
        attachment_findings(messages)
    else:
        print(f"no corpora at {CORPORA}; corpus figures skipped")
    extraction_cost(repeat=20)


if __name__ == "__main__":
    main()
