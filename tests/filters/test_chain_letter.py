"""Chain-letter filter: school fixtures, texting style, similarity, bulk on the real store, options, corpus."""
from __future__ import annotations

import csv
import email
import email.policy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import LISTS_DIR as LISTS
from filters import chain_letter_library as lib
from filters import chain_letter_signals as sig
from filters.base import Action, Category, FilterContext, Severity
from filters.chain_letter import CODE, ChainLetterFilter
from filters.policy import Policy
from quarantine.store import QuarantineStore
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_message, make_settings, make_view
from tests.quarantine.conftest import csrf_of, review, review_gateway  # noqa: F401 - fixtures shared with quarantine tests

DATA = Path(__file__).resolve().parents[1] / "data" / "chain_letters"
POSITIVES = sorted((DATA / "positive").glob("*.eml"))
NEGATIVES = sorted((DATA / "negative").glob("*.eml"))
CHAIN_CORPUS = CORPORA / "chain-letters-spamassassin"
PUPIL = f"jade.w@{SCHOOL_DOMAIN}"
FRIEND = f"kayla.m@{SCHOOL_DOMAIN}"


def _settings(**options):
    # only this filter in the chain: its tests must not depend on the others' modules
    return make_settings(filters={"chain": ["chain_letter"]}, chain_letter=options)


def make_filter(seen=None, **options) -> tuple[ChainLetterFilter, object]:
    settings = _settings(**options)
    context = FilterContext(settings=settings, directory=None, seen=seen)
    return ChainLetterFilter(settings.filter_options["chain_letter"], context), settings


def view_of(path: Path):
    raw = path.read_bytes()
    if raw.startswith(b"From ") and b"\n" in raw:  # mbox envelope line (SpamAssassin files)
        raw = raw.split(b"\n", 1)[1]
    return make_view(raw, mail_from=PUPIL, rcpt_to=(FRIEND,))


@pytest.mark.parametrize("path", POSITIVES, ids=[p.stem for p in POSITIVES])
async def test_school_chain_letters_give_one_finding_with_evidence(path: Path) -> None:
    flt, _ = make_filter()
    view = view_of(path)
    findings = await flt.check(view)
    assert [f.code for f in findings] == [CODE]
    finding = findings[0]
    assert finding.category is Category.CHAIN_LETTER
    assert finding.severity >= Severity.MEDIUM
    assert finding.filter == "chain_letter"
    assert finding.evidence
    # evidence is exact spans of the message text, so the review screen can highlight them
    for span in finding.evidence:
        assert span in view.all_text
    assert "pass it on" in finding.reason


@pytest.mark.parametrize("path", NEGATIVES, ids=[p.stem for p in NEGATIVES])
async def test_school_hard_negatives_pass(path: Path) -> None:
    flt, _ = make_filter()
    assert await flt.check(view_of(path)) == []


@pytest.mark.parametrize("body, expected", [
    ("fwd dis 2 10 ppl in 5 mins or u will hav bad luck 4 10 yrs", True),
    ("if u dont send this 2 15 ppl ur mum will die 2nite!!! not a joke", True),
    ("Send this to 12 friends before midnight and your wish will come true. Don't break the chain!", True),
    ("Forward this to everyone in your address book. Confirmed by Microsoft: it will erase your hard drive."
     " This is not a hoax!", True),
    ("Send £5 cash to the first name on the list, remove the name at the top and add your own name to the"
     " bottom of the list. Then send this to 10 people.", True),
    ("can u send me the homework b4 9 pls", False),
    ("Good luck in your exams tomorrow! Pass it on to the rest of the team.", False),
    ("Please share this with your tutor group before Friday's assembly.", False),
    ("Our PTA raised £2,000 - thank you! Please share with friends and family.", False),
])
async def test_language_table(body: str, expected: bool) -> None:
    flt, _ = make_filter()
    findings = await flt.check(make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,)))
    assert bool(findings) is expected, findings


async def test_lesson_quoting_examples_is_discounted_not_reported() -> None:
    flt, _ = make_filter()
    examples = ('"Send this to 10 people in 10 minutes or you will have bad luck for 7 years." '
                '"If you don\'t forward this to 15 friends your mum will die tonight."')
    bare = make_view(examples, mail_from=PUPIL, rcpt_to=(FRIEND,))
    lesson = make_view("PSHE lesson starter: show these examples of chain letters. " + examples +
                       " Discussion questions: why are chain letters a hoax? Don't forward them.",
                       mail_from=f"teacher@{SCHOOL_DOMAIN}", rcpt_to=(FRIEND,))
    assert await flt.check(bare)
    assert await flt.check(lesson) == []
    assessment = flt.assess_text(lesson, lesson.all_text)
    assert assessment.discount < 1.0
    assert any("discusses chain letters" in f for f in flt.score(assessment)[1])


async def test_known_letter_matched_by_similarity() -> None:
    """A known letter whose wording escapes the phrase lists is still caught by shingle similarity."""
    letter = (Path(__file__).resolve().parents[2] / "config" / "lists" / "known_chain_letters" /
              "sick_child_donation.txt").read_text().split("\n", 1)[1]
    flt, _ = make_filter()
    view = make_view(letter, mail_from=PUPIL, rcpt_to=(FRIEND,))
    findings = await flt.check(view)
    assert findings and "sick_child_donation" in findings[0].reason
    no_similarity, _ = make_filter(weights={"similarity": 0.0})
    assert (await no_similarity.check(view) == [] or
            no_similarity.score(no_similarity.assess_text(view, view.all_text))[0] < findings[0].score)


async def test_structure_only_amplifies() -> None:
    """Deep forwards to many people with no chain-letter content pass; with some content they count."""
    many = tuple(f"pupil{i}@{SCHOOL_DOMAIN}" for i in range(15))
    flt, _ = make_filter()
    bland = make_message("Here are the photos from the trip, pass it on to anyone who went.",
                         subject="Fwd: FW: Fwd: trip photos", sender=PUPIL, to=", ".join(many))
    assert await flt.check(make_view(bland, mail_from=PUPIL, rcpt_to=many)) == []
    body = "Send this to 10 people. Something good will happen tomorrow."  # content alone: 4.0
    plain = make_message(body, subject="hi", sender=PUPIL, to=FRIEND)
    stacked = make_message(body, subject="Fwd: FW: Fwd: FW: hi", sender=PUPIL, to=", ".join(many))
    plain_score = flt.score(flt.assess_text(v := make_view(plain, mail_from=PUPIL, rcpt_to=(FRIEND,)),
                                            v.all_text))[0]
    stacked_view = make_view(stacked, mail_from=PUPIL, rcpt_to=many)
    stacked_findings = await flt.check(stacked_view)
    assert stacked_findings and stacked_findings[0].score > plain_score
    assert "forwarded 4 times" in stacked_findings[0].reason
    assert "15 recipients" in stacked_findings[0].reason


