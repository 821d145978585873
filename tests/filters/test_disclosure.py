"""The disclosure filter: pupils' personal details and meeting arrangements, who it applies to,
the hard negatives, and the policy's decision on what it finds."""
from __future__ import annotations

import csv
import json

import pytest

from filters.base import Action, Category, FilterContext, Severity
from filters.directory import Directory
from filters.disclosure import DisclosureFilter, Options
from filters.disclosure_patterns import DisclosurePatterns
from filters.policy import Policy
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_message, make_settings, make_view, write_directory

PUPILS = f"pupils.{SCHOOL_DOMAIN}"
JESS = f"jess.taylor@{PUPILS}"
SAM = f"sam.ahmed@{PUPILS}"
LILY = f"lily.okafor@{PUPILS}"
TEACHER = f"d.jones@{SCHOOL_DOMAIN}"
FRIEND = "kayla2010@gmail.com"
EMPLOYER = "placements@bakery.example.co.uk"
SWITCHBOARD = "0113 496 0000"
SCHOOL_ADDRESS = "Hillside Academy, 1 School Lane, Leeds LS1 4AB"


@pytest.fixture
def env(tmp_path):
    directory_csv = write_directory(tmp_path / "directory.csv", [
        (JESS, "student", "Jess Taylor", ""),
        (SAM, "student", "Sam Ahmed", ""),
        (LILY, "student", "Lily Okafor", ""),
        (TEACHER, "staff", "David Jones", ""),
    ])
    settings = make_settings(
        tmp_path,
        directory={"csv": str(directory_csv),
                   "domain_roles": {PUPILS: "student", SCHOOL_DOMAIN: "staff"}},
        school={"phone_numbers": [SWITCHBOARD], "addresses": [SCHOOL_ADDRESS]})
    directory = Directory(settings.directory.csv, settings.directory.domain_roles,
                          tuple(settings.school.domains))
    return settings, directory


def make_filter(env, **options) -> DisclosureFilter:
    settings, directory = env
    opts = settings.filter_options["disclosure"].model_copy(update=options) if options else \
        settings.filter_options["disclosure"]
    return DisclosureFilter(opts, FilterContext(settings=settings, directory=directory))


async def check(env, body: str, *, sender: str = JESS, to: tuple[str, ...] = (FRIEND,), flt=None,
                attachments=(), raw: bytes | None = None):
    _, directory = env
    if raw is None:
        raw = make_message(body, sender=sender, to=", ".join(to), attachments=list(attachments))
    view = make_view(raw, mail_from=sender, rcpt_to=to, directory=directory)
    findings = await (flt or make_filter(env)).check(view)
    return view, findings


def by_code(findings):
    return {f.code: f for f in findings}


# --- what it finds ------------------------------------------------------------------------------

POSITIVES = [
    ("hiya!! my number is 07700 900123 text me x", "PII_PHONE_NUMBER", "07700 900123"),
    ("ring me on +44 7700 900456 after 6", "PII_PHONE_NUMBER", "+44 7700 900456"),
    ("its +44 (0)7700-900-789 lol", "PII_PHONE_NUMBER", "+44 (0)7700-900-789"),
    ("new phone!! 07911123456", "PII_PHONE_NUMBER", "07911123456"),
    ("0 7 7 0 0 9 0 0 1 2 3 thats my num dont lose it", "PII_PHONE_NUMBER", "0 7 7 0 0 9 0 0 1 2 3"),
    ("home phone is 0113 496 0123 if my mobile is dead", "PII_PHONE_NUMBER", "0113 496 0123"),
    ("i live at 14 Oak Road btw", "PII_HOME_ADDRESS", "i live at 14 Oak Road btw"),
    ("my postcode is LS6 2AB so not far", "PII_HOME_ADDRESS", "LS6 2AB"),
    ("we live near the big tesco on ashfield lane", "PII_HOME_ADDRESS", "we live near the big tesco on ashfield lane"),
    ("parcel goes to 22 cherry tree close, LS6 2AB", "PII_HOME_ADDRESS", "LS6 2AB"),
    ("born on 12/03/2011 so im a pisces", "PII_DATE_OF_BIRTH", "born on 12/03/2011"),
    ("my birthday is the 3rd of june!!", "PII_DATE_OF_BIRTH", "my birthday is the 3rd of june"),
    ("im 13 btw whats ur age", "PII_AGE", "im 13"),
    ("I am thirteen and in year 8", "PII_AGE", "I am thirteen"),
    ("add me on snap its jess_xx", "PII_SOCIAL_HANDLE", "add me on snap its jess_xx"),
    ("my insta is @jess.taylor_ follow me", "PII_SOCIAL_HANDLE", "my insta is @jess.taylor_"),
    ("discord: jessplays#1234", "PII_SOCIAL_HANDLE", "discord: jessplays#1234"),
    ("whatsapp me x", "PII_SOCIAL_HANDLE", "whatsapp me"),
    ("hmu on tiktok", "PII_SOCIAL_HANDLE", "hmu on tiktok"),
    ("send me a pic of u", "PII_PHOTO_REQUEST", "send me a pic"),
    ("can i see a photo of you first", "PII_PHOTO_REQUEST", "see a photo of you"),
    ("heres a selfie from the trip", "PII_PHOTO_REQUEST", "heres a selfie"),
    ("My name is Jess Taylor and I go to Hillside Academy", "PII_FULL_NAME_WITH_SCHOOL", "Jess Taylor"),
    ("meet me at the park at 4 tmrw", "MEETING_ARRANGEMENT", "meet me at the park at 4 tmrw"),
    ("wanna meet up after school outside maccies?", "MEETING_ARRANGEMENT", "meet up after school outside maccies"),
    ("here's Sam's number 07700 900321", "PII_OTHER_PUPIL", "Sam's number"),
    ("Lily Okafor lives on Elm Street near the chippy", "PII_OTHER_PUPIL", "Lily Okafor lives on"),
]


