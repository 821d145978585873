"""Risk levels 1-5 (filters/levels.py): every code graded, the spec's examples at their level,
severity that follows the level, and the policy's level floor and DSL alert."""
from __future__ import annotations

import pytest

from filters import levels
from filters.base import Action, Category, FilterContext, Finding, Role, Severity
from filters.offensive import _KINDS, MODEL_CODE, STRONG_PROFANITY, Audience, OffensiveFilter, Options
from filters.policy import Policy
from filters.risk import CODES as RISK_CODES
from tests.factories import make_settings, make_view

SCHOOL = "school.sch.uk"
PUPILS = f"pupils.{SCHOOL}"
PUPIL = f"pupil@{PUPILS}"
PUPIL2 = f"friend@{PUPILS}"
STAFF = f"teacher@{SCHOOL}"
STRANGER = "stranger@example.net"


@pytest.fixture(scope="module")
def flt() -> OffensiveFilter:
    return OffensiveFilter(Options(), FilterContext(settings=None, directory=None))


@pytest.fixture(scope="module")
def settings():
    return make_settings(school={"domains": [SCHOOL, PUPILS]},
                         directory={"domain_roles": {SCHOOL: "staff", PUPILS: "student"}})


def test_every_offensive_and_risk_code_has_a_level() -> None:
    codes = {code for _, code, _ in _KINDS.values()} | {STRONG_PROFANITY, MODEL_CODE}
    codes |= {code for code, _ in RISK_CODES.values()}
    missing = sorted(c for c in codes if c not in levels.LEVELS)
    assert not missing
    assert all(1 <= g.level <= 5 and g.example for g in levels.LEVELS.values())


def test_only_level_five_is_critical() -> None:
    assert [levels.severity_for(n) for n in (5, 4, 3, 2, 1, 0)] == [
        Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.LOW, Severity.LOW]


PUPIL_TO_PUPIL = Audience(Role.STUDENT, ((PUPIL, Role.STUDENT),))
ADULT_TO_PUPIL = Audience(Role.EXTERNAL, ((PUPIL, Role.STUDENT),))


# The issue's tiers, one example (written for these tests) per row.
@pytest.mark.parametrize("text, audience, code, level", [
    # 5: intent with a plan, method or time; a weapon brought to school; a secret meeting
    ("ive given my stuff away, i want to die, this weekend it ends", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 5),
    ("i want to kill myself tonight, i have the pills", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 5),
    ("im bringing a knife to school tomorrow", PUPIL_TO_PUPIL, "SAFEGUARDING_WEAPON", 5),
    ("lets meet at the park after school. dont tell your mum, its our secret", ADULT_TO_PUPIL,
     "SAFEGUARDING_GROOMING", 5),
    ("send more pics or ill post them to everyone", ADULT_TO_PUPIL, "SAFEGUARDING_SEXTORTION", 5),
    # the issue's examples that had no finding at all
    ("i took a load of pills last night", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 5),
    ("ive given my stuff away, this weekend it ends", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 5),
    ("nobody would miss me if i was gone", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 4),
    # 4: a disclosure of self-harm or abuse; an explicit threat
    ("i cut myself again last week", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 4),
    ("i make myself sick after eating", PUPIL_TO_PUPIL, "SAFEGUARDING_EATING_DISORDER", 4),
    ("im going to stab you", PUPIL_TO_PUPIL, "OFFENSIVE_THREAT", 4),
    ("you are so mature for your age, send me a pic of you in your pyjamas", ADULT_TO_PUPIL,
     "SAFEGUARDING_GROOMING", 4),
    ("youre not allowed to see your friends any more", PUPIL_TO_PUPIL, "SAFEGUARDING_COERCIVE_CONTROL", 4),
    # 3: concerning mood, bullying without a threat
    ("i cant do this anymore", PUPIL_TO_PUPIL, "SAFEGUARDING_SELF_HARM", 3),
    ("nobody likes you, everyone would be happier without you", PUPIL_TO_PUPIL, "OFFENSIVE_BULLYING", 3),
    ("add me on snapchat", ADULT_TO_PUPIL, "SAFEGUARDING_GROOMING", 3),
    # the issue's bullying with no swear word (written for the issue), and a threat to share a photo
    ("we all agreed youre the ugliest and most pathetic person in year 9, even your friends laugh at you",
     PUPIL_TO_PUPIL, "OFFENSIVE_BULLYING", 3),
    ("im going to send that pic of you to everyone in year 9", PUPIL_TO_PUPIL, "OFFENSIVE_BULLYING", 3),
    ("who has some weed for friday", PUPIL_TO_PUPIL, "OFFENSIVE_DRUGS", 3),
    # 2: abuse aimed at someone
    ("you are such a loser", PUPIL_TO_PUPIL, "OFFENSIVE_BULLYING", 2),
    ("all muslims are animals", PUPIL_TO_PUPIL, "OFFENSIVE_HATE", 2),
    # 1: language only
    ("this homework is fucking pointless", PUPIL_TO_PUPIL, "OFFENSIVE_PROFANITY_STRONG", 1),
    ("he called me a loser in front of everyone", PUPIL_TO_PUPIL, "OFFENSIVE_MENTIONED", 2),
    ("the news said cocaine was found", PUPIL_TO_PUPIL, "OFFENSIVE_DRUGS", 1),
])
def test_levels_follow_the_issue_tiers(flt: OffensiveFilter, text: str, audience: Audience, code: str,
                                       level: int) -> None:
    by_code = {f.code: f for f in flt.analyse([text], audience.sender_role, audience=audience)}
    assert code in by_code, by_code
    assert by_code[code].level == level


