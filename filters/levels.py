"""Safeguarding risk levels 1-5: the code -> default level table, the rules that raise or lower a level, and urgency.

One place for the grading (issue 17), read by the offensive filter, the risk
filter, the policy (which grades any safeguarding finding a filter left at 0),
the DSL alert (urgency) and the Head's report (incidents by level). The levels
follow the way UK monitoring services grade (Smoothwall, Securus):

    5  intent with a plan, method or time; a weapon brought to school; an adult
       arranging to meet a pupil in secret
    4  a disclosure of self-harm or abuse; an explicit threat
    3  concerning mood; bullying without a threat
    2  abuse aimed at someone
    1  language only
    0  not graded (a finding outside the safeguarding/offensive families)

docs/safeguarding.md prints the same table for the DSL; tests/filters/test_levels.py
checks every code of the offensive and risk filters has a row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from filters.base import Category, Finding, SAFEGUARDING_CATEGORIES, Severity

PLAN, DISCLOSURE, CONCERN, AIMED, LANGUAGE, UNGRADED = 5, 4, 3, 2, 1, 0


@dataclass(frozen=True, slots=True)
class Grade:
    """A code's default level and an example the DSL recognises."""

    level: int
    example: str


# code -> default level. A rule below may raise it (a plan, a weapon at school,
# a secret meeting) or lower it (a topic named, not a disclosure).
LEVELS: dict[str, Grade] = {
    # offensive language and abuse
    "OFFENSIVE_PROFANITY_MILD": Grade(LANGUAGE, "damn, this homework"),
    "OFFENSIVE_PROFANITY_STRONG": Grade(LANGUAGE, "f*** this"),
    "OFFENSIVE_MODEL_SCORE": Grade(LANGUAGE, "what a load of rubbish lol (scored abusive)"),
    "OFFENSIVE_MENTIONED": Grade(LANGUAGE, "'saying \"<slur>\" is not ok' (2 when reported: 'he called me a ...')"),
    "OFFENSIVE_SEXUAL": Grade(AIMED, "sexual wording, or 'send me your nudes'"),
    "OFFENSIVE_PORNOGRAPHY": Grade(AIMED, "a link to a porn site"),
    "OFFENSIVE_HATE": Grade(AIMED, "a slur; 'all <group> are vermin'"),
    "OFFENSIVE_MISOGYNY": Grade(AIMED, "'women belong in the kitchen', 'foids'"),
    "OFFENSIVE_BULLYING": Grade(AIMED, "'you are such a loser' (raised to 3 for exclusion or 'kys')"),
    "OFFENSIVE_THREAT": Grade(DISCLOSURE, "'I'm going to stab you after school'"),
    "OFFENSIVE_DRUGS": Grade(LANGUAGE, "naming a drug (raised to 3 for buying or selling)"),
    "OFFENSIVE_GAMBLING": Grade(LANGUAGE, "a betting site (raised to 3 for a pupil's losses or debt)"),
    "OFFENSIVE_FRAUD": Grade(CONCERN, "'earn 500 quick, just lend us your bank account'"),
    # safeguarding
    "SAFEGUARDING_SELF_HARM": Grade(DISCLOSURE, "'i cut myself again' (5 with a method or time, 3 for mood)"),
    "SAFEGUARDING_EATING_DISORDER": Grade(DISCLOSURE, "'i make myself sick after every meal'"),
    "SAFEGUARDING_GROOMING": Grade(DISCLOSURE, "an adult: 'our little secret, add me on snapchat'"),
    "SAFEGUARDING_EXTREMISM": Grade(DISCLOSURE, "'join the race war', 'heil hitler 1488'"),
    "SAFEGUARDING_TERRORISM": Grade(PLAN, "'how to make a pipe bomb', an attack plan"),
    "SAFEGUARDING_WEAPON": Grade(PLAN, "'I'm bringing a knife to school tomorrow'"),
    "SAFEGUARDING_SEXTORTION": Grade(PLAN, "'send more or I post your pics to everyone'"),
    "SAFEGUARDING_EXPLOITATION": Grade(DISCLOSURE, "'run this bag to the next town, you owe us'"),
    "SAFEGUARDING_COERCIVE_CONTROL": Grade(DISCLOSURE, "'send me your location now or we are done'"),
    # the risk model (filters/risk.py)
    "RISK_SELF_HARM": Grade(DISCLOSURE, "'nobody would miss me if i was gone' (5 with a method or time)"),
    "RISK_VIOLENT_THREAT": Grade(DISCLOSURE, "'you won't be walking home on friday'"),
    "RISK_BULLYING": Grade(CONCERN, "'we all agreed you're the ugliest in year 9'"),
    "RISK_HATE": Grade(AIMED, "coded or implicit hate about a group"),
    "RISK_SEXUAL": Grade(AIMED, "sexual content"),
    "RISK_GROOMING": Grade(DISCLOSURE, "an adult moving a pupil to a private app with secrecy"),
    # the image filter (filters/images.py grades these itself: [images] hash_match_level, nudity_level)
    "IMAGE_HASH_MATCH": Grade(PLAN, "an image on the list of known indecent images"),
    "IMAGE_NUDITY": Grade(DISCLOSURE, "a nude image in pupil mail (classifier)"),
    # the disclosure filter's safeguarding code
    "MEETING_ARRANGEMENT": Grade(CONCERN, "a pupil arranging to meet someone (5 in secret)"),
}

