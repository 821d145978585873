"""Offensive filter: categories, evasions, Scunthorpe safety, context, framing, and the policy's actions."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from filters.base import Action, Category, FilterContext, Role, Severity
from filters.offensive import Audience, OffensiveFilter, Options
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
    ("you piece of sh1t", "OFFENSIVE_PROFANITY_MILD"),  # mild words count when aimed
    ("damn you", "OFFENSIVE_PROFANITY_MILD"),
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
    # grooming needs an adult or outsider writing to a pupil (issue 17): the rest read as a pupil's
    role = Role.EXTERNAL if code == "SAFEGUARDING_GROOMING" else Role.STUDENT
    assert code in codes(flt, text, role)


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
    # written for schoolgate after the kinds of ordinary mail that were held (ham dev split)
    "Vice President Dick Cheney was in his office.",  # a name, not a swear word
    "I am glad Del Negro is keeping his job as coach.",
    "It was an almighty cock up with the delivery.",  # British "cock-up": a blunder
    "A bastardised version of the old song.",
    "Net worth: *$680 mil* returnee",  # a trailing "*" is emphasis, not a masked letter
    "damn, forgot my homework",  # mild swearing, not aimed: nothing
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


@pytest.mark.parametrize("text, code, severity, level", [
    # language only: mild swearing is nothing; moderate or strong is a low tag (level 1) for a pupil
    ("damn", None, None, None),
    ("crap, missed the bus again", None, None, None),
    ("shit, missed the bus again", "OFFENSIVE_PROFANITY_MILD", Severity.LOW, 1),  # moderate (Ofcom)
    ("bastard", "OFFENSIVE_PROFANITY_MILD", Severity.LOW, 1),
    ("this homework is fucking pointless", "OFFENSIVE_PROFANITY_STRONG", Severity.LOW, 1),
    # aimed at the reader or a named person: abuse (level 2), held for a pupil
    ("damn you", "OFFENSIVE_PROFANITY_MILD", Severity.MEDIUM, 2),
    ("jake is such a prick", "OFFENSIVE_PROFANITY_MILD", Severity.MEDIUM, 2),
    ("fuck you", "OFFENSIVE_PROFANITY_STRONG", Severity.HIGH, 2),
    ("piss off", "OFFENSIVE_PROFANITY_MILD", Severity.MEDIUM, 2),  # a dismissal
])
def test_profanity_is_language_only_unless_aimed(flt: OffensiveFilter, text: str, code: str | None,
                                                 severity: Severity | None, level: int | None) -> None:
    found = {f.code: f for f in flt.analyse([text], Role.STUDENT) if f.category is Category.PROFANITY
             and f.code != "OFFENSIVE_MODEL_SCORE"}
    if code is None:
        assert not found, found
        return
    assert set(found) == {code}
    assert (found[code].severity, found[code].level) == (severity, level)


@pytest.mark.parametrize("text", ["this fucking printer", "bastard of a day", "bloody hell, shit"])
def test_swearing_between_adults_is_nothing(flt: OffensiveFilter, text: str) -> None:
    """Language only in mail no pupil writes or receives (a mailing list to staff) is not a finding."""
    adults = Audience(Role.EXTERNAL, ((STAFF, Role.STAFF),))
    assert flt.analyse([text], Role.EXTERNAL, audience=adults) == []
    assert flt.analyse(["fuck you, " + text], Role.EXTERNAL, audience=adults)  # aimed still counts


@pytest.mark.parametrize("role, lowered", [(Role.STAFF, True), (Role.STUDENT, False)])
def test_educational_framing_lowers_staff_quotes(flt: OffensiveFilter, role: Role, lowered: bool) -> None:
    text = "History lesson plan: segregation in the Jim Crow era, and the word nigger."
    (hate,) = [f for f in flt.analyse([text], role) if f.category is Category.HATE]
    assert (hate.severity is Severity.LOW) is lowered
    assert ("teaching or reporting" in hate.reason) is lowered


def test_framing_never_lowers_safeguarding(flt: OffensiveFilter) -> None:
    text = "Incident report: the pupil said 'I want to kill myself' in the lesson."
    (finding,) = [f for f in flt.analyse([text], Role.STAFF) if f.category is Category.SELF_HARM]
    # a disclosure (level 4, high): severity follows the level, framing never lowers it
    assert finding.level == 4 and finding.severity is Severity.HIGH


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
    (STAFF, f"head@{SCHOOL}", "This fucking printer.", Action.PASS),  # language only, between adults
    (STAFF, f"head@{SCHOOL}", "Fuck you, I am not covering your lesson.", Action.HOLD),  # aimed
    (PUPIL2, PUPIL, "damn, forgot my homework", Action.PASS),  # mild, language only: nothing
    (PUPIL2, PUPIL, "this homework is fucking pointless", Action.TAG),  # strong, language only: a tag
    (PUPIL2, PUPIL, "fuck you", Action.HOLD),  # aimed at the reader
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
    shipped = OffensiveFilter(Options(model=False), FilterContext(settings=None, directory=None))
    # moderate by the shipped list (a low tag when not aimed); mild by the site's: nothing
    assert [(f.code, f.severity) for f in shipped.analyse(["bastard"], Role.STUDENT)] == [
        ("OFFENSIVE_PROFANITY_MILD", Severity.LOW)]
    assert own.analyse(["bastard"], Role.STUDENT) == []


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


# -- context decides the ambiguous cues (issue 17 item 5), each rule with a test --

async def _codes_for(flt: OffensiveFilter, settings, text: str, sender: str, rcpts: tuple[str, ...]) -> dict:
    view = make_view(text, mail_from=sender, rcpt_to=rcpts, settings=settings)
    return {f.code: f for f in await flt.check(view)}


@pytest.mark.parametrize("sender, rcpts, grooming", [
    (PUPIL2, (PUPIL,), False),  # two pupils swapping Snapchat names
    ("stranger@example.com", (PUPIL,), True),  # an unknown outsider to a pupil
    (STAFF, (PUPIL,), True),  # staff writing privately to one pupil
    (STAFF, (PUPIL, PUPIL2), False),  # staff to a group of pupils (a club's chat)
    ("stranger@example.com", (STAFF,), False),  # an outsider to staff: no pupil involved
])
async def test_grooming_needs_an_adult_writing_to_a_pupil(flt, settings, sender, rcpts, grooming) -> None:
    found = await _codes_for(flt, settings, "add me on snapchat lol", sender, rcpts)
    assert ("SAFEGUARDING_GROOMING" in found) is grooming


async def test_self_harm_secrecy_between_friends_is_not_grooming(flt, settings) -> None:
    for sender in (PUPIL2, "friend@gmail.example"):  # a friend at school, or on a personal account
        found = await _codes_for(flt, settings, "i cut myself again, dont tell anyone", sender, (PUPIL,))
        assert set(found) == {"SAFEGUARDING_SELF_HARM"}
        assert found["SAFEGUARDING_SELF_HARM"].level == 4


async def test_an_adults_secrecy_is_still_grooming(flt, settings) -> None:
    found = await _codes_for(flt, settings, "dont tell anyone we talk, its our little secret",
                             "stranger@example.com", (PUPIL,))
    assert "SAFEGUARDING_GROOMING" in found


@pytest.mark.parametrize("text, extremism", [
    ("Order number 1488 has been dispatched", False),
    ("Your total is 88 pounds, see page 14 for the 14 words of the poem", False),
    ("heil hitler 1488", True),
    ("the race war is coming 88", True),
    ("the ZOG controls the media", True),  # a conspiracy term, a signal by itself
    ("Year 1 loved reading Zog the dragon today", False),  # the picture book
])
def test_extremist_codes_count_only_beside_other_signals(flt, text: str, extremism: bool) -> None:
    found = {f.code: f for f in flt.analyse([text], Role.EXTERNAL)}
    assert ("SAFEGUARDING_EXTREMISM" in found) is extremism
    if extremism and "88" in text:
        assert any("88" in e for e in found["SAFEGUARDING_EXTREMISM"].evidence)


NEWSLETTER = ("Wellbeing newsletter, December. Self-harm and suicidal feelings are more common than you "
              "think. If you are worried about yourself or a friend, talk to the pastoral team or Childline.")
LESSON = "Online safety lesson plan, Year 8: how some apps promote self harm and pro ana content."


@pytest.mark.parametrize("text, sender, rcpts, self_harm", [
    (NEWSLETTER, STAFF, (PUPIL, PUPIL2), False),  # a staff newsletter names self-harm: no disclosure
    (LESSON, STAFF, (f"head@{SCHOOL}",), False),  # an online-safety lesson plan
    # a pupil's own words are never exempted ...
    ("honestly feeling suicidal again and i cant tell my mum", PUPIL, (PUPIL2,), True),
    # ... but the topic named in general is nobody's disclosure, whoever sends it (the wording
    # names no one: "more common than you think"); the risk model still reads it
    (NEWSLETTER, PUPIL, (PUPIL2,), False),
    # a pupil's reply: their own words above the quoted newsletter are a disclosure
    (f"miss i think i have been self harming, i cut my arms\n\nOn Mon, 1 Dec 2026, Miss Smith wrote:\n> "
     f"{NEWSLETTER}", PUPIL, (STAFF,), True),
    # a pupil's "thanks" above the quoted newsletter is not
    (f"thanks miss\n\nOn Mon, 1 Dec 2026, Miss Smith wrote:\n> {NEWSLETTER}", PUPIL, (STAFF,), False),
    # staff forwarding a pupil's own first-person words to the DSL: still a disclosure
    ("Forwarding what a pupil sent me in the wellbeing session.\n\n---------- Forwarded message ----------\n"
     "i want to kill myself", STAFF, (f"dsl@{SCHOOL}",), True),
])
async def test_lessons_and_newsletters_are_not_disclosures(flt, settings, text, sender, rcpts,
                                                           self_harm: bool) -> None:
    found = await _codes_for(flt, settings, text, sender, rcpts)
    assert (("SAFEGUARDING_SELF_HARM" in found) or ("SAFEGUARDING_EATING_DISORDER" in found)) is self_harm, found


@pytest.mark.parametrize("text, code", [
    ("check out this porn site xvideos", "OFFENSIVE_PORNOGRAPHY"),
    ("women belong in the kitchen", "OFFENSIVE_MISOGYNY"),
    ("anyone got some weed for after school", "OFFENSIVE_DRUGS"),
    ("i lost all my birthday money on loot boxes and betting", "OFFENSIVE_GAMBLING"),
    ("you can earn 500 a week, just lend us your bank account", "OFFENSIVE_FRAUD"),
    ("we need you to go country this weekend, you owe us", "SAFEGUARDING_EXPLOITATION"),
    ("give me your password or we are done. youre not allowed to talk to him", "SAFEGUARDING_COERCIVE_CONTROL"),
    ("i have your nudes. pay or i post them", "SAFEGUARDING_SEXTORTION"),
    ("how to make a pipe bomb", "SAFEGUARDING_TERRORISM"),
    ("i have been starving myself for weeks", "SAFEGUARDING_EATING_DISORDER"),
    ("im bringing a knife to school on monday", "SAFEGUARDING_WEAPON"),
])
def test_monitoring_categories(flt, text: str, code: str) -> None:
    assert code in codes(flt, text, Role.EXTERNAL)


@pytest.mark.parametrize("text", [
    "Drug awareness evening for parents on Thursday.",
    "Please bring a packed lunch and a bat for rounders to school.",
    "The Sixth Form bake sale raised money for the Samaritans.",
    "My brother and I are going to the Grand National with our dad.",
    "I took 2 tablets of paracetamol for my headache and went back to class.",
    "Nobody will notice if I leave the disco early.",
    "The final ends tonight, it ends 2-1 if we hold on.",
    "Mrs Patel says this weekend it ends: the sale at the book fair.",
    "I gave my old games to the charity shop.",
])
def test_monitoring_categories_innocent(flt, text: str) -> None:
    found = flt.analyse([text], Role.STUDENT)
    assert not any(f.safeguarding or f.level >= 3 for f in found), found


def test_pattern_prefilter_never_skips_a_pattern_that_matches(flt: OffensiveFilter) -> None:
    """The shared pattern database (filters/text/matcher.py) with this filter's patterns, the new
    categories' included: every pattern that matches must have been a candidate."""
    texts = [t for t, *_ in test_detects.pytestmark[0].args[1]]  # this file's positive examples
    texts += ["we all agreed youre the ugliest and most pathetic person in year 9",
              "lets meet at the park after school, dont tell your mum", "i took a load of pills last night",
              "send more pics or ill post them to everyone", "im bringing a knife to school tomorrow",
              "all the filthy immigrants should be deported", "women are property", "who s got some weed for friday"]
    olid = CORPORA / "olid-offenseval2019" / "olid-training-v1.0.tsv"
    with open(olid, encoding="utf-8") as handle:
        texts += [r["tweet"] for r in csv.DictReader(handle, delimiter="\t")][:1500]
    with open(CORPORA / "kaggle-insults-impermium" / "train.csv", encoding="utf-8") as handle:
        texts += [r["Comment"].strip('"').replace("\\n", " ") for r in csv.DictReader(handle)][:1500]
    db, checked = flt._pattern_db, 0
    for text in texts:
        joined = flt._lexicon.joined(flt._lexicon.normalise(text))[0]
        chosen = set(db.candidates(flt._pattern_route, db.scan(joined)))
        for index, pattern in enumerate(flt._patterns):
            if pattern.regex.search(joined):
                checked += 1
                assert index in chosen, (pattern.source, text)
    assert checked > 150  # the check saw many real matches


