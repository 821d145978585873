"""Offensive filter: categories, evasions, Scunthorpe safety, context, framing, and the policy's actions."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from filters.base import Action, Category, FilterContext, Role, Severity
from filters.offensive import OffensiveFilter, Options
from filters.policy import Policy
from tests.factories import CORPORA, make_message, make_settings, make_view

SCHOOL = "school.sch.uk"
PUPILS = f"pupils.{SCHOOL}"
STAFF = f"teacher@{SCHOOL}"
PUPIL = f"pupil@{PUPILS}"
PUPIL2 = f"other@{PUPILS}"
REPORT = f"report@{SCHOOL}"


@pytest.fixture(scope="module")
def flt() -> OffensiveFilter:
    # loaded once: the model takes a few seconds
    return OffensiveFilter(Options(), FilterContext(settings=None, directory=None))


@pytest.fixture(scope="module")
def settings():
    return make_settings(school={"domains": [SCHOOL, PUPILS], "reporting_addresses": [REPORT]},
                         directory={"domain_roles": {SCHOOL: "staff", PUPILS: "student"}})


def codes(flt: OffensiveFilter, text: str, role: Role = Role.STUDENT) -> set[str]:
    return {f.code for f in flt.analyse([text], role)}


@pytest.mark.parametrize("text, code", [
    ("you are a f*cking idiot", "OFFENSIVE_BULLYING"),
    ("you are a f*cking idiot", "OFFENSIVE_PROFANITY_STRONG"),
    ("fuuuuck this", "OFFENSIVE_PROFANITY_STRONG"),
    ("f u c k off", "OFFENSIVE_PROFANITY_STRONG"),
    ("f.u.c.k", "OFFENSIVE_PROFANITY_STRONG"),
    ("ｆｕｃｋ", "OFFENSIVE_PROFANITY_STRONG"),
    ("fu\u200bck", "OFFENSIVE_PROFANITY_STRONG"),
    ("sh1t happens", "OFFENSIVE_PROFANITY_MILD"),
    ("damn it", "OFFENSIVE_PROFANITY_MILD"),
    ("nobody likes you", "OFFENSIVE_BULLYING"),
    ("Everyone would be happier if you weren't here.", "OFFENSIVE_BULLYING"),
    ("you're so ugly", "OFFENSIVE_BULLYING"),
    ("ur a loser", "OFFENSIVE_BULLYING"),
    ("shut up you fat pig", "OFFENSIVE_BULLYING"),
    ("go kill yourself", "OFFENSIVE_BULLYING"),
    ("you can't sit with us", "OFFENSIVE_BULLYING"),
    ("I'm going to stab you after school", "OFFENSIVE_THREAT"),
    ("I know where you live", "OFFENSIVE_THREAT"),
    ("you're dead after school", "OFFENSIVE_THREAT"),
    ("all muslims are animals", "OFFENSIVE_HATE"),
    ("he is a f@ggot", "OFFENSIVE_HATE"),
    ("send me your nudes", "OFFENSIVE_SEXUAL"),
    ("I want to kill myself", "SAFEGUARDING_SELF_HARM"),
    ("i keep cutting myself", "SAFEGUARDING_SELF_HARM"),
    ("I don't want to be alive any more, I want to die", "SAFEGUARDING_SELF_HARM"),
    ("this is our little secret, don't tell your mum", "SAFEGUARDING_GROOMING"),
    ("send me a pic of you in your pyjamas", "SAFEGUARDING_GROOMING"),
    ("add me on snapchat so we can talk", "SAFEGUARDING_GROOMING"),
    ("I'll buy you a new phone", "SAFEGUARDING_GROOMING"),
    ("you are so mature for your age", "SAFEGUARDING_GROOMING"),
    ("the great replacement is real, join the race war", "SAFEGUARDING_EXTREMISM"),
    ("heil hitler 1488", "SAFEGUARDING_EXTREMISM"),
])
def test_detects(flt: OffensiveFilter, text: str, code: str) -> None:
    assert code in codes(flt, text)


@pytest.mark.parametrize("text", [
    "Scunthorpe United play Penistone on Saturday.",
    "Middlesex and Essex cricket; a fruit cocktail at the cockpit bar.",
    "Dick Whittington is the Christmas panto.",
    "The assassination of Archduke Franz Ferdinand: an analysis.",
    "The school therapist has grape juice.",
    "I want to cut my hair shorter.",
    "My fat cat is asleep.",
    "I'll shoot you an email about the trip.",
    "Please kill the process and restart the server.",
    "Nigella Lawson's recipe needs a pinch of spice.",
    "Thank you so much for the lovely afternoon.",
    "Homo sapiens evolved in Africa.",
    "Don't forget your PE kit tomorrow.",
    "Can you send me a photo of the permission slip?",
    "Who're the people coming to the meeting?",  # not "whore"
    "Directed by Sydney Pollack.",
    "Why wait until you're dead to donate?",
    "You're dead right about the timetable.",
    "We saw blue tits and a great tit at the feeder.",
    "I can't go on the trip on Friday.",
    "Your attention is drawn to the new timetable.",
])
def test_innocent_text_passes(flt: OffensiveFilter, text: str) -> None:
    assert codes(flt, text) == set()


@pytest.mark.parametrize("text, evidence", [
    ("Oi, you are a  L0SER!!", "you are a  L0SER"),
    ("what the f*ck", "f*ck"),
    ("F U C K", "F U C K"),
])
def test_evidence_is_the_original_span(flt: OffensiveFilter, text: str, evidence: str) -> None:
    spans = {e for f in flt.analyse([text], Role.STUDENT) for e in f.evidence}
    assert evidence in spans
    assert all(span in text for span in spans)


@pytest.mark.parametrize("text, severity", [
    ("damn", Severity.LOW), ("bastard", Severity.MEDIUM), ("fuck", Severity.HIGH)])
def test_profanity_severity_tiers(flt: OffensiveFilter, text: str, severity: Severity) -> None:
    (finding,) = flt.analyse([text], Role.STUDENT)
    assert finding.category is Category.PROFANITY and finding.severity is severity


@pytest.mark.parametrize("role, lowered", [(Role.STAFF, True), (Role.STUDENT, False)])
def test_educational_framing_lowers_staff_quotes(flt: OffensiveFilter, role: Role, lowered: bool) -> None:
    text = "History lesson plan: why the word nigger was used in the Jim Crow era and why it is a slur."
    (hate,) = [f for f in flt.analyse([text], role) if f.category is Category.HATE]
    assert (hate.severity is Severity.LOW) is lowered
    assert ("teaching or reporting" in hate.reason) is lowered


def test_framing_never_lowers_safeguarding(flt: OffensiveFilter) -> None:
    text = "Incident report: the pupil said 'I want to kill myself' in the lesson."
    (finding,) = [f for f in flt.analyse([text], Role.STAFF) if f.category is Category.SELF_HARM]
    assert finding.severity is Severity.CRITICAL


@pytest.mark.parametrize("text", [
    "what a loser lol, such a stupid idiot",  # insult words, not aimed at the reader
    "these people are the worst, absolutely the worst trash",
])
async def test_model_never_holds_alone(flt: OffensiveFilter, settings, text: str) -> None:
    # the texts are picked so that the model fires and no lexicon rule does
    view = make_view(text, mail_from=PUPIL2, rcpt_to=(PUPIL,), settings=settings)
    findings = await flt.check(view)
    assert [f.code for f in findings] == ["OFFENSIVE_MODEL_SCORE"], findings
    (model,) = findings
    assert model.severity is Severity.LOW and model.category is Category.PROFANITY
    assert model.score is not None and model.score >= 0.5
    assert Policy(settings).decide(view, findings).actions[PUPIL] is not Action.HOLD


def test_extra_lexicon_and_allowlist(tmp_path: Path) -> None:
    extra = tmp_path / "local.txt"
    extra.write_text("# our own\n[profanity high]\nzorkwit\n", encoding="utf-8")
    allow = tmp_path / "allow.txt"
    allow.write_text("twatling road\n", encoding="utf-8")
    own = OffensiveFilter(Options(extra_lexicons=[extra], extra_allowlists=[allow], model=False),
                          FilterContext(settings=None, directory=None))
    assert codes(own, "you zorkwit") >= {"OFFENSIVE_PROFANITY_STRONG"}
    assert codes(own, "We live on Twatling Road.") == set()
    assert "OFFENSIVE_PROFANITY_STRONG" in codes(own, "twat")


async def test_check_reads_subject_body_and_attachments(flt: OffensiveFilter, settings) -> None:
    raw = make_message("See attached.", subject="hello", sender=PUPIL2, to=PUPIL,
                       attachments=[("note.txt", "text/plain", b"nobody likes you, loser")])
    view = make_view(raw, mail_from=PUPIL2, rcpt_to=(PUPIL,), settings=settings)
    findings = await flt.check(view)
    assert "OFFENSIVE_BULLYING" in {f.code for f in findings}


# -- the shipped policy's actions for these findings --------------------------

@pytest.mark.parametrize("sender, rcpt, text, action", [
    (STAFF, f"head@{SCHOOL}", "Damn, the printer is broken again.", Action.PASS),
    (STAFF, f"head@{SCHOOL}", "Bloody hell, what a bastard of a day.", Action.PASS),
    (STAFF, f"head@{SCHOOL}", "This fucking printer.", Action.HOLD),
    (PUPIL2, PUPIL, "damn, forgot my homework", Action.TAG),
    (PUPIL2, PUPIL, "nobody likes you, everyone would be happier if you weren't here", Action.HOLD),
    ("stranger@example.com", PUPIL, "all muslims are animals", Action.HOLD),
    ("stranger@example.com", PUPIL, "you are a dumb slut", Action.HOLD),
    (PUPIL, STAFF, "I want to kill myself", Action.HOLD),
    ("stranger@example.com", PUPIL, "our little secret. add me on snapchat", Action.HOLD),
    (STAFF, f"head@{SCHOOL}", "History lesson plan: the word nigger in the Jim Crow era.", Action.TAG),
    (PUPIL, REPORT, "he keeps sending me this: 'nobody likes you, kill yourself'", Action.TAG),
    (STAFF, f"head@{SCHOOL}", "Thanks for organising the trip, everyone enjoyed it.", Action.PASS),
])
async def test_policy_actions(flt: OffensiveFilter, settings, sender: str, rcpt: str, text: str,
                              action: Action) -> None:
    view = make_view(text, mail_from=sender, rcpt_to=(rcpt,), settings=settings)
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.actions[rcpt] == action, verdict.as_dict()


@pytest.mark.parametrize("text, rcpt", [
    ("I want to kill myself", STAFF), ("I want to kill myself", REPORT)])
async def test_safeguarding_alerts_dsl(flt: OffensiveFilter, settings, text: str, rcpt: str) -> None:
    view = make_view(text, mail_from=PUPIL, rcpt_to=(rcpt,), settings=settings)
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert "dsl" in verdict.alerts


def test_normal_mail_is_not_held(flt: OffensiveFilter) -> None:
    """SpamAssassin ham (test split): nothing safeguarding, hardly anything held-worthy."""
    index = CORPORA / "spamassassin-public-corpus-sample" / "index.csv"
    if not index.exists():
        pytest.skip(f"corpora not found at {CORPORA}")
    with open(index, encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "test" and r["label"] == "ham"][:150]
    safeguarding = 0
    for row in rows:
        raw = (index.parent / row["path"]).read_bytes()
        view = make_view(raw.split(b"\n", 1)[1], mail_from="sender@example.org")
        safeguarding += any(f.safeguarding for f in flt.analyse([view.all_text], Role.EXTERNAL))
    assert safeguarding <= 1


def test_site_list_softens_a_shipped_word(tmp_path: Path) -> None:
    soft = tmp_path / "soft.txt"
    soft.write_text("[profanity low]\nbastard\n", encoding="utf-8")
    own = OffensiveFilter(Options(extra_lexicons=[soft], model=False), FilterContext(settings=None, directory=None))
    (finding,) = own.analyse(["bastard"], Role.STUDENT)
    assert finding.severity is Severity.LOW


def test_score_cache_is_safe_under_concurrent_eviction() -> None:
    """Threads sharing one filter with a tiny score cache: every message is scored
    while others evict. Before the fix a text found cached could be evicted before
    it was read (KeyError, so a filter failure and a 451); results must also be
    the same as scoring each message alone."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    shared = OffensiveFilter(Options(cache_size=3), FilterContext(settings=None, directory=None))
    alone = OffensiveFilter(Options(cache_size=0), FilterContext(settings=None, directory=None))
    sentences = [f"Message number {i} says you are a total loser and nobody likes you." if i % 3 == 0
                 else f"Reminder {i}: the trip to the museum leaves at nine, bring a packed lunch."
                 for i in range(24)]
    rng = random.Random(16)
    messages = [rng.sample(sentences, 4) for _ in range(400)]

    def result(flt: OffensiveFilter, texts: list[str]) -> list[tuple[str, Severity, tuple[str, ...], float | None]]:
        return sorted((f.code, f.severity, f.evidence, f.score) for f in flt.analyse(texts, Role.STUDENT))

    expected = [result(alone, m) for m in messages]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda m: result(shared, m), messages))  # re-raises a KeyError
    assert got == expected