async def test_bulk_same_body_from_several_senders_with_real_store(tmp_path: Path) -> None:
    # content (pass-on with a count) but not enough on its own to reach the threshold (not "to see how
    # far a message can travel": since the eighth pass that experiment is a lever of its own)
    body = ("Hey guys please send this to 10 people, we are passing a message round "
            "our school before the end of term, add your form name at the bottom and keep it going "
            "so we can count how many forms it reached by the end of the week thanks")
    store = await QuarantineStore(tmp_path / "q").open()
    try:
        flt, _ = make_filter(seen=store.seen)
        results = []
        for sender in ("a1@" + SCHOOL_DOMAIN, "b2@" + SCHOOL_DOMAIN, "a1@" + SCHOOL_DOMAIN,
                       "c3@" + SCHOOL_DOMAIN):
            results.append(await flt.check(make_view(body, mail_from=sender, rcpt_to=(FRIEND,))))
        # the same sender twice is not bulk; the third distinct sender is
        assert results[:3] == [[], [], []]
        assert results[3] and "same text from 3 senders" in results[3][0].reason
        assert await store.seen.distinct_values("chain_letter_body", "x", 60) == 0
    finally:
        await store.close()
    without_store, _ = make_filter(seen=None)
    assert await without_store.check(make_view(body, mail_from="d4@" + SCHOOL_DOMAIN, rcpt_to=(FRIEND,))) == []


async def test_severity_follows_score() -> None:
    # the cue scores only: the learned score would add to both (tests/filters/test_chain_letter_model.py)
    flt, _ = make_filter(high_threshold=6.0, model=False)
    strong = ("fwd dis 2 10 ppl in 5 mins or ur mum will die 2nite. dont break the chain. "
              "it really works, not a joke!!")
    weak = "Send this to 10 people or you will have bad luck."
    assert (await flt.check(make_view(strong, mail_from=PUPIL, rcpt_to=(FRIEND,))))[0].severity is Severity.HIGH
    assert (await flt.check(make_view(weak, mail_from=PUPIL, rcpt_to=(FRIEND,))))[0].severity is Severity.MEDIUM


async def test_extra_phrases_and_slang_extend_the_lists() -> None:
    body = "pass it on or the grey lady of block c will get u. send it to 10 people."
    base, _ = make_filter()
    view = make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert await base.check(view) == []
    extended, _ = make_filter(extra_phrases={"consequence": [r"\bthe grey lady\b[^.!?]{0,30}\bwill get you\b"]})
    assert await extended.check(view)
    shipped = make_view("snd it 2 10 ppl or bad luck", mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert await base.check(shipped)  # "snd", "2", "ppl" are in the shipped slang list; "sned" is not
    typo = make_view("sned this on pls, bad luck if u dont", mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert "pass_on" not in base.assess_text(typo, typo.all_text).families
    with_slang, _ = make_filter(extra_slang={"sned": "send"})
    assert with_slang.assess_text(typo, typo.all_text).families["pass_on"] == ["sned this on pls, bad luck if u dont"]


@pytest.mark.parametrize("options, message", [
    ({"weights": {"luck": 1.0}}, "unknown signal"),
    ({"extra_phrases": {"omens": ["x"]}}, "unknown family"),
    ({"extra_phrases": {"hoax": ["(unclosed"]}}, "bad pattern"),
])
async def test_bad_options_refuse_to_start(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_filter(**options)


async def test_self_test_warns_without_seen_store() -> None:
    flt, _ = make_filter()
    warnings = await flt.self_test()
    assert any("bulk signal is off" in w for w in warnings)


async def test_policy_holds_chain_letters_and_notice_is_configured(tmp_path, sink) -> None:
    """Held by the policy, and the pupil who sent it is told why: through a real gateway, the
    chain-letter notice (shipped template sender_student_chain_letter.txt) reaches the next hop,
    the friend gets nothing."""
    import email
    import email.policy

    from gateway.service import Gateway
    from tests.gateway.conftest import RunningGateway

    text = "fwd dis 2 10 ppl in 5 mins or u will hav bad luck 4 10 yrs"
    flt, settings = make_filter()
    view = make_view(text, mail_from=PUPIL, rcpt_to=(FRIEND,))
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.action is Action.HOLD
    assert CODE in verdict.codes

    settings = make_settings(tmp_path, filters={"chain": ["chain_letter"]},
                             gateway={"listen": "127.0.0.1:0", "next_hop": sink.address},
                             directory={"domain_roles": {SCHOOL_DOMAIN: "student"}},
                             notify={"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}"})
    gateway = Gateway(settings)
    await gateway.start(web=False)
    try:
        code, reply = await RunningGateway(gateway).send(make_message(text, sender=PUPIL, to=FRIEND),
                                                         mail_from=PUPIL, rcpt_tos=[FRIEND])
        assert code == 250, reply
        await gateway.notifier.drain()
    finally:
        await gateway.stop(grace=5)
    [notice] = sink.messages  # the chain letter itself was held: only the notice left
    assert notice.rcpt_tos == [PUPIL]
    msg = email.message_from_bytes(notice.data, policy=email.policy.default)
    assert msg["X-Schoolgate-Notice"] == "sender_student"
    assert "chain letter" in msg["Subject"].lower()
    assert "Chain letters are never true" in msg.get_body(("plain",)).get_content()


def _corpus(folder: str) -> list[Path]:
    if not CHAIN_CORPUS.is_dir():
        pytest.skip(f"corpus {CHAIN_CORPUS} is absent (../shared/corpora not checked out)")
    return sorted((CHAIN_CORPUS / folder).glob("*.eml"))


async def test_corpus_pyramid_letters_detected() -> None:
    flt, _ = make_filter()
    paths = _corpus("positives")
    missed = [p.name for p in paths if not await flt.check(view_of(p))]
    # 21 real "Make Money Fast"/"5 reports" letters; the quality bench reports the count
    assert len(missed) <= 1, missed


async def test_corpus_hard_negatives_pass() -> None:
    flt, _ = make_filter()
    paths = _corpus("hard_negatives")
    flagged = [p.name for p in paths if await flt.check(view_of(p))]
    assert len(flagged) <= 1, flagged


# -- families, languages, normalising (issue 18 item 1) -------------------------------------------

@pytest.mark.parametrize("body, expected", [
    # Polish: request with a count and a deadline, a curse; and a parent's ordinary "please pass on"
    ("Wyślij to do 10 osób w ciągu 5 minut, bo będziesz mieć pecha przez 7 lat. Nie przerywaj łańcuszka!", True),
    ("Proszę przekazać dalej pani Smith, że Kuba wróci autobusem o 15:30.", False),
    # Romanian
    ("Trimite acest mesaj la 10 prieteni în următoarele 10 minute și dorința ta se va îndeplini. Nu rupe lanțul!",
     True),
    ("Vă rog să distribuiți acest anunț: târgul de primăvară este sâmbătă.", False),
    # Urdu/Punjabi in Latin script
    ("Ye message 10 logon ko bhejo aaj raat se pehle, warna bad qismati aayegi. Ye sach hai, mazaq nahi!", True),
    ("Meherbani kar ke ye message class teacher ko aage bhej dein, Zara kal nahi aayegi.", False),
    # English families without the word "chain"
    ("Please forward this to everyone you know. If you get an email called 'Free Vouchers' do not open it, "
     "it is a virus.", True),
    ("For every person you forward this email to, Microsoft will pay you £5. They can track it.", True),
    ("Please share this with everyone you know! A little girl is missing, it only takes a second.", True),
])
async def test_languages_and_families_table(body: str, expected: bool) -> None:
    flt, _ = make_filter()
    findings = await flt.check(make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,)))
    assert bool(findings) is expected, (findings, flt.score(flt.assess_text(
        v := make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,)), v.all_text)))


