"""Detectors for UK personal details in free text: compiled once, returning spans.

Cost is the design constraint (every pupil's mail passes here): one
Aho-Corasick pass over the lower-cased text finds the keywords, and each
keyword-driven regex runs only in small windows around its keywords; the two
digit-driven searches (phone numbers, postcodes) start with a character class
the regex engine can skip to; `phonenumbers` is only called on candidate digit
runs that already look like a UK number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import ahocorasick
import phonenumbers
from phonenumbers import PhoneNumberType

Span = tuple[int, int]

# --- phone numbers -------------------------------------------------------------------

# A UK number as people type it: +44 / 0044 (optionally "(0)") then 9-10 digits,
# or a national 0 then 9-10 digits; single spaces, hyphens or brackets between
# digits (so "0 7 7 0 0 ..." and "(01632) 960123" are candidates). Not glued to
# a word, a URL/query (/ = & #), a currency sign or a decimal point, so
# "0.7700900123", "id=07700900123" and "£07700900123" are never candidates.
# Possessive repeats: a 13-digit run is not shortened into a phone number.
_SEP = r"[ \t()\-]{0,2}"
# The first character is matched before the look-behinds (which look back past
# it), so the engine can jump to the next "+", "(" or "0" instead of trying the
# whole pattern at every position: several times faster.
_TAIL = rf"[1-9](?:{_SEP}\d){{8,9}}+(?![\w])(?![.,/\-]\d)"
PHONE_CANDIDATE = re.compile(
    rf"[+(0](?<![\w/=&#@$£€+.\-][+(0])(?<!\d[.,][+(0])"
    rf"(?:(?<=\+)[ \t]?44{_SEP}(?:\(0\){_SEP})?{_TAIL}"
    rf"|(?<=0)0[ \t]?44{_SEP}(?:\(0\){_SEP})?{_TAIL}"
    rf"|(?<=\()0{_SEP}{_TAIL}"
    rf"|(?<=0){_SEP}{_TAIL})")
# Types a person can be reached on. Freephone, premium, shared-cost and 03 UAN
# numbers belong to organisations (Childline, a shop's helpline), not pupils.
PERSONAL_TYPES = frozenset({
    PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.VOIP, PhoneNumberType.PAGER,
    PhoneNumberType.VOICEMAIL})
SERVICE_TYPES = frozenset({
    PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN})

# Ofcom's ranges reserved for drama (TV, books, test data): "possible" numbers
# that libphonenumber does not call valid. National significant numbers.
DRAMA_PREFIXES = ("7700900", "1632960", "1134960", "1144960", "1154960", "1164960", "1174960",
                  "1184960", "1214960", "1314960", "1414960", "1514960", "1614960", "2079460",
                  "1914980", "2896496", "2920180", "3069990", "8081570", "9098790")


def phone_key(raw: str) -> str | None:
    """E.164 of a UK number as written ("0113 496 0000" -> "+441134960000"), None if unparseable."""
    try:
        number = phonenumbers.parse(raw, "GB")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- postcodes -----------------------------------------------------------------------

# Royal Mail format rules: first letter never Q V X; second letter never I J Z;
# the letter after a one-letter area's digit from ABCDEFGHJKPSTUW; after a
# two-letter area's digit from ABEHMNPRVWXY; the inward letters never C I K M O V.
POSTCODE = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<out>[A-PR-UWYZ](?:[A-HK-Y]\d[ABEHMNPRVWXY]|[A-HK-Y]\d{1,2}|\d[A-HJKPSTUW]|\d{1,2}))"
    r" ?(?P<in>\d[ABD-HJLNP-UW-Z]{2})"
    r"|GIR ?0AA)(?![\w-])",
    re.IGNORECASE)

# The 124 postcode areas in use (plus BF for BFPO, BX non-geographic): a shape
# that fits the format but names no area ("QQ1 1AA", "ZZ9 9ZZ") is not a postcode.
POSTCODE_AREAS = frozenset("""
AB AL B BA BB BD BF BH BL BN BR BS BT BX CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY
E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN
LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP
SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE""".split())


# The inward code ("1AA") is where a postcode search starts: a digit is quick to
# find; the outward code is then checked just before it.
INWARD = re.compile(r"\d[abd-hjlnp-uw-z]{2}(?![\w-])")


def postcode_key(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


# --- addresses -----------------------------------------------------------------------

STREET_SUFFIXES = (
    "road", "rd", "street", "st", "avenue", "ave", "lane", "ln", "close", "drive", "way", "crescent", "cres",
    "grove", "gardens", "gdns", "place", "court", "terrace", "walk", "mews", "rise", "square", "sq", "row",
    "parade", "vale", "croft", "mount", "meadow", "meadows", "chase", "hill", "park", "green", "view", "gate",
    "brow", "wharf", "fold", "villas", "cottages")
# Words that are never part of a street name ("2 dogs on the road", "120 gb hard drive").
_NOT_NAME = (r"(?!(?:the|a|an|on|in|of|to|and|at|my|your|ur|our|his|her|their|for|down|up|by|from|"
             r"with|is|was|or|off|into|onto|across|along|this|that|more|other|new|old|big|million|billion|"
             r"thousand|hundred|gb|mb|kb|tb|ghz|mhz|dvd|cd|bit|inch|percent|"
             r"days?|weeks?|years?|hours?|mins?|minutes?|times?|miles?|km)\b)")
STREET = re.compile(
    rf"(?<![\w.,/:-])\d{{1,4}}[a-w]?,?[ \t]+(?:{_NOT_NAME}[a-z][a-z'\-]+[ \t]+){{1,3}}"
    rf"(?:{'|'.join(STREET_SUFFIXES)})\b(?!')")
# A house number + street is a home address when the pupil puts it in a
# location context or next to a postcode; on its own it is as often a
# business signature ("Level 3, 230 Victoria Road").
# A US/overseas street address ("123 Main Street, Suite 4, Springfield, MA 01234").
_OVERSEAS_TAIL = re.compile(r"\b(?:[Ss]uite|[Ss]te|[Ff]loor|[Aa]pt)\b|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")
STREET_CONTEXT = re.compile(
    r"\b(?:live|living|address|addy|house|home|flat|come|round|over|meet|pick|drop|visit|door|stay|staying"
    r"|mine|nan|gran|mum|dad)\b")

LIVE_AT = re.compile(
    r"\b(?:(?:i|we)\s*(?:'m|am|are|'re)?\s*(?:live|living|stay|staying|lives)"
    r"|my\s+(?:house|home|flat|gaff|nan'?s|mum'?s|dad'?s)\s+is)"
    r"\s+(?:at|on|near|nr|by|next\s+to|opposite|behind|round\s+the\s+corner\s+from|close\s+to|just\s+off|"
    r"above|over|in\s+front\s+of)\s+[^\n.!?;]{2,60}"
    r"|\bmy\s+(?:home\s+|full\s+|house\s+)?(?:address|addy|postcode|post\s+code)\s*(?:is|=|:|-)\s*"
    # something written, not a form's blank ("My home address is: ______")
    r"(?=[^\n.!?;_]{0,10}[a-z0-9])[^\n.!?;]{3,80}")

# --- dates of birth and age ----------------------------------------------------------

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = (rf"(?:\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})"
         rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b(?:,?\s+\d{{4}})?"
         rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?)")
DATE_OF_BIRTH = re.compile(
    rf"\b(?:born\s+(?:on\s+)?|d\.?o\.?b\.?\s*(?:is|=|:|-)?\s*|date\s+of\s+birth\s*(?:is|=|:|-)?\s*"
    rf"|my\s+(?:birthday|bday|b-day|birth\s+day)(?:'s|\s+is)?\s+(?:on\s+)?)"
    rf"{_DATE}"
    rf"|\bborn\s+in\s+(?P<year>(?:19|20)\d\d)\b")

_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_AGE_WORDS = {"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
              "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
              "nineteen": 19}
# "i'm 13", "im 13 yrs old", "I am thirteen", "age: 14", "14yo", "i turn 14 next week".
# A number after "I'm" is an age only when nothing after it makes it something
# else ("I'm 5 minutes away", "I'm 100% sure", "I'm 2nd"); "13 years old" on
# its own is as often someone's child or a car.
AGE = re.compile(
    r"\b(?:i\s*'?m|i\s+am|i\s+turn(?:ed)?|i'?ll\s+be|i\s+will\s+be|my\s+age\s+is|age\s*[:=]|aged)\s+"
    rf"(?P<n>\d{{1,2}}|{'|'.join(_AGE_WORDS)})"
    r"(?:\s*(?:years?|yrs?)(?:\s+old)?|\s*y/?o\b)?"
    r"(?=\s*(?:$|[.,!?;:)\n]|and\b|&|but\b|tho\b|lol\b|now\b|too\b|next\b|in\s+(?:year|yr|may|june|july|"
    r"aug|sept|oct|nov|dec|jan|feb|march|april)|on\s+the\b|btw\b|x\b|xx+\b|haha))"
    r"|(?<![\w.])(?P<n2>\d{1,2})\s*(?:y/o|yo)\b")


def age_value(match: re.Match) -> int | None:
    token = (match.group("n") or match.group("n2") or "").lower()
    if token.isdigit():
        return int(token)
    return _AGE_WORDS.get(token)


# --- photos --------------------------------------------------------------------------

_PIC = r"(?:pic|pics|picture|pictures|photo|photos|selfie|selfies|nudes?|face\s+pic|snap)"
_OF_YOU = r"(?:you|u|yourself|urself|ur\s+face|your\s+face|ur\s+body|your\s+body|you\s+in)"
PHOTO = re.compile(
    # asked for: "send me a pic", "send us ur selfie", "can I see a photo of u"
    rf"\b(?:send|sen|snd|give|show)\s+(?:me|us|meh)\s+(?:a\s+|an\s+|some\s+|more\s+|another\s+|ur\s+|your\s+|any\s+)?"
    rf"(?:new\s+|recent\s+|nice\s+|cute\s+|full\s+body\s+)?{_PIC}\b(?!\s+of\s+(?!{_OF_YOU}\b))"
    rf"|\b(?:can|could|may)\s+(?:i|we)\s+(?:see|have|get)\s+(?:a\s+|some\s+|ur\s+|your\s+)?{_PIC}\s+of\s+{_OF_YOU}\b"
    rf"|\bwhat\s+do\s+(?:you|u)\s+look\s+like\b"
    rf"|\b(?:send|show)\s+(?:me|us)\s+(?:what\s+)?(?:you|u)\s+look\s+like\b"
    # sent: "here's a pic of me", "attached is a selfie", "this is me" (with an image)
    rf"|\b(?:a\s+|my\s+|new\s+)?{_PIC}\s+of\s+(?:me|myself|meee*)\b"
    rf"|\b(?:here'?s|here\s+is|attached\s+is|i'?ve\s+attached|sending\s+(?:you|u))\s+(?:a\s+|my\s+)?selfie\b")
THIS_IS_ME = re.compile(r"\b(?:this\s+is\s+me|that'?s\s+me|me\s+in\s+the\s+(?:pic|photo))\b")

# --- social handles ------------------------------------------------------------------

HANDLE_CHARS = r"@?[a-z0-9_][a-z0-9_.\-]{1,30}+(?:#\d{4})?"
_HANDLE_STOP = frozenset({"is", "and", "the", "a", "me", "on", "it", "too", "now", "if", "or", "but",
                          "not", "private", "down", "so", "lol", "pls", "please", "account", "acc",
                          "http", "https", "www", "ftp", "mailto"})
_SOCIAL_VERB_BEFORE = re.compile(
    r"\b(?:add|follow|dm|message|msg|text|hmu|hit\s+me\s+up|find|sub(?:scribe)?\s+to|chat\s+to|talk\s+to"
    r"|call|ping|friend|request)\s+(?:me|us)?\s*(?:on|at|in|via)\s+(?:my\s+)?$")
_SOCIAL_TRAIL = re.compile(rf"[ \t]*(?:[:\-]|it'?s|its|is|=|i'?m|im)[ \t]*(?P<h0>{HANDLE_CHARS})")
_MY_BEFORE = re.compile(r"\bmy\s+$")
_SOCIAL_MY_AFTER = re.compile(
    rf"(?:\s+(?:username|user\s*name|name|handle|id|account|acc|tag|@))?\s*(?:is|'s|=|:|-)\s*(?P<h1>{HANDLE_CHARS})")
# "snap: jess_x" but not "THREADS=true" (a setting) or "Messenger: http://..."
_SOCIAL_AFTER = re.compile(
    rf"\s+me\b(?!\s+(?:up|down|out|off|in)\b)|\s*:\s*(?P<h2>{HANDLE_CHARS})(?!:/)")
# An @handle on its own: "@" first (fast to find), then not inside an address
# (word@host) or a path.
AT_HANDLE = re.compile(r"@(?<![\w@.\-/]@)[a-z0-9_](?:[a-z0-9_.]{1,28}[a-z0-9_])(?![\w@]|\.[a-z])")
SOCIAL_CONTEXT = re.compile(
    r"\b(?:follow|add|dm|hmu|message|msg|sub(?:scribe)?|handle|username|insta|snap|tiktok|twitter|discord)\b")

# --- other pupils --------------------------------------------------------------------

_DETAIL_WORDS = ("mobile", "phone", "number", "num", "no.", "digits", "addy", "address", "postcode", "house",
                 "snap", "snapchat", "insta", "instagram", "ig", "tiktok", "discord", "whatsapp", "email", "e-mail",
                 "birthday", "bday", "dob", "date of birth", "age", "home", "real", "full", "new")
# "Jess's number", "jess taylor's snap", "Jess lives on ..." (names checked against the directory)
POSSESSIVE_DETAIL = re.compile(
    r"\b(?P<a>[^\W\d_][^\W\d_\-]+)(?:[ \t]+(?P<b>[^\W\d_][^\W\d_\-]+))?(?:'s|s')[ \t]+"
    r"(?:(?:home|mobile|phone|house|real|full|new)[ \t]+)?"
    r"(?:mobile|phone|number|num|no\.|digits|addy|address|postcode|house|snap|snapchat|insta|instagram|ig|"
    r"tiktok|discord|whatsapp|email|e-mail|birthday|bday|dob|date\s+of\s+birth|age)\b"
    r"|\b(?P<c>[^\W\d_][^\W\d_\-]+)(?:[ \t]+(?P<d>[^\W\d_][^\W\d_\-]+))?[ \t]+lives[ \t]+"
    r"(?:at|on|near|in|opposite|next\s+to|behind|by)\b")

# --- meetings ------------------------------------------------------------------------

MEET = re.compile(
    r"\b(?:meet(?:\s+(?:me|up|you|u|us|ya)\b|(?=\s+(?:at|outside|by|in|on|near|tmrw|tomorrow|tonight|later|after"
    r"|before|round|behind)\b))|meet-?up\b|link\s+up|hang\s+out|chill\s+at|come\s+(?:over|round|around)"
    r"|come\s+to\s+(?:mine|my\s+(?:house|place|flat))|pick\s+(?:you|u)\s+up"
    r"|(?:see|c)\s+(?:you|u|ya)\s+(?:at|outside|by|behind|in\s+front)"
    r"|i'?ll\s+be\s+(?:waiting\s+)?(?:at|outside|by|behind)|wait\s+for\s+me|come\s+alone|come\s+on\s+(?:your|ur)\s+own)")
WHEN = re.compile(
    r"\b(?:(?:at|by|around|for)\s+(?:half\s+)?(?:1[0-2]|0?[1-9])(?:[:.][0-5]\d)?\s*(?:am|pm|o'?clock|ish)?"
    r"(?![\d%]|[.,:]\d)"
    r"|(?:[01]?\d|2[0-3])[:.][0-5]\d\s*(?:am|pm)?(?![\d%])|(?:1[0-2]|[1-9])\s*(?:am|pm)\b"
    r"|tonight|tonite|2nite|tomorrow|tomoz|tmrw|tmr|2moro|after\s+school|before\s+school|at\s+lunch|at\s+break"
    r"|this\s+(?:weekend|evening|afternoon|morning)|(?:on\s+|this\s+|next\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day"
    r"|later|noon|midnight)\b")

def phrase_alternation(phrases: Iterable[str]) -> str | None:
    """Literal phrases -> "(?:a|b)" over lower-case text: any whitespace between words,
    apostrophes optional."""
    parts: list[str] = []
    # longest first, so "train station" wins over "station"
    for phrase in sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True):
        words = [re.escape(w).replace("'", "'?") for w in phrase.replace("\u2019", "'").split()]
        parts.append(r"\s+".join(words))
    return "(?:" + "|".join(parts) + ")" if parts else None


def compile_phrases(phrases: Iterable[str]) -> re.Pattern | None:
    """Literal phrases -> one regex matching whole words of lower-case text."""
    alternation = phrase_alternation(phrases)
    if alternation is None:
        return None
    return re.compile(rf"(?<![\w]){alternation}(?![\w])")


def phrase_triggers(phrases: Iterable[str]) -> set[str]:
    """The longest word of each phrase (with and without its apostrophe): a phrase
    can only match where that word occurs."""
    triggers: set[str] = set()
    for phrase in phrases:
        words = phrase.strip().lower().replace("\u2019", "'").split()
        if words:
            word = max(words, key=len)
            triggers.update({word, word.replace("'", "")})
    return triggers


def read_list(path: Path) -> list[str]:
    """One entry a line; blank lines and '#' comments ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def lower_same_length(text: str) -> str:
    """Lower-case without moving any character, so spans found in it index `text`."""
    low = text.lower()
    if len(low) == len(text):
        return low
    # rare: a character whose lower case is longer ("İ"); keep those as they are
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def merge_windows(windows: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


class Triggers:
    """One Aho-Corasick pass over the lower-cased text finds every keyword any
    detector needs; each detector's regex then runs only in windows around its
    keywords (most mail has none of them, so most detectors never run)."""

    def __init__(self, groups: dict[str, tuple[Iterable[str], int, int]]) -> None:
        self._margins = {name: (back, fwd) for name, (_, back, fwd) in groups.items()}
        owners: dict[str, list[str]] = {}
        for name, (literals, _, _) in groups.items():
            for literal in literals:
                if literal:
                    owners.setdefault(literal, []).append(name)
        self._automaton = ahocorasick.Automaton()
        for literal, names in owners.items():
            self._automaton.add_word(literal, (len(literal), tuple(dict.fromkeys(names)), literal))
        self._automaton.make_automaton()

    def windows(self, low: str) -> tuple[dict[str, list[Span]], dict[str, list[tuple[int, str]]]]:
        """(merged windows by detector, raw (start, literal) hits by detector)."""
        size = len(low)
        found: dict[str, list[Span]] = {}
        hits: dict[str, list[tuple[int, str]]] = {}
        margins = self._margins
        for end, (length, names, literal) in self._automaton.iter(low):
            start = end - length + 1
            for name in names:
                back, fwd = margins[name]
                found.setdefault(name, []).append((max(0, start - back), min(size, end + 1 + fwd)))
                hits.setdefault(name, []).append((start, literal))
        return {name: merge_windows(spans) for name, spans in found.items()}, hits


def search_windows(regex: re.Pattern, low: str, windows: Iterable[Span]) -> Iterator[re.Match]:
    """regex.finditer over each window. Look-behinds see the whole string; a match
    running into a window's end is re-tried on the whole string, so a window never
    invents an end of text."""
    size = len(low)
    for lo, hi in windows:
        for match in regex.finditer(low, lo, hi):
            if hi < size and match.end() >= hi - 1:
                match = regex.match(low, match.start())
                if match is None:
                    continue
            yield match


PHONE_CACHE_SIZE = 4096
_DIGIT_RUN = re.compile(r"\d{3}")
_REF_WORD = re.compile(r"[a-z/]+")
# words between a reference word and its number: "order no. 0770...", "candidate number: 1234"
_REF_FILLERS = frozenset({"no", "nos", "number", "num", "id", "code", "is", "was"})


@dataclass(frozen=True, slots=True)
class PhoneHit:
    span: Span
    e164: str
    valid: bool
    personal: bool
    drama: bool


_MEETING_WORDS = ("meet", "link up", "hang out", "chill at", "come over", "come round", "come around",
                  "come to", "pick you up", "pick u up", "see you", "see u ", "see ya", "c u ", "c ya",
                  "i'll be", "ill be", "wait for me", "come alone", "come on your own", "come on ur own")
_PHOTO_WORDS = ("pic", "photo", "selfie", "nude", "snap", "look like")
_LIVE_WORDS = ("live", "living", "stay", "house", "home", "flat", "gaff", "address", "addy", "postcode",
               "post code", "'s is")
_BIRTH_WORDS = ("born", "dob", "d.o.b", "birth", "bday", "b-day")
_AGE_TRIGGERS = ("i'm", "im ", "i am", "i turn", "i'll be", "ill be", "i will be", "my age", "age:", "age =",
                 "age=", "aged", "y/o", *(f"{d}yo" for d in "0123456789"), *(f"{d} yo" for d in "0123456789"))


class DisclosurePatterns:
    """The compiled detectors; one instance per filter, built in its __init__.
    `scan(text)` returns spans by detector name; `find_phones` the phone numbers."""

    def __init__(self, *, social_apps: Iterable[str], meeting_places: Iterable[str],
                 secrecy_phrases: Iterable[str], reference_words: Iterable[str]) -> None:
        social_apps = [a.strip().lower() for a in social_apps if a.strip()]
        if not social_apps:
            raise ValueError("the social app list is empty")
        # Each app name found by the trigger pass is checked in place, by
        # anchored matches before and after it (not a 45-way alternation tried
        # at every position). Short names ("sc", "ig") are everywhere inside
        # words; their triggers are the forms they are used in.
        social_triggers: dict[str, tuple[int, int]] = {}  # literal -> (offset, length) of the app in it
        for name in social_apps:
            if len(name) > 3:
                social_triggers[name] = (0, len(name))
            else:
                for prefix, suffix in (("", ":"), ("", " :"), ("", " me"), ("my ", ""), ("on ", ""),
                                       ("at ", ""), ("via ", "")):
                    social_triggers[f"{prefix}{name}{suffix}"] = (len(prefix), len(name))
            # "whats app" also written "whats  app": the trigger is the literal; fine
        self._social_literals = social_triggers
        meeting_places = [m.strip().lower() for m in meeting_places if m.strip()]
        place = phrase_alternation(meeting_places) or "(?!)"
        self.where = re.compile(
            rf"\b(?:at|outside|behind|near|by|in\s+front\s+of|opposite|round|in|to)\s+(?:the\s+|my\s+|ur\s+|your\s+)?"
            rf"{place}(?![\w])")
        secrecy_phrases = list(secrecy_phrases)
        self.secrecy = compile_phrases(secrecy_phrases)
        self.reference_words = frozenset(w.strip().lower() for w in reference_words if w.strip())
        self._phone_cache: dict[str, tuple[str, bool, bool, bool] | None] = {}
        street_triggers = {f" {s}{c}" for s in STREET_SUFFIXES for c in " ,.\n;:)!?"}
        self.triggers = Triggers({
            "social": (social_triggers.keys(), 0, 0),
            "at": (("@",), 0, 40),
            "meet": (_MEETING_WORDS, 5, 60),
            "photo": (_PHOTO_WORDS, 45, 45),
            "me": (("this is me", "that's me", "thats me", "me in the"), 0, 30),
            "live": (_LIVE_WORDS, 30, 110),
            "street": (street_triggers, 80, 2),
            "birth": (_BIRTH_WORDS, 30, 45),
            "age": (_AGE_TRIGGERS, 4, 40),
            "secrecy": (phrase_triggers(secrecy_phrases), 40, 40),
            "place": ({m.replace("'", "") for m in meeting_places} | set(meeting_places), 30, 0),
            "possessive": ({f"{s} {w}" for s in ("'s", "s'") for w in _DETAIL_WORDS} | {" lives "}, 45, 40),
        })

    # -- phones

    def find_phones(self, text: str) -> Iterator[PhoneHit]:
        for match in PHONE_CANDIDATE.finditer(text):
            start, end = match.span()
            raw = match.group()
            if raw[0] == "0" and raw[1] in " \t-()" and _DIGIT_RUN.search(raw):
                continue  # "0 1028070983": a stray 0, unless every digit is spaced out (0 7 7 0 0 ...)
            line_start = text.rfind("\n", max(0, start - 40), start) + 1
            before = text[max(line_start, start - 40):start]
            if self._is_reference(before):
                continue  # "order no. 07700 900123", "candidate number 0123 ..."
            token_start = max(before.rfind(" "), before.rfind("\t")) + 1
            if "://" in before[token_start:] or "www." in before[token_start:]:
                continue  # inside a URL
            judged = self._judge_phone(match.group())
            if judged is not None:
                yield PhoneHit((start, end), *judged)

    def _is_reference(self, before: str) -> bool:
        """Does the text just before a number name it as a reference (order, page, candidate ...)?"""
        words = _REF_WORD.findall(before.lower())
        while words and words[-1] in _REF_FILLERS:
            words.pop()
        if not words:
            return False
        return words[-1] in self.reference_words or " ".join(words[-2:]) in self.reference_words

    def _judge_phone(self, raw: str) -> tuple[str, bool, bool, bool] | None:
        """(E.164, valid, personal, drama) of a UK candidate, None when it is not one.
        libphonenumber's validity check costs ~0.1-0.3 ms, so results are kept
        (bounded) by the digits written: a thread repeats the same numbers."""
        key = "".join(c for c in raw if c.isdigit() or c == "+")
        cache = self._phone_cache
        if key in cache:
            return cache[key]
        result = None
        try:
            number = phonenumbers.parse(raw, "GB")
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and number.country_code == 44 and phonenumbers.is_possible_number(number):
            valid = phonenumbers.is_valid_number(number)
            national = str(number.national_number)
            drama = national.startswith(DRAMA_PREFIXES)
            if valid:
                personal = phonenumbers.number_type(number) in PERSONAL_TYPES
            else:
                # a number libphonenumber does not know: judge by its shape
                # (01/02 geographic, 07 mobile; not 070 personal or 076 pagers)
                personal = drama or (national[:1] in "127" and not national.startswith(("70", "76")))
            result = (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), valid, personal, drama)
        if len(cache) >= PHONE_CACHE_SIZE:
            cache.clear()
        cache[key] = result
        return result

    # -- postcodes

    @staticmethod
    def find_postcodes(text: str, low: str | None = None) -> Iterator[Span]:
        low = lower_same_length(text) if low is None else low
        for hit in INWARD.finditer(low):
            match = POSTCODE.search(text, max(0, hit.start() - 5), hit.end())
            if match is None or match.end() != hit.end():
                continue
            raw = match.group()
            if postcode_key(raw) == "GIR0AA":
                yield match.span()
                continue
            outward = match.group("out").upper()
            area = outward[:2] if outward[1:2].isalpha() else outward[:1]
            if area not in POSTCODE_AREAS:
                continue
            # lower-case text ("m1 1aa") counts only in the spaced form: a glued
            # lower-case run ("b12ab") is far more often an identifier.
            if not raw.isupper() and " " not in raw:
                continue
            yield match.span()

    # -- everything keyword-driven

    def scan(self, text: str, *, has_image: bool = False, birth_years: tuple[int, int] = (0, 9999),
             ages: tuple[int, int] = (0, 99)) -> dict[str, list[Span]]:
        """Spans by detector over one text (postcode, street, live, birth, age,
        handle, photo, secrecy, meet). Typographic apostrophes must already be
        plain ("\u2019" -> "'")."""
        low = lower_same_length(text)
        windows, trigger_hits = self.triggers.windows(low)
        out: dict[str, list[Span]] = {}

        def run(name: str, regex: re.Pattern) -> Iterator[re.Match]:
            return search_windows(regex, low, windows.get(name, ()))

        postcodes = out["postcode"] = list(self.find_postcodes(text, low))
        streets = out["street"] = []
        for match in run("street", STREET):
            start, end = match.span()
            if _OVERSEAS_TAIL.search(text, end, end + 60):
                continue
            near_postcode = any(0 <= s - end < 80 for s, _ in postcodes)
            if near_postcode or STREET_CONTEXT.search(low, max(0, start - 60), start):
                streets.append((start, end))
        out["live"] = [m.span() for m in run("live", LIVE_AT)]
        births = out["birth"] = []
        for match in run("birth", DATE_OF_BIRTH):
            year = match.group("year") or next(iter(_YEAR.findall(match.group())), None)
            if year and not birth_years[0] <= int(year) <= birth_years[1]:
                continue  # "born on May 14, 1939": an adult's history, not a pupil's birthday
            births.append(match.span())
        out["age"] = [m.span() for m in run("age", AGE) if ages[0] <= (age_value(m) or -1) <= ages[1]]
        handles = out["handle"] = []
        for start, literal in trigger_hits.get("social", ()):
            offset, length = self._social_literals[literal]
            span = self._social_at(low, start + offset, start + offset + length)
            if span is not None:
                handles.append(span)
        for match in run("at", AT_HANDLE):
            # a bare @word is a handle only next to a social verb or app
            if SOCIAL_CONTEXT.search(low, max(0, match.start() - 60), match.end() + 40):
                handles.append(match.span())
        out["photo"] = [m.span() for m in run("photo", PHOTO)]
        if has_image:
            out["photo"] += [m.span() for m in run("me", THIS_IS_ME)]
        out["secrecy"] = [m.span() for m in run("secrecy", self.secrecy)] if self.secrecy else []
        out["meet"] = list(self._meetings(low, run("meet", MEET), windows.get("place", ())))
        out["possessive"] = [m.span() for m in run("possessive", POSSESSIVE_DETAIL)]
        return out

    @staticmethod
    def _social_at(low: str, app_start: int, app_end: int) -> Span | None:
        """The handle or invitation around one app name, if any."""
        if (app_start and (low[app_start - 1].isalnum() or low[app_start - 1] == "_")) or (
                app_end < len(low) and (low[app_end].isalnum() or low[app_end] == "_")):
            return None  # inside a word ("scene", "bigot")
        before = _SOCIAL_VERB_BEFORE.search(low, max(0, app_start - 45), app_start)
        if before is not None:  # "add me on snap (its jess_x)"
            trail = _SOCIAL_TRAIL.match(low, app_end)
            if trail is not None and trail.group("h0").lstrip("@") not in _HANDLE_STOP:
                return before.start(), trail.end()
            return before.start(), app_end
        if _MY_BEFORE.search(low, max(0, app_start - 4), app_start):
            mine = _SOCIAL_MY_AFTER.match(low, app_end)  # "my snap is jess_x"
            if mine is not None and mine.group("h1").lstrip("@") not in _HANDLE_STOP:
                return _MY_BEFORE.search(low, max(0, app_start - 4), app_start).start(), mine.end()
        after = _SOCIAL_AFTER.match(low, app_end)  # "snap me", "insta: @jess.x"
        if after is not None and (after.group("h2") is None or after.group("h2").lstrip("@") not in _HANDLE_STOP):
            return app_start, after.end()
        return None

    def _meetings(self, low: str, verbs: Iterable[re.Match], places: list[Span]) -> Iterator[Span]:
        """A meeting verb with a time or a place just after it (or just before);
        the span covers them all. `places`: windows around known place names."""
        for match in verbs:
            verb = match.group()
            spans = [match.span()]
            lo, hi = max(0, match.start() - 30), min(len(low), match.end() + 80)
            after = [m.span() for m in WHEN.finditer(low, match.end(), hi)]
            spans.extend(after or [m.span() for m in WHEN.finditer(low, lo, match.start())][-1:])
            # the place regex only where a place name is near
            if any(p_lo < hi and p_hi > lo for p_lo, p_hi in places):
                after = [m.span() for m in self.where.finditer(low, match.end(), hi)]
                spans.extend(after or [m.span() for m in self.where.finditer(low, lo, match.start())][-1:])
            if len(spans) > 1 or "alone" in verb or "own" in verb:
                yield min(s for s, _ in spans), max(e for _, e in spans)