def test_every_finding_is_graded(flt: OffensiveFilter) -> None:
    texts = ["fuck off you idiot, nobody likes you", "i want to die", "women belong in the kitchen",
             "check out pornhub", "bet365 free spins"]
    for text in texts:
        for finding in flt.analyse([text], Role.STUDENT):
            assert 1 <= finding.level <= 5, finding


def test_policy_grades_what_a_filter_left_ungraded(settings) -> None:
    view = make_view("hi", mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    meeting = Finding("MEETING_ARRANGEMENT", "disclosure", Category.MEETING, Severity.HIGH, ("meet me",), "x")
    other = Finding("VIRUS_FOUND", "virus", Category.VIRUS, Severity.CRITICAL, ("Eicar",), "x")
    verdict = Policy(settings).decide(view, [meeting, other])
    graded = {f.code: f.level for f in verdict.findings}
    assert graded == {"MEETING_ARRANGEMENT": 3, "VIRUS_FOUND": 0}


async def test_level_four_holds_and_alerts_whatever_the_category(flt: OffensiveFilter, settings) -> None:
    # a threat is not a safeguarding category, but an explicit threat (level 4) goes to the DSL
    view = make_view("im going to stab you after school", mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.actions[PUPIL2] == Action.HOLD and "dsl" in verdict.alerts
    # an insult (level 2) is held by the bullying rule, without waking the DSL
    view = make_view("you are such a loser", mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.actions[PUPIL2] == Action.HOLD and "dsl" not in verdict.alerts


def test_urgency_table() -> None:
    assert levels.urgency(5).deputy_at_once and levels.urgency(5).priority == "1"
    assert not levels.urgency(4).deputy_at_once and levels.urgency(4).importance == "high"
    assert levels.urgency(9) == levels.urgency(5) and levels.urgency(-1) == levels.urgency(0)
    assert [levels.urgency(n).subject_prefix for n in (5, 4, 3)] == ["[URGENT level 5]", "[Level 4]", "[Level 3]"]


def test_a_secret_meeting_from_the_disclosure_filter_is_level_five(settings) -> None:
    view = make_view("hi", mail_from=PUPIL, rcpt_to=(STRANGER,), settings=settings)
    plain = Finding("MEETING_ARRANGEMENT", "disclosure", Category.MEETING, Severity.HIGH,
                    ("meet me at the station",), "x")
    secret = Finding("MEETING_ARRANGEMENT", "disclosure", Category.MEETING, Severity.HIGH,
                     ("meet me at the station", "don't tell your mum"), "x")
    verdict = Policy(settings).decide(view, [plain])
    assert [f.level for f in verdict.findings] == [3]
    verdict = Policy(settings).decide(view, [secret])
    assert [f.level for f in verdict.findings] == [5]


async def test_bullying_without_a_swear_word_is_held_between_pupils(flt: OffensiveFilter, settings) -> None:
    # issue 17: this was only tagged
    text = "we all agreed youre the ugliest and most pathetic person in year 9, even your friends laugh at you"
    view = make_view(text, mail_from=PUPIL, rcpt_to=(PUPIL2,), settings=settings)
    verdict = Policy(settings).decide(view, await flt.check(view))
    assert verdict.actions[PUPIL2] == Action.HOLD