@pytest.mark.parametrize("body,code,span", POSITIVES)
async def test_finds_each_kind_with_the_exact_span(env, body, code, span):
    _, findings = await check(env, body)
    found = by_code(findings)
    assert code in found, f"{code} not found in {body!r}: {[f.code for f in findings]}"
    assert any(span in evidence for evidence in found[code].evidence), found[code].evidence
    # evidence is always text the review screen can highlight in the message
    for evidence in found[code].evidence:
        assert evidence in " ".join(body.split())
    expected_category = Category.MEETING if code == "MEETING_ARRANGEMENT" else Category.DISCLOSURE
    assert found[code].category == expected_category
    assert found[code].filter == "disclosure"


async def test_one_finding_per_kind_with_every_span(env):
    _, findings = await check(env, "my number is 07700 900123 or my mums 07700 900124, text me")
    phones = [f for f in findings if f.code == "PII_PHONE_NUMBER"]
    assert len(phones) == 1
    assert phones[0].evidence == ("07700 900123", "07700 900124")


async def test_secrecy_makes_a_meeting_critical(env):
    body = ("ok meet me at the bus stop on ashfield road at 6, come alone and dont tell your mum. "
            "delete this after x")
    _, findings = await check(env, body)
    meeting = by_code(findings)["MEETING_ARRANGEMENT"]
    assert meeting.severity == Severity.CRITICAL
    assert meeting.category == Category.MEETING
    for phrase in ("come alone", "dont tell your mum", "delete this"):
        assert any(phrase in e for e in meeting.evidence)


async def test_plain_meeting_is_high(env):
    _, findings = await check(env, "see you at the station at 7:30 on saturday")
    assert by_code(findings)["MEETING_ARRANGEMENT"].severity == Severity.HIGH


async def test_attachment_text_is_read(env):
    _, findings = await check(env, "see attached", attachments=[
        ("about_me.txt", "text/plain", b"All about me\nmy address is 5 Park Lane, Leeds LS1 1AA\n")])
    assert "PII_HOME_ADDRESS" in by_code(findings)
    assert "LS1 1AA" in " ".join(by_code(findings)["PII_HOME_ADDRESS"].evidence)


async def test_long_text_is_scanned_off_the_event_loop_with_the_same_result(env):
    padding = "we did the reading in class and then had a quiz about it. " * 400  # > 16 KB
    _, findings = await check(env, padding + "anyway my number is 07700 900123", to=(FRIEND,))
    assert by_code(findings)["PII_PHONE_NUMBER"].evidence == ("07700 900123",)


async def test_this_is_me_counts_only_with_a_picture(env):
    _, without = await check(env, "this is me being silly lol")
    assert "PII_PHOTO_REQUEST" not in by_code(without)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    _, with_image = await check(env, "this is me being silly lol", attachments=[("me.png", "image/png", png)])
    assert "PII_PHOTO_REQUEST" in by_code(with_image)


async def test_another_pupils_full_name_alone_only_outside_the_school(env):
    body = "Sam Ahmed said hes coming to the party too"
    _, outside = await check(env, body)
    assert by_code(outside)["PII_OTHER_PUPIL"].evidence == ("Sam Ahmed",)
    _, to_pupil = await check(env, body, to=(LILY,))
    assert "PII_OTHER_PUPIL" not in by_code(to_pupil)
    # writing to the pupil named is not disclosing them
    _, to_sam = await check(env, "Sam Ahmed you legend", to=(SAM,))
    assert to_sam == []


