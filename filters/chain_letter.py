"""Chain letters: request + lever language, forwarding structure, known-letter similarity and bulk, as one scored finding.

School policy: "The forwarding of chain messages is not permitted." Every
chain letter has two halves: a *request* to pass it on (to N people, to
everyone, by a deadline) and a *lever* that makes the reader do it (luck, a
curse, a reward, guilt, fear, a claim of truth, a cause). Each is a family of
cues over normalised text (texting spellings, emoji, diacritics; English,
Polish, Romanian, Urdu/Punjabi in Latin script); a request with levers earns a
bonus. Signals are weighted ([chain_letter] weights); the sum, after the
discounts for messages that discuss chain letters (an e-safety lesson) or cite
an official source (a police appeal), is compared with `threshold`. Structure
and bulk only amplify: without enough chain-letter *content* (`content_minimum`)
nothing is reported, because newsletters and long reply threads share the structure.
See docs/chain_letters.md.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pydantic import Field

from config.loader import LISTS_DIR
from filters import chain_letter_library as lib
from filters import chain_letter_model
from filters.chain_letter_anchors import AnchorIndex
from filters import chain_letter_signals as sig
from filters.base import Category, FilterContext, FilterOptions, Finding, SeenStore, Severity
from filters.message import MessageView

log = logging.getLogger(__name__)

CODE = "CHAIN_LETTER"
SEEN_KIND = "chain_letter_body"
# A body shorter than this many words has too few shingles for a fingerprint
# that means anything ("thanks!" is sent by everyone).
MIN_FINGERPRINT_WORDS = 25
# Distinct cues of the school's own notice needed (a date alone is in many hoaxes; a date, a
# place and a sign-off together are a letter home).
NOTICE_CUES = 2

DEFAULT_WEIGHTS: dict[str, float] = {
    # language
    "pass_on_count": 3.0,
    "pass_on": 1.0,
    "deadline": 1.0,
    "consequence": 2.0,
    "reward": 1.5,
    "hoax": 1.0,  # per distinct pattern, up to 2
    "chain": 2.0,
    "pyramid": 1.5,  # per distinct pattern, up to 3 (a pyramid letter repeats its instructions)
    "fear": 1.0,
    "guilt": 1.0,
    "cause": 1.0,
    # a request to pass it on together with levers: per lever family, up to 2
    "request_lever": 0.75,
    # similarity to the known library, multiplied by the best containment (0..1)
    "similarity": 5.0,
    # the learned score (filters/chain_letter_model.py), multiplied by its probability,
    # counted only with a request to pass it on and at or above `model_minimum`
    "model": 4.0,
    # the letter ends on its request (nothing but a device line or a person's name after it:
    # nobody owns a hoax), in a forward, counted with the learned score or a lever (eighth pass),
    # as one more lever would be
    "closing_request": 0.75,
    # structure
    "forward_depth": 0.5,  # per level beyond the first, up to 3
    # the chain in motion: a forwarded message that asks to be sent to many people
    "forwarded_request": 1.0,
    "many_recipients": 1.0,
    "undisclosed_recipients": 0.5,
    "quoted_addresses": 1.0,
    # several distinct senders with the same body within `bulk_window`
    "bulk": 2.0,
}

# What a pupil reads (through the sender_student_chain_letter.txt mail template):
# short sentences, no blame, and where to go if it frightened them.
DEFAULT_NOTICE = (
    "It looks like a chain message: a message that asks you to send it on to lots of people, "
    "often promising luck or warning that something bad will happen if you don't.\n\n"
    "Chain letters are never true. Nothing bad will happen if you don't pass one on, and nobody "
    "can track how many people you send it to. They fill up inboxes and can frighten younger "
    "pupils, so the best thing to do is delete them. The school's rule is that chain messages "
    "are not forwarded.\n\n"
    "If a message like this worried or upset you, talk to your tutor or another adult you trust.")


class Options(FilterOptions):
    threshold: float = Field(4.0, gt=0, description="score at or above which a CHAIN_LETTER finding is made")
    high_threshold: float = Field(
        8.0, gt=0, description="score at or above which the finding's severity is high (else medium)")
    content_minimum: float = Field(
        2.5, ge=0, description="language + similarity score needed before structure and bulk count at all")
    weights: dict[str, float] = Field(
        default_factory=dict, description=f"override signal weights; keys: {', '.join(DEFAULT_WEIGHTS)}")
    educational_discount: list[float] = Field(
        default_factory=lambda: [1.0, 0.8, 0.5, 0.3],
        description="score multiplier by the number of distinct 'discusses chain letters' patterns "
                    "matched (0, 1, 2, 3+): a lesson quoting examples is not a chain letter")
    similarity_minimum: float = Field(
        0.25, ge=0, le=1, description="containment of a known letter below which similarity adds nothing")
    many_recipients: int = Field(10, gt=1, description="this many recipients counts as 'many'")
    quoted_addresses: int = Field(8, gt=1, description="this many addresses quoted in the body counts")
    bulk_window: float = Field(86_400.0, gt=0, description="seconds over which bulk senders are counted")
    bulk_senders: int = Field(3, gt=1, description="distinct senders of one body within the window that count as bulk")
    phrase_lists: dict[str, str] = Field(
        default_factory=lambda: {family: f"chain_letter_{family}.txt" for family in sig.FAMILIES},
        description="phrase family -> list file (relative to config/lists)")
    languages: dict[str, str] = Field(
        default_factory=lambda: {"pl": "chain_letter_lang_pl.txt", "ro": "chain_letter_lang_ro.txt",
                                 "ur": "chain_letter_lang_ur.txt"},
        description="language -> cue file with [family] sections (relative to config/lists); "
                    "shipped: pl (Polish), ro (Romanian), ur (Urdu/Punjabi in Latin script)")
    official_list: str = Field(
        "chain_letter_official_domains.txt",
        description="domains of police, government and charities (relative to config/lists): a request "
                    "that links to one and has no chain-letter lever is a real appeal, discounted")
    official_discount: float = Field(
        0.5, ge=0, le=1, description="score multiplier for a message that links to an official source "
                                     "and carries no threat, reward, chain or pyramid cue")
    notice_discount: float = Field(
        0.5, ge=0, le=1, description="score multiplier for a first-hand message (not a forward) with two or "
                                     "more cues of the school's own notice (chain_letter_notice.txt: a date "
                                     "or time, a place, 'our' post or event, a school sign-off) and no "
                                     "threat, reward, chain or pyramid cue")
    slang_list: str = Field("chain_letter_slang.txt", description="texting spellings (relative to config/lists)")
    signoff_list: str = Field(
        "chain_letter_signoff.txt",
        description="device and mail-app sign-off lines ('Sent from my iPhone', 'Get Outlook for Android'; "
                    "relative to config/lists): trailing ones are not the letter's own last sentence")
    extra_signoffs: list[str] = Field(
        default_factory=list, description="site regexes added to signoff_list (each matched against a whole "
                                          "trailing sentence, lower case)")
    signature_list: str = Field(
        "chain_letter_signature.txt",
        description="a person's sign-off lines ('Love, Auntie Pat', 'xx Mum'; relative to config/lists; never "
                    "with a title, a role or a contact): trailing ones are not the letter's own last sentence")
    extra_signatures: list[str] = Field(
        default_factory=list, description="site regexes added to signature_list (same macros: {GUARD}, {NAME}, "
                                          "{KIN}; each matched against a whole trailing sentence, lower case)")
    library_dir: str = Field("known_chain_letters", description="known chain letters (relative to config/lists)")
    extra_phrases: dict[str, list[str]] = Field(
        default_factory=dict, description="site regexes added to a phrase family, e.g. { hoax = ['...'] }")
    extra_slang: dict[str, str] = Field(default_factory=dict, description="site texting spellings: slang -> word")
    extra_library_dirs: list[Path] = Field(
        default_factory=list, description="directories of further known chain letters (*.txt)")
    max_evidence: int = Field(8, gt=0, description="matched sentences kept as evidence")
    model: bool = Field(
        True, description="use the learned chain-letter score (filters/models/chain_letter_model.npz) "
                          "where a request to pass the message on was found")
    model_path: Path | None = Field(
        None, description="a site-trained artifact (bench/train_chain_letter_model.py --out) instead of the shipped one")
    model_minimum: float = Field(
        0.35, ge=0, le=1, description="learned probability below which the model adds nothing "
                                     "(newsletters and replies that ask to be shared score well below it)")
    model_alone_minimum: float = Field(
        0.8, ge=0, le=1, description="the same floor where the model would be the only lever: a plain "
                                     "'please share' with no count and no other lever (school notices ask "
                                     "that way too) needs this probability")
    model_min_words: int = Field(
        30, ge=0, description="messages with fewer words get no learned score: a dozen words say little "
                              "to a bag-of-words model, and every hoax it learned from is longer (the "
                              "shortest Snopes train row that asks to be forwarded has 64); short chains "
                              "are found by their cues")
    notify_student_sender: bool = Field(
        True, description="tell a pupil whose message is held as a chain letter why, with student_notice "
                          "(sent by [notify] when sender_notices is on); false: no chain-letter notice")
    student_notice: str = Field(
        DEFAULT_NOTICE, description="the kind, age-appropriate paragraph of that notice (the mail template "
                                    "sender_student_chain_letter.txt wraps it with the release-request link)")


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the filter found in one message (the finding is built from this)."""

    content: float  # language + similarity
    amplifier: float  # structure (bulk is added by `score`)
    families: dict[str, list[str]]  # family -> evidence sentences
    similarity: float
    similar_to: str
    structure: sig.Structure
    discount: float
    fired: tuple[str, ...]  # signal labels, for the reason
    tokens: tuple[str, ...]  # normalised words (for the bulk fingerprint)
    known: lib.KnownLetter | None = None  # the known letter matched, when similarity counted
    kind: str = "chain letter"  # "chain letter" or "hoax", for the reason
    model_score: float = 0.0  # the learned probability (0 when not computed: no request, or model off)