def test_normaliser_expands_emoji_texting_and_stretched_letters() -> None:
    flt, _ = make_filter()
    normal = flt._normalise("pleeeease snd dis 2 10 ppl 🍀🍀 or 💀 Łańcuszek ŞI ţ")
    assert normal.startswith("please send this to 10 people luck luck or death")
    assert "lancuszek si t" in normal


async def test_anchor_prefilter_finds_what_a_full_scan_finds() -> None:
    """The Aho-Corasick anchors only skip sentences: every family a full scan of
    every sentence finds, the filter finds too (fixtures of every family and language)."""
    flt, _ = make_filter()
    for path in POSITIVES + NEGATIVES:
        view = view_of(path)
        text = view.all_text
        assessment = flt.assess_text(view, text)
        full: dict[str, list[str]] = {}
        for segment in sig.segments(text, flt._normalise):
            # a request addressed to one named person is not a request (the same rule as the filter's)
            addressed = bool(flt._families["addressed"].match(segment.normal))
            for family, regex in flt._families.items():
                if family in sig.LATE or (addressed and family in sig.REQUESTS):
                    continue
                if regex.match(segment.normal):
                    full.setdefault(family, []).append(sig.evidence_span(segment))
        assert assessment.families == full, path.name


# -- known letters (issue 18 item 2) ---------------------------------------------------------------

async def test_forward_of_known_letter_with_new_greeting_and_name_matches() -> None:
    flt, _ = make_filter()
    findings = await flt.check(view_of(DATA / "positive" / "near_duplicate_known_letter.eml"))
    assert findings and "'sick_child_donation'" in findings[0].reason


LETTER = ("Hello my dear friends, this is a message from the captain of the good ship Lollipop. A rare "
          "golden seagull has been seen above the harbour and the harbour master says that anybody who "
          "spots it before Sunday should write down the colour of its feet and the time of day, because "
          "the museum is building a record of every sighting for the town archive this spring.")