def test_model_scores_match_sklearn() -> None:
    """The filter's scorer (the numbers-only copy, issue 19) gives sklearn's predict_proba figures."""
    import numpy as np
    from filters.offensive import _ModelScorer
    from filters.profanity_model import shipped_sklearn_pair

    scorer = _ModelScorer(0, learned=False)
    vectorizer, model = shipped_sklearn_pair()
    texts = ["you are a stupid idiot", "the concert is on Wednesday at 6pm", "fuck off and die",
             "I will hurt you tomorrow", "great work on the history project", "x", ""]
    index = CORPORA / "jigsaw-toxic-sample-ibm" / "test_examples.csv"
    if index.exists():
        with open(index, encoding="utf-8", errors="replace") as handle:
            texts += [max(row, key=len)[:600] for row in list(csv.reader(handle))[1:300]]
    expected = model.predict_proba(vectorizer.transform(texts))[:, 1]
    assert np.allclose(scorer.scores(texts), expected, atol=1e-12, rtol=0)
    assert all("sklearn" not in type(m).__module__ for m in scorer._models.models)
    # with the learned model beside it, a text's score is the higher of the two
    from filters.profanity_model import LEARNED_ARTIFACT, ProfanityModel
    learned = ProfanityModel.load(artifact=LEARNED_ARTIFACT).predict(texts)
    both = _ModelScorer(0).scores(texts)
    assert np.allclose(both, np.maximum(expected, learned), atol=1e-12, rtol=0)


def test_the_learned_model_reads_hate_without_a_listed_word() -> None:
    """Dehumanising a group with no slur and no swear word: alt-profanity-check's model and the
    lists miss it, the model trained on the hate corpora's train splits tags it (low)."""
    text = "those people are animals who breed like rats and are destroying our country"
    with_learned = OffensiveFilter(Options(), FilterContext(settings=None, directory=None))
    apc_only = OffensiveFilter(Options(learned_model=False), FilterContext(settings=None, directory=None))
    assert apc_only.analyse([text], Role.STUDENT) == []
    findings = with_learned.analyse([text], Role.STUDENT)
    assert [f.code for f in findings] == ["OFFENSIVE_MODEL_SCORE"]
    assert findings[0].severity is Severity.LOW