# Default for a safeguarding finding whose code has no row (a site's own filter).
CATEGORY_DEFAULT: dict[Category, int] = {c: DISCLOSURE for c in SAFEGUARDING_CATEGORIES}

# -- the rules (cues on the normalised text: lower case, one space between words) --
# A method or a time beside self-harm wording makes it a plan (level 5).
_METHOD = re.compile(
    r"\b(pills?|tablets?|paracetamol|overdose|rope|noose|hang myself|jump (off|in front)|bridge|train tracks|"
    r"blades?|razors?|bleach|gun)\b")
_TIME = re.compile(
    r"\b(tonight|tomorrow|tmrw|today|this (weekend|week|evening|morning|friday|saturday|sunday|monday|tuesday|"
    r"wednesday|thursday)|on (friday|saturday|sunday|monday|tuesday|wednesday|thursday)|after school|next week|"
    r"when i get home|by the time)\b")
_FAREWELL = re.compile(
    r"\b(given (all )?(my|away my) (stuff|things)|giv\w* (my|all my) (stuff|things) away|goodbye forever|"
    r"say goodbye to everyone|suicide note|it (all )?ends|this is the end|when im gone|look after my|"
    r"(wrote|written|left) (a )?(note|letters?))\b")
# Secrecy in the evidence of a meeting arrangement (filters/disclosure.py adds its secrecy spans).
_SECRECY = re.compile(r"\b(dont tell|do not tell|secret|secretly|between us|nobody needs to know|"
                      r"no one needs to know|delete (this|these|our))\b")


def _cue_text(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("'", "").replace("\u2019", "")).split())


def has_plan(text: str) -> bool:
    """A method, a time or a goodbye: what turns suicidal wording into a plan."""
    t = _cue_text(text)
    return bool(_METHOD.search(t) or _TIME.search(t) or _FAREWELL.search(t))