async def test_fingerprint_file_matches_without_the_text(tmp_path: Path) -> None:
    """A letter kept only as sampled hashes still matches a forward of it with a different greeting."""
    flt, _ = make_filter()
    line = lib.fingerprint_line("seagull", sig.words(flt._normalise(LETTER)))
    assert line is not None
    (tmp_path / "ours.fingerprints").write_text(f"# ours\n{line}\n", encoding="utf-8")
    for word in ("seagull", "lollipop", "harbour"):
        assert word not in line.split("\t", 1)[1]
    with_library, _ = make_filter(extra_library_dirs=[str(tmp_path)])
    forward = LETTER.replace("Hello my dear friends", "Hiya Kayla!! read this xx").replace("Sunday", "Friday")
    view = make_view(forward, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = with_library.assess_text(view, view.all_text)
    assert assessment.known is not None and assessment.known.name == "seagull" and assessment.similarity > 0.6
    assert flt.assess_text(view, view.all_text).known is None


def test_bad_fingerprint_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.fingerprints").write_text("oops no tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.fingerprints: line 1: expected"):
        make_filter(extra_library_dirs=[str(tmp_path)])


def test_shipped_fingerprints_are_hashes_of_train_rows_only() -> None:
    path = LISTS / "known_chain_letters" / "snopes_train.fingerprints"
    letters = lib.parse_fingerprints(path)
    assert len(letters) >= 50
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, hexes = line.split("\t")
            assert all(len(h) == 8 and int(h, 16) % lib.SAMPLE == 0 for h in hexes.split(","))
    snopes = CORPORA / "snopes-urban-legends-hoaxes" / "snopes_legends.csv"
    if not snopes.is_file():
        pytest.skip(f"corpus {snopes} is absent")
    with open(snopes, newline="", encoding="utf-8") as handle:
        split = {f"snopes-{r['source']}-{r['source_index']}": r["split"] for r in csv.DictReader(handle)}
    assert {split[letter.name] for letter in letters} == {"train"}


# -- real warnings stay deliverable; hoaxes a parent forwards are held (issue 18 item 4) ----------

PARENT = "dawn.fletcher@example.com"
OFFICE = f"office@{SCHOOL_DOMAIN}"


async def test_hoax_a_parent_asks_the_school_to_circulate_is_held_as_a_hoax() -> None:
    flt, settings = make_filter()
    raw = (DATA / "positive" / "parent_asks_school_to_circulate_hoax.eml").read_bytes()
    view = make_view(raw, mail_from=PARENT, rcpt_to=(OFFICE,))
    findings = await flt.check(view)
    verdict = Policy(settings).decide(view, findings)
    assert verdict.actions == {OFFICE: Action.HOLD}
    assert findings[0].reason.startswith("Looks like a hoax that asks to be passed on")


@pytest.mark.parametrize("name, mail_from, rcpt", [
    ("school_it_virus_alert", f"it@{SCHOOL_DOMAIN}", f"all-staff@{SCHOOL_DOMAIN}"),
    ("it_phishing_warning", f"it@{SCHOOL_DOMAIN}", f"all-staff@{SCHOOL_DOMAIN}"),
    ("safeguarding_alert_parents", f"dsl@{SCHOOL_DOMAIN}", "parent@example.com"),
    ("pta_quiz_night_share", f"pta@{SCHOOL_DOMAIN}", "parent@example.com"),
    ("pta_fundraiser", f"pta@{SCHOOL_DOMAIN}", "parent@example.com"),
    ("newsletter_share_with_friends", OFFICE, "parent@example.com"),
    ("esafety_lesson_chain_letters", f"r.clarke@{SCHOOL_DOMAIN}", f"y7-tutors@{SCHOOL_DOMAIN}"),
    ("lesson_hoax_examples_polish", f"m.kowalska@{SCHOOL_DOMAIN}", f"eal-team@{SCHOOL_DOMAIN}"),
    ("parent_real_police_appeal", "sam.turner@example.com", OFFICE),
])
async def test_real_warnings_appeals_and_lessons_are_delivered(name: str, mail_from: str, rcpt: str) -> None:
    flt, settings = make_filter()
    view = make_view((DATA / "negative" / f"{name}.eml").read_bytes(), mail_from=mail_from, rcpt_to=(rcpt,))
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.actions == {rcpt: Action.PASS}, verdict.findings


async def test_police_appeal_is_discounted_only_for_its_official_link() -> None:
    """The same appeal without the police link is a missing-child chain: held."""
    flt, _ = make_filter()
    raw = (DATA / "negative" / "parent_real_police_appeal.eml").read_text(encoding="utf-8")
    without = raw.replace("https://www.avonandsomerset.police.uk/news/2024/03/appeal-to-find-missing-jordan/",
                          "(sorry, I lost the link)")
    with_link = make_view(raw.encode(), mail_from="sam.turner@example.com", rcpt_to=(OFFICE,))
    no_link = make_view(without.encode(), mail_from="sam.turner@example.com", rcpt_to=(OFFICE,))
    assert await flt.check(with_link) == []
    assert flt.assess_text(no_link, no_link.all_text).discount == 1.0
    assert any("police.uk" in f for f in flt.assess_text(with_link, with_link.all_text).fired)


# -- bulk is off in `scan`, and scan says so (issue 18 item 3) -------------------------------------

async def test_signals_off_without_seen_store(tmp_path: Path) -> None:
    without, _ = make_filter(seen=None)
    assert without.signals_off == ("chain_letter.bulk",)
    store = await QuarantineStore(tmp_path / "q").open()
    try:
        with_store, _ = make_filter(seen=store.seen)
        assert with_store.signals_off == ()
    finally:
        await store.close()


def test_scan_json_names_the_signals_that_are_off(tmp_path: Path) -> None:
    """`schoolgate scan` has no seen store: its JSON says bulk is off; the rest of the contract is unchanged."""
    site = tmp_path / "site.toml"
    site.write_text(f'[school]\nname = "Hillside Academy"\ndomains = ["{SCHOOL_DOMAIN}"]\n'
                    '[quarantine]\npath = "q"\n[web]\nenabled = false\n'
                    '[filters]\nchain = ["sender_list", "attachments", "chain_letter"]\n', encoding="utf-8")
    eml = DATA / "positive" / "luck_fwd_fwd_texting.eml"
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "scan", "--config", str(site), str(eml),
                             "--mail-from", PUPIL, "--rcpt", FRIEND], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"id", "action", "recipients", "findings", "failures", "signals_off"}
    assert out["signals_off"] == ["chain_letter.bulk"]
    assert out["action"] == "hold" and out["findings"][0]["code"] == CODE


# -- the pupil's notice (issue 18 item 5): end to end through SMTP, the hold and the next hop -----

PUPILS = f"pupils.{SCHOOL_DOMAIN}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "check_seconds": 3600}


async def _held_chain_letter_notices(review_gateway, sink, **chain_options) -> list:
    gw = await review_gateway(notify=NOTIFY, filters={"chain": ["chain_letter"]},
                              directory={"domain_roles": {PUPILS: "student"}}, chain_letter=chain_options)
    pupil = f"jade.w@{PUPILS}"
    raw = make_message("fwd dis 2 10 ppl in 5 mins or u will hav bad luck 4 10 yrs. dont break the chain!!",
                       subject="FW: read this", sender=pupil, to=f"kayla.m@{PUPILS}")
    code, _ = await gw.send(raw, mail_from=pupil, rcpt_tos=[f"kayla.m@{PUPILS}"])
    assert code == 250
    await gw.gateway.notifier.drain()
    out = []
    for message in sink.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        if parsed["X-Schoolgate-Notice"]:
            out.append(parsed)
    return out


async def test_pupil_sender_gets_the_configured_kind_notice(review_gateway, sink) -> None:
    notices = await _held_chain_letter_notices(
        review_gateway, sink, student_notice="Chain letters are never true, Jade's school says. Delete it.")
    [notice] = notices
    assert notice["X-Schoolgate-Notice"] == "sender_student" and notice["To"] == f"jade.w@{PUPILS}"
    text = notice.get_body(("plain",)).get_content()
    assert "Chain letters are never true, Jade's school says. Delete it." in text
    assert "/request/" in text  # the pupil may still ask a member of staff to release it


async def test_notify_student_sender_false_sends_no_chain_letter_notice(review_gateway, sink) -> None:
    assert await _held_chain_letter_notices(review_gateway, sink, notify_student_sender=False) == []


# -- the reviewer's "this is a chain letter: add to the library" (issue 18 item 2) ----------------