def test_model_scores_match_sklearn() -> None:
    """The direct calibrated-linear product (issue 19) gives sklearn's predict_proba figures."""
    import numpy as np
    from filters.offensive import _ModelScorer

    scorer = _ModelScorer(0)
    texts = ["you are a stupid idiot", "the concert is on Wednesday at 6pm", "fuck off and die",
             "I will hurt you tomorrow", "great work on the history project", "x", ""]
    index = CORPORA / "jigsaw-toxic-sample-ibm" / "test_examples.csv"
    if index.exists():
        with open(index, encoding="utf-8", errors="replace") as handle:
            texts += [max(row, key=len)[:600] for row in list(csv.reader(handle))[1:300]]
    features = scorer._vectorizer.transform(texts)
    expected = scorer._model.predict_proba(features)[:, 1]
    assert np.allclose(scorer._predict(features), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("mail_from, rcpt, text, deep", [
    (STAFF, "parent@example.com", "The concert is on Wednesday at 6pm; tickets from the office.", False),
    (STAFF, PUPIL, "The concert is on Wednesday at 6pm; tickets from the office.", True),
    (PUPIL, "friend@example.com", "The concert is on Wednesday at 6pm; tickets from the office.", True),
    (STAFF, "parent@example.com", "What a loser, the referee was rubbish on Saturday.", True),  # a list hit
])
async def test_model_runs_for_pupils_and_where_the_lists_found_something(settings, mail_from, rcpt, text, deep):
    """Cheap first (issue 19): adults' ordinary mail skips the model; a pupil's mail, or a
    hit of the word lists, gets it."""
    own = OffensiveFilter(Options(cache_size=0), FilterContext(settings=None, directory=None))
    scored: list[int] = []
    score = own._scorer.scores
    own._scorer.scores = lambda texts: scored.append(len(texts)) or score(texts)  # counts, still scores
    await own.check(make_view(text, mail_from=mail_from, rcpt_to=(rcpt,), settings=settings))
    assert bool(scored) is deep