@pytest.mark.parametrize("text", [
    "the concert is on Wednesday at 6pm in the main hall",
    "great work on the history project, the class really enjoyed it",
    "please bring your PE kit and a packed lunch on Friday",
])
def test_the_learned_model_leaves_ordinary_text_alone(text: str) -> None:
    flt = OffensiveFilter(Options(), FilterContext(settings=None, directory=None))
    assert flt.analyse([text], Role.STUDENT) == []


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


# -- talked about, not used: counter-speech, quoting, reporting, reclaimed (issue 17) --
# Examples written for schoolgate.

@pytest.mark.parametrize("text, how", [
    ("he called me a faggot in PE today, please help", "reported"),
    ("they keep calling me a retard on the bus", "reported"),
    ("she said i was a fat loser and everyone laughed", "reported"),
    ('Saying "all muslims are animals" is racist and not ok.', "condemned"),
    ("Calling people a paki is a slur and it is never ok.", "condemned"),
    ("i reported him because he wrote 'poofter' on my locker", "condemned"),
    ("as a proud dyke i do not care what they think", "reclaimed"),
    ("me and my niggas are going out tonight", "reclaimed"),  # of one's own
    ("as a bitch myself i say go for it", "reclaimed"),
    ("Stop calling people retards, it is a horrible word.", "condemned"),
    ("we should not use paki as an insult, it is racist", "condemned"),
    ("Saying that all immigrants are criminals is a stereotype and it is not true.", "condemned"),
    ("People who say gays are vermin are spreading hate speech.", "condemned"),
])
def test_talking_about_abuse_is_a_tag_not_a_hold(flt, settings, text: str, how: str) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    by_code = {f.code: f for f in findings}
    assert "OFFENSIVE_MENTIONED" in by_code, findings
    assert not {"OFFENSIVE_HATE", "OFFENSIVE_BULLYING"} & by_code.keys(), findings
    mention = by_code["OFFENSIVE_MENTIONED"]
    assert mention.severity is Severity.LOW
    assert {"reported": "reported as said", "condemned": "condemn", "reclaimed": "reclaimed"}[how] in mention.reason
    # a report of being abused is a possible disclosure (level 2); counter-speech is language (1)
    assert mention.level == (2 if how == "reported" else 1)
    view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    assert Policy(settings).decide(view, findings).actions[PUPIL2] is Action.TAG


@pytest.mark.parametrize("text, code", [
    ("you are a faggot", "OFFENSIVE_HATE"),  # aimed at the reader
    ("she said you are a slag", "OFFENSIVE_BULLYING"),  # passing abuse on to the reader
    ("stop crying you fat loser", "OFFENSIVE_BULLYING"),  # "stop" is no condemnation of its own words
    ("dont say anything, you retard", "OFFENSIVE_HATE"),  # a "you" between the cue and the word
    ("i say all muslims are vermin", "OFFENSIVE_HATE"),  # no condemnation outside the words
    ("dont use my pen you 'retard'", "OFFENSIVE_HATE"),  # quoted, but said to the reader
    ("all muslims are animals and it is not ok that they are here", "OFFENSIVE_HATE"),  # not quoted or named
    ("he called me a loser so im going to stab him", "OFFENSIVE_THREAT"),  # a threat is never lowered
    ("they keep telling me to kill myself", "SAFEGUARDING_SELF_HARM"),
])
def test_abuse_next_to_a_report_or_condemnation_still_counts(flt, text: str, code: str) -> None:
    assert code in codes(flt, text), flt.analyse([text], Role.STUDENT)


@pytest.mark.parametrize("text", [
    "SmartList is a bitch to set up.",  # a thing, not a person
    "He bitches about everything.",  # a verb
    "Bet that will piss off the record labels.",  # "piss off" someone else: annoy
    "Well, you could damn well try harder.",  # an adverb
])
def test_swearing_that_aims_at_nobody_is_language_only(flt: OffensiveFilter, text: str) -> None:
    found = [f for f in flt.analyse([text], Role.STUDENT) if f.code != "OFFENSIVE_MODEL_SCORE"]
    assert all(f.category is Category.PROFANITY and f.level == 1 and f.severity is Severity.LOW
               for f in found), found


def test_killing_processes_is_no_threat(flt: OffensiveFilter) -> None:
    assert "OFFENSIVE_THREAT" not in codes(flt, "If I kill them, they get recreated the next time I run the job.")
    assert "OFFENSIVE_THREAT" in codes(flt, "im going to kill him after school")


def test_an_outsiders_delete_the_message_is_not_grooming(flt: OffensiveFilter) -> None:
    text = "The recipient can choose to delete the message without opening it. Please delete this email."
    assert flt.analyse([text], Role.EXTERNAL) == []
    assert "SAFEGUARDING_GROOMING" in codes(flt, "delete our chat after you read it", Role.EXTERNAL)


# -- whose self-harm (issue 17): advice and support to the reader is not a disclosure --
# Examples written for schoolgate.

@pytest.mark.parametrize("text, disclosure", [
    # the writer's own words, with or without "I"
    ("I feel suicidal again.", True),
    ("feeling suicidal tonight", True),
    ("want to die lol", True),
    ("honestly dont want to live anymore", True),
    ("i wrote a suicide note last night", True),
    ("I wish I was never born", True),
    ("i've set a date and nothing will change my mind", True),
    ("hopefully i don't wake up tomorrow", True),
    ("i'll say my goodbyes soon", True),
    # a third person at risk, as a pupil tells it
    ("my friend is self harming and i dont know what to do", True),
    ("my friend said she is going to kill herself", True),
    ("she's been cutting herself again", True),
    ("she told me she wants to die", True),
    # advice and support to the reader, the topic in general, a negation, a prediction
    ("If you are feeling suicidal please call Samaritans on 116 123.", False),
    ("You don't want to die, you want the pain to stop.", False),
    ("Self harm is never the answer, talk to someone.", False),
    ("You are not better off dead, people care about you.", False),
    ("I know you think there is no reason to live but there is.", False),
    ("Please do not commit suicide, we all care about you.", False),
    ("if you or a friend are suicidal please tell someone you trust", False),
    ("I have had suicidal friends and it is hard to watch.", False),
    ("Ive never been seriously suicidal but school was hard.", False),
    ("at least i dont wanna die anymore", False),
    ("does this mean I'm going to die sooner, I asked the doctor", False),
    ("Suicide note found on the web server: I can't take the heat anymore. Signed, CPU.", False),
    ("i hate living in this town", False),
])
def test_self_harm_needs_the_writers_or_a_third_persons_words(flt, text: str, disclosure: bool) -> None:
    found = codes(flt, text)
    assert ("SAFEGUARDING_SELF_HARM" in found) is disclosure, found


def test_advice_about_self_harm_passes_schoolgate_scan(tmp_path: Path) -> None:
    """End to end (`schoolgate scan`, the shipped chain): a pupil's support to a friend gets no
    self-harm finding from the word lists; the pupil's own disclosure is held; counter-speech
    is tagged, not held."""
    import json
    import subprocess
    import sys
    from tests.factories import site_toml_virus
    root = Path(__file__).resolve().parents[2]
    site = tmp_path / "site.toml"
    site.write_text(f'[school]\ndomains = ["{SCHOOL}", "{PUPILS}"]\n'
                    f'[directory]\ndomain_roles = {{ "{PUPILS}" = "student", "{SCHOOL}" = "staff" }}\n'
                    f'[quarantine]\npath = "q"\n' + site_toml_virus(), encoding="utf-8")
    cases = {"support.eml": ("hey, if you are ever feeling suicidal please talk to me or call Childline, "
                             "self harm is never the answer", False),
             "mine.eml": ("hey, i feel suicidal again and i dont know who to tell", True),
             # counter-speech is a tag, not a hold (no self-harm either way)
             "counter.eml": ("Stop telling people that immigrants are vermin, it is not ok.", False)}
    for name, (body, disclosure) in cases.items():
        (tmp_path / name).write_bytes(
            f"From: {PUPIL}\r\nTo: friend@example.org\r\nSubject: hi\r\n\r\n{body}\r\n".encode())
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "scan", "--config", str(site), "--mail-from", PUPIL,
             "--rcpt", "friend@example.org", str(tmp_path / name)],
            capture_output=True, text=True, timeout=180, cwd=root)
        assert result.returncode in (0, 1, 2), result.stderr
        out = json.loads(result.stdout.splitlines()[-1])
        lists = [f for f in out["findings"] if f["filter"] == "offensive" and f["code"] == "SAFEGUARDING_SELF_HARM"]
        assert bool(lists) is disclosure, out["findings"]
        if disclosure:
            assert out["action"] == "hold"
        elif name == "counter.eml":
            assert out["action"] == "tag" and "OFFENSIVE_MENTIONED" in {f["code"] for f in out["findings"]}, out