def grade(code: str, cues: Iterable[str] = (), text: str = "") -> int:
    """The level of one finding from its code, the cues the filter saw and its evidence text.

    cues are names the filters use for what matched: "topic" (self-harm named,
    not disclosed), "disclosure", "mood", "exclusion", "insult", "weapon_school",
    "secrecy", "meeting", "photo", "gift", "channel", "flattery", "dealing", "debt".
    """
    base = LEVELS[code].level if code in LEVELS else UNGRADED
    cues = set(cues)
    if code in ("SAFEGUARDING_SELF_HARM", "RISK_SELF_HARM", "SAFEGUARDING_EATING_DISORDER"):
        if code != "SAFEGUARDING_EATING_DISORDER" and has_plan(text):
            return PLAN
        if cues and cues <= {"topic", "mood"}:  # the subject named, or a low mood, no first-person act
            return CONCERN
        return DISCLOSURE
    if code == "OFFENSIVE_THREAT" and "weapon_school" in cues:
        return PLAN
    if code == "OFFENSIVE_BULLYING":
        return CONCERN if cues & {"exclusion", "kys"} else AIMED
    if code in ("SAFEGUARDING_GROOMING", "MEETING_ARRANGEMENT", "RISK_GROOMING"):
        if "meeting" in cues and "secrecy" in cues:
            return PLAN  # an adult arranging to meet a pupil in secret
        kinds = cues & {"secrecy", "meeting", "photo", "gift", "channel", "flattery", "alone"}
        if code == "SAFEGUARDING_GROOMING":
            return DISCLOSURE if len(kinds) >= 2 or "photo" in kinds else CONCERN
        return base
    if code in ("OFFENSIVE_DRUGS", "OFFENSIVE_GAMBLING"):
        return CONCERN if cues & {"dealing", "debt"} else LANGUAGE
    return base


def default_level(finding: Finding) -> int:
    """The level of a finding a filter did not grade: its code's row, else its category's default."""
    if finding.level:
        return finding.level
    if finding.code in LEVELS:
        text = " ".join(finding.evidence)
        cues = {"meeting", "secrecy"} if (finding.code == "MEETING_ARRANGEMENT"
                                          and _SECRECY.search(_cue_text(text))) else set()
        return grade(finding.code, cues, text)
    return CATEGORY_DEFAULT.get(finding.category, UNGRADED)


def severity_for(level: int) -> Severity:
    """The severity that matches a safeguarding level, so 'critical' means level 5 only."""
    return {PLAN: Severity.CRITICAL, DISCLOSURE: Severity.HIGH, CONCERN: Severity.MEDIUM}.get(level, Severity.LOW)


def max_level(findings: Iterable[Finding]) -> int:
    return max((f.level for f in findings), default=UNGRADED)


@dataclass(frozen=True, slots=True)
class Urgency:
    """How the DSL is told about a hold at this level (quarantine/notify.py)."""

    label: str
    who: str
    how_fast: str
    subject_prefix: str
    priority: str  # X-Priority (1 highest .. 5 lowest), read by Outlook, Thunderbird and Apple Mail
    importance: str  # Importance: (RFC 2156) high | normal | low
    deputy_at_once: bool  # the deputy DSL is copied on the first alert, not after the escalation wait


URGENCY: dict[int, Urgency] = {
    PLAN: Urgency("immediate", "DSL and deputy DSL", "at once; the deputy is copied on the first alert",
                  "[URGENT level 5]", "1", "high", True),
    DISCLOSURE: Urgency("urgent", "DSL", "at once; the deputy after [notify] escalate_after_minutes",
                        "[Level 4]", "2", "high", False),
    # level 3 alerts the DSL only for a safeguarding category (filters/policy.py); bullying,
    # fraud or drugs at level 3 are held for reviewers
    CONCERN: Urgency("today", "DSL for a safeguarding category, else reviewers",
                     "at once, normal priority; the deputy after the escalation wait",
                     "[Level 3]", "3", "normal", False),
    AIMED: Urgency("review", "reviewers (queue and digest)", "the next review round; no DSL alert",
                   "[Level 2]", "3", "normal", False),
    LANGUAGE: Urgency("review", "reviewers (queue and digest)", "the next review round; no DSL alert",
                      "[Level 1]", "5", "low", False),
    UNGRADED: Urgency("review", "reviewers", "the next review round", "", "3", "normal", False),
}


def urgency(level: int) -> Urgency:
    return URGENCY.get(max(UNGRADED, min(PLAN, level)), URGENCY[UNGRADED])
