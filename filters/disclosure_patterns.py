"""Detectors for UK personal details in free text: pure functions over strings returning spans.

Everything is compiled once (`DisclosurePatterns.__init__`); each `find_*`
method is one or two passes of a precompiled regex, and `phonenumbers` is only
called on candidate digit runs that already look like a UK number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

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
PHONE_CANDIDATE = re.compile(
    rf"(?<![\w/=&#@$£€+.])(?<!\d[.,])"
    rf"(?:(?:\+|\b00)[ \t]?44{_SEP}(?:\(0\){_SEP})?[1-9](?:{_SEP}\d){{8,9}}+"
    rf"|\(?0{_SEP}[1-9](?:{_SEP}\d){{8,9}}+)"
    rf"(?![\w])(?![.,]\d)")

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


def postcode_key(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


# --- addresses -----------------------------------------------------------------------

_STREET_SUFFIXES = (
    "road|rd|street|st|avenue|ave|lane|ln|close|drive|way|crescent|cres|grove|gardens|gdns|"
    "place|court|terrace|walk|mews|rise|square|sq|row|parade|vale|croft|mount|meadows?|chase|"
    "hill|park|green|view|gate|brow|wharf|fold|villas|cottages")
# Words that are never part of a street name ("2 dogs on the road").
_NOT_NAME = (r"(?!(?:the|a|an|on|in|of|to|and|at|my|your|ur|our|his|her|their|for|down|up|by|from|"
             r"with|is|was|or|off|into|onto|across|along|this|that|more|other|new|old|big|"
             r"days?|weeks?|years?|hours?|mins?|minutes?|times?|miles?|km)\b)")
STREET = re.compile(
    rf"(?<![\w.,/:-])\d{{1,4}}[a-z]?,?[ \t]+(?:{_NOT_NAME}[a-z][a-z'\-]+[ \t]+){{1,3}}"
    rf"(?:{_STREET_SUFFIXES})\b(?!')",
    re.IGNORECASE)
# A US/overseas street address ("123 Main Street, Suite 4, Springfield, MA 01234")
# is a business signature, not a pupil's home.
_OVERSEAS_TAIL = re.compile(r"\b(?:suite|ste|floor|fl|apt)\b|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")

LIVE_AT = re.compile(
    r"\b(?:(?:i|we)\s*(?:'m|am|are|'re)?\s*(?:live|living|stay|staying|lives)"
    r"|my\s+(?:house|home|flat|gaff|nan'?s|mum'?s|dad'?s)\s+is)"
    r"\s+(?:at|on|near|nr|by|next\s+to|opposite|behind|round\s+the\s+corner\s+from|close\s+to|just\s+off|"
    r"above|over|in\s+front\s+of)\s+[^\n.!?;]{2,60}"
    r"|\bmy\s+(?:home\s+|full\s+|house\s+)?(?:address|addy|postcode|post\s+code)\s*(?:is|=|:|-)\s*[^\n!?;]{3,80}",
    re.IGNORECASE)

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
    rf"|\bborn\s+in\s+(?P<year>(?:19|20)\d\d)\b",
    re.IGNORECASE)

_AGE_WORDS = {"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
              "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
              "nineteen": 19}
# "i'm 13", "im 13 yrs old", "I am thirteen", "age: 14", "14 y/o", "i turn 14 next week".
# A number after "I'm" is an age only when nothing after it makes it something
# else ("I'm 5 minutes away", "I'm 100% sure", "I'm 2nd").
AGE = re.compile(
    r"\b(?:i\s*'?m|i\s+am|i\s+turn(?:ed)?|i'?ll\s+be|i\s+will\s+be|my\s+age\s+is|age\s*[:=]|aged)\s+"
    rf"(?P<n>\d{{1,2}}|{'|'.join(_AGE_WORDS)})"
    r"(?:\s*(?:years?|yrs?)(?:\s+old)?|\s*y/?o\b|\s*yo\b)?"
    r"(?=\s*(?:$|[.,!?;:)\n]|and\b|&|but\b|tho\b|lol\b|now\b|too\b|next\b|in\s+(?:year|yr|may|june|july|"
    r"aug|sept|oct|nov|dec|jan|feb|march|april)|on\s+the\b|btw\b|x\b|xx+\b|haha))"
    r"|\b(?P<n2>\d{1,2})\s*(?:y/o|yo|yrs?\s+old|years?\s+old)\b",
    re.IGNORECASE)


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
    rf"|\b(?:here'?s|here\s+is|attached\s+is|i'?ve\s+attached|sending\s+(?:you|u))\s+(?:a\s+|my\s+)?selfie\b",
    re.IGNORECASE)
THIS_IS_ME = re.compile(r"\b(?:this\s+is\s+me|that'?s\s+me|me\s+in\s+the\s+(?:pic|photo))\b", re.IGNORECASE)

# --- social handles ------------------------------------------------------------------

HANDLE_CHARS = r"@?[A-Za-z0-9_][A-Za-z0-9_.\-]{1,30}(?:#\d{4})?"
_HANDLE_STOP = frozenset({"is", "and", "the", "a", "me", "on", "it", "too", "now", "if", "or", "but",
                          "not", "private", "down", "so", "lol", "pls", "please", "account", "acc"})
# An @handle on its own: not inside an address (word@host) or a sentence
# fragment such as "@ 5pm".
AT_HANDLE = re.compile(r"(?<![\w@.\-/])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28}[A-Za-z0-9_])(?![\w@]|\.[A-Za-z])")
SOCIAL_CONTEXT = re.compile(
    r"\b(?:follow|add|dm|hmu|message|msg|sub(?:scribe)?|handle|username|user)\b", re.IGNORECASE)

# --- meetings ------------------------------------------------------------------------

MEET = re.compile(
    r"\b(?:meet(?:\s+(?:me|up|you|u|us|ya))?|meet-?up|link\s+up|hang\s+out|chill\s+at|come\s+(?:over|round|around)"
    r"|come\s+to\s+(?:mine|my\s+(?:house|place|flat))|pick\s+(?:you|u)\s+up|(?:see|c)\s+(?:you|u|ya)\s+(?:at|outside|by|behind|in\s+front)"
    r"|i'?ll\s+be\s+(?:waiting\s+)?(?:at|outside|by|behind)|wait\s+for\s+me|come\s+alone|come\s+on\s+(?:your|ur)\s+own)\b",
    re.IGNORECASE)
WHEN = re.compile(
    r"\b(?:(?:at|by|around|about|for|from)\s+(?:half\s+)?\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm|o'?clock|ish)?"
    r"|\d{1,2}[:.]\d{2}\s*(?:am|pm)?|\d{1,2}\s*(?:am|pm)"
    r"|tonight|tonite|2nite|tomorrow|tomoz|tmrw|tmr|2moro|after\s+school|before\s+school|at\s+lunch|at\s+break"
    r"|this\s+(?:weekend|evening|afternoon|morning)|(?:on\s+|this\s+|next\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day"
    r"|later|noon|midnight)\b",
    re.IGNORECASE)


def phrase_alternation(phrases: Iterable[str]) -> str | None:
    """Literal phrases -> "(?:a|b)": any whitespace between words, apostrophes optional."""
    parts: list[str] = []
    # longest first, so "train station" wins over "station"
    for phrase in sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True):
        words = [re.escape(w).replace("'", "'?") for w in phrase.replace("\u2019", "'").split()]
        parts.append(r"\s+".join(words))
    return "(?:" + "|".join(parts) + ")" if parts else None


def compile_phrases(phrases: Iterable[str]) -> re.Pattern | None:
    """Literal phrases -> one case-insensitive regex matching whole words."""
    alternation = phrase_alternation(phrases)
    if alternation is None:
        return None
    return re.compile(rf"(?<![\w]){alternation}(?![\w])", re.IGNORECASE)


def read_list(path: Path) -> list[str]:
    """One entry a line; blank lines and '#' comments ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True, slots=True)