# -- counter-speech and reported speech (issue 17): hatecheck's kinds, our own examples --

@pytest.mark.parametrize("text, how", [
    ('When my uncle said "immigrants are rats" at dinner I told him he was out of order.', "condemned"),
    ('Posts like "women are stupid" get reported straight away on this server.', "condemned"),
    ('I can\'t believe someone wrote "muslims are terrorists" on the board, that\'s vile.', "condemned"),
    ("Nobody should ever tell you that muslims are animals.", "condemned"),
    ("Stop telling people that immigrants are vermin.", "condemned"),
    ("Saying all muslims are terrorists is disgusting.", "condemned"),
    ("Posting that jews are vermin gets you banned here.", "condemned"),
    ("My nan says immigrants are scum and it really upsets me.", "condemned"),
    # the reader as the one who said it, not the one it is said to
    ("I lost all respect for you when you said that Muslims are parasites.", "condemned"),
    ('When you say "I hate Muslims", you show how ignorant you are.', "condemned"),
    ("You should be ashamed of saying that immigrants are scum.", "condemned"),
    ("Your claim that black people are criminals is nonsense.", "condemned"),
    ("Nobody wants to hear that trans people are mentally ill.", "condemned"),
    # someone else's words in quotation marks, no condemnation: reported (level 2, the DSL's queue)
    ('she wrote "all gays are disgusting" in the group chat', "reported"),
    ('he said "you are a faggot" to me in PE', "reported"),
])
def test_counter_speech_and_reported_speech_are_tags(flt, settings, text: str, how: str) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    by_code = {f.code: f for f in findings}
    assert "OFFENSIVE_MENTIONED" in by_code, findings
    assert not {"OFFENSIVE_HATE", "OFFENSIVE_MISOGYNY", "OFFENSIVE_BULLYING"} & by_code.keys(), findings
    assert by_code["OFFENSIVE_MENTIONED"].level == (2 if how == "reported" else 1)
    view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    assert Policy(settings).decide(view, findings).actions[PUPIL2] is Action.TAG


@pytest.mark.parametrize("text, code", [
    ("I'm telling you, muslims are animals.", "OFFENSIVE_HATE"),  # "you" not told "that": the writer's own
    ("immigrants are rats and it is wrong that they are here", "OFFENSIVE_HATE"),
    ('"you\'re a dyke" lol', "OFFENSIVE_HATE"),  # quoted, but no one else's words
    ("you're my faggot now", "OFFENSIVE_HATE"),  # "my" after the reader: aimed, not reclaimed
    ("why would you call me that, you faggot", "OFFENSIVE_HATE"),  # the reader called it, after the cue
    ("women are stupid and belong in the kitchen", "OFFENSIVE_MISOGYNY"),
])
def test_hate_is_not_made_counter_speech_by_a_nearby_word(flt, text: str, code: str) -> None:
    assert code in codes(flt, text)


@pytest.mark.parametrize("text", [
    "Bring a faggot of sticks for the fire.",
    "We had faggots and gravy for tea.",
    "The dyke burst after the storm and the field flooded.",
    "My mechanic says the tranny fluid is low.",  # a car's transmission
    "This chemical will retard the growth of the mould.",  # the verb
    "The beavers built a dam and the dyke held.",
    "We're at war, Dick, we're going to find out who did this.",  # a name, mid-sentence
])
def test_slur_homonyms_and_names_are_not_abuse(flt, text: str) -> None:
    assert not {"OFFENSIVE_HATE", "OFFENSIVE_SEXUAL"} & codes(flt, text)


