"""Staff mail to personal accounts and school data leaving the school: every signal and hard negative."""
from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import pytest

from filters.base import Action, Category, FilterContext, Severity
from filters.directory import Directory
from filters.message import Envelope, build_view
from filters.extract import AttachmentExtractor
from filters.name_match import Likeness, address_likeness, display_likeness, name_parts
from filters.personal_address import DomainList, PersonalAddressFilter, load_domains
from filters.policy import Policy
from filters.pupil_data import PupilNameIndex, Source, assess, is_upn, upn_check_letter
from tests.factories import SCHOOL_DOMAIN, make_settings, write_directory

S = SCHOOL_DOMAIN
JANE = f"jane.smith@{S}"
TOM = f"tom.brown@{S}"
PUPILS = ["Amy Jones", "Oliver Patel", "Mohammed Al Hassan", "Chloe Williams", "Harry Evans",
          "Isla Thompson", "Noah Walker", "Grace Hughes", "Leo Roberts", "Freya Wood",
          "Jack Green", "Poppy Hall", "Oscar Clarke", "Ava Lewis", "Jacob Wright"]


def _pupil_address(name: str) -> str:
    return name.lower().replace(" ", ".") + f"@{S}"


@pytest.fixture
def setup(tmp_path: Path):
    rows = [(JANE, "staff", "Jane Smith", "jane.home@gmail.com"),
            (TOM, "staff", "Tom Brown", ""),
            (f"office@{S}", "staff", "School Office", ""),
            *[(_pupil_address(n), "student", n, "") for n in PUPILS]]
    path = write_directory(tmp_path / "directory.csv", rows)
    settings = make_settings(tmp_path, directory={"csv": str(path)})
    directory = Directory(settings.directory.csv, settings.directory.domain_roles, tuple(settings.school.domains))
    return settings, directory


def _filter(setup, seen=None, **options) -> PersonalAddressFilter:
    settings, directory = setup
    return PersonalAddressFilter(PersonalAddressFilter.Options(**options),
                                 FilterContext(settings=settings, directory=directory, seen=seen))