async def test_reviewer_adds_a_held_message_to_the_library_audited(review) -> None:
    """A letter the filter did not know: held (for its attachment), a reviewer adds it from the
    review page; the fingerprint (no text) is audited and the filter matches the next copy."""
    body = LETTER + " Send this to everyone in your form before Friday."
    mid = await review.hold(subject="FW: the seagull", body=body, sender=PUPIL, rcpts=(FRIEND,))
    client = await review.login("reviewer")
    try:
        page = await client.get(f"/m/{mid}")
        assert "Add to the library" in page.text
        token = csrf_of(page.text)
        refused = await client.post(f"/m/{mid}/chain-letter", data={"csrf": token, "reason": ""})
        assert refused.status_code == 400
        added = await client.post(f"/m/{mid}/chain-letter", data={"csrf": token, "reason": "seagull chain in Y8"})
        assert added.status_code == 303 and added.headers["location"].endswith("done=library")
    finally:
        await client.aclose()
    library = Path(review.gw.settings.quarantine.path) / "known_chain_letters" / "reviewed.fingerprints"
    stored = library.read_text(encoding="utf-8")
    assert f"reviewed-{mid}\t" in stored and "seagull" not in stored and "harbour" not in stored
    audit = await review.store.run(review.store.audit_sync, mid)
    assert any(r["action"] == "chain_letter_library_add" and r["reason"] == "seagull chain in Y8" for r in audit)
    settings = make_settings(quarantine={"path": str(review.gw.settings.quarantine.path)},
                             filters={"chain": ["chain_letter"]})
    flt = ChainLetterFilter(settings.filter_options["chain_letter"], FilterContext(settings, None))
    again = make_view(LETTER.replace("Hello my dear friends", "hey guys"), mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = flt.assess_text(again, again.all_text)
    assert assessment.known is not None and assessment.known.name == f"reviewed-{mid}"


# Written for this test: a forwarded real IT warning, and the same text as a hoax.
IT_WARNING = ("Dear staff, a phishing email claiming to be from the payroll team is going round today. Do not "
              "click the link or enter your password. Heads of department, please forward this warning to all "
              "your teams. If you clicked, change your password and report it to the IT help desk straight away.")


async def test_a_real_warning_that_says_where_to_report_it_is_discounted_not_a_hoax_that_threatens() -> None:
    flt, _ = make_filter(library_dir="__none__")
    view = make_view(IT_WARNING, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = flt.assess_text(view, view.all_text)
    # "forward this warning to all your teams" and a danger score like a chain letter (4.75);
    # naming the help desk halves it (x0.8 more for "phishing", an e-safety word)
    assert "report" in assessment.families and assessment.content >= 4 and assessment.discount <= 0.5
    assert "because it says where to report it" in " ".join(assessment.fired)
    assert await flt.check(view) == []
    # a threat makes it a chain letter whatever channel it names
    hoax = IT_WARNING + " Forward it to 10 people in the next hour or you will have bad luck for 7 years."
    view = make_view(hoax, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(view, view.all_text).discount > 0.5
    [finding] = await flt.check(view)
    assert finding.code == "CHAIN_LETTER"


def test_no_learned_score_on_a_dozen_words() -> None:
    flt, _ = make_filter(library_dir="__none__")
    short = "Good luck in your exams tomorrow! Pass it on to the rest of the team."
    view = make_view(short, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(view, view.all_text).model_score == 0.0  # fewer than model_min_words
    flt, _ = make_filter(library_dir="__none__", model_min_words=0)
    assert flt.assess_text(view, view.all_text).model_score > 0.0  # computed when allowed


# -- requests in other words (issue 18, second pass): written for these tests -------------------------

@pytest.mark.parametrize("sentence, family", [
    ("Make sure everyone you know hears about this before Friday.", "pass_on"),
    ("Let all your friends know straight away.", "pass_on"),
    ("The more people who know about this the better.", "pass_on"),
    ("Please don't let this die.", "pass_on"),
    ("Warn everyone in your contacts.", "pass_on_count"),
    ("Tell everyone!", "pass_on"),
    ("This needs to be shared.", "pass_on"),
    ("Every parent needs to know about this.", "pass_on"),
    ("I urge you all to forward it.", "pass_on"),
    ("Copy this onto your story for one hour.", "pass_on_count"),
    ("This message has to reach 12 people by midnight.", "pass_on_count"),
    ("Everyone who shares & comments gets a voucher.", "pass_on_count"),
    ("I'm sending this to everyone I know.", "pass_on"),
    # batch 11: the audience named with any verb of telling, and the letter counting its own forwards
    ("Let the people on your mailing list know.", "pass_on"),
    ("Please notify everyone you correspond with.", "pass_on"),
    ("Alert all of your colleagues immediately.", "pass_on"),
    ("Each time this message gets shared, the charity is paid.", "pass_on"),
    ("Sharing this post could help bring him home.", "pass_on"),
])
def test_requests_in_other_words_are_found(sentence: str, family: str) -> None:
    flt, _ = make_filter(library_dir="__none__")
    view = make_view(sentence, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert family in flt.assess_text(view, view.all_text).families


@pytest.mark.parametrize("sentence", [
    "Hi everyone, the trip to the museum is on Friday.",
    "Thank you to everyone who came to the concert.",
    "I urge you to read the attached policy before the meeting.",
    "You have to tell everybody that I'm fine, she said.",
    "Please make sure you bring a packed lunch.",
    "Add office@hillside.sch.uk to your address book so our letters reach you.",
    "The virus sends itself to everyone in your address book.",
    "We advise your child to bring a coat.",
    "Every time the page is refreshed the counter goes up.",
    "Sending the form back by Friday will help us plan.",
])
def test_ordinary_sentences_ask_nothing(sentence: str) -> None:
    flt, _ = make_filter(library_dir="__none__")
    view = make_view(sentence, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert not set(sig.REQUESTS) & set(flt.assess_text(view, view.all_text).families)


async def test_like_and_share_alone_is_a_plain_request_a_giveaway_keeps_its_reward() -> None:
    flt, _ = make_filter(library_dir="__none__", model=False)
    pta = "The PTA raffle is on Friday, tickets are a pound. Like and share our post!"
    view = make_view(pta, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = flt.assess_text(view, view.all_text)
    assert "pass_on" in assessment.families and "pass_on_count" not in assessment.families
    assert await flt.check(view) == []
    giveaway = ("A shop is giving away 100 free phones to everyone who shares this before midnight. "
                "Like and share!")
    [finding] = await flt.check(make_view(giveaway, mail_from=PUPIL, rcpt_to=(FRIEND,)))
    assert "promised reward" in finding.reason


# -- the method: every cue is written for a family, with an own example (issue 18, third pass) --

CUE_EXAMPLES = [tuple(part.strip() for part in line.split("|", 1))
                for line in (DATA / "cue_examples.txt").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]


def _own_texts() -> list[str]:
    """Every text written for schoolgate: fixtures, cue examples, model examples, known letters."""
    texts = [view_of(path).all_text for path in (*POSITIVES, *NEGATIVES)]
    texts += [sentence for _, sentence in CUE_EXAMPLES]
    for name in ("positives.txt", "negatives.txt"):
        texts += [line for line in (LISTS / "chain_letter_examples" / name).read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.startswith("#")]
    texts += [path.read_text(encoding="utf-8") for path in sorted((LISTS / "known_chain_letters").glob("*.txt"))]
    return texts


@pytest.mark.parametrize("family,sentence", CUE_EXAMPLES, ids=[f"{f}:{s[:30]}" for f, s in CUE_EXAMPLES])
def test_each_cue_example_is_found_as_its_family(family: str, sentence: str) -> None:
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert family in {f for f, _ in flt.matched_cues(sentence)}


def test_every_cue_has_an_own_example() -> None:
    """A cue pattern that none of our own texts matches was fitted to a corpus row, not written
    for a family: the dev folds carved from that corpus could not validate it (issue 18)."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    seen: set[tuple[str, int]] = set()
    for text in _own_texts():
        seen |= flt.matched_cues(text)
    missing = [f"{family}: {pattern[:80]}" for family, patterns in flt.cue_patterns.items()
               for index, pattern in enumerate(patterns) if (family, index) not in seen]
    assert not missing, "cues with no own example (add one to tests/data/chain_letters/cue_examples.txt):\n" + \
        "\n".join(missing)


@pytest.mark.parametrize("name", ["urdu_parent_message", "b6_parent_pass_to_teacher", "b6_polish_parent_to_teacher"])
async def test_a_request_to_pass_a_note_to_one_named_teacher_is_not_a_chain(name: str) -> None:
    """'ye message uski class teacher Ms Evans ko aage bhej dein': passing a note to one
    person asks for no spread, whatever the learned score (even with no floor for it)."""
    flt, _ = make_filter(model_alone_minimum=0.0, model_minimum=0.0)
    view = view_of(DATA / "negative" / f"{name}.eml")
    assessment = flt.assess_text(view, view.all_text)
    assert not {"pass_on", "pass_on_count"} & set(assessment.families)
    assert await flt.check(view) == []


async def test_the_same_request_to_everyone_is_still_a_request() -> None:
    flt, _ = make_filter(library_dir="__none__", model=False)
    body = "Please pass this on to his class teacher Mr Reid. Send this to 10 people or you will have bad luck."
    view = make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert "pass_on_count" in flt.assess_text(view, view.all_text).families
    assert await flt.check(view)


@pytest.mark.parametrize("path", NEGATIVES, ids=[p.stem for p in NEGATIVES])
async def test_look_alikes_pass_by_structure_not_by_the_model_floor(path: Path) -> None:
    """With the plain-request floor of the learned score taken away (model_alone_minimum at
    model_minimum), every deliverable look-alike still passes: the PTA raffle (0.56) and the
    drop-off notice (0.75) because they are the school's own dated, signed notices, the Urdu
    parent because the note is for one named teacher."""
    flt, _ = make_filter(model_alone_minimum=0.35)
    assert await flt.check(view_of(path)) == []


async def test_a_first_hand_notice_is_discounted_a_forward_of_it_is_not() -> None:
    flt, _ = make_filter(library_dir="__none__")
    path = DATA / "negative" / "pta_like_and_share_raffle.eml"
    view = view_of(path)
    first_hand = flt.assess_text(view, view.all_text)
    assert first_hand.discount == 0.5 and any("notice" in f for f in first_hand.fired)
    body = path.read_bytes().split(b"\n\n", 1)[1].decode()
    forwarded = make_message(body, subject="FW: FW: raffle", sender=PUPIL, to=FRIEND)
    view = make_view(forwarded, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(view, view.all_text).discount == 1.0
    # and a threat is never a notice, dated or not
    threat = ("Dear parents, on Friday 18 December at 3pm in the school hall: send this to 10 people "
              "or you will have bad luck. Mrs Ward, Headteacher")
    view = make_view(threat, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(view, view.all_text).discount == 1.0


# Written for this test (batch 10's register): a tale whose only request is its last line.
TALE = ("A famous football manager was asked at a dinner what the secret of life was. He stood up and said "
        "that every young person today has forgotten what their grandparents gave up for them, that nobody "
        "says please or thank you any more, and that a country that forgets its old people has no future. The "
        "whole room stood and clapped for ten minutes.")


async def test_a_letter_that_ends_on_its_plain_request_needs_no_second_lever() -> None:
    """A hoax is owned by nobody, so nothing follows its closing "Pass it on."; the same words with
    the request first and the tale after it (the same bag of words for the model) are not held on a
    plain request and a middling learned score. The floor for the closing request is model_minimum."""
    flt, _ = make_filter(library_dir="__none__")
    closing = make_view(TALE + " Pass it on.", mail_from=PUPIL, rcpt_to=(FRIEND,))
    opening = make_view("Pass it on. " + TALE, mail_from=PUPIL, rcpt_to=(FRIEND,))
    ends, starts = flt.assess_text(closing, closing.all_text), flt.assess_text(opening, opening.all_text)
    assert abs(ends.model_score - starts.model_score) < 0.05
    assert flt.options.model_minimum <= ends.model_score < flt.options.model_alone_minimum
    assert any("learned score" in f for f in ends.fired)
    assert not any("learned score" in f for f in starts.fired)
    # a notice that ends on its request is still a plain request with a low learned score
    newsletter = view_of(DATA / "negative" / "b10_newsletter_ends_share.eml")
    assert await flt.check(newsletter) == []


@pytest.mark.parametrize("signoff", [
    "Sent from my iPhone", "Get Outlook for Android", "Sent from Yahoo Mail for iPhone",
    "Sent from my Samsung Galaxy smartphone.", "Sent from Mail for Windows", "Wysłane z iPhone'a",
    "Trimis de pe iPhone-ul meu", "Sent from my Huawei phone"])
async def test_a_device_signoff_under_the_closing_request_is_not_the_letters_last_sentence(signoff: str) -> None:
    """The phone's line under "Pass it on." is nobody's words: the letter still ends on its ask and
    gets the closing floor; a real sign-off (a name) still ends the letter as before."""
    flt, _ = make_filter(library_dir="__none__")
    bare = make_view(TALE + " Pass it on.", mail_from=PUPIL, rcpt_to=(FRIEND,))
    phone = make_view(TALE + " Pass it on.\n\n" + signoff + "\n", mail_from=PUPIL, rcpt_to=(FRIEND,))
    signed = make_view(TALE + " Pass it on.\n\nSee you on Saturday at the match, Mr Hughes\n",
                       mail_from=PUPIL, rcpt_to=(FRIEND,))
    ends, with_phone = flt.assess_text(bare, bare.all_text), flt.assess_text(phone, phone.all_text)
    assert any("learned score" in f for f in with_phone.fired)
    assert any("learned score" in f for f in ends.fired)
    assert abs(flt.score(with_phone)[0] - flt.score(ends)[0]) < 0.5  # the model reads the words a little
    assert not any("learned score" in f for f in flt.assess_text(signed, signed.all_text).fired)


def test_signoff_lines_are_whole_lines_only() -> None:
    """A sentence that merely mentions a phone is the writer's own ("I sent it from my phone to everyone")."""
    pattern = sig.compile_signoffs(sig.read_list(LISTS / "chain_letter_signoff.txt"), "signoffs")
    normalise = sig.Normaliser({})
    segs = sig.segments("Pass it on. I sent this from my phone to all my friends.", normalise)
    assert sig.last_own_segment(segs, pattern) == 1
    segs = sig.segments("Pass it on.\n\nSent from my iPhone\n\nGet Outlook for iOS", normalise)
    assert sig.last_own_segment(segs, pattern) == 0


@pytest.mark.parametrize("sentence", [
    "Please inform others.", "Tell all your pals!!", "Share with all.", "Let others know.",
    "Please send to friends and family.", "Email this to the people you care about.", "Pass on please!!",
    "Make as many people aware as you can.", "Please make sure this gets to your daughters.",
    "Keep passing it on.", "Put this on your Facebook today.", "Forward this warning among your contacts."])
def test_a_request_is_an_imperative_with_an_audience_whatever_the_words(sentence: str) -> None:
    """Sixth pass: the request as structure, a verb of passing on or telling that opens the sentence
    and an audience ({AUDIENCE}), not one phrase per wording (batch 15 was written first)."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert {"pass_on", "pass_on_count"} & {family for family, _ in flt.matched_cues(sentence)}


@pytest.mark.parametrize("sentence", [
    "Tell the people you love what they mean to you.", "I told all my friends about the party.",
    "She shared a flat with friends.", "My mum sent it to the office."])
def test_telling_someone_something_else_is_not_a_request_to_pass_it_on(sentence: str) -> None:
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert not {"pass_on", "pass_on_count"} & {family for family, _ in flt.matched_cues(sentence)}


@pytest.mark.parametrize("family, sentence", [
    ("hoax", "The following is from the Sheriff's Department in our county."),
    ("hoax", "This came from a police officer."), ("hoax", "The FBI has issued a warning about it."),
    ("hoax", "McAfee and Norton have verified this virus."),
    ("hoax", "A friend of mine who works at the hospital confirmed this."),
    ("hoax", "This really happened."), ("hoax", "Here is a true account from a doctor."),
    ("pass_on", "Kindly forward."), ("pass_on", "I'd appreciate you passing this on."),
    ("pass_on", "This needs to go to everyone."), ("pass_on", "Everyone should receive this."),
    ("pass_on", "Please let everyone on your list know."), ("pass_on", "Pass the news on."),
    ("pass_on", "Do not delete this without forwarding it."),
    ("fear", "The card is soaked in something and you feel dizzy and pass out."),
    ("fear", "Gang members drive with their headlights off."),
    ("cause", "God bless our troops."), ("cause", "If you love your country, read this."),
    ("guilt", "Forward this if you agree. If not, just delete it."), ("guilt", "No one will know you did."),
    ("hoax", "The police want everyone to know about this."), ("hoax", "Johns Hopkins has released this information."),
    ("hoax", "This was sent to me by a friend who is a police officer."), ("guilt", "You have been warned."),
    ("guilt", "Wake up people!")])
def test_the_seventh_pass_families_are_found_in_other_words(family: str, sentence: str) -> None:
    """Seventh pass (batch 16 written first): the warning attributed to an authority as its source or
    its witness, the claim of truth, the polite forms of the plain request and the letter's own reach,
    the classic scares, the patriot's cause and the dare."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert family in {found for found, _ in flt.matched_cues(sentence)}


@pytest.mark.parametrize("sentence", [
    "The museum trip really happened even with the snow.", "Every family should receive the consent form.",
    "The police station is next to the library.", "The following is from our head of year.", "This letter is from the PTA.",
    "If you do not want the leaflet, just leave it on the desk.", "Our car's headlights were fixed."])
def test_the_seventh_pass_families_need_their_own_shape(sentence: str) -> None:
    """The same words in an ordinary school sentence are not the family: a trip that really happened,
    the form every family should receive, an authority named without being the letter's source."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert not {"hoax", "pass_on", "pass_on_count", "fear", "guilt"} & {f for f, _ in flt.matched_cues(sentence)}


async def test_an_authority_as_the_source_is_a_lever_a_parent_linking_the_real_appeal_is_delivered() -> None:
    """A forward whose source is "a police officer" and which asks plainly is held; a parent who says
    the same of a real appeal and links to it (b16_parent_came_from_police_link) is discounted."""
    flt, _ = make_filter(library_dir="__none__")
    held = view_of(DATA / "positive" / "b16_sheriff_source_card_pass_along.eml")
    linked = view_of(DATA / "negative" / "b16_parent_came_from_police_link.eml")
    assert "hoax" in flt.assess_text(held, held.all_text).families
    assert await flt.check(held)
    assert "hoax" in flt.assess_text(linked, linked.all_text).families
    assert await flt.check(linked) == []


def _trailing_lines() -> "re.Pattern[str] | None":
    """The device lines and a person's sign-offs, compiled as the filter compiles them."""
    return sig.compile_signoffs(
        (*sig.read_list(LISTS / "chain_letter_signoff.txt"),
         *(sig.expand_signature(p) for p in sig.read_list(LISTS / "chain_letter_signature.txt"))), "trailing")


@pytest.mark.parametrize("signature", [
    "Love,\nAuntie Pat", "xx Mum", "Thanks,\nKaren x", "God bless,\nNan", "Take care girls x",
    "Love you all, Nanna Jean", "Cheers,\nDave", "Regards\nSteve", "xx", "Pozdrawiam,\nBasia",
    "Buziaki,\nciocia Ela", "Cu drag,\ntanti Maria", "Pupici,\nmama", "Allah hafiz,\nKhala"])
def test_a_persons_signature_under_the_closing_request_is_not_the_letters_last_sentence(signature: str) -> None:
    """Issue 18's weakness left by the fifth pass: a hoax forwarded with the forwarder's name under
    it ("love, Auntie Pat") still ends on its ask."""
    segs = sig.segments("The whole room stood and clapped. Pass it on.\n\n" + signature + "\n", sig.Normaliser({}))
    assert sig.last_own_segment(segs, _trailing_lines()) == 1


@pytest.mark.parametrize("signature", [
    "Kind regards,\nMrs A Carter, Headteacher", "Thank you,\nHillside PTA", "Thanks,\nRavi\nIT Support",
    "Best wishes,\nDan Hughes, Club Secretary", "Mr Owen, Year 3", "Love, call me on 07700 900123",
    "Thanks, Gemma (Y4 parent)", "School Nurse Team", "See you on Saturday at the match, Mr Hughes"])
def test_a_signature_with_a_title_role_or_contact_still_ends_the_letter(signature: str) -> None:
    """A notice signs with who it is from and how to reach them: that is the notice's own last
    sentence, so a school's request never counts as its closing word because of its signature."""
    segs = sig.segments("The fair is on Saturday. Please share this.\n\n" + signature + "\n", sig.Normaliser({}))
    assert sig.last_own_segment(segs, _trailing_lines()) == len(segs) - 1


async def test_a_forward_ending_on_its_request_under_a_name_is_held_the_same_note_first_hand_is_not() -> None:
    """Batch 15's tale ends "Please share this." over "Thanks, Karen x" and asks with no lever. As a
    forward it ends on its request (a lever of its own, `closing_request`); the same words sent first
    hand, a parent's own signed note, get no such weight (b15_parent_cake_sale_thanks_jo asks so)."""
    flt, _ = make_filter(library_dir="__none__")
    raw = (DATA / "positive" / "b15_teacher_marbles_story_karen.eml").read_text(encoding="utf-8")
    forwarded = make_view(raw.encode(), mail_from=PUPIL, rcpt_to=(FRIEND,))
    first_hand = make_view(raw.replace("Subject: Fw: a lovely story", "Subject: a lovely story").encode(),
                           mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert "it ends on its request" in flt.assess_text(forwarded, forwarded.all_text).fired
    assert await flt.check(forwarded)
    assert "it ends on its request" not in flt.assess_text(first_hand, first_hand.all_text).fired
    assert await flt.check(first_hand) == []


async def test_a_known_hoax_a_parent_asks_the_school_to_circulate_is_held_as_a_known_hoax() -> None:
    """Issue 18 item 4: the parent's own covering note, a new file name and no forward markers; the
    library still knows the hoax under it, and the reviewer is told which one."""
    flt, settings = make_filter()
    letter = "\n".join(line for line in (LISTS / "known_chain_letters" / "virus_warning_delete_file.txt")
                       .read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    body = ("Dear Mrs Evans, my sister got this at work and I think every parent at Hillside should see it. "
            "Could the office please send it round to all the parents today? Thank you, Sam Turner (Year 4)\n\n"
            + letter.replace("School Photos 2024", "Sports Day Photos"))
    view = make_view(body, mail_from=PARENT, rcpt_to=(OFFICE,))
    findings = await flt.check(view)
    assert Policy(settings).decide(view, findings).actions == {OFFICE: Action.HOLD}
    assert findings[0].reason.startswith("Looks like the known hoax 'virus_warning_delete_file' that asks to be passed on")


def test_a_running_filter_sees_a_reviewers_addition_without_a_restart(tmp_path: Path) -> None:
    """Issue 18 item 2: the gateway's filter, built before the reviewer's click, matches the next copy."""
    settings = make_settings(quarantine={"path": str(tmp_path / "q")}, filters={"chain": ["chain_letter"]})
    flt = ChainLetterFilter(settings.filter_options["chain_letter"], FilterContext(settings, None))
    again = make_view(LETTER.replace("Hello my dear friends", "hiya all"), mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(again, again.all_text).known is None
    raw = make_message(LETTER, subject="FW: the seagull", sender=PUPIL, to=FRIEND)
    assert lib.add_reviewed_message(tmp_path / "q", "m42", raw) is not None
    known = flt.assess_text(again, again.all_text).known
    assert known is not None and known.name == "reviewed-m42"


@pytest.mark.parametrize("family, sentence", [
    ("cause", "In the hope that this gets back to her family, please send it on."),
    ("cause", "Maybe this will reach him one day."), ("cause", "So that this photo gets back to his parents."),
    ("cause", "We want to see how many countries this message can reach."),
    ("cause", "We are trying to find out how far one email can go in a week."),
    ("guilt", "This isn't a chain message, I promise."),
    ("guilt", "If you don't send this to at least ten friends, that's fine."),
    ("guilt", "There is no curse attached to this one."),
    ("guilt", "If this touched your heart, send it to someone you love."),
    ("guilt", "If this message has blessed you, share it.")])
def test_the_eighth_pass_families_are_found_in_other_words(family: str, sentence: str) -> None:
    """Eighth pass (batch 18 written first): the spread with a goal of its own (to reach one person,
    the e-mail "experiment"), the letter that disowns its lever and asks anyway, and the feel-good
    forward's condition."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert family in {found for found, _ in flt.matched_cues(sentence)}


@pytest.mark.parametrize("sentence", [
    "Nothing bad will happen if you don't pass one on.", "I hope this email finds you well.",
    "Hopefully this gets to you before Friday.", "Hopefully it gets back to its owner before Christmas.",
    "If you don't send the form back, that's fine, we will ring you.",
    "In our science lesson we will see how far a paper plane can travel.",
    "This term we want to see how many countries our class can hear from.",
    "If this made you want to join, come to room 4 on Tuesday.", "There is no charge attached to this trip.",
    "Help the children find their coats before home time.", "Maybe this will reach the office before lunch."])
def test_the_eighth_pass_families_need_their_own_shape(sentence: str) -> None:
    """The same words in a school's own sentences are no lever: a lesson's "nothing bad will happen", a
    lost teddy that should get back to its owner, a form sent back, a geography postcard project."""
    flt, _ = make_filter(library_dir="__none__", model=False)
    assert not {"cause", "guilt", "pass_on", "pass_on_count"} & {f for f, _ in flt.matched_cues(sentence)}


async def test_a_forward_ending_on_its_request_with_a_lever_is_held_without_the_learned_voice() -> None:
    """Eighth pass (b18_jokes_*, written before the change): a joke list that ends "If this made you
    laugh, send it on to someone who needs a laugh today." sounds nothing like the scares the model
    learned (its learned score is under the floor), but it is a forward that ends on its request and
    pulls a lever: held. The same jokes sent first hand, a pupil's own message, are not."""
    flt, _ = make_filter(library_dir="__none__")
    raw = (DATA / "positive" / "b18_jokes_send_to_someone_who_needs_a_laugh.eml").read_text(encoding="utf-8")
    forwarded = make_view(raw.encode(), mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = flt.assess_text(forwarded, forwarded.all_text)
    assert assessment.model_score < flt.options.model_minimum
    assert "it ends on its request" in assessment.fired
    assert await flt.check(forwarded)
    head, _, rest = raw.partition("---------- Forwarded message ---------\n")
    own = head.replace("Subject: FW: jokes lol", "Subject: jokes lol") + rest.split("\n\n", 1)[1]
    first_hand = make_view(own.encode(), mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert "it ends on its request" not in flt.assess_text(first_hand, first_hand.all_text).fired
    assert await flt.check(first_hand) == []