@pytest.mark.parametrize("text, aimed", [
    ("You're fucking brilliant, mate.", False),  # an intensifier aims only at an insult
    ("Shit, you're right.", False),  # punctuation: an exclamation, then the reader
    ("Fuck, you got me there.", False),
    ("Fuck off, that is amazing news!", False),  # disbelief
    ("Bloody hell, you scared me.", False),
    ("you fucking idiot", True),
    ("fuck you", True),
    ("Fuck off, loser", True),
    ("Fuck off, nobody wants you here", True),
    ("ur fucking ugly", True),
])
def test_friendly_swearing_is_not_aimed(flt, text: str, aimed: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is aimed, findings


def test_a_number_code_inside_a_longer_number_is_no_code(flt) -> None:
    # an IP address beside a slur in a crude newsletter: not "88"
    found = {f.code: f for f in flt.analyse(["what a retard. mirror at http://213.46.88.37/pivot/"], Role.EXTERNAL)}
    assert "SAFEGUARDING_EXTREMISM" not in found
    assert "SAFEGUARDING_EXTREMISM" in codes(flt, "what a retard, 14/88", Role.EXTERNAL)


@pytest.mark.parametrize("text, bullying", [
    ("You are a delusional weirdo", True),  # one describing word between
    ("ur a biased idiot", True),
    ("you're a turd", True),
    ("youre such a tryhard", True),
    ("you are a good friend", False),
    ("you are a great teacher", False),
    ("a turd in the park, gross", False),  # not aimed
])
def test_aimed_insults_with_a_describing_word(flt, text: str, bullying: bool) -> None:
    assert ("OFFENSIVE_BULLYING" in codes(flt, text)) is bullying


@pytest.mark.parametrize("text, hate", [
    ("That is a fully retarded view of economics.", False),  # of a thing: language only, a tag
    ("that's so retarded", False),
    ("he is retarded", True),  # of a person
    ("your retarded brother", True),
    ("retarded people should not vote", True),  # of a group
    ("what a retarded kid", True),
])
def test_an_ableist_word_said_of_a_thing_is_language(flt, settings, text: str, hate: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert ("OFFENSIVE_HATE" in {f.code for f in findings}) is hate, findings
    if not hate:
        assert findings and all(f.severity is Severity.LOW for f in findings)
        view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
        assert Policy(settings).decide(view, findings).actions[PUPIL2] is Action.TAG


# -- the non-hateful forms and the hateful ones they must not swallow (issue 17, fourth pass):
# our own school-style examples, written for these rules (hatecheck is only ever a test suite)

HATE_CODES = {"OFFENSIVE_HATE", "OFFENSIVE_MISOGYNY", "OFFENSIVE_BULLYING", "OFFENSIVE_SEXUAL",
              "SAFEGUARDING_EXTREMISM"}


@pytest.mark.parametrize("text", [
    "Not all immigrants are criminals.",  # negated
    "Not every Muslim is a terrorist.",
    "No Muslim should be deported for their faith.",
    "It's not true that black people are violent.",
    "I don't think gay people are disgusting at all.",
    "The idea that women are inferior is outdated.",  # attributed: someone else's claim
    "Claiming that immigrants are parasites is just wrong.",
    "Anyone who thinks black people are animals is a bigot.",
    "I'm sick of hearing that Muslims are terrorists.",
    "When people say Muslims should all be deported it makes me really sad.",
    'If you think "immigrants are parasites" you need to read some history.',  # quoted thought
    '"Immigrants are vermin"? Seriously? That is disgusting.',  # condemned two sentences on
    '"Jews control the banks" is an antisemitic conspiracy theory and it is false.',
    "Calling a girl a slut is misogynistic and gross.",  # a sexual slur talked about
    'Saying someone "acts like a slut" is slut shaming and it is wrong.',
    "If you call women bitches, you're a misogynist.",  # the reader as the speaker
    "Dyke and proud!",  # reclaimed, after the word
    "I'm proud to be a dyke.",
    "I call myself a dyke and I love it.",
    "Yo nigga what's good",  # friendly address
    "Your gay friends are lovely.",  # an identity, not an insult
    "You are a gay man and that's wonderful.",
    "Gay people like you are brilliant.",
    '"Women are stupid" - no, just no.',  # a quotation answered
    '"All women are stupid" is the dumbest thing I have ever read.',
    '"Disabled people are useless" - no they are not, that is so mean.',
    "Me and the other dykes in my year are starting a group.",  # reclaimed, of the writer's own
])
def test_non_hateful_forms_are_not_held(flt, settings, text: str) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert not HATE_CODES & {f.code for f in findings}, findings
    view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    assert Policy(settings).decide(view, findings).actions[PUPIL2] <= Action.TAG


def _assert_no_hate_and_not_held(flt, settings, text: str) -> None:
    """A pupil's text to a pupil: no hate code, nothing above LOW, at most tagged."""
    findings = flt.analyse([text], Role.STUDENT)
    assert not HATE_CODES & {f.code for f in findings}, findings
    assert not any(f.severity > Severity.LOW for f in findings), findings
    view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    assert Policy(settings).decide(view, findings).actions[PUPIL2] <= Action.TAG


def _assert_counts_as(flt, text: str, code: str) -> None:
    """A pupil's text gives `code` above LOW."""
    found = flt.analyse([text], Role.STUDENT)
    assert any(f.code == code and f.severity > Severity.LOW for f in found), found


@pytest.mark.parametrize("text", [
    "My grandad used to smoke a fag after dinner.",
    "The dyke along the field flooded after the storm.",
    "There's a chink in his armour, we can beat them.",
    "Then poof, the rabbit vanished.",
    "Carry that faggot of firewood to the shed.",  # a bundle of sticks, not only the fixed phrases
    "We had faggots with onion gravy for tea.",
    "Sit on the poof next to the sofa.",  # the footstool
])
def test_slur_homonyms_in_their_other_sense(flt, text: str) -> None:
    assert not codes(flt, text) & {"OFFENSIVE_HATE"}


@pytest.mark.parametrize("text, code", [
    ("Muslims are disgusting.", "OFFENSIVE_HATE"),
    ("No wonder Muslims are so violent.", "OFFENSIVE_HATE"),  # "no wonder" is no negation
    ("Why don't we deport all the Muslims?", "OFFENSIVE_HATE"),  # nor "why dont we"
    ("I think disabled people are a burden on society.", "OFFENSIVE_HATE"),  # the writer's own opinion
    ("I honestly believe immigrants are vermin.", "OFFENSIVE_HATE"),
    ("I'm not saying all immigrants are criminals, but most are.", "OFFENSIVE_HATE"),
    ("Black people belong in a zoo.", "OFFENSIVE_HATE"),
    ("Fucking immigrants ruin everything.", "OFFENSIVE_HATE"),
    ("Trans people are freaks.", "OFFENSIVE_HATE"),
    ("Never trust a woman, they are all liars.", "OFFENSIVE_HATE"),
    ("you fag", "OFFENSIVE_HATE"),  # a homonym said to someone, even beside a cigarette
    ("put that cigarette out you fag", "OFFENSIVE_HATE"),
    ("burn the faggots on the bonfire", "OFFENSIVE_HATE"),  # no fire cue makes "faggot" the sticks
    ("that poof on the bus", "OFFENSIVE_HATE"),
    ("You're so gay lol", "OFFENSIVE_BULLYING"),
    ("Stupid slut.", "OFFENSIVE_SEXUAL"),
    ("You're a nigger.", "OFFENSIVE_HATE"),  # never reclaimed
    ("Losers like you should die.", "OFFENSIVE_BULLYING"),
    ("Jews control the banks.", "SAFEGUARDING_EXTREMISM"),
])
def test_hateful_forms_are_still_found(flt, text: str, code: str) -> None:
    assert code in codes(flt, text)


@pytest.mark.parametrize("text, aimed", [
    ("Life's a bitch and then you die.", False),
    ("That bastard of a hill nearly killed me.", False),
    ("Son of a bitch, I missed the bus again.", False),
    ("Damn you're good at this game.", False),  # the reader starts a new clause
    ("Shit you scared me!", False),
    ("Your shit taste in music is growing on me", False),
    ("Did you piss yourself laughing at that", False),
    ("fuck you and your mates", True),
    ("damn you to hell", True),
    ("You shit.", True),
    ("Go away you bastard", True),
])
def test_swearing_at_a_thing_or_a_new_clause_is_not_aimed(flt, text: str, aimed: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is aimed, findings


def test_the_model_alone_does_not_tag_friendly_banter() -> None:
    # weight 1 and thresholds 0: the model alone would tag anything; the banter rule still holds it back
    flt = OffensiveFilter(Options(model_alone_threshold=0.0, model_alone_text_threshold=0.0),
                          FilterContext(settings=None, directory=None))
    assert "OFFENSIVE_MODEL_SCORE" in codes(flt, "Are you silly or serious?")
    assert not codes(flt, "Are you silly or serious? haha :)")
    # "lol" is no banter: on the hate forums it is contempt ("so the blacks lost that one LOL")
    assert "OFFENSIVE_MODEL_SCORE" in codes(flt, "Are you silly or serious? lol")


def test_the_whole_shipped_chain_starts_without_scikit_learn(tmp_path):
    """The registry's preload and every shipped filter built from the shipped config import no
    scikit-learn: the offensive filter reads alt-profanity-check's model from its numbers-only
    copy (issue 19: sklearn was a third of a two-worker gateway's memory)."""
    import subprocess
    import sys
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from filters import registry\n"
        "from filters.scanner import Scanner\n"
        "from tests.factories import make_settings\n"
        f"settings = make_settings(Path({str(tmp_path)!r}))\n"
        "registry.preload(settings.filters.chain)\n"
        "Scanner.before_fork(settings)\n"
        "assert 'offensive' in settings.filters.chain\n"
        "assert 'filters.profanity_model' in sys.modules\n"
        "print(sorted(m for m in ('sklearn', 'joblib') if m in sys.modules))\n")
    from tests.gateway.test_workers import ROOT
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("body, held", [
    # abuse quoted back in a reply (">" lines) is earlier mail of the thread: a tag
    ("I disagree with that.\n\n> Now smack yourself in the head, get a life, and quit playing games\n", False),
    ("Many times, and it was fine.\n\n>> how many of your homo friends have been there?\n", False),
    # ... the writer's own words are read as ever
    ("get a life, you sad little man\n\n> I think the meeting is on Tuesday\n", True),
    # ... and a forwarded message is sent on to the reader now: read like the writer's own
    ("look at this\n\n---------- Forwarded message ---------\nget a life, you sad little man\n", True),
    # a sexual slur quoted back is earlier mail too ("> ...whore"); sexual wording is not
    ("Ha, very good.\n\n> -tom (i cant feed em so i change em) whore\n", False),
    ("ok\n\n> send me a pic of your tits\n", True),
])
async def test_abuse_quoted_back_in_a_reply_is_a_tag_not_a_hold(flt: OffensiveFilter, settings, body: str,
                                                                held: bool) -> None:
    view = make_view(body, mail_from="someone@example.org", rcpt_to=(PUPIL,), settings=settings)
    findings = await flt.check(view)
    verdict = Policy(settings).decide(view, findings)
    assert (verdict.actions[PUPIL] >= Action.HOLD) is held, [(f.code, f.severity, f.evidence) for f in findings]
    if not held:
        assert "OFFENSIVE_MENTIONED" in {f.code for f in findings}


BLOGROLL = """Here is your list of updated weblogs.

    Daily Shite
      http://www.example.org/dailyshite/
    Bite Me!
      http://bite-me.example.net/
    happy retard blog
      http://www.example.com/happyretard/
    Village Idiot Notes
      http://idiot.example.org/
"""


async def test_the_names_in_a_list_of_links_are_titles_not_abuse(flt: OffensiveFilter, settings) -> None:
    view = make_view(BLOGROLL, mail_from="digest@example.org", rcpt_to=(PUPIL, STAFF), settings=settings)
    findings = await flt.check(view)
    verdict = Policy(settings).decide(view, findings)
    assert verdict.actions[PUPIL] <= Action.TAG and verdict.actions[STAFF] <= Action.TAG, findings
    mentioned = next(f for f in findings if f.code == "OFFENSIVE_MENTIONED")
    assert "list of links" in mentioned.reason
    # one insult over one link is no list: read as written
    one = "you are a pathetic loser\nhttp://www.example.org/\n"
    assert "OFFENSIVE_BULLYING" in codes(flt, one)
    # a threat among the titles is not lowered
    threat = BLOGROLL.replace("Bite Me!", "kill yourself")
    assert "OFFENSIVE_BULLYING" in codes(flt, threat)


@pytest.mark.parametrize("text, dismissal", [
    ("oh bite me", True),
    ("you can bite me", True),
    ("the dog tried to bite me", False),  # the verb, with a subject
    ("mosquitoes always bite me in summer", False),
    ("does the snake bite me if i hold it", False),
])
def test_bite_me_is_a_dismissal_only_without_a_subject(flt, text: str, dismissal: bool) -> None:
    assert ("OFFENSIVE_BULLYING" in codes(flt, text)) is dismissal


@pytest.mark.parametrize("text", [
    "The cock crowed at dawn on the farm.",
    "What a cock and bull story.",
    "That knocks the old record into a cocked hat.",
    "We read about the Whore of Babylon in RE.",
])
def test_the_bird_idioms_and_scripture_are_not_sexual(flt, text: str) -> None:
    assert "OFFENSIVE_SEXUAL" not in codes(flt, text)


# -- the sixth pass: own school-style fixtures per non-hateful family (hatecheck stays a test suite) --

@pytest.mark.parametrize("text", [
    # counter-speech: a condemnation said as "not ok", "i hate when", a sanction, a question
    "he keeps calling trans people trannies and it's not ok",
    "i hate when boys call girls sluts",
    "if you call someone a faggot you should be excluded",
    '"gay people are vermin" - who even thinks like that',
    '"i hate women" is such a stupid thing to tweet',
    "saying you want to kill all immigrants is vile",  # "you" is the reported clause's subject
    # reclaimed: the writer's own people, the idiom
    "these bitches are my best friends",
    "nigga please, we got this",
])
def test_sixth_pass_non_hateful_forms_are_not_held(flt, settings, text: str) -> None:
    _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, code", [
    ("these bitches are my worst enemies", "OFFENSIVE_PROFANITY_MILD"),  # not the writer's own
    ("you bitches are my enemies", "OFFENSIVE_BULLYING"),
    ("those faggots are my neighbours and i hate them", "OFFENSIVE_HATE"),
    ("nigga please die", "OFFENSIVE_HATE"),  # the idiom is the whole clause, not a lead-in
    ("if you say that again, you faggot, i'll tell sir", "OFFENSIVE_HATE"),  # punctuation: the reader
    ("no one asked you", "OFFENSIVE_BULLYING"),
    ("who asked you lol", "OFFENSIVE_BULLYING"),
    ("go die in a fire", "OFFENSIVE_BULLYING"),
    ("go away and die you freak", "OFFENSIVE_BULLYING"),
])
def test_sixth_pass_abuse_still_counts(flt, text: str, code: str) -> None:
    _assert_counts_as(flt, text, code)


