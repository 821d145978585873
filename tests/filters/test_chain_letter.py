"""Chain-letter filter: school fixtures, texting style, similarity, bulk on the real store, options, corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

from filters.base import Action, Category, FilterContext, Severity
from filters.chain_letter import CODE, ChainLetterFilter
from filters.policy import Policy
from quarantine.store import QuarantineStore
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_message, make_settings, make_view

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
    # content (pass-on with a count) but not enough on its own to reach the threshold
    body = ("Hey guys please send this to 10 people, we are trying to see how far a message can travel "
            "around our school before the end of term, add your form name at the bottom and keep it going "
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
    flt, _ = make_filter(high_threshold=6.0)
    strong = ("fwd dis 2 10 ppl in 5 mins or ur mum will die 2nite. dont break the chain. "
              "it really works, not a joke!!")
    weak = "Send this to 10 people within 1 hour or you will have bad luck."
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
