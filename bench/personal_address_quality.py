"""Quality and cost of the personal-address filter.

1. False holds: every SpamAssassin ham message of the `test` split is replayed
   as outbound mail from a member of staff (Jane Smith) to a personal address,
   in two scenarios:
     parent  - to someone else's gmail (only substantial pupil data may hold);
     own     - to Jane's own gmail from the directory (ham is not school work,
               so a hold here is ham judged to be work).
   The directory holds 1,200 synthetic pupils with common UK names, so chance
   name collisions in ordinary text are measured too.
2. Cost per message: building the view with and without attachment text
   extraction, and the filter's check(), on the ham and on synthetic school
   attachments (CSV, XLSX, DOCX, PDF).

Run: .venv/bin/python bench/personal_address_quality.py [--limit N]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.loader import load_settings  # noqa: E402
from filters.base import Action, FilterContext  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.extract import AttachmentExtractor  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.personal_address import PersonalAddressFilter  # noqa: E402
from filters.policy import Policy  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "spamassassin-public-corpus-sample"
SCHOOL = "school.sch.uk"
STAFF = f"jane.smith@{SCHOOL}"
OWN = "jane.home@gmail.com"
PARENT = "kelly.parent1984@gmail.com"

FIRST = ("Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James Leo Alfie Henry "
         "Joshua Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel Max Daniel Arthur Lucas Mohammed "
         "Logan Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie Ivy "
         "Freya Harper Willow Charlotte Jessica Rosie Daisy Ruby Florence Alice Phoebe Sienna Evelyn Chloe "
         "Aisha Zara Priya Amir Kai Ryan").split()
LAST = ("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson "
        "Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin "
        "Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson "
        "Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell "
        "Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster "
        "Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills "
        "Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey").split()


def write_directory(path: Path, pupils: int = 1200) -> Path:
    rnd = random.Random(20240501)
    names = set()
    while len(names) < pupils:
        names.add(f"{rnd.choice(FIRST)} {rnd.choice(LAST)}")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "role", "name", "personal_email"])
        writer.writerow([STAFF, "staff", "Jane Smith", OWN])
        for index, name in enumerate(sorted(names)):
            writer.writerow([f"pupil{index}@{SCHOOL}", "student", name, ""])
    return path


def ham_test_files(limit: int | None) -> list[Path]:
    with open(CORPUS / "index.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] == "ham" and r["split"] == "test"]
    files = [CORPUS / r["path"] for r in rows]
    return files[:limit] if limit else files


def pdf_with_text(lines: list[str]) -> bytes:
    """A minimal one-page PDF whose content stream shows `lines` (no PDF library needed)."""
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    ops = ["BT /F1 10 Tf 40 800 Td 12 TL"] + [f"({esc(line)}) '" for line in lines] + ["ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def school_attachments(directory_csv: Path) -> dict[str, tuple[str, str, bytes]]:
    import docx
    import openpyxl
    with open(directory_csv, newline="") as handle:
        pupils = [r["name"] for r in csv.DictReader(handle) if r["role"] == "student"][:300]
    header = ["Forename", "Surname", "DOB", "SEN", "FSM", "Attendance %"]
    rows = [[n.split()[0], n.split()[-1], "01/02/2012", "K", "N", "96.5"] for n in pupils]
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(row)
    xlsx = io.BytesIO()
    book.save(xlsx)
    document = docx.Document()
    for name in pupils[:60]:
        document.add_paragraph(f"{name}: EHCP review due; medical needs noted.")
    docx_bytes = io.BytesIO()
    document.save(docx_bytes)
    return {
        "csv (300 rows)": ("pupils.csv", "text/csv",
                           "\n".join(",".join(r) for r in [header] + rows).encode()),
        "xlsx (300 rows)": ("pupils.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            xlsx.getvalue()),
        "docx (60 paras)": ("notes.docx",
                            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                            docx_bytes.getvalue()),
        "pdf (40 lines)": ("report.pdf", "application/pdf",
                           pdf_with_text([f"{n} - attendance 91%" for n in pupils[:40]])),
    }


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"mean {statistics.mean(values) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"corpus missing: {CORPUS}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="pa-bench-"))
    directory_csv = write_directory(tmp / "directory.csv")
    settings = load_settings(overrides={"school": {"name": "Hillside Academy", "domains": [SCHOOL]},
                                        "directory": {"csv": str(directory_csv)},
                                        "quarantine": {"path": str(tmp / "q")}}, base_dir=tmp)
    directory = Directory(settings.directory.csv, {}, (SCHOOL,))
    flt = PersonalAddressFilter(settings.filter_options["personal_address"],
                                FilterContext(settings=settings, directory=directory))
    policy = Policy(settings)
    extractor = AttachmentExtractor()
    files = ham_test_files(args.limit)

    print(f"SpamAssassin ham, test split: {len(files)} messages, replayed as {STAFF} -> personal address")
    print(f"directory: 1 staff, 1200 synthetic pupils")
    t_view_plain: list[float] = []
    t_view_extract: list[float] = []
    t_check: list[float] = []
    for scenario, rcpt in (("parent", PARENT), ("own", OWN)):
        holds, tags, codes, held_examples = 0, 0, Counter(), []
        for path in files:
            raw = path.read_bytes()
            envelope = Envelope(STAFF, (rcpt,), "127.0.0.1", "bench")
            if scenario == "parent":
                start = time.perf_counter()
                build_view(raw, envelope, directory)
                t_view_plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            view = build_view(raw, envelope, directory, extractor=extractor)
            if scenario == "parent":
                t_view_extract.append(time.perf_counter() - start)
            start = time.perf_counter()
            findings = await flt.check(view)
            t_check.append(time.perf_counter() - start)
            action = policy.decide(view, findings).actions[rcpt]
            codes.update(f.code for f in findings)
            if action >= Action.HOLD:
                holds += 1
                if len(held_examples) < 5:
                    held_examples.append((path.name[:14], [f.code for f in findings],
                                          [e for f in findings for e in f.evidence][:4]))
            elif action == Action.TAG:
                tags += 1
        print(f"\nscenario {scenario!r} (recipient {rcpt}):")
        print(f"  held {holds}/{len(files)} = {holds / len(files):.2%}; tagged {tags}")
        print(f"  finding codes: {dict(codes)}")
        for example in held_examples:
            print(f"    held: {example}")

    print("\ncost per ham message:")
    print(f"  build view without extraction: {ms(t_view_plain)}")
    print(f"  build view with extraction:    {ms(t_view_extract)}")
    print(f"  personal_address check():      {ms(t_check)}")

    print("\ncost per message with one school attachment (20 runs each):")
    for label, attachment in school_attachments(directory_csv).items():
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = STAFF, PARENT, "files"
        msg.set_content("see attached")
        maintype, _, subtype = attachment[1].partition("/")
        msg.add_attachment(attachment[2], maintype=maintype, subtype=subtype, filename=attachment[0])
        raw = msg.as_bytes()
        envelope = Envelope(STAFF, (PARENT,), "127.0.0.1", "bench")
        plain, extract, check = [], [], []
        for _ in range(20):
            start = time.perf_counter()
            build_view(raw, envelope, directory)
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            view = build_view(raw, envelope, directory, extractor=extractor)
            extract.append(time.perf_counter() - start)
            start = time.perf_counter()
            findings = await flt.check(view)
            check.append(time.perf_counter() - start)
        extraction = [e - p for e, p in zip(extract, plain)]
        chars = len(view.attachments[0].text)
        print(f"  {label:16s} {len(attachment[2]):>7} bytes -> {chars:>6} chars; extraction {ms(extraction)}; "
              f"check {ms(check)}; codes {[f.code for f in findings]}")


if __name__ == "__main__":
    asyncio.run(main())