@pytest.mark.parametrize("text, aimed", [
    ("you lucky bastard, you won the raffle", False),  # admiration
    ("you clever bitch, how did you do that", False),
    ("piss off, you didn't!", False),  # disbelief at the reader's news
    ("fuck off, you got an A?", False),
    ("holy fuck you actually came", False),  # an exclamation, then the reader
    ("my brother is a lazy bastard", True),
    ("you stupid bastard", True),
    ("piss off, you loser", True),
    ("fuck off, you are so annoying", True),
    ("fuck you, you actually think you're better than me", True),
])
def test_admiration_disbelief_and_exclamations_are_not_aimed(flt, text: str, aimed: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is aimed, findings


@pytest.mark.parametrize("text", [
    "the server process would die in a loop when the disk filled up",
    "if razor can't reach the server it will die in a few seconds",
    "the script will go away and die if the lock file exists",
    "who asked you to review this patch anyway? thanks for doing it",
    "nobody asked you to fix it but thanks",
])
def test_programs_and_questions_are_no_dismissal(flt, text: str) -> None:
    assert "OFFENSIVE_BULLYING" not in codes(flt, text)


@pytest.mark.parametrize("text, sexual", [
    ("my cat is such a pussy, scared of the hoover", False),  # the cat (a [thing_pussy] cue)
    ("the pussy willow is out in the garden", False),  # the catkin
    ("show me your pussy", True),
    ("you pussy, scared of a cat", True),  # said to the reader, whatever the cue
    ("the sexy cat wants your pussy", True),
])
def test_the_cat_and_the_catkin_are_not_sexual(flt, text: str, sexual: bool) -> None:
    assert ("OFFENSIVE_SEXUAL" in codes(flt, text)) is sexual


# -- the seventh pass: own school-style fixtures per non-hateful family, and adult mailing-list
# lines (ham: tuned on none of the test rows; hatecheck stays a test suite) --

@pytest.mark.parametrize("text", [
    # counter-speech: the condemnation worded as the writer's stance or a sanction
    "i cant stand people who call immigrants cockroaches",
    "there is no excuse for calling someone a paki",
    "no one deserves to be called a tranny",
    'the comment "black people are apes" on that video has thousands of likes, its horrible',
    "people who chant kill all the gays at football should be banned for life",
    # the group as the object of a harm named before it: the predicate is the harm's
    "racism against black people is disgusting and we should all call it out",
    "hatred of muslims is evil",
    # reporting to a teacher what someone keeps telling others
    "sir, jack keeps telling the year 7s that muslims are terrorists, please can you talk to him",
    # homonyms: a cigarette stubbed out, an engine's timing
    "my dad stubbed his fag out on the step, gross",
    "if the engine pinks, retard the ignition timing a few degrees",
])
def test_seventh_pass_non_hateful_forms_are_not_held(flt, settings, text: str) -> None:
    _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, code", [
    ("i cant stand immigrants, they are cockroaches", "OFFENSIVE_HATE"),  # the writer's own stance
    ("calling immigrants cockroaches is accurate", "OFFENSIVE_HATE"),  # named, but agreed with
    ("people who call immigrants cockroaches are right", "OFFENSIVE_HATE"),
    ("there is no excuse for letting muslims in, they are all terrorists", "OFFENSIVE_HATE"),
    ("gays are disgusting and should be banned", "OFFENSIVE_HATE"),
    ("i told the year 7s that muslims are terrorists", "OFFENSIVE_HATE"),  # the writer's own telling
    ("hang all the gays", "OFFENSIVE_HATE"),
    ("you fag, put that cigarette out", "OFFENSIVE_HATE"),  # the reader, whatever the cue
])
def test_seventh_pass_hate_still_counts(flt, text: str, code: str) -> None:
    _assert_counts_as(flt, text, code)


@pytest.mark.parametrize("text", [
    "Kill all the zombie processes and try again.",  # no extremism, no finding at all
    "the ball cock in the cistern is stuck again, I'll replace the float valve",
    "Remember to cock the hammer before you dry-fire it at the range.",
    # lists of words: a filter rule, a word list, a spam-token discussion
    r"header   PORN_SUBJ  Subject =~ /\b(?:cock|pussy|whore|slut|cum)\b/i",
    "describe ADULT_WORDS Contains words like cock, pussy or whore",
    'My bayesian filter learned "cock", "whore" and "slut" as spam tokens, which is expected.',
    "the word list has entries like cock, cum, tits and whore in it",
])
def test_seventh_pass_technical_senses_and_word_lists_are_not_held(flt, text: str) -> None:
    findings = flt.analyse([text], Role.EXTERNAL)
    assert not any(f.severity > Severity.LOW for f in findings), findings
    assert not any(f.code.startswith("SAFEGUARDING_") for f in findings), findings