def _raw(body: str, *, sender: str, to: str, subject: str = "Hello", cc: str = "",
         attachments: list[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None,
         from_name: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{from_name} <{sender}>" if from_name else sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for filename, mime, data in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def _view(setup, raw: bytes, mail_from: str, rcpts: tuple[str, ...]):
    _, directory = setup
    return build_view(raw, Envelope(mail_from, rcpts, "127.0.0.1", "test"), directory,
                      extractor=AttachmentExtractor())


async def _run(setup, body="Hello", *, sender=JANE, to="someone@gmail.com", rcpts=None, seen=None,
               options=None, **kw):
    raw = _raw(body, sender=sender, to=to, **kw)
    view = _view(setup, raw, sender, tuple(rcpts or [a.strip().split("<")[-1].rstrip(">") for a in to.split(",")]))
    findings = await _filter(setup, seen, **(options or {})).check(view)
    verdict = Policy(setup[0]).decide(view, findings)
    return view, findings, verdict


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode()


def _xlsx(rows: list[list[str]]) -> bytes:
    import openpyxl  # a runtime dependency (pyproject): missing is a failure, not a skip
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _docx(paragraphs: list[str]) -> bytes:
    import docx  # python-docx, a runtime dependency
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF showing `lines` in Helvetica (hand-built: no PDF writer is installed)."""
    ops = ["BT /F1 10 Tf 40 800 Td 12 TL"] + [f"({line}) '" for line in lines] + ["ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
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


PUPIL_TABLE = [["Forename", "Surname", "DOB", "SEN", "FSM"]] + [
    [n.split()[0], n.split()[-1], "01/02/2012", "K", "Y"] for n in PUPILS[:12]]
PAYSLIP = "Your payslip for March is attached. Pension contributions and tax code are shown."
WORK_NOTE = "Here is the Year 9 mark scheme and my marking for the mock exams, to finish at home."


# -- name likeness ---------------------------------------------------------------------

@pytest.mark.parametrize("address,expected", [
    ("janesmith84@gmail.com", Likeness.FULL),
    ("smith.jane@hotmail.co.uk", Likeness.FULL),
    ("jsmith@gmail.com", Likeness.INITIAL),
    ("smithj@yahoo.com", Likeness.INITIAL),
    ("j.smith.home@icloud.com", Likeness.INITIAL),
    ("j_smith_1980@btinternet.com", Likeness.INITIAL),
    ("jsmithson@gmail.com", Likeness.NONE),  # another surname
    ("footballmum@gmail.com", Likeness.NONE),
    ("jane@gmail.com", Likeness.NONE),  # a first name alone is anyone
])
def test_address_likeness(address, expected):
    assert address_likeness(address, name_parts("Jane Smith")) == expected


@pytest.mark.parametrize("display,expected", [
    ("Jane Smith", Likeness.FULL), ("Smith, Jane (home)", Likeness.FULL), ("J Smith", Likeness.INITIAL),
    ("Mrs J. Smith", Likeness.INITIAL), ("John Brown", Likeness.NONE), ("", Likeness.NONE)])
def test_display_likeness(display, expected):
    assert display_likeness(display, name_parts("Jane Smith")) == expected


# -- domains, UPN, pupil names ------------------------------------------------------------

@pytest.mark.parametrize("domain,personal", [
    ("gmail.com", True), ("googlemail.com", True), ("hotmail.co.uk", True), ("hotmail.fr", True),
    ("outlook.com", True), ("live.co.uk", True), ("msn.com", True), ("yahoo.co.uk", True), ("ymail.com", True),
    ("aol.com", True), ("icloud.com", True), ("me.com", True), ("mac.com", True), ("proton.me", True),
    ("gmx.co.uk", True), ("btinternet.com", True), ("sky.com", True), ("virginmedia.com", True),
    ("ntlworld.com", True), ("blueyonder.co.uk", True), ("talktalk.net", True), ("tiscali.co.uk", True),
    ("someone.plus.com", True),
    ("live.mdx.ac.uk", False), ("bt.com", False), ("btconnect.com", False), ("stationers.co.uk", False),
    (SCHOOL_DOMAIN, False), ("hotmail.example.school.uk", False),
])
def test_personal_domains(domain, personal):
    assert (domain in load_domains([])) is personal


def test_extra_domains_extend_the_list():
    assert "parents-club.org.uk" in load_domains(["parents-club.org.uk"])
    assert "mail.localisp.net" in DomainList.parse(["*.localisp.net"])


@pytest.mark.parametrize("upn,valid", [
    ("B801200005001", True),  # published example
    ("A801200005001", False),  # wrong check letter
    ("B80120000500", False),
    ("I801200005001", False),  # I is never a check letter
])
def test_upn(upn, valid):
    assert is_upn(upn) is valid


def test_upn_temporary_serial_letter():
    body = "80120000501A"
    assert is_upn(upn_check_letter(body) + body)


@pytest.mark.parametrize("text,count", [
    ("Amy Jones and Oliver Patel were late.", 2),
    ("Jones, Amy; Patel, Oliver; Mohammed Al Hassan", 3),
    ("AMY JONES\tOLIVER PATEL", 2),
    ("amy jones in lower case is not a name", 0),
    ("Amy said Jones was late", 0),
    ("Amy Rose Jones", 1),  # a middle name between
])
def test_pupil_name_index(text, count):
    index = PupilNameIndex(PUPILS)
    assert len(index.distinct_in(text)) == count


def test_pupil_index_holds_no_plain_names():
    index = PupilNameIndex(["Amy Jones"])
    dumped = repr(vars(index) if hasattr(index, "__dict__") else [getattr(index, s) for s in index.__slots__])
    assert "amy" not in dumped.lower() and "jones" not in dumped.lower()


def test_assess_counts_without_dumping_data():
    data = assess([Source("pupils.csv", _csv(PUPIL_TABLE).decode(), tabular=True)], PupilNameIndex(PUPILS))
    assert data.distinct_pupils == 12 and data.people_rows == 12
    assert {"date of birth", "SEN/EHCP", "free school meals"} <= data.sensitive_headers
    assert data.substantial(3, 10)
    assert not any("Amy" in e or "Jones" in e for e in data.evidence())


# -- outbound: staff -> personal addresses -----------------------------------------------------

OUTBOUND_CASES = [
    # id, body, to, attachments, expected codes, expected action for that recipient
    ("directory-own-work", WORK_NOTE, "jane.home@gmail.com", [], {"STAFF_WORK_TO_OWN_PERSONAL"}, Action.HOLD),
    ("name-full-work", WORK_NOTE, "janesmith84@gmail.com", [], {"STAFF_WORK_TO_OWN_PERSONAL"}, Action.HOLD),
    ("name-initial-work", WORK_NOTE, "jsmith@hotmail.co.uk", [], {"STAFF_WORK_TO_OWN_PERSONAL"}, Action.HOLD),
    ("display-name-work", WORK_NOTE, "Jane Smith <bluebird77@yahoo.co.uk>", [], {"STAFF_WORK_TO_OWN_PERSONAL"},
     Action.HOLD),
    ("own-pupil-csv", "Files for tonight", "jane.home@gmail.com", [("pupils.csv", "text/csv", _csv(PUPIL_TABLE))],
     {"STAFF_WORK_TO_OWN_PERSONAL", "PUPIL_DATA_TO_PERSONAL"}, Action.HOLD),
    ("own-reference", "Draft reference for Sam's UCAS reference, please check.", "j.smith.home@icloud.com", [],
     {"STAFF_WORK_TO_OWN_PERSONAL"}, Action.HOLD),
    ("own-personal-payslip", PAYSLIP, "jane.home@gmail.com", [], {"STAFF_PERSONAL_NOTE_TO_OWN"}, Action.PASS),
    ("own-dentist", "Dentist appointment reminder: Tuesday 4pm.", "janesmith84@gmail.com", [],
     {"STAFF_PERSONAL_NOTE_TO_OWN"}, Action.PASS),
    ("own-newsletter-one-weak-sign", "Student discount on the new phones! Our newsletter for students.",
     "jane.home@gmail.com", [], {"STAFF_PERSONAL_NOTE_TO_OWN"}, Action.PASS),
    ("own-broadband-dsl", "Your DSL broadband router has shipped.", "jane.home@gmail.com", [],
     {"STAFF_PERSONAL_NOTE_TO_OWN"}, Action.PASS),
    ("own-two-weak-signs", "Year 9 students list for tomorrow", "jane.home@gmail.com", [],
     {"STAFF_WORK_TO_OWN_PERSONAL"}, Action.HOLD),
    ("pupil-data-to-stranger", "List as promised", "coachdave@gmail.com",
     [("team.csv", "text/csv", _csv(PUPIL_TABLE))], {"PUPIL_DATA_TO_PERSONAL"}, Action.HOLD),
    ("many-pupils-named-to-parent", "Amy Jones, Oliver Patel and Chloe Williams were all excluded.",
     "parent.someone@gmail.com", [], {"PUPIL_DATA_TO_PERSONAL"}, Action.HOLD),
    ("upns-to-personal", "UPNs: B801200005001 and " + upn_check_letter("801200005002") + "801200005002",
     "helper@outlook.com", [], {"PUPIL_DATA_TO_PERSONAL"}, Action.HOLD),
    # hard negatives
    ("parent-at-gmail", "Dear Mrs Jones, Amy did well in Year 9 maths today; her homework is in.",
     "sarah.jones@gmail.com", [], set(), Action.PASS),
    ("parent-about-own-child-sen", "Amy Jones's EHCP review is on Monday; attendance has improved.",
     "sarah.jones@gmail.com", [], set(), Action.PASS),
    # issue 21 clause 4: a pupil spreadsheet to ANY external domain is held (was: passed, no finding);
    # the same body without the sheet is ordinary supplier mail
    ("supplier-company-domain", "Please invoice for 30 Year 9 textbooks.", "orders@stationers.co.uk",
     [("pupils.csv", "text/csv", _csv(PUPIL_TABLE))], {"PUPIL_DATA_TO_EXTERNAL"}, Action.HOLD),
    ("supplier-no-sheet", "Please invoice for 30 Year 9 textbooks.", "orders@stationers.co.uk",
     [], set(), Action.PASS),
    ("local-club-gmail", "Training is on Thursday for the Year 7 football club, see you there.",
     "hillsidejuniorsfc@gmail.com", [], set(), Action.PASS),
    ("another-smith-parent", WORK_NOTE, "John Smith <jsmith@gmail.com>", [], set(), Action.PASS),
]


@pytest.mark.parametrize("case", OUTBOUND_CASES, ids=[c[0] for c in OUTBOUND_CASES])
async def test_outbound(setup, case):
    _, body, to, attachments, codes, action = case
    view, findings, verdict = await _run(setup, body, to=to, attachments=attachments)
    assert {f.code for f in findings} == codes
    rcpt = view.recipients[0].address
    assert verdict.actions[rcpt] == action
    for finding in findings:
        assert finding.recipients == (rcpt,)
        assert any(rcpt in e for e in finding.evidence)


async def test_own_account_evidence_says_why(setup):
    _, findings, _ = await _run(setup, WORK_NOTE, to="jsmith@hotmail.co.uk")
    (finding,) = findings
    assert finding.category == Category.PERSONAL_ACCOUNT and finding.severity == Severity.MEDIUM
    assert any("own account (name)" in e and "initial and surname" in e for e in finding.evidence)


async def test_pupil_data_category_and_counts(setup):
    _, findings, _ = await _run(setup, "Files", to="coachdave@gmail.com",
                                attachments=[("team.csv", "text/csv", _csv(PUPIL_TABLE))])
    (finding,) = findings
    assert finding.category == Category.PUPIL_DATA and finding.severity == Severity.HIGH
    joined = " ".join(finding.evidence)
    assert "12 pupil(s)" in joined and "12 rows of people" in joined
    assert not any(name.split()[-1] in joined for name in PUPILS)  # counts, never the names


async def test_only_the_personal_recipient_is_held(setup):
    view, findings, verdict = await _run(setup, WORK_NOTE, to=f"jane.home@gmail.com, {TOM}")
    assert verdict.actions["jane.home@gmail.com"] == Action.HOLD
    assert verdict.actions[TOM] == Action.PASS


async def test_bcc_to_own_gmail_shows_only_in_envelope(setup):
    view, findings, verdict = await _run(setup, WORK_NOTE, to=TOM, rcpts=[TOM, "janesmith84@gmail.com"])
    (finding,) = findings
    assert finding.code == "STAFF_WORK_TO_OWN_PERSONAL"
    assert "Bcc (envelope only)" in finding.evidence
    assert verdict.actions["janesmith84@gmail.com"] == Action.HOLD and verdict.actions[TOM] == Action.PASS


async def test_bcc_initial_match_counts_even_when_initials_are_not_own(setup):
    _, findings, _ = await _run(setup, WORK_NOTE, to=TOM, rcpts=[TOM, "jsmith@gmail.com"],
                                options={"initials_are_own": False})
    assert [f.code for f in findings] == ["STAFF_WORK_TO_OWN_PERSONAL"]
    _, findings, _ = await _run(setup, WORK_NOTE, to="jsmith@gmail.com", options={"initials_are_own": False})
    assert findings == ()  or list(findings) == []


async def test_personal_note_can_be_tagged_by_policy(tmp_path, setup):
    settings, directory = setup
    rules = [{"code": "STAFF_PERSONAL_NOTE_TO_OWN", "action": "tag"}] + [
        r.model_dump(exclude_none=True) for r in settings.policy.rules]
    tagged = make_settings(tmp_path, directory={"csv": str(settings.directory.csv)},
                           policy={"rules": rules})
    view, findings, _ = await _run(setup, PAYSLIP, to="jane.home@gmail.com")
    assert Policy(tagged).decide(view, findings).actions["jane.home@gmail.com"] == Action.TAG


@pytest.mark.parametrize("kind", ["xlsx", "docx", "pdf"])
async def test_attachment_documents(setup, kind):
    if kind == "pdf":
        attachment = ("report.pdf", "application/pdf",
                      _pdf([f"{n} - attendance 91%" for n in PUPILS[:5]]))
    elif kind == "xlsx":
        attachment = ("class.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      _xlsx(PUPIL_TABLE))
    else:
        attachment = ("notes.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                      _docx(["Meeting notes", "Amy Jones, Oliver Patel and Harry Evans: EHCP reviews due."]))
    view, findings, verdict = await _run(setup, "see attached", to="coachdave@gmail.com", attachments=[attachment])
    # filters/extract.py reads all three: empty text is a broken extractor, never a skip
    assert view.attachments[0].text, view.attachments[0].extraction_note
    assert "PUPIL_DATA_TO_PERSONAL" in {f.code for f in findings}
    assert verdict.actions["coachdave@gmail.com"] == Action.HOLD


async def test_unlabelled_document_to_own_account_is_work(setup):
    _, findings, _ = await _run(setup, "for later", to="jane.home@gmail.com",
                                attachments=[("plan.pdf", "application/pdf", b"%PDF-1.4 not much")])
    assert [f.code for f in findings] == ["STAFF_WORK_TO_OWN_PERSONAL"]
    _, findings, _ = await _run(setup, "for later", to="jane.home@gmail.com",
                                attachments=[("plan.pdf", "application/pdf", b"%PDF-1.4")],
                                options={"documents_are_work": False})
    assert [f.code for f in findings] == ["STAFF_PERSONAL_NOTE_TO_OWN"]


async def test_forwarded_colleague_thread_is_work_even_with_personal_words(setup):
    body = (f"FYI\n\n---------- Forwarded message ---------\nFrom: Tom Brown <{TOM}>\nDate: Mon\n"
            "Subject: holiday cover\n\nCan you cover my class while I am on holiday?")
    _, findings, _ = await _run(setup, body, to="jane.home@gmail.com", subject="Fwd: holiday cover")
    (finding,) = findings
    assert finding.code == "STAFF_WORK_TO_OWN_PERSONAL" and any(TOM in e for e in finding.evidence)


async def test_signature_job_title_is_not_work(setup):
    body = "Dentist moved to Friday.\n\nKind regards\nJane Smith\nHead of Year 9, Hillside Academy"
    _, findings, _ = await _run(setup, body, to="jane.home@gmail.com")
    assert [f.code for f in findings] == ["STAFF_PERSONAL_NOTE_TO_OWN"]


# -- recurring forwarding target (SeenStore) ---------------------------------------------

@pytest.fixture
async def seen(tmp_path):
    from quarantine.store import QuarantineStore  # our own module: an import error must fail

    store = await QuarantineStore(tmp_path / "q").open()
    yield store.seen
    await store.close()


async def test_recurring_forwarding_target(setup, seen):
    attachment = [("plan.txt", "text/plain", b"lesson plan")]
    codes = []
    for _ in range(3):
        _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                    attachments=attachment, seen=seen)
        codes.append([f.code for f in findings])
    assert codes[:2] == [[], []]
    assert codes[2] == ["STAFF_WORK_TO_OWN_PERSONAL"]
    _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                attachments=attachment, seen=seen)
    assert any("own account (recurring)" in e for e in findings[0].evidence)


async def test_address_several_staff_write_to_is_not_recurring(setup, seen):
    attachment = [("plan.txt", "text/plain", b"lesson plan")]
    await _run(setup, "fyi", sender=TOM, to="bluebird77@gmail.com", attachments=attachment, seen=seen)
    for _ in range(4):
        _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                    attachments=attachment, seen=seen)
    assert list(findings) == []


async def test_shared_address_blocks_initial_likeness(setup, seen):
    # a parent "jsmith" whom several members of staff write to is not Jane Smith's own
    await _run(setup, "Parents evening", sender=TOM, to="jsmith@gmail.com", seen=seen)
    _, findings, _ = await _run(setup, WORK_NOTE, to="jsmith@gmail.com", seen=seen)
    assert list(findings) == []


@pytest.fixture
async def quarantine(tmp_path):
    from quarantine.store import QuarantineStore

    store = await QuarantineStore(tmp_path / "q").open()
    yield store
    await store.close()


def _seen_rows(store) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from quarantine.store import seen
    with store.engine.begin() as conn:
        return sorted(tuple(r) for r in conn.execute(select(seen.c.kind, seen.c.key, seen.c.value)))


async def test_one_row_per_pair_however_many_messages(setup, quarantine):
    # every message of one pair used to add a row under the recipient and another under the
    # pair, and each message's reads cost all of them (docs/performance.md, eleventh pass)
    for _ in range(6):
        _, findings, _ = await _run(setup, "Newsletter", sender=f"office@{S}", to="parent.of.ava@gmail.com",
                                    seen=quarantine.seen)
        assert list(findings) == []
    await quarantine.flush_seen()
    assert _seen_rows(quarantine) == [("personal_rcpt_senders", "parent.of.ava@gmail.com", f"office@{S}")]


async def test_recurring_needs_the_other_sender_inside_the_window(setup, quarantine):
    attachment = [("plan.txt", "text/plain", b"lesson plan")]
    options = {"recurring_window_days": 1}
    await _run(setup, "fyi", sender=TOM, to="bluebird77@gmail.com", attachments=attachment, seen=quarantine.seen,
               options=options)
    await quarantine.flush_seen()
    from sqlalchemy import update

    from quarantine.store import seen
    with quarantine.engine.begin() as conn:  # Tom wrote to it two days ago: outside the window
        conn.execute(update(seen).where(seen.c.value == TOM).values(at=seen.c.at - 2 * 86400))
    codes = []
    for _ in range(3):
        _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                    attachments=attachment, seen=quarantine.seen, options=options)
        codes.append([f.code for f in findings])
    assert codes == [[], [], ["STAFF_WORK_TO_OWN_PERSONAL"]]


async def test_rows_written_before_the_eleventh_pass_still_count(setup, quarantine):
    # an existing index.sqlite3: Tom's messages as the old filter recorded them (a row per
    # message under the recipient, and the "personal_pair" rows nothing reads any more)
    rows = []
    for n in range(5):
        rows += [("personal_rcpt_senders", "bluebird77@gmail.com", TOM),
                 ("personal_pair", f"{TOM}>bluebird77@gmail.com", f"m{n}")]
    await quarantine.seen.record_many(rows)
    attachment = [("plan.txt", "text/plain", b"lesson plan")]
    for _ in range(4):
        _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                    attachments=attachment, seen=quarantine.seen)
    assert list(findings) == []  # another sender writes to it: not Jane's own
    await quarantine.flush_seen()
    senders = [r[2] for r in _seen_rows(quarantine) if r[0] == "personal_rcpt_senders"]
    assert senders == [JANE] + [TOM] * 5  # Jane's four messages: one row; Tom's old ones as they were
    await _run(setup, "fyi", sender=TOM, to="bluebird77@gmail.com", seen=quarantine.seen)
    await quarantine.flush_seen()
    senders = [r[2] for r in _seen_rows(quarantine) if r[0] == "personal_rcpt_senders"]
    assert senders == [JANE, TOM]  # Tom's next message folds his old rows into one


async def test_no_store_means_no_recurring_signal(setup):
    for _ in range(4):
        _, findings, _ = await _run(setup, "fyi", to="bluebird77@gmail.com", subject="Fwd: stuff",
                                    attachments=[("plan.txt", "text/plain", b"lesson plan")])
    assert list(findings) == []


# -- redirect rules -------------------------------------------------------------------------

REDIRECT_CASES = [
    ("exchange-inbox-rule", "parent@gmail.com", JANE, {"X-MS-Exchange-Inbox-Rules-Loop": JANE}, JANE),
    ("resent", "parent@gmail.com", JANE, {"Resent-From": JANE, "Resent-To": "jane.home@gmail.com"}, JANE),
    ("srs-sender", "parent@gmail.com", f"SRS0=HHH=TT=gmail.com=parent@{S}", {"Auto-Submitted": "auto-forwarded"},
     f"a mailbox at {S}"),
    ("auto-generated-copy", "parent@gmail.com", JANE, {"Auto-Submitted": "auto-generated"}, JANE),
]


@pytest.mark.parametrize("case", REDIRECT_CASES, ids=[c[0] for c in REDIRECT_CASES])
async def test_mailbox_auto_forward(setup, case):
    _, from_header, envelope_from, headers, mailbox = case
    raw = _raw("Please call me about Amy", sender=from_header, to=JANE, headers=headers)
    view = _view(setup, raw, envelope_from, ("jane.home@gmail.com",))
    findings = await _filter(setup).check(view)
    forward = [f for f in findings if f.code == "MAILBOX_AUTO_FORWARD"]
    assert forward and f"mailbox: {mailbox}" in forward[0].evidence
    verdict = Policy(setup[0]).decide(view, findings)
    assert verdict.actions["jane.home@gmail.com"] == Action.HOLD and "it" in verdict.alerts


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},  # out of office
    {},
    {"Resent-From": "list@lists.example.org", "Resent-Sender": "list-request@lists.example.org"},  # a list resend
    {"X-MS-Exchange-Inbox-Rules-Loop": "someone@othercompany.com"},  # another organisation's rule
])
async def test_out_of_office_to_parent_is_not_a_forward(setup, headers):
    _, findings, verdict = await _run(setup, "I am out of the office until Monday.", to="parent@gmail.com",
                                      headers=headers)
    assert list(findings) == [] and verdict.action == Action.PASS


# -- inbound: a staff member's personal account writing in --------------------------------------

INBOUND_CASES = [
    ("directory-personal-to-student", "jane.home@gmail.com", "", _pupil_address("Amy Jones"), "Hi Amy, see you",
     {"STAFF_PERSONAL_TO_STUDENT"}, Action.HOLD),
    ("likely-personal-to-student", "janesmith84@gmail.com", "Jane Smith", _pupil_address("Amy Jones"),
     "Hi Amy", {"STAFF_PERSONAL_TO_STUDENT"}, Action.HOLD),
    ("display-name-to-student", "bluebird77@gmail.com", "Jane Smith", _pupil_address("Amy Jones"), "Hi",
     {"STAFF_PERSONAL_TO_STUDENT"}, Action.HOLD),
    ("personal-work-in", "jane.home@gmail.com", "", TOM, WORK_NOTE, {"STAFF_PERSONAL_WORK_INBOUND"}, Action.HOLD),
    ("personal-work-to-own-school", "janesmith84@gmail.com", "Jane Smith", JANE,
     "Attached my lesson plans and scheme of work", {"STAFF_PERSONAL_WORK_INBOUND"}, Action.HOLD),
    # hard negatives
    ("personal-note-in", "jane.home@gmail.com", "", TOM, "Are we still on for the pub quiz on Friday? "
     "Booking confirmation for the holiday is sorted too.", set(), Action.PASS),
    ("parent-sends-own-childs-form", "sarah.jones@gmail.com", "Sarah Jones", JANE,
     "Please find Amy Jones's trip form; her date of birth is 01/02/2012 and she has an asthma inhaler.",
     set(), Action.PASS),
    ("parent-named-like-no-staff", "mrpatel@gmail.com", "Raj Patel", _pupil_address("Oliver Patel"), "Hi son",
     set(), Action.PASS),
]


@pytest.mark.parametrize("case", INBOUND_CASES, ids=[c[0] for c in INBOUND_CASES])
async def test_inbound(setup, case):
    _, sender, display, rcpt, body, codes, action = case
    view, findings, verdict = await _run(setup, body, sender=sender, to=rcpt, from_name=display)
    assert {f.code for f in findings} == codes
    assert verdict.actions[rcpt] == action
    if "STAFF_PERSONAL_TO_STUDENT" in codes:
        assert "dsl" in verdict.alerts


async def test_self_test_warns_without_directory(tmp_path):
    settings = make_settings(tmp_path)
    flt = PersonalAddressFilter(PersonalAddressFilter.Options(),
                                FilterContext(settings=settings, directory=Directory(None)))
    assert any("no directory" in w for w in await flt.self_test())


def test_work_and_personal_markers_find_what_python_finds_on_the_corpora():
    """_hits through the RE2 twins (and RE2's first candidate for the lookahead marker) gives
    the same first span per marker as Python's patterns, on every corpus message's text."""
    from filters import personal_address as pa
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    plain = {**{label: p for label, (p, _w) in pa._WORK_MARKERS.items()}, **pa._PERSONAL_MARKERS}
    fast = {**pa._WORK_FAST, **pa._PERSONAL_FAST}
    found = 0
    for _name, raw in corpus_messages():
        text = raw.decode("utf-8", "replace")[:50_000]
        want = {label: m.group(0) for label, p in plain.items() if (m := p.search(text))}
        assert pa._hits(fast, text) == want, _name
        found += len(want)
    assert found > 200