# --- hard negatives ----------------------------------------------------------------------------

NEGATIVES = [
    # a student emailing a teacher about homework (internal, staff recipient: not in scope)
    ("student to teacher about homework",
     "Hi Mr Jones, I've done questions 1-5. Q3 came out as 0.7700900123. I'm 2nd on the list to "
     "see you. Can we meet at lunch to go over it? My number is 07700 900123 if needed. Thanks, Jess",
     JESS, (TEACHER,)),
    ("the school's switchboard and address",
     f"if ur parents want to complain they can ring the office on {SWITCHBOARD} or write to "
     f"{SCHOOL_ADDRESS}", JESS, (FRIEND,)),
    ("a staff signature in staff mail",
     "Dear Mrs Patel,\nThe trip leaves at 8am on Monday from the school gates.\n\n--\nMr D Jones\n"
     "Head of Maths, Hillside Academy\nMobile 07700 900999 | 1 School Lane, Leeds LS1 4AB",
     TEACHER, ("parent@example.com",)),
    ("a staff signature quoted by a pupil",
     "thanks sir\n\n> Please bring your calculator.\n> --\n> Mr D Jones, Hillside Academy\n"
     f"> Tel {SWITCHBOARD} | 1 School Lane, Leeds LS1 4AB", JESS, (FRIEND,)),
    ("an exam board message with candidate and centre numbers",
     "From AQA: Candidate number: 4021. Centre number: 36421. Unique candidate identifier "
     "36421A2021045. Candidate number 07700900123 has been withdrawn from 8300/1H.", JESS, (FRIEND,)),
    ("order and page numbers",
     "my order number: 07700 900123 still hasnt come. its on page 01234 567890 of the catalogue lol",
     JESS, (FRIEND,)),
    ("maths with long decimals",
     "q4 = 0.7700900123 and q5 = 3.14159265358979 (to 14 dp), q6 is 2.0113496012", JESS, (FRIEND,)),
    ("numbers that are not ages", "I'm 100% sure, I'm 5 minutes away and I'm 2nd in the queue", JESS, (FRIEND,)),
    ("oh snap", "oh snap i forgot my homework again", JESS, (FRIEND,)),
    ("a picture of something else", "can you send me a picture of the worksheet", JESS, (FRIEND,)),
    ("meet a deadline", "we need to meet the deadline, its due friday", JESS, (FRIEND,)),
    ("organisations' numbers", "Childline is free on 0800 1111 and the shop is 0800 123 4567", JESS, (FRIEND,)),
    ("a US business address",
     "Acme Corp, 123 Main Street, Suite 400, Springfield, MA 01234", JESS, (FRIEND,)),
    ("pupils meeting at school", "meet at the library at lunch to finish the poster", JESS, (SAM,)),
    ("an email address is not a handle", "email me at jess.t@gmail.com or follow the link", JESS, (FRIEND,)),
    # from the SpamAssassin ham: an adult's birth, a stray 0, a setting, a blank form
    ("someone else's history", "Turing's mentor was born on May 14, 1939 in Leeds", JESS, (FRIEND,)),
    ("a stray zero before a number", "the one for class is 0 1028070983 i think", JESS, (FRIEND,)),
    ("a setting named like an app", "compile with THREADS=true and discord the rest", JESS, (FRIEND,)),
    ("a blank form", "My home address is: ______________________", JESS, (FRIEND,)),
]


@pytest.mark.parametrize("label,body,sender,to", NEGATIVES, ids=[n[0] for n in NEGATIVES])
async def test_hard_negatives_pass(env, label, body, sender, to):
    _, findings = await check(env, body, sender=sender, to=to)
    assert findings == [], f"{label}: {[(f.code, f.evidence) for f in findings]}"


# --- who ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sender,to,in_scope", [
    (JESS, (FRIEND,), True),  # student -> outside
    (JESS, (SAM,), True),  # student -> student
    (JESS, (TEACHER,), False),  # student -> teacher
    (TEACHER, (FRIEND,), False),  # staff mail is not this filter's business
    (TEACHER, (JESS,), False),
    (FRIEND, (JESS,), False),  # inbound
])
async def test_scope_by_sender_role_and_recipient(env, sender, to, in_scope):
    _, findings = await check(env, "my number is 07700 900123", sender=sender, to=to)
    assert ("PII_PHONE_NUMBER" in by_code(findings)) is in_scope


async def test_findings_name_only_the_recipients_in_scope(env):
    _, findings = await check(env, "my number is 07700 900123", to=(FRIEND, TEACHER))
    assert by_code(findings)["PII_PHONE_NUMBER"].recipients == (FRIEND,)