class PhoneHit:
    span: Span
    e164: str
    valid: bool
    personal: bool
    drama: bool


class DisclosurePatterns:
    """The compiled detectors; one instance per filter, built in its __init__."""

    def __init__(self, *, social_apps: Iterable[str], meeting_places: Iterable[str],
                 secrecy_phrases: Iterable[str], reference_words: Iterable[str]) -> None:
        app = phrase_alternation(social_apps)
        if app is None:
            raise ValueError("the social app list is empty")
        self.social = re.compile(
            # "add me on snap", "hmu on insta", "dm me on discord", "text me on whatsapp"
            rf"\b(?:add|follow|dm|message|msg|text|hmu|hit\s+me\s+up|find|sub(?:scribe)?\s+to|chat\s+to|talk\s+to"
            rf"|call|ping|friend|request)\s+(?:me|us)?\s*(?:on|at|in|via)\s+(?:my\s+)?{app}(?![\w])"
            rf"(?:[ \t]*(?:[:\-]|it'?s|its|is|=|i'?m|im)[ \t]*(?P<h0>{HANDLE_CHARS}))?"
            # "snap me", "whatsapp me"
            rf"|(?<![\w]){app}\s+me\b(?!\s+(?:up|down|out|off|in)\b)"
            # "my snap is jess_x", "my insta's @jess", "my discord username is jess#1234"
            rf"|\bmy\s+{app}(?:\s+(?:username|user\s*name|name|handle|id|account|acc|tag|@))?\s*(?:is|'s|=|:|-)\s*"
            rf"(?P<h1>{HANDLE_CHARS})"
            # "snap: jess_x", "insta - @jess.x"
            rf"|(?<![\w]){app}\s*[:=]\s*(?P<h2>{HANDLE_CHARS})",
            re.IGNORECASE)
        place = phrase_alternation(meeting_places) or "(?!)"
        self.where = re.compile(
            rf"\b(?:at|outside|behind|near|by|in\s+front\s+of|opposite|round|in|to)\s+(?:the\s+|my\s+|ur\s+|your\s+)?"
            rf"{place}(?![\w])",
            re.IGNORECASE)
        self.secrecy = compile_phrases(secrecy_phrases)
        words = sorted({w.strip().lower() for w in reference_words if w.strip()}, key=len, reverse=True)
        self.reference = re.compile(
            r"(?<![\w])(?:" + "|".join(re.escape(w) for w in words) + r")(?:[ \t]*(?:no|nos|number|num|id|code))?"
            r"\.?[ \t]*[:#.\-]?[ \t]*$", re.IGNORECASE) if words else None

    # -- phones

    def find_phones(self, text: str) -> Iterator[PhoneHit]:
        for match in PHONE_CANDIDATE.finditer(text):
            start, end = match.span()
            if self.reference is not None:
                line_start = text.rfind("\n", max(0, start - 40), start) + 1
                before = text[max(line_start, start - 40):start]
                if self.reference.search(before):
                    continue
            try:
                number = phonenumbers.parse(match.group(), "GB")
            except phonenumbers.NumberParseException:
                continue
            if number.country_code != 44 or not phonenumbers.is_possible_number(number):
                continue
            valid = phonenumbers.is_valid_number(number)
            national = str(number.national_number)
            drama = national.startswith(DRAMA_PREFIXES)
            kind = phonenumbers.number_type(number)
            if valid:
                personal = kind in PERSONAL_TYPES
            else:
                # not a number libphonenumber knows: judge by its leading digits
                personal = national[:1] in "127" and not national.startswith(("70", "76")) or drama
            yield PhoneHit((start, end), phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                           valid, personal, drama)

    # -- addresses

    @staticmethod
    def find_postcodes(text: str) -> Iterator[Span]:
        for match in POSTCODE.finditer(text):
            raw = match.group()
            if raw.upper().replace(" ", "") == "GIR0AA":
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

    @staticmethod
    def find_streets(text: str) -> Iterator[Span]:
        for match in STREET.finditer(text):
            tail = text[match.end():match.end() + 60]
            if _OVERSEAS_TAIL.search(tail):
                continue
            yield match.span()

    @staticmethod
    def find_live_at(text: str) -> Iterator[Span]:
        for match in LIVE_AT.finditer(text):
            yield match.span()

    # -- birth and age

    @staticmethod
    def find_dates_of_birth(text: str, min_year: int, max_year: int) -> Iterator[Span]:
        for match in DATE_OF_BIRTH.finditer(text):
            year = match.group("year")
            if year and not min_year <= int(year) <= max_year:
                continue  # "born in 1965": an adult's history, not a pupil's birthday
            yield match.span()

    @staticmethod
    def find_ages(text: str, low: int, high: int) -> Iterator[Span]:
        for match in AGE.finditer(text):
            value = age_value(match)
            if value is not None and low <= value <= high:
                yield match.span()

    # -- handles, photos, meetings

    def find_handles(self, text: str) -> Iterator[Span]:
        for match in self.social.finditer(text):
            handle = match.group("h1") or match.group("h2")
            if handle is not None and handle.lstrip("@").lower() in _HANDLE_STOP:
                continue
            trailing = match.group("h0")
            if trailing is not None and trailing.lstrip("@").lower() in _HANDLE_STOP:
                yield match.start(), match.start("h0")  # "add me on snap its ..." minus a non-handle word
                continue
            yield match.span()

    @staticmethod
    def find_at_handles(text: str) -> Iterator[Span]:
        for match in AT_HANDLE.finditer(text):
            start = match.start()
            window = text[max(0, start - 60):match.end() + 40]
            # a bare @word is a handle only next to a social verb or app
            if SOCIAL_CONTEXT.search(window):
                yield match.span()

    @staticmethod
    def find_photo_phrases(text: str) -> Iterator[Span]:
        for match in PHOTO.finditer(text):
            yield match.span()

    def find_secrecy(self, text: str) -> Iterator[Span]:
        if self.secrecy is None:
            return
        for match in self.secrecy.finditer(text):
            yield match.span()

    def find_meetings(self, text: str, window: int = 120) -> Iterator[Span]:
        """A meeting verb with a time or a place close by; the span covers all of them."""
        for match in MEET.finditer(text):
            lo = max(0, match.start() - window)
            hi = min(len(text), match.end() + window)
            chunk = text[lo:hi]
            spans = [match.span()]
            for rx in (WHEN, self.where):
                found = rx.search(chunk)
                if found:
                    spans.append((lo + found.start(), lo + found.end()))
            if len(spans) > 1 or "alone" in match.group().lower() or "own" in match.group().lower():
                yield min(s for s, _ in spans), max(e for _, e in spans)