class ChainLetterFilter:
    name = "chain_letter"
    Options = Options

    @staticmethod
    def preload() -> None:
        """Load the shipped learned score before `serve` forks its workers (filters/registry.py)."""
        chain_letter_model.shipped_model()

    def __init__(self, options: Options, context: FilterContext) -> None:
        self.options = options
        self._seen: SeenStore | None = context.seen
        self._weights = {**DEFAULT_WEIGHTS, **options.weights}
        unknown = set(options.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"[chain_letter] weights: unknown signal(s) {sorted(unknown)}")
        unknown = set(options.extra_phrases) - set(sig.FAMILIES)
        if unknown:
            raise ValueError(f"[chain_letter] extra_phrases: unknown family(ies) {sorted(unknown)}")
        slang_path = LISTS_DIR / options.slang_list
        slang = sig.parse_slang(sig.read_list(slang_path), str(slang_path))
        slang.update({k.lower(): v.lower() for k, v in options.extra_slang.items()})
        self._normalise = sig.Normaliser(slang)
        self._families: dict[str, sig.Family] = {}
        expanded: dict[str, list[str]] = {}
        by_language = {lang: sig.read_sections(LISTS_DIR / name, sig.FAMILIES)
                       for lang, name in options.languages.items()}
        for family in sig.FAMILIES:
            patterns: list[str] = []
            where = "[chain_letter] extra_phrases"
            if family in options.phrase_lists:
                path = LISTS_DIR / options.phrase_lists[family]
                patterns.extend(sig.read_list(path))
                where = str(path)
            for lang, sections in by_language.items():
                patterns.extend(sections.get(family, ()))
            if by_language:
                where += " (or a [chain_letter] languages file: " + ", ".join(options.languages.values()) + ")"
            patterns.extend(options.extra_phrases.get(family, ()))
            compiled = sig.compile_family(patterns, where)
            if compiled is not None:
                self._families[family] = compiled
                expanded[family] = [sig.expand_macros(p) for p in patterns]
        self.cue_patterns: dict[str, tuple[str, ...]] = {f: tuple(p) for f, p in expanded.items()}
        self._anchors = AnchorIndex(expanded)
        # each pattern on its own: a sentence is tried only against the patterns whose
        # anchors it holds (filters/chain_letter_anchors.py), not the family's whole alternation
        self._patterns = {family: [re.compile(p) for p in patterns] for family, patterns in expanded.items()}
        # what may follow the letter's own last sentence: a device's line, or a person's name
        signatures = (*sig.read_list(LISTS_DIR / options.signature_list), *options.extra_signatures)
        self._signoff = sig.compile_signoffs(
            (*sig.read_list(LISTS_DIR / options.signoff_list), *options.extra_signoffs,
             *(sig.expand_signature(p) for p in signatures)),
            f"{LISTS_DIR / options.signoff_list} or {LISTS_DIR / options.signature_list} "
            "(or [chain_letter] extra_signoffs, extra_signatures)")
        self._official = sig.compile_domains(sig.read_list(LISTS_DIR / options.official_list))
        self._library = lib.load_library([LISTS_DIR / options.library_dir, *options.extra_library_dirs],
                                         lambda text: sig.words(self._normalise(text)))
        self._library_index = lib.LibraryIndex(self._library)  # best_match's answer, one set intersection
        quarantine = getattr(getattr(context.settings, "quarantine", None), "path", None)
        self._reviewed = lib.ReviewedLetters(Path(quarantine) if quarantine else None)
        self._model: chain_letter_model.ChainLetterModel | None = None
        if options.model:
            try:
                self._model = (chain_letter_model.ChainLetterModel.load(options.model_path)
                               if options.model_path else chain_letter_model.shipped_model())
            except (OSError, ValueError, KeyError) as exc:
                raise ValueError(f"[chain_letter] model_path: cannot load {options.model_path or 'the shipped model'}: "
                                 f"{exc}") from None
        # Signals this instance cannot use (shown by `schoolgate scan` as "signals_off").
        self.signals_off: tuple[str, ...] = ("chain_letter.bulk",) if self._seen is None else ()

    async def self_test(self) -> list[str]:
        warnings = []
        if not self._library:
            warnings.append("chain_letter: the known chain-letter library is empty; similarity is off")
        if self._seen is None:
            warnings.append("chain_letter: no seen store; the bulk signal is off")
        return warnings

    async def check(self, view: MessageView) -> Sequence[Finding]:
        text = view.all_text[:sig.MAX_TEXT]
        if not text.strip():
            return []
        loop = asyncio.get_running_loop()
        assessment = await loop.run_in_executor(None, self.assess_text, view, text)
        bulk = 0
        if (self._seen is not None and assessment.content > 0
                and len(assessment.tokens) >= MIN_FINGERPRINT_WORDS):
            bulk = await self._bulk_senders(view, assessment)
        return self.findings(assessment, bulk)

    def matched_cues(self, text: str) -> set[tuple[str, int]]:
        """(family, index in `cue_patterns[family]`) of every cue pattern the text matches, in
        any sentence (tests: every cue has an own example)."""
        segments = sig.segments(text, self._normalise)
        joined = sig.join_segments(segments)
        hits = self._anchors.scan(joined.text, joined.starts)
        return {(family, p) for (family, index), names in hits.patterns.items() for p in names
                if self._patterns[family][p].search(segments[index].normal)}

    # -- scoring (pure, runs in the executor) -------------------------------------
    def assess_text(self, view: MessageView, text: str) -> Assessment:
        w = self._weights
        families: dict[str, list[str]] = {}
        patterns_hit: dict[str, set[str]] = {}
        segments = sig.segments(text, self._normalise)
        joined = sig.join_segments(segments)
        # one automaton pass finds the sentences worth a family's regex (cheap first)
        hits = self._anchors.scan(joined.text, joined.starts)
        candidates = hits.segments

        def matched(family: str, index: int) -> set[int]:
            normal = segments[index].normal
            compiled = self._patterns[family]
            return {p for p in hits.patterns.get((family, index), ()) if compiled[p].search(normal)}

        found: dict[str, list[tuple[int, set[int]]]] = {}  # family -> (segment, patterns) matched
        for family in self._families:
            if family in sig.LATE or family not in candidates:
                continue
            for index in sorted(candidates[family]):
                names = matched(family, index)
                if names:
                    found.setdefault(family, []).append((index, names))
        # A request to pass it to one named person ("please pass this to his class teacher Mr
        # Reid") is a note, not a chain: those request sentences do not count as requests.
        if any(family in found for family in sig.REQUESTS) and "addressed" in self._patterns:
            addressed = {i for i in candidates.get("addressed", ()) if matched("addressed", i)}
            if addressed:
                for family in sig.REQUESTS:
                    kept = [(i, names) for i, names in found.get(family, ()) if i not in addressed]
                    if kept:
                        found[family] = kept
                    else:
                        found.pop(family, None)
        for family, hits_of in found.items():
            for index, names in hits_of:
                patterns_hit.setdefault(family, set()).update(names)
                families.setdefault(family, []).append(sig.evidence_span(segments[index]))
        # the discounting families only matter when something scored: skip the scans otherwise
        if families:
            for family in ("educational", "notice"):
                if family in self._patterns:
                    for index in sorted(candidates.get(family, ())):
                        patterns_hit.setdefault(family, set()).update(matched(family, index))

        language = 0.0
        fired: list[str] = []
        requested = any(family in families for family in sig.REQUESTS)
        for family in ("pass_on_count", "deadline", "consequence", "reward", "chain", "fear", "guilt",
                       "cause"):
            # fear, guilt and a cause are everywhere in the news and in real
            # appeals: they are levers only when the message asks to be passed on
            if family in families and (requested or family not in sig.WEAK_LEVERS):
                language += w[family]
                fired.append(sig.FAMILY_LABELS[family])
        if "pass_on" in families and "pass_on_count" not in families:
            language += w["pass_on"]
            fired.append(sig.FAMILY_LABELS["pass_on"])
        # "90% of people won't" AND "I know who my real friends are": pressure piled up is the
        # chain's own voice (a request is needed, as for every weak lever)
        if requested and len(patterns_hit.get("guilt", ())) >= 2:
            language += w["guilt"]
        if "hoax" in families:  # "not a joke" AND "confirmed by the BBC" say more than either
            language += w["hoax"] * min(2, len(patterns_hit["hoax"]))
            fired.append(sig.FAMILY_LABELS["hoax"])
        if "pyramid" in families:
            language += w["pyramid"] * min(3, len(patterns_hit["pyramid"]))
            fired.append(sig.FAMILY_LABELS["pyramid"])
        # the model: a request to pass it on, and levers to make the reader do it
        levers = [family for family in sig.LEVERS if family in families]
        if levers and requested:
            language += w["request_lever"] * min(2, len(levers))
            fired.append(f"a request to pass it on with {len(levers)} lever(s)")
        # the learned voice of a hoax, only behind a request to pass it on (cheap first:
        # most mail asks nothing, and a hoax that does not ask to be spread is not a chain letter)
        # A message that discusses chain letters (a pupil reporting one, a lesson) quotes
        # one: the voice the model hears is the quote's, so two or more distinct
        # "discusses chain letters" cues switch it off (one is too easy: "I checked snopes").
        model_score = 0.0
        tokens = sig.words(joined.text)
        structure = self._structure(view, text)
        if (requested and self._model is not None and len(patterns_hit.get("educational", ())) < 2
                and len(tokens) >= self.options.model_min_words):
            model_score = self._model.score(text)
            # The letter that ends on its ask: a hoax is owned by nobody, so nothing follows its
            # "Pass it on." (batch 10); a notice asks and then signs, names a date or a contact.
            # A phone's "Sent from my iPhone" under it is nobody's words: the letter still ends on its ask.
            closing = max((i for family in sig.REQUESTS for i, _ in found.get(family, ())), default=-1) \
                == sig.last_own_segment(segments, self._signoff)
            alone = not levers and "pass_on_count" not in families and not closing
            voiced = model_score >= (self.options.model_alone_minimum if alone else self.options.model_minimum)
            if voiced:
                language += w["model"] * model_score
                fired.append(f"reads like a forwarded hoax or chain letter (learned score {model_score:.2f})")
            # A notice asks and then signs with its role, date or contact; a hoax asks last, with
            # at most a forwarder's "Love, Auntie Pat" after it, and arrives as a forward (sixth
            # pass: the request as the final word is pressure of its own). A parent's own signed
            # note asking to share is first hand: a notice, not a chain, so forwards only. Eighth
            # pass: a lever is enough without the learned voice, because the feel-good and
            # personal letters (jokes, a grandad's lessons, "maybe this will reach him") do not
            # sound like the scares the model learned, and score under its floor.
            if closing and w["closing_request"] and structure.forward_depth >= 1 and (voiced or levers):
                language += w["closing_request"]
                fired.append("it ends on its request")

        reviewed = self._reviewed.current()  # reviewers' additions from the review page
        match = self._library_index.best(lib.shingle_hashes(tokens), reviewed or ())
        similarity = match.score
        similar_to = match.letter.name if match.letter is not None else ""
        known = match.letter if similarity >= self.options.similarity_minimum else None
        similarity_score = w["similarity"] * similarity if known is not None else 0.0
        if similarity_score:
            fired.append(f"{similarity:.0%} of the known chain letter or hoax '{similar_to}'")
        content = language + similarity_score
        hoaxish = {"fear", "cause", "hoax"} & set(families)
        kind = "hoax" if (hoaxish and not {"consequence", "pyramid", "chain"} & set(families)) else "chain letter"

        amplifier = 0.0
        if structure.forward_depth >= 2:
            amplifier += w["forward_depth"] * min(3, structure.forward_depth - 1)
            fired.append(f"forwarded {structure.forward_depth} times")
        # the chain in motion: a forward that asks to be passed on to many, or asks plainly and
        # pulls a lever (a school notice asks plainly too, but first hand). Not a deadline alone:
        # a forwarded newsletter's "book within 14 days" is about the booking, not the passing on.
        if structure.forward_depth >= 1 and ("pass_on_count" in families
                                             or (requested and any(l != "deadline" for l in levers))):
            amplifier += w["forwarded_request"]
            fired.append("it is itself a forward")
        if structure.recipients >= self.options.many_recipients:
            amplifier += w["many_recipients"]
            fired.append(f"{structure.recipients} recipients")
        if structure.undisclosed:
            amplifier += w["undisclosed_recipients"]
            fired.append("undisclosed recipients")
        if structure.quoted_addresses >= self.options.quoted_addresses:
            amplifier += w["quoted_addresses"]
            fired.append(f"{structure.quoted_addresses} addresses in the forwarded text")
        edu = len(patterns_hit.get("educational", ()))
        table = self.options.educational_discount
        discount = table[min(edu, len(table) - 1)] if table else 1.0
        if discount < 1.0:
            fired.append(f"score x{discount:g} because it discusses chain letters")
        # A real appeal links to the police or a charity, a real warning says where to report
        # it, and neither threatens nor rewards: "please share" with a police.uk link, or a
        # virus alert that says "report it to the IT help desk", is deliverable (issue 18, item 4).
        if (content and known is None and self.options.official_discount < 1.0
                and not {"consequence", "reward", "chain", "pyramid"} & set(families)):
            official = sig.official_link(text, self._official)
            if official:
                discount *= self.options.official_discount
                fired.append(f"score x{self.options.official_discount:g} because it links to {official}")
            elif "report" in families:
                discount *= self.options.official_discount
                fired.append(f"score x{self.options.official_discount:g} because it says where to report it")
        # The school's own notice, first hand: dated, placed, signed, on its own channel. A hoax
        # is none of these (it must circulate undated for years), and a forward is not first hand.
        if (content and known is None and self.options.notice_discount < 1.0
                and structure.forward_depth == 0 and len(patterns_hit.get("notice", ())) >= NOTICE_CUES
                and not {"consequence", "reward", "chain", "pyramid"} & set(families)):
            discount *= self.options.notice_discount
            fired.append(f"score x{self.options.notice_discount:g} because it reads as the school's own "
                         "dated, signed notice")
        return Assessment(content=content, amplifier=amplifier, families=families, similarity=similarity,
                          similar_to=similar_to, structure=structure, discount=discount, fired=tuple(fired),
                          tokens=tuple(tokens), known=known, kind=kind, model_score=model_score)

    def score(self, assessment: Assessment, bulk_senders: int = 0) -> tuple[float, tuple[str, ...]]:
        """Structure and bulk count only on top of enough content; then the
        educational discount. Returns the score and the signals that fired."""
        fired = list(assessment.fired)
        score = assessment.content
        if score >= self.options.content_minimum:
            score += assessment.amplifier
            if bulk_senders >= self.options.bulk_senders:
                score += self._weights["bulk"]
                fired.append(f"same text from {bulk_senders} senders")
        return round(score * assessment.discount, 2), tuple(fired)

    def _structure(self, view: MessageView, text: str) -> sig.Structure:
        depth = max(sig.subject_forward_depth(view.subject), sig.body_forward_depth(text),
                    1 + max((p.path.count(".m") for p in view.text_parts), default=0)
                    if any(".m" in p.path for p in view.text_parts) else 0)
        header_rcpts = set()
        for name in ("To", "Cc"):
            for value in view.header_all(name):
                header_rcpts.update(a.lower() for a in sig._EMAIL.findall(value))
        envelope_rcpts = {r.lower() for r in view.envelope.rcpt_tos}
        to_header = " ".join(view.header_all("To")).lower()
        undisclosed = "undisclosed" in to_header or (not to_header.strip() and bool(envelope_rcpts))
        exclude = header_rcpts | envelope_rcpts | {view.from_address, view.envelope.mail_from.lower()}
        return sig.Structure(
            forward_depth=depth,
            recipients=len(header_rcpts | envelope_rcpts),
            undisclosed=undisclosed,
            quoted_addresses=sig.count_addresses(view.body_text[:sig.MAX_TEXT], exclude),
        )

    async def _bulk_senders(self, view: MessageView, assessment: Assessment) -> int:
        """Record this body's fingerprint and count distinct senders of it (this one included)."""
        assert self._seen is not None
        sender = (view.sender.address or view.from_address or "").lower()
        loop = asyncio.get_running_loop()
        keys = await loop.run_in_executor(None, sig.band_keys, list(assessment.tokens))
        return await self._seen.observe(SEEN_KIND, keys, sender, self.options.bulk_window)

    def findings(self, assessment: Assessment, bulk_senders: int = 0) -> list[Finding]:
        score, fired = self.score(assessment, bulk_senders)
        if score < self.options.threshold:
            return []
        severity = Severity.HIGH if score >= self.options.high_threshold else Severity.MEDIUM
        evidence: list[str] = []
        for family in sig.FAMILIES:
            if family in sig.DISCOUNTS:
                continue
            for sentence in assessment.families.get(family, ()):
                if sentence not in evidence:
                    evidence.append(sentence)
        evidence = evidence[:self.options.max_evidence]
        if assessment.known is not None:
            what = (f"a known {assessment.kind} ('{assessment.known.name}')" if assessment.known.sampled
                    else f"the known {assessment.kind} '{assessment.known.name}'")
            opening = f"Looks like {what} that asks to be passed on"
        elif assessment.kind == "hoax":
            opening = "Looks like a hoax that asks to be passed on"
        else:
            opening = "Looks like a chain letter"
        reason = (f"{opening} (score {score:g}, threshold {self.options.threshold:g}): "
                  + "; ".join(fired) + ".")
        return [Finding(CODE, self.name, Category.CHAIN_LETTER, severity, tuple(evidence), reason,
                        score=score)]