@pytest.mark.parametrize("text", [
    "you slut, whore, bitch",  # a string of insults at the reader: no sign the words are named
    "send me your tits pics",
    "shes a whore, a slut and a skank",
])
def test_a_string_of_insults_is_no_word_list(flt, text: str) -> None:
    found = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in found), found


@pytest.mark.parametrize("text", [
    "Bite me. The patch works on my box and I'm not rewriting it.",
    "Get a life, it's only a mailing list.",
    "STFU and read the FAQ, it's all in there.",
    "You're an idiot if you run it as root, but it's your box.",
    "you're dumb if you think Verisign will fix that",
])
def test_an_adults_rudeness_is_tagged_for_staff_and_held_for_a_pupil(flt, settings, text: str) -> None:
    outsider = "someone@example.org"
    view = make_view(text, mail_from=outsider, rcpt_to=(PUPIL, STAFF), settings=settings)
    findings = flt.analyse([text], Role.EXTERNAL, audience=Audience.of(view))
    bullying = [f for f in findings if f.code == "OFFENSIVE_BULLYING"]
    assert bullying and all(f.severity is Severity.LOW and f.level == 2 for f in bullying), findings
    actions = Policy(settings).decide(view, findings).actions
    assert actions[STAFF] == Action.TAG and actions[PUPIL] == Action.HOLD


@pytest.mark.parametrize("text", [
    "bite me",  # a pupil's: bullying, as before
    "you're an idiot if you think anyone likes you",
    "get a life loser",
])
def test_a_pupils_rudeness_stays_bullying(flt, text: str) -> None:
    found = flt.analyse([text], Role.STUDENT)
    assert any(f.code == "OFFENSIVE_BULLYING" and f.severity > Severity.LOW for f in found), found


@pytest.mark.parametrize("text, sexual", [
    ("The erection of the new steel frame starts on Monday.", False),  # a building
    ("It was an orgy of spending before the election.", False),
    ("Don't be so anal retentive about the tab width.", False),
    ("We still have the shag carpet from 1974 in the lounge.", False),
    ("We saw blue-footed boobies on the Galapagos.", False),  # the seabird
    ("The kitchen-cum-dining room gets the morning sun.", False),  # Latin: with
    ("weed the vegetable beds with a hoe before planting", False),  # the garden tool
    ("the hoes are in the garden shed next to the rake", False),
    ("she is such a hoe", True),
    ("you hoe", True),
    ("get an erection", True),
    ("he came all over her, cum everywhere", True),
])
def test_the_other_senses_of_sexual_words_are_not_sexual(flt, text: str, sexual: bool) -> None:
    assert ("OFFENSIVE_SEXUAL" in codes(flt, text, Role.EXTERNAL)) is sexual, flt.analyse([text], Role.EXTERNAL)


@pytest.mark.parametrize("text, aimed", [
    ("you crafty bastard", False),  # admiration (seventh pass)
    ("you mad bastard, you actually did it", False),
    ("you are one funny bastard", False),
    ("fuck off you're joking", False),  # disbelief with no comma
    ("fuck off no way", False),
    ("fuck off you loser", True),
    ("fuck off you freak nobody likes you", True),
    ("you're a clever idiot", True),
    ("you nasty bastard", True),
])
def test_seventh_pass_admiration_and_disbelief_are_not_aimed(flt, text: str, aimed: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is aimed, findings


@pytest.mark.parametrize("text, held", [
    ("i'm the biggest poof in the year and proud of it", False),  # reclaimed (seventh pass)
    ("i'm a big fat dyke and my girlfriend loves me", False),
    ("the dykes on bikes crew are riding at pride", False),  # a name
    ("nigga i'm so tired, see you tomorrow", False),  # opening the writer's own sentence
    ("im a slut for pizza lol", False),
    ("im going to kill that dyke", True),
    ("im telling that dyke to leave", True),
    ("im a friend of that fag", True),
    ("she is a slut", True),
    ("nigga please die", True),
])
def test_seventh_pass_reclaimed_words(flt, text: str, held: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is held, findings


@pytest.mark.parametrize("text, held", [
    ('Seeing "black people are criminals" on my feed ruined my day.', False),  # seen, and judged
    ("Anyone who calls refugees parasites has no idea what they've been through.", False),
    ('i saw "muslims are terrorists" on a sign and i agree', True),  # agreed with: the writer's own
    ('he said "muslims are terrorists" and thats so true', True),
    ("anyone who calls refugees parasites is right", True),
])
def test_seventh_pass_seen_judged_or_agreed(flt, text: str, held: bool) -> None:
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is held, findings


# -- the eighth pass: the judgement in the next sentence, a report after a colon, swear words
# said of things (own school-style and mailing-list wording) --

@pytest.mark.parametrize("text", [
    'Someone wrote "immigrants are animals" on the board. Saying that is disgusting.',
    '"Disabled people are a burden." What a vile thing to say.',  # no split at ." for the model's chunks
    '"All immigrants are criminals". How can anyone think that?',
    "trans people are freaks. thats what he put on his story and its vile",
    '"Muslims are terrorists." Comments like that have no place in our school.',
    "Black people are monkeys. Whoever wrote that on the toilet wall should be ashamed.",
    "Immigrants are vermin. That's the kind of thing racists say and it's wrong.",
    '"disabled people should be locked up." i hate that people think like this.',
    # a report to staff, the speech cue before a colon
    'This is what Lily wrote in the group chat: "gays are disgusting". Can you do something?',
    'I\'m reporting a comment on the school insta: "black people are monkeys".',
])
def test_eighth_pass_judged_next_or_reported_is_not_held(flt, settings, text: str) -> None:
    _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, code", [
    ("muslims are animals. they should all be deported", "OFFENSIVE_HATE"),
    ('"Gays are disgusting." Totally agree.', "OFFENSIVE_HATE"),
    ("Women are stupid. Saying that isn't sexist, it's just facts.", "OFFENSIVE_HATE"),
    ("Black people are criminals. Saying it doesn't make me racist.", "OFFENSIVE_HATE"),
    ("Immigrants are vermin. Everyone knows it's true.", "OFFENSIVE_HATE"),
    ("gay people are disgusting. i said it and i meant it", "OFFENSIVE_HATE"),
    ('my opinion: "gays are disgusting"', "OFFENSIVE_HATE"),  # a colon, no one else's words
    ('the truth about them in one line: "gays are disgusting"', "OFFENSIVE_HATE"),
    ("Black people are monkeys. That is so true.", "OFFENSIVE_HATE"),
])
def test_eighth_pass_hate_still_counts(flt, text: str, code: str) -> None:
    _assert_counts_as(flt, text, code)


@pytest.mark.parametrize("text, aimed", [
    ("that test was a bitch", False),
    ("the climb was a bitch but the view was worth it", False),
    ("the maths paper was a right bastard", False),
    ("parking at school is such a bitch", False),  # a gerund for a subject
    ("getting up at 6 is a bitch", False),
    ("Debian's packaging is such a bitch", False),  # a name's thing
    ("The bastard thing segfaults on startup.", False),
    ("Wow, that's a bitch. Sorry to hear about the disk.", False),
    ("my sister is a bitch", True),
    ("the new kid is a prick", True),
    ("jess is a bitch", True),  # no determiner: a name
    ("that girl is such a bitch", True),
    ("the ref was a prick", True),
    ("the one in 9b is a bitch", True),
    ("the girl who sits next to me is a total bitch", True),
    ("your mum is a bitch", True),
    ("whoever took my bag is a bastard", True),
    ("Jess's boyfriend is a prick", True),
])
def test_eighth_pass_a_swear_word_said_of_a_thing_is_not_aimed(flt, text: str, aimed: bool) -> None:
    _assert_above_low(flt, text, aimed)


def _assert_above_low(flt, text: str, expected: bool) -> None:
    """A pupil's text has a finding above LOW (held for a pupil) exactly when `expected`."""
    findings = flt.analyse([text], Role.STUDENT)
    assert any(f.severity > Severity.LOW for f in findings) is expected, findings