async def test_roles_are_configurable(env):
    flt = make_filter(env, sender_roles=["student", "staff"], recipient_roles=["external"])
    _, staff = await check(env, "call me on 07700 900123", sender=TEACHER, flt=flt)
    assert "PII_PHONE_NUMBER" in by_code(staff)
    _, to_pupil = await check(env, "call me on 07700 900123", to=(SAM,), flt=flt)
    assert to_pupil == []


# --- options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("leniency,number,found", [
    ("possible", "07700 900123", True),  # Ofcom drama range: possible, not valid
    ("valid", "07700 900123", False),
    ("valid", "07911 123456", True),
    ("possible", "0800 123 4567", False),  # freephone: an organisation's
])
async def test_phone_leniency(env, leniency, number, found):
    flt = make_filter(env, phone_leniency=leniency)
    _, findings = await check(env, f"my number is {number}", flt=flt)
    assert ("PII_PHONE_NUMBER" in by_code(findings)) is found


async def test_service_numbers_option(env):
    flt = make_filter(env, service_numbers=True)
    _, findings = await check(env, "ring 0800 123 4567", flt=flt)
    assert "PII_PHONE_NUMBER" in by_code(findings)


async def test_extra_lists_and_school_aliases(env):
    flt = make_filter(env, extra_social_apps=["zepeto"], extra_secrecy_phrases=["burn after reading"],
                      extra_meeting_places=["rec ground"], school_aliases=["HHS"])
    _, findings = await check(env, "add me on zepeto. meet me at the rec ground at 5, burn after reading. "
                                   "im Jess Taylor from HHS", flt=flt)
    found = by_code(findings)
    assert "PII_SOCIAL_HANDLE" in found
    assert found["MEETING_ARRANGEMENT"].severity == Severity.CRITICAL
    assert "HHS" in found["PII_FULL_NAME_WITH_SCHOOL"].evidence


async def test_options_have_defaults_and_descriptions():
    for name, field in Options.model_fields.items():
        assert field.description, name
    Options()  # every field has a default


# --- the policy's decision ---------------------------------------------------------------------

async def test_policy_holds_disclosure_and_alerts_the_dsl_for_meetings(env):
    settings, _ = env
    policy = Policy(settings)
    view, findings = await check(env, "my snap is jess_xx")
    assert policy.decide(view, findings).action == Action.HOLD
    view, findings = await check(env, "meet me behind the chippy at 9 tonight, dont tell anyone")
    verdict = policy.decide(view, findings)
    assert verdict.action == Action.HOLD
    assert "dsl" in verdict.alerts


async def test_work_placement_with_approval_is_still_held(env):
    """Decision: the gateway cannot see an approval given outside the mail; the
    reviewer's release is the approval (audited)."""
    settings, _ = env
    body = ("Dear Ms Smith,\nMy teacher Mr Jones has approved my application for the Year 10 work "
            "experience placement. I am 15 and available 1-12 July. My phone number is 07700 900123 and "
            "I could come to your shop for an interview on Monday at 10am.\nKind regards,\nJess Taylor, "
            "Hillside Academy")
    view, findings = await check(env, body, to=(EMPLOYER,))
    codes = {f.code for f in findings}
    assert {"PII_PHONE_NUMBER", "PII_AGE", "PII_FULL_NAME_WITH_SCHOOL"} <= codes
    assert Policy(settings).decide(view, findings).action == Action.HOLD


# --- the shared corpora ------------------------------------------------------------------------

def _corpus(path):
    if not path.exists():
        pytest.skip(f"shared corpus absent: {path}")
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_presidio_uk_postcode_vectors():
    rows = _corpus(CORPORA / "pii-uk-test-vectors-presidio" / "uk_pii_test_vectors.csv")
    for row in (r for r in rows if r["entity"] == "UK_POSTCODE"):
        spans = list(DisclosurePatterns.find_postcodes(row["text"]))
        expected = [tuple(s) for s in json.loads(row["expected_spans"])]
        assert sorted(spans) == sorted(expected), row["text"]


def test_libphonenumber_uk_personal_examples(env):
    rows = _corpus(CORPORA / "uk-phone-examples-libphonenumber" / "phone_example_numbers.csv")
    flt = make_filter(env)
    personal = [r for r in rows if r["region"] in {"GB", "GG", "JE", "IM"}
                and r["number_type"] in {"fixed_line", "mobile", "personal_number", "voip", "pager"}]
    assert personal
    for row in personal:
        spans = flt.scan(f"text me on {row['number']} x").spans.get("PII_PHONE_NUMBER", [])
        assert len(spans) == 1, row