@pytest.mark.parametrize("text, held", [
    ("sorry I was such a bitch yesterday, I was tired", False),  # of oneself
    ("I was being a dick earlier, sorry", False),
    ("as a total bitch myself i get it", False),
    ("that's a dick move", False),  # a rude act, not sex
    ("you were such a bitch yesterday", True),
    ("you're a dick", True),
    ("he is such a dick", True),
    ("what a dick, he pushed me", True),
    ("suck a dick", True),  # sexual, as before
    ("send me a dick pic", True),
])
def test_eighth_pass_of_oneself_and_the_insult_sense(flt, text: str, held: bool) -> None:
    _assert_above_low(flt, text, held)


@pytest.mark.parametrize("text, code", [
    ("suck a dick", "OFFENSIVE_SEXUAL"),
    ("send me a dick pic", "OFFENSIVE_SEXUAL"),
    ("i want your dick", "OFFENSIVE_SEXUAL"),
    ("he is such a dick", "OFFENSIVE_PROFANITY_MILD"),  # the insult: aimed swearing, held for a pupil
])
def test_eighth_pass_dick_is_sexual_or_an_insult(flt, text: str, code: str) -> None:
    _assert_counts_as(flt, text, code)


@pytest.mark.parametrize("body, held", [
    # Supercite's and Gnus's quoting ("ALB> ...", "    Tim> ..."): earlier mail of the thread too
    ("Agreed, it was a long thread.\n\nALB> what a prick that reviewer is\nALB> he never reads the patch\n", False),
    ("Quite.\n\n    Tim> those bastards at the phone company cut me off again\n", False),
    # the writer's own words below such a quote are read as ever
    ("ALB> the meeting is on Tuesday\n\nwhat a prick that reviewer is\n", True),
    # not a quotation: ">" inside a sentence or code
    ("if a>b then what a prick that reviewer is\n", True),
])
async def test_supercite_quoting_is_earlier_mail(flt: OffensiveFilter, settings, body: str, held: bool) -> None:
    view = make_view(body, mail_from="someone@example.org", rcpt_to=(PUPIL,), settings=settings)
    findings = await flt.check(view)
    verdict = Policy(settings).decide(view, findings)
    assert (verdict.actions[PUPIL] >= Action.HOLD) is held, [(f.code, f.severity, f.evidence) for f in findings]


@pytest.mark.parametrize("text, held", [
    # counter-speech that swears at the speakers of hate, or at bigots: no one is abused
    ("Gay people are disgusting? Anyone who says that is a dickhead.", False),
    ("racists are dickheads", False),
    ("homophobes are pricks", False),
    # agreement, the reader, or one person named stay held
    ('"Immigrants are vermin." Whoever wrote that is right.', True),
    ("racists like you are pricks", True),
    ("you're a racist bastard", True),
])
def test_eighth_pass_counter_speech_that_swears(flt, text: str, held: bool) -> None:
    _assert_above_low(flt, text, held)


def test_a_colon_report_whose_cue_opens_the_text_is_read_whatever_the_last_word(flt, settings) -> None:
    """A colon report whose speech cue is the text's first token (no speaker before it), with and
    without "we" as the last word. This end-to-end form passed before the speaker fix too (the
    quoted words are read as reported by another path); it guards the form, not the index."""
    _assert_no_hate_and_not_held(flt, settings, 'Said in the year 9 group chat: "gays are disgusting". Please help, thats all we')
    _assert_no_hate_and_not_held(flt, settings, 'Said in the year 9 group chat: "gays are disgusting". Please help us')


# -- the ninth pass: listed hate judged in its own sentence by counter.py's grammar (the risk
# filter's reading), not only by framing.txt's cue phrases (own school-style wording) --

@pytest.mark.parametrize("text", [
    'Comments such as "gay people are disgusting" make me feel sick.',
    '"muslims are rapists" is a disgusting lie.',
    "Your opinion that women are worthless is disgusting.",
    'Statements like "muslims are scum" are really hurtful to people at our school.',
    "Claiming that muslims are terrorists is pure bigotry.",
])
def test_ninth_pass_hate_judged_in_its_own_sentence_is_not_held(flt, settings, text: str) -> None:
    _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text", [
    "i dont hate anyone but muslims are scum",  # a denial of hating is not a judgement of the words
    "dont say anything, you retard",  # the reader called the slur
    "my opinion that gay people are disgusting is right",  # agreement: "right" is no condemnation
    '"muslims are rapists" is so true',
    "gay people are disgusting and sick",  # the judgement is the hate itself
])
def test_ninth_pass_hate_not_judged_still_counts(flt, text: str) -> None:
    _assert_counts_as(flt, text, "OFFENSIVE_HATE")


@pytest.mark.parametrize("text, held", [
    # the speakers of hate sworn at in the same sentence, or the swear word one of the hateful words
    ("Anyone who says gay people are disgusting is a dickhead.", False),
    ("Only a prick would say trans people are freaks.", False),
    ("Anyone who thinks disabled people are worthless can piss off.", False),
    ("You can't describe trans people as a bunch of pricks.", False),
    ("If you think gay people are bastards, you should be ashamed.", False),
    # a person named, or the reader sworn at, stays aimed
    ("He's a prick for saying gay people are disgusting.", True),
    ("that prick who said muslims are scum", True),
    ("If you think that, you are a bastard", True),
    ("You can't say gay people are disgusting, you prick", True),
    ("jess is a prick", True),
])
def test_ninth_pass_swearing_at_the_speakers_of_hate_in_the_same_sentence(flt, text: str, held: bool) -> None:
    _assert_above_low(flt, text, held)


@pytest.mark.parametrize("text", [
    "People who use the word nigger are racists.",
    "Your post saying disabled people are subhuman was reported.",
    "Posts calling immigrants cockroaches should be taken down.",
    "If I hear one more person call disabled kids retards I'll report them.",
    '"Jews are rats" is straight from nazi propaganda.',
    "that dyke is my girlfriend and i love her",  # the writer's own partner
])
def test_ninth_pass_more_counter_speech_and_reclaiming_is_not_held(flt, settings, text: str) -> None:
    _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, hate", [
    ("Immigrants do not deserve to be shot.", False),  # a harm denied (counter.py, ninth pass)
    ("immigrants should be shot", True),
])
def test_ninth_pass_a_harm_denied_is_no_hate(flt, settings, text: str, hate: bool) -> None:
    if hate:
        _assert_counts_as(flt, text, "OFFENSIVE_HATE")
    else:
        _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, hate", [
    # the person is the one doing it, the cue between them and the word (ninth pass)
    ("He smoked a fag outside the pub.", False),
    ("She lit a fag and walked off.", False),
    ("They vanished in a poof of smoke.", False),
    # a person called it, or likened to it
    ("he is a fag who smokes", True),
    ("he smokes like a fag", True),
    ("smoke a fag you fag", True),
])
def test_ninth_pass_a_homonym_after_the_person_who_uses_the_thing(flt, settings, text: str, hate: bool) -> None:
    if hate:
        _assert_counts_as(flt, text, "OFFENSIVE_HATE")
    else:
        _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, hate", [
    ("Nigga what?", False),  # a sentence opened by addressing a friend (ninth pass)
    ("Nigga, what's up?", False),
    ("nigga you ugly", True),  # before a "you": what follows may be the abuse
    ("Niggers, get out", True),  # never the "-er" slur
])
def test_ninth_pass_a_sentence_opening_address(flt, settings, text: str, hate: bool) -> None:
    if hate:
        _assert_counts_as(flt, text, "OFFENSIVE_HATE")
    else:
        _assert_no_hate_and_not_held(flt, settings, text)


@pytest.mark.parametrize("text, held", [
    ("The bitch of it is I missed the bus.", False),  # the annoying part of something (ninth pass)
    ("the bastard of it is, the bus was on time", False),
    ("you bitch of a girl", True),
])
def test_ninth_pass_the_bitch_of_it(flt, text: str, held: bool) -> None:
    _assert_above_low(flt, text, held)
